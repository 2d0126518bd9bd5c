package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"shoal/testcluster"
	"shoal/testcluster/chaos"
)

// chaosDisk is the size of a manager's log disk in chaos mode when the
// schedule fills it.
const chaosDisk = 128 << 20

// chaosRun is one --chaos run: a schedule of faults under generated
// traffic, then every log checked against ground truth. say is safe for
// concurrent use; the rest is used from run's goroutine.
type chaosRun struct {
	cfg    config
	kinds  []chaos.Kind
	faults []chaos.Fault
	out    io.Writer
	log    zerolog.Logger
	dir    string
	start  time.Time // the traffic's start, the schedule's zero
	// hasTruth: the node binary writes the generator's ground truth
	// (--gen-truth).
	hasTruth bool

	mu sync.Mutex // serializes output
}

func (r *chaosRun) say(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := "      -"
	if !r.start.IsZero() {
		at = fmt.Sprintf("%7s", time.Since(r.start).Round(100*time.Millisecond))
	}
	fmt.Fprintf(r.out, "%s %s  %s\n", time.Now().Format("15:04:05.000"), at, fmt.Sprintf(format, args...))
}

// runChaos plans the schedule, prints it, runs it and checks the logs. It
// returns the process's exit status: 0 within the bounds, 1 beyond them or
// on failure.
func runChaos(ctx context.Context, cfg config, stdout io.Writer, log zerolog.Logger) int {
	kinds, err := chaos.ParseKinds(cfg.faults)
	if err != nil {
		fmt.Fprintln(stdout, err)
		return 2
	}
	faults, err := chaos.Plan(chaos.Config{Seed: cfg.seed, Duration: cfg.duration, Kinds: kinds,
		Managers: cfg.managers, Datanodes: cfg.datanodes})
	if err != nil {
		fmt.Fprintln(stdout, err)
		return 2
	}
	r := &chaosRun{cfg: cfg, kinds: kinds, faults: faults, out: stdout, log: log}
	fmt.Fprintf(stdout, "shoal chaos: seed %d, %s of generated traffic (%d workers at %d connections/s, %d hosts each), %d manager(s), %d datanodes, gossip profile %s\n",
		cfg.seed, cfg.duration, cfg.workers, cfg.rate, cfg.hosts, cfg.managers, cfg.datanodes, cfg.profile)
	fmt.Fprintf(stdout, "faults: %s\n", kindList(kinds))
	chaos.Write(stdout, faults)
	if len(faults) == 0 {
		fmt.Fprintln(stdout, "the duration leaves no room for a fault; give a longer --duration")
		return 2
	}
	if cfg.dryRun {
		return 0
	}
	code, err := r.run(ctx)
	if err != nil {
		r.say("FAILED: %v", err)
		code = 1
	}
	if r.dir != "" && (code != 0 || cfg.keep) {
		fmt.Fprintf(stdout, "node output and logs kept in %s\n", r.dir)
	} else if r.dir != "" {
		os.RemoveAll(r.dir)
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

// needs reports whether the schedule has a fault of one of kinds.
func (r *chaosRun) needs(kinds ...chaos.Kind) bool {
	for _, f := range r.faults {
		for _, k := range kinds {
			if f.Kind == k {
				return true
			}
		}
	}
	return false
}

func (r *chaosRun) run(ctx context.Context) (int, error) {
	dir, err := os.MkdirTemp("", "shoal-chaos-")
	if err != nil {
		return 1, err
	}
	r.dir = dir
	r.say("building the node binary (go build ./cmd/node)")
	bin, err := testcluster.Build(ctx, filepath.Join(dir, "bin"))
	if err != nil {
		return 1, err
	}
	r.hasTruth = supports(bin, "gen-truth")
	if err := os.MkdirAll(filepath.Join(dir, "truth"), 0o755); err != nil {
		return 1, err
	}
	opts := testcluster.Options{
		Binary: bin, Dir: dir, Managers: r.cfg.managers, Datanodes: r.cfg.datanodes, Profile: r.cfg.profile,
		Args:   settingsArgs(),
		Logger: r.log,
		Netns:  r.needs(chaos.PartitionManager, chaos.PartitionDatanode),
	}
	if r.needs(chaos.DiskFull) {
		opts.ManagerDisk = chaosDisk
	}
	c, err := testcluster.Start(ctx, opts)
	if err != nil {
		return 1, fmt.Errorf("starting the cluster: %w", err)
	}
	defer c.Close()
	if err := c.WaitConverged(ctx, 30*time.Second); err != nil {
		return 1, err
	}
	r.say("cluster up in %s: %d nodes%s", dir, len(c.Nodes()), placement(opts))
	workers, err := r.startWorkers(ctx, c)
	if err != nil {
		return 1, err
	}
	r.start = time.Now()
	obs := newObserver(r, c)
	runErr := r.schedule(ctx, c, obs)
	res, err := r.finish(ctx, c, workers)
	if err != nil {
		return 1, errors.Join(runErr, err)
	}
	res.suspicions = obs.falseSuspicions()
	return r.verdict(c, res, runErr), nil
}

// placement describes the cluster's network and disks.
func placement(o testcluster.Options) string {
	var s []string
	if o.Netns {
		s = append(s, "each in its own network namespace")
	}
	if o.ManagerDisk > 0 {
		s = append(s, fmt.Sprintf("managers' logs on a %d MiB tmpfs", o.ManagerDisk>>20))
	}
	if len(s) == 0 {
		return " on 127.0.0.1"
	}
	return ", " + strings.Join(s, ", ")
}

// settingsArgs are the cluster-wide analysis settings of a chaos run.
func settingsArgs() map[string][]string {
	every := []string{"--local-nets=10.0.0.0/8", "--known-hosts-tracking=local"}
	return map[string][]string{
		testcluster.RoleManager:  every,
		testcluster.RoleDatanode: every,
		testcluster.RoleWorker:   every,
	}
}

// startWorkers starts the generator workers, worker i with seed seed+i,
// each writing its ground truth at exit.
func (r *chaosRun) startWorkers(ctx context.Context, c *testcluster.Cluster) ([]*testcluster.Proc, error) {
	var out []*testcluster.Proc
	for i := range r.cfg.workers {
		args := []string{"--generate", "--gen-seed=" + strconv.FormatInt(r.cfg.seed+int64(i), 10),
			"--gen-rate=" + strconv.Itoa(r.cfg.rate), "--gen-hosts=" + strconv.Itoa(r.cfg.hosts)}
		args = append(args, r.truthArgs(i)...)
		w, err := c.Add(ctx, testcluster.RoleWorker, args...)
		if err != nil {
			return nil, fmt.Errorf("starting worker %d: %w", i+1, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// schedule runs the faults, printing each action and the traffic every 5 s,
// until the whole duration has passed.
func (r *chaosRun) schedule(ctx context.Context, c *testcluster.Cluster, obs *observer) error {
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		obs.run(pctx)
	}()
	defer func() { stop(); wg.Wait() }()
	err := chaos.Run(ctx, c, r.faults, r.start, func(e chaos.Event) {
		obs.note(e)
		line := fmt.Sprintf("%-18s %-12s %s", e.Fault.Kind, e.Fault.Target, e.Action)
		if e.Err != nil {
			line += ": FAILED: " + e.Err.Error()
		}
		r.say("%s", line)
	})
	if err != nil {
		return err
	}
	t := time.NewTimer(time.Until(r.start.Add(r.cfg.duration)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
