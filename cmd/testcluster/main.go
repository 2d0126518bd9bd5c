// Command testcluster runs a local shoal cluster of real node processes on
// 127.0.0.1 and shows a datanode failure and its failover, for a Zeek
// operator to watch:
//
//	go run ./cmd/testcluster                 # 1 manager, 3 datanodes, 2 workers
//	go run ./cmd/testcluster --datanodes 5 --rate 20000 --duration 10s
//	go run ./cmd/testcluster --kill=false    # no failure, just traffic
//	go run ./cmd/testcluster -bench          # unthrottled workers, events/s
//	go run ./cmd/testcluster --analyses=false  # no scanners, no SumStats
//
// It builds the node binary, starts the cluster, waits until every node
// reports the same rings, lets the workers send generated traffic, SIGKILLs
// one datanode while printing the membership and ring changes as a surviving
// node sees them, waits for the cluster to re-converge, keeps the traffic
// going, stops everything gracefully and prints a summary. The generated
// traffic includes remote scanners, and every node loads SumStats
// definitions over the built-in streams, so the summary also shows the
// notices (notice.log) and SumStats results (sumstats.log) the manager
// wrote. Exit status 0 when everything worked (including at least one scan
// notice and one SumStats epoch result), 1 with a message saying what did
// not.
//
// Chaos mode runs a reproducible random schedule of faults under generated
// traffic and then checks every log the managers wrote against ground truth
// (the generators' own record of what they produced):
//
//	go run ./cmd/testcluster --chaos --seed 1 --duration 5m --faults all
//	go run ./cmd/testcluster --chaos --seed 1 --dry-run     # the schedule only
//
// It prints the schedule first (the same seed gives the same faults at the
// same points), each fault action as it happens, the traffic every 5 s, and
// at the end missing / duplicate / wrong rows per log, whether every file is
// intact, and every datanode a worker suspected with no fault on it. Exit
// status 0 within the bound, 1 beyond it, 2 for bad flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// config is the command line.
type config struct {
	managers, datanodes, workers int
	duration                     time.Duration
	rate, hosts                  int
	seed                         int64
	kill, keep, bench, verbose   bool
	analyses                     bool   // scanners in the traffic, SumStats definitions
	chaos                        bool   // --chaos: a fault schedule, then every log checked
	faults                       string // --faults: the kinds of the schedule
	profile                      string // --gossip-profile
	dryRun                       bool   // --dry-run: print the chaos schedule only
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testcluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.IntVar(&cfg.managers, "managers", 1, "number of managers")
	fs.IntVar(&cfg.datanodes, "datanodes", 3, "number of datanodes")
	fs.IntVar(&cfg.workers, "workers", 2, "number of workers on generated traffic")
	fs.DurationVar(&cfg.duration, "duration", 4*time.Second, "traffic time before the kill, and again after re-convergence")
	fs.IntVar(&cfg.rate, "rate", 5000, "connections per second per worker (--chaos: default 2000)")
	fs.IntVar(&cfg.hosts, "hosts", 100000, "distinct client hosts per worker's generator (--chaos: default 10000000)")
	fs.Int64Var(&cfg.seed, "seed", 1, "generator seed (worker i uses seed+i)")
	fs.BoolVar(&cfg.kill, "kill", true, "SIGKILL one datanode midway")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the directory with the binary, node logs and Zeek logs")
	fs.BoolVar(&cfg.bench, "bench", false, "benchmark: unthrottled workers, no kill; prints events per second")
	fs.BoolVar(&cfg.analyses, "analyses", true, "add remote scanners to the traffic and load SumStats definitions; check their notices and results (-bench: default false)")
	fs.BoolVar(&cfg.chaos, "chaos", false, "chaos mode: a reproducible random schedule of faults (from --seed) under generated traffic for --duration (default 60s), then every log checked against ground truth; exit 1 beyond the bound")
	fs.StringVar(&cfg.faults, "faults", "all", "chaos mode: comma-separated fault kinds: kill-manager, stop-manager, disk-full, partition-manager, kill-datanode, stop-datanode, leave-datanode, partition-datanode, add-datanode, split-datanode, rolling-restart, all, or none (a fault-free baseline)")
	fs.BoolVar(&cfg.dryRun, "dry-run", false, "chaos mode: print the schedule and exit")
	fs.StringVar(&cfg.profile, "gossip-profile", "", "every node's --gossip-profile: fast, local or lan (default fast; with --chaos local, whose 200 ms probe timeout does not take a busy node on a loaded machine for dead)")
	fs.BoolVar(&cfg.verbose, "v", false, "log the harness's own events (node ready, signalled, exited) to stderr")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "testcluster: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	switch {
	case cfg.managers < 1:
		fmt.Fprintln(stderr, "testcluster: --managers must be at least 1 (the manager writes known_hosts.log)")
		return 2
	case cfg.datanodes < 1:
		fmt.Fprintln(stderr, "testcluster: --datanodes must be at least 1")
		return 2
	case cfg.workers < 1:
		fmt.Fprintln(stderr, "testcluster: --workers must be at least 1")
		return 2
	case cfg.duration <= 0:
		fmt.Fprintln(stderr, "testcluster: --duration must be positive")
		return 2
	case cfg.rate < 0 || cfg.hosts < 1:
		fmt.Fprintln(stderr, "testcluster: --rate must be >= 0 and --hosts >= 1")
		return 2
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if cfg.chaos {
		if cfg.bench {
			fmt.Fprintln(stderr, "testcluster: --chaos and -bench exclude each other")
			return 2
		}
		if !explicit["duration"] {
			cfg.duration = time.Minute
		}
		if cfg.profile == "" {
			cfg.profile = "local"
		}
		// Enough distinct hosts that the known_hosts records keep coming
		// at about the connection rate for minutes.
		if !explicit["hosts"] {
			cfg.hosts = 10_000_000
		}
		if !explicit["rate"] {
			cfg.rate = 2000
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runChaos(ctx, cfg, stdout, logger(cfg, stderr))
	}
	if cfg.bench {
		cfg.kill = false
		cfg.rate = 0
		// The benchmark measures the transport on the same traffic as
		// before the analyses existed, unless asked for them.
		if !explicit["analyses"] {
			cfg.analyses = false
		}
	}
	if cfg.kill && cfg.datanodes < 2 {
		fmt.Fprintln(stderr, "testcluster: --kill needs at least 2 datanodes (use --kill=false)")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{cfg: cfg, out: stdout, log: logger(cfg, stderr), start: time.Now()}
	if err := d.run(ctx); err != nil {
		d.say("FAILED: %v", err)
		if d.dir != "" {
			fmt.Fprintf(stdout, "node logs kept in %s\n", d.dir)
		}
		return 1
	}
	return 0
}

// logger is the harness's own log: on stderr with -v, else none.
func logger(cfg config, stderr io.Writer) zerolog.Logger {
	if !cfg.verbose {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05.000"}).With().Timestamp().Logger()
}
