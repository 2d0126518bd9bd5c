package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"shoal/testcluster"
	"shoal/testcluster/chaos"
	"shoal/testcluster/check"
)

// chaosSettings are the cluster-wide settings of chaos mode: the
// generators' clients are local, and two SumStats over the built-in streams
// with 10 s epochs.
var chaosSettings = chaos.TruthSettings{
	LocalNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	SumStats: []chaos.SumStat{
		{Name: "conns-per-host", Stream: "conn.established", Epoch: 10 * time.Second},
		{Name: "attempts-per-scanner", Stream: "conn.attempt", Epoch: 10 * time.Second},
	},
}

// runChaos plans the schedule, prints it, runs it under generated traffic
// and checks every log. It returns the exit status: 0 within the bound, 1
// beyond it or on failure, 2 for a bad fault list or duration.
func runChaos(ctx context.Context, cfg config, stdout io.Writer, log zerolog.Logger) int {
	kinds, err := chaos.ParseKinds(cfg.faults)
	if err != nil {
		fmt.Fprintln(stdout, err)
		return 2
	}
	faults, err := chaos.Plan(chaos.Config{Seed: cfg.seed, Duration: cfg.duration, Kinds: kinds,
		Managers: cfg.managers, Datanodes: cfg.datanodes, Workers: cfg.workers})
	if err != nil {
		fmt.Fprintln(stdout, err)
		return 2
	}
	fmt.Fprintf(stdout, "shoal chaos: seed %d, %s of generated traffic (%d workers at %d connections/s, %d hosts each), %d manager(s), %d datanodes, gossip profile %s\n",
		cfg.seed, cfg.duration, cfg.workers, cfg.rate, cfg.hosts, cfg.managers, cfg.datanodes, cfg.profile)
	if len(kinds) == 0 {
		fmt.Fprintln(stdout, "faults: none (a fault-free baseline)")
	} else {
		fmt.Fprintf(stdout, "faults: %s\n", kindList(kinds))
	}
	chaos.Write(stdout, faults)
	if len(faults) == 0 && len(kinds) > 0 {
		fmt.Fprintln(stdout, "the duration leaves no room for a fault; give a longer --duration")
		return 2
	}
	if cfg.dryRun {
		return 0
	}
	dir, err := os.MkdirTemp("", "shoal-chaos-")
	if err != nil {
		fmt.Fprintln(stdout, err)
		return 1
	}
	code := chaosRun(ctx, cfg, faults, dir, stdout, log)
	if code != 0 || cfg.keep {
		fmt.Fprintf(stdout, "node output and logs kept in %s\n", dir)
	} else {
		os.RemoveAll(dir)
	}
	return code
}

func kindList(kinds []chaos.Kind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// chaosRun builds the binary, runs the scenario and prints its outcome.
func chaosRun(ctx context.Context, cfg config, faults []chaos.Fault, dir string, stdout io.Writer, log zerolog.Logger) int {
	var mu sync.Mutex
	say := func(off time.Duration, line string) {
		mu.Lock()
		defer mu.Unlock()
		at := "      -"
		if off >= 0 {
			at = fmt.Sprintf("%7s", off.Round(100*time.Millisecond))
		}
		fmt.Fprintf(stdout, "%s %s  %s\n", time.Now().Format("15:04:05.000"), at, line)
	}
	say(-1, "building the node binary (go build ./cmd/node)")
	bin, err := testcluster.Build(ctx, filepath.Join(dir, "bin"))
	if err != nil {
		say(-1, "FAILED: "+err.Error())
		return 1
	}
	sc := chaos.Scenario{
		Options: testcluster.Options{
			Binary: bin, Dir: dir, Managers: cfg.managers, Datanodes: cfg.datanodes, Profile: cfg.profile,
			Args: map[string][]string{testcluster.RoleWorker: {"--generate", "--gen-rate=" + strconv.Itoa(cfg.rate),
				"--gen-hosts=" + strconv.Itoa(cfg.hosts), "--gen-scanners=3"}},
			Logger: log,
		},
		Workers: cfg.workers,
		// The generators end by themselves, like a --read worker: every
		// event they made is then acknowledged or reported.
		Count:      int(float64(cfg.rate) * cfg.duration.Seconds()),
		WorkerArgs: func(i int) []string { return []string{"--gen-seed=" + strconv.FormatInt(cfg.seed+int64(i), 10)} },
		Faults:     faults,
		Duration:   cfg.duration,
		Say:        say,
		Settings:   chaosSettings,
	}
	out, err := sc.Run(ctx)
	if out != nil {
		var b strings.Builder
		out.Write(&b)
		mu.Lock()
		fmt.Fprint(stdout, b.String())
		mu.Unlock()
	}
	if err != nil {
		say(-1, "FAILED: "+err.Error())
		return 1
	}
	if err := out.Verdict(check.Bounds{}); err != nil {
		say(time.Since(out.Start), fmt.Sprintf("FAILED (seed %d): %v", cfg.seed, err))
		return 1
	}
	say(time.Since(out.Start), fmt.Sprintf("OK (seed %d): every log within its bound", cfg.seed))
	return 0
}
