// Package chaos plans and runs reproducible fault schedules on a
// testcluster.Cluster: Plan turns a seed into a list of faults at fixed
// offsets from the start of the traffic (pure: the same Config always gives
// the same schedule), and Run applies them to the real node processes
// through testcluster's fault primitives.
//
//	faults, err := chaos.Plan(chaos.Config{Seed: 1, Duration: time.Minute,
//		Kinds: []chaos.Kind{chaos.KillManager, chaos.StopDatanode}, Managers: 1, Datanodes: 3})
//	chaos.Write(os.Stdout, faults)
//	err = chaos.Run(ctx, c, faults, time.Now(), func(e chaos.Event) { fmt.Println(e) })
//
// Faults never overlap: each one ends (the node restarted, continued,
// reconnected, the disk freed) before the next begins, so a run exercises
// single faults, the scope of the cluster's guarantee.
package chaos

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The fault kinds. Outage kinds last Fault.For; AddDatanode is permanent.
const (
	KillManager       Kind = "kill-manager"       // kill -9, restart under the same name and --log-dir after For
	StopManager       Kind = "stop-manager"       // SIGSTOP for For, then SIGCONT
	DiskFull          Kind = "disk-full"          // the manager's log disk full for For, then freed
	PartitionManager  Kind = "partition-manager"  // the manager's cluster link down for For
	KillDatanode      Kind = "kill-datanode"      // kill -9, restart under the same name after For
	StopDatanode      Kind = "stop-datanode"      // SIGSTOP for For, then SIGCONT
	LeaveDatanode     Kind = "leave-datanode"     // SIGTERM (graceful leave), restart after For
	PartitionDatanode Kind = "partition-datanode" // the datanode's cluster link down for For
	AddDatanode       Kind = "add-datanode"       // one more datanode, for good
	// SplitDatanode splits the network for For: a datanode and a worker
	// (Fault.With) on one side, everyone else on the other, so that both
	// sides keep monitoring.
	SplitDatanode Kind = "split-datanode"
	// RollingRestart restarts every datanode in turn (Fault.Target lists
	// them, comma-separated): each leaves gracefully (SIGTERM) and is
	// started again under its name half a step later; a step is For
	// divided by their number.
	RollingRestart Kind = "rolling-restart"
)

// Kinds lists every fault kind, in a fixed order.
var Kinds = []Kind{KillManager, StopManager, DiskFull, PartitionManager,
	KillDatanode, StopDatanode, LeaveDatanode, PartitionDatanode, AddDatanode, SplitDatanode, RollingRestart}

// ErrConfig wraps every Config error.
var ErrConfig = errors.New("chaos: invalid config")

// ParseKinds parses a comma-separated list of kinds; "all" is every kind,
// "none" alone no fault at all (a fault-free baseline run).
func ParseKinds(s string) ([]Kind, error) {
	if strings.TrimSpace(s) == "none" {
		return []Kind{}, nil
	}
	var out []Kind
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case f == "all":
			out = append(out, Kinds...)
		case slices.Contains(Kinds, Kind(f)):
			out = append(out, Kind(f))
		default:
			names := make([]string, len(Kinds))
			for i, k := range Kinds {
				names[i] = string(k)
			}
			return nil, fmt.Errorf("%w: unknown fault %q (known: %s, all, none)", ErrConfig, f, strings.Join(names, ", "))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no fault kinds", ErrConfig)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Manager reports whether the kind acts on a manager.
func (k Kind) Manager() bool {
	return k == KillManager || k == StopManager || k == DiskFull || k == PartitionManager
}

// Config is what a schedule is planned from.
type Config struct {
	Seed     int64
	Duration time.Duration // the whole traffic phase
	Kinds    []Kind
	// Managers, Datanodes and Workers are the nodes started before the
	// traffic (named manager-1…, datanode-1…, worker-1…); added datanodes
	// are named on.
	Managers, Datanodes, Workers int
	// Warmup is the traffic before the first fault; default Duration/10,
	// at least 2 s. Cooldown is the traffic after the last fault ends;
	// default the same.
	Warmup, Cooldown time.Duration
	// MinOutage and MaxOutage bound each outage; defaults 2 s and
	// min(15 s, Duration/5). MinGap and MaxGap bound the time between one
	// fault's end and the next one's start; defaults 3 s and 8 s.
	MinOutage, MaxOutage, MinGap, MaxGap time.Duration
}

func (c *Config) defaults() error {
	if c.Duration <= 0 {
		return fmt.Errorf("%w: duration %v", ErrConfig, c.Duration)
	}
	if c.Kinds == nil {
		return fmt.Errorf("%w: no fault kinds", ErrConfig)
	}
	for _, k := range c.Kinds {
		if k.Manager() && c.Managers < 1 {
			return fmt.Errorf("%w: %s needs a manager", ErrConfig, k)
		}
		if !k.Manager() && k != AddDatanode && c.Datanodes < 1 {
			return fmt.Errorf("%w: %s needs a datanode", ErrConfig, k)
		}
		if k == SplitDatanode && c.Workers < 2 {
			return fmt.Errorf("%w: %s needs two workers (one on each side)", ErrConfig, k)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Warmup, max(2*time.Second, c.Duration/10))
	def(&c.Cooldown, max(2*time.Second, c.Duration/10))
	def(&c.MinOutage, 2*time.Second)
	def(&c.MaxOutage, max(c.MinOutage, min(15*time.Second, c.Duration/5)))
	def(&c.MinGap, 3*time.Second)
	def(&c.MaxGap, max(c.MinGap, 8*time.Second))
	if c.MaxOutage < c.MinOutage || c.MaxGap < c.MinGap {
		return fmt.Errorf("%w: outage %v..%v, gap %v..%v", ErrConfig, c.MinOutage, c.MaxOutage, c.MinGap, c.MaxGap)
	}
	return nil
}

// Fault is one scheduled fault.
type Fault struct {
	At     time.Duration // from the start of the traffic
	Kind   Kind
	Target string        // the node (for AddDatanode: the new node's name)
	With   string        // SplitDatanode: the worker on the datanode's side
	For    time.Duration // the outage; 0 for AddDatanode
}

// End is when the fault is over.
func (f Fault) End() time.Duration { return f.At + f.For }

func (f Fault) String() string {
	if f.Kind == AddDatanode {
		return fmt.Sprintf("at %9s  %-18s %s", fmtOffset(f.At), f.Kind, f.Target)
	}
	return fmt.Sprintf("at %9s  %-18s %-12s for %s", fmtOffset(f.At), f.Kind, f.nodes(), fmtOffset(f.For))
}

// nodes names the faulted nodes.
func (f Fault) nodes() string {
	if f.With != "" {
		return f.Target + "+" + f.With
	}
	return f.Target
}

func fmtOffset(d time.Duration) string { return d.Round(time.Millisecond).String() }

// Plan returns the schedule of cfg (empty for an empty, non-nil Kinds):
// faults one after the other from
// Warmup, each of a kind drawn from cfg.Kinds on a node drawn from those of
// its role, with an outage and a gap drawn from their bounds, until the next
// one would end after Duration − Cooldown. It depends on cfg alone.
func Plan(cfg Config) ([]Fault, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	kinds := slices.Clone(cfg.Kinds)
	slices.Sort(kinds)
	kinds = slices.Compact(kinds)
	if len(kinds) == 0 {
		return []Fault{}, nil // a fault-free run
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0xc4a05))
	between := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)).Round(time.Millisecond)
	}
	managers, datanodes := names("manager", cfg.Managers), names("datanode", cfg.Datanodes)
	end := cfg.Duration - cfg.Cooldown
	var out []Fault
	at := cfg.Warmup
	for {
		k := kinds[rng.IntN(len(kinds))]
		f := Fault{At: at, Kind: k}
		switch {
		case k == AddDatanode:
			f.Target = fmt.Sprintf("datanode-%d", len(datanodes)+1)
		case k.Manager():
			f.Target = managers[rng.IntN(len(managers))]
			f.For = between(cfg.MinOutage, cfg.MaxOutage)
		case k == RollingRestart:
			f.Target = strings.Join(datanodes, ",")
			f.For = time.Duration(len(datanodes)) * between(max(cfg.MinOutage, 4*time.Second), max(cfg.MaxOutage, 4*time.Second))
		default:
			f.Target = datanodes[rng.IntN(len(datanodes))]
			f.For = between(cfg.MinOutage, cfg.MaxOutage)
			if k == SplitDatanode {
				f.With = fmt.Sprintf("worker-%d", 1+rng.IntN(cfg.Workers))
			}
		}
		if f.End() > end {
			return out, nil
		}
		if k == AddDatanode {
			datanodes = append(datanodes, f.Target)
		}
		out = append(out, f)
		at = f.End() + between(cfg.MinGap, cfg.MaxGap)
	}
}

func names(role string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", role, i+1)
	}
	return out
}

// Write prints the schedule, one fault per line.
func Write(w io.Writer, faults []Fault) error {
	var b strings.Builder
	fmt.Fprintf(&b, "schedule: %d faults\n", len(faults))
	for i, f := range faults {
		fmt.Fprintf(&b, "  %2d  %s\n", i+1, f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
