package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"shoal/testcluster"
	"shoal/testcluster/check"
)

// ManagerDisk is the size of a manager's log disk when a scenario fills it.
const ManagerDisk = 128 << 20

// Scenario is one fault run: a cluster, generator workers, a fault
// schedule over a traffic phase, then every log checked.
type Scenario struct {
	// Options start the cluster (Binary, Dir, Managers, Datanodes, Profile,
	// Args, Logger). Netns and ManagerDisk are set when Faults need them;
	// Workers must be 0 (workers are Scenario.Workers).
	Options testcluster.Options
	// Workers generate traffic: worker i (from 0) gets WorkerArgs(i) after
	// Options.Args["worker"] (--generate and its --gen-* flags) and, when
	// the node binary can, --gen-truth.
	Workers    int
	WorkerArgs func(i int) []string
	// Count, when > 0, is how many connections each worker generates
	// (--gen-count); a worker then ends its input as a --read worker does:
	// it waits until every event is acknowledged, prints its done line and
	// exits, by itself. Workers still running Grace after Duration are
	// stopped with SIGTERM. With Count 0 the workers are stopped with
	// SIGTERM at Duration.
	Count int
	Grace time.Duration // default 2 minutes
	// Faults is the schedule, from the start of the traffic.
	Faults []Fault
	// Duration is the traffic phase.
	Duration time.Duration
	// Say receives the run's progress lines with the time since the
	// traffic started (negative before it); nil: none. It is called from
	// several goroutines, never concurrently.
	Say func(offset time.Duration, line string)
	// Settings are the cluster-wide analysis settings: every node gets
	// their Flags before Options.Args, and the ground truth is read with
	// them.
	Settings TruthSettings
}

// Outcome is how a scenario ended.
type Outcome struct {
	Start  time.Time // the traffic's start
	Events []Event   // every fault action
	RunErr error     // a fault action that failed, or ctx
	Exits  []string  // "<node>: <how it ended>"
	Errors []error   // nodes that did not end cleanly
	// Dropped are the events each worker counted as dropped, as its
	// last status before it was stopped said.
	Dropped map[string]uint64
	// Suspicions are datanodes a worker suspected (a broken connection, a
	// gossip state other than alive) while no fault was on them.
	Suspicions []string
	// Report is the check of every log; TruthNote says what ground truth
	// it used.
	Report    *check.Report
	TruthNote string
	Dirs      []string // the managers' log directories
}

// needs reports whether faults has one of kinds.
func needs(faults []Fault, kinds ...Kind) bool {
	for _, f := range faults {
		for _, k := range kinds {
			if f.Kind == k {
				return true
			}
		}
	}
	return false
}

// runState is one Run of a Scenario.
type runState struct {
	s Scenario

	mu    sync.Mutex // serializes Say, guards start
	start time.Time
}

func (r *runState) say(format string, args ...any) {
	if r.s.Say == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	off := time.Duration(-1)
	if !r.start.IsZero() {
		off = time.Since(r.start)
	}
	r.s.Say(off, fmt.Sprintf(format, args...))
}

// Run starts the cluster, runs the scenario and checks the logs. The error
// is for a run that could not be carried out (the cluster did not start);
// what went wrong during it is in the Outcome.
func (s Scenario) Run(ctx context.Context) (*Outcome, error) {
	r := &runState{s: s}
	return r.run(ctx)
}

func (r *runState) run(ctx context.Context) (*Outcome, error) {
	s := r.s
	o := s.Options
	o.Netns = o.Netns || needs(s.Faults, PartitionManager, PartitionDatanode, SplitDatanode)
	if needs(s.Faults, DiskFull) && o.ManagerDisk == 0 {
		o.ManagerDisk = ManagerDisk
	}
	if o.Workers != 0 {
		return nil, fmt.Errorf("%w: Options.Workers must be 0 (use Scenario.Workers)", ErrConfig)
	}
	truthDir := filepath.Join(o.Dir, "truth")
	if err := os.MkdirAll(truthDir, 0o755); err != nil {
		return nil, err
	}
	flags, err := s.Settings.Flags(o.Dir)
	if err != nil {
		return nil, err
	}
	args := map[string][]string{}
	for _, role := range []string{testcluster.RoleManager, testcluster.RoleDatanode, testcluster.RoleWorker} {
		args[role] = append(append([]string(nil), flags...), o.Args[role]...)
	}
	o.Args = args
	hasTruth := supports(o.Binary, "gen-truth")
	c, err := testcluster.Start(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("chaos: start the cluster: %w", err)
	}
	defer c.Close()
	if err := c.WaitConverged(ctx, 30*time.Second); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	r.say("cluster up in %s: %d nodes%s", o.Dir, len(c.Nodes()), placement(o))
	var workers []*testcluster.Proc
	var truths []WorkerTruth
	for i := range s.Workers {
		var args []string
		if s.WorkerArgs != nil {
			args = s.WorkerArgs(i)
		}
		if s.Count > 0 {
			args = append(args, "--gen-count="+strconv.Itoa(s.Count))
		}
		if hasTruth {
			f := filepath.Join(truthDir, "worker-"+strconv.Itoa(i+1)+".json")
			args = append(args, "--gen-truth="+f)
			truths = append(truths, WorkerTruth{Worker: "worker-" + strconv.Itoa(i+1), File: f})
		}
		w, err := c.Add(ctx, testcluster.RoleWorker, args...)
		if err != nil {
			return nil, fmt.Errorf("chaos: start worker %d: %w", i+1, err)
		}
		workers = append(workers, w)
	}
	out := &Outcome{Start: time.Now()}
	r.mu.Lock()
	r.start = out.Start
	r.mu.Unlock()
	obs := newObserver(c, out.Start, r.say)
	out.RunErr = r.traffic(ctx, c, obs, out)
	r.finish(ctx, c, workers, out)
	out.Suspicions = obs.unexplainedSuspicions()
	for _, m := range c.ByRole(testcluster.RoleManager) {
		out.Dirs = append(out.Dirs, m.LogDir)
	}
	specs, note, err := Specs(truths, s.Settings, out.splits())
	out.TruthNote = note
	if err != nil {
		return out, err
	}
	if out.Report, err = check.Check(out.Dirs, specs, 3); err != nil {
		return out, err
	}
	return out, nil
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

// traffic runs the faults while the observer watches, until Duration.
func (r *runState) traffic(ctx context.Context, c *testcluster.Cluster, obs *observer, out *Outcome) error {
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		obs.run(pctx)
	}()
	defer func() { stop(); <-done }()
	err := Run(ctx, c, r.s.Faults, out.Start, func(e Event) {
		obs.note(e)
		out.Events = append(out.Events, e)
		node := e.Node
		if e.Fault.With != "" {
			node += "+" + e.Fault.With
		}
		line := fmt.Sprintf("%-18s %-12s %s", e.Fault.Kind, node, e.Action)
		if e.Err != nil {
			line += ": FAILED: " + e.Err.Error()
		}
		r.say("%s", line)
	})
	if err != nil {
		return err
	}
	if r.s.Count > 0 {
		return nil // the workers end by themselves; finish waits for them
	}
	return sleepUntil(ctx, out.Start.Add(r.s.Duration))
}

// finish stops the workers (they drain and write their ground truth), lets
// the datanodes deliver what they hold, then stops the datanodes and the
// managers, each gracefully.
func (r *runState) finish(ctx context.Context, c *testcluster.Cluster, workers []*testcluster.Proc, out *Outcome) {
	out.Dropped = map[string]uint64{}
	if r.s.Count > 0 {
		grace := r.s.Grace
		if grace <= 0 {
			grace = 2 * time.Minute
		}
		r.say("faults done; waiting for the workers to end their input (%d connections each) and their acknowledgements", r.s.Count)
		deadline := out.Start.Add(r.s.Duration + grace)
		for _, w := range workers {
			wctx, cancel := context.WithDeadline(ctx, deadline)
			_, err := w.Wait(wctx)
			cancel()
			if err != nil {
				out.Errors = append(out.Errors, fmt.Errorf("%s still running %v after the traffic phase: stopped", w.Name, grace))
			}
		}
	} else {
		r.say("traffic done; stopping the workers (SIGTERM): they drain and exit")
	}
	for _, w := range workers {
		if st, err := w.Status(ctx); err == nil {
			out.Dropped[w.Name] = st.Counters.Dropped
		}
		if w.Running() {
			if err := w.Terminate(); err != nil {
				out.Errors = append(out.Errors, fmt.Errorf("%s: %w", w.Name, err))
			}
		}
	}
	for _, w := range workers {
		stopped(ctx, w, 3*time.Minute, out)
		if c, ok := doneDropped(w.DoneLine()); ok {
			out.Dropped[w.Name] = c
		}
	}
	r.settle(ctx, c)
	for _, role := range []string{testcluster.RoleDatanode, testcluster.RoleManager} {
		var procs []*testcluster.Proc
		for _, p := range c.ByRole(role) {
			if p.Running() && p.Terminate() == nil {
				procs = append(procs, p)
			}
		}
		for _, p := range procs {
			stopped(ctx, p, 30*time.Second, out)
		}
	}
}

// doneDropped reads the dropped counter of a worker's done line.
func doneDropped(line string) (uint64, bool) {
	var d struct {
		Counters struct {
			Dropped *uint64 `json:"dropped"`
		} `json:"counters"`
	}
	if line == "" || json.Unmarshal([]byte(line), &d) != nil || d.Counters.Dropped == nil {
		return 0, false
	}
	return *d.Counters.Dropped, true
}

// stopped waits for p to exit and records how it ended.
func stopped(ctx context.Context, p *testcluster.Proc, limit time.Duration, out *Outcome) {
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	code, err := p.Wait(wctx)
	how := "exit " + strconv.Itoa(code)
	switch {
	case err != nil:
		how = "still running after " + limit.String()
	case code == -1:
		how = "killed by a signal"
	}
	if line := p.DoneLine(); line != "" {
		how += " " + line
	}
	out.Exits = append(out.Exits, p.Name+": "+how)
	if err != nil || code != 0 {
		out.Errors = append(out.Errors, fmt.Errorf("%s ended with %s; stderr tail:\n%s", p.Name, how, p.StderrTail(1500)))
	}
}

// settle waits until the SumStats epochs open when the traffic ended have
// ended (their windows are aligned in network time, which is the
// generators' wall clock, and a datanode ends one within a tick of its end)
// and the managers' record counters have not moved for 3 s (at most a
// minute): the datanodes have delivered what they held.
func (r *runState) settle(ctx context.Context, c *testcluster.Cluster) {
	var last uint64
	stable := time.Now()
	var epochsEnd time.Time
	for _, d := range r.s.Settings.SumStats {
		if end := time.Now().Truncate(d.Epoch).Add(d.Epoch + time.Second); end.After(epochsEnd) {
			epochsEnd = end
		}
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && (time.Since(stable) < 3*time.Second || time.Now().Before(epochsEnd)) {
		var n uint64
		for _, m := range c.ByRole(testcluster.RoleManager) {
			if st, err := m.Status(ctx); err == nil && st.Manager != nil {
				for _, v := range st.Manager.Records {
					n += v
				}
			}
		}
		if n != last {
			last, stable = n, time.Now()
		}
		if sleepUntil(ctx, time.Now().Add(250*time.Millisecond)) != nil {
			return
		}
	}
	r.say("managers settled at %d records written", last)
}

// attributionGrace is how long after a fault's end a row it caused may
// still be written (held records delivered, epochs ended).
const attributionGrace = 15 * time.Second

// window is one fault as it happened.
type window struct {
	f          Fault
	begin, end time.Time
}

func (o *Outcome) windows() []window {
	var out []window
	for _, e := range o.Events {
		at := o.Start.Add(e.At)
		if n := len(out); n > 0 && out[n-1].f == e.Fault {
			out[n-1].end = at
			continue
		}
		out = append(out, window{f: e.Fault, begin: at, end: at})
	}
	return out
}

// attribute prints, for every log with missing, repeated or wrong rows,
// how many fall in each fault's window (from its start to attributionGrace
// after its end; the first matching fault counts) and how many in none.
func (o *Outcome) attribute(b *strings.Builder) {
	ws := o.windows()
	header := false
	for _, l := range o.Report.Logs {
		for _, k := range []struct {
			what string
			ts   []int64
		}{{"missing", l.MissingTS}, {"duplicate", l.DuplicateTS}, {"wrong", l.WrongTS}} {
			if len(k.ts) == 0 {
				continue
			}
			if !header {
				b.WriteString("by fault (rows' times, or a missing key's first time, within a fault or 15 s after it):\n")
				header = true
			}
			counts := make([]int, len(ws)+1)
			for _, ns := range k.ts {
				t := time.Unix(0, ns)
				i := slices.IndexFunc(ws, func(w window) bool {
					return !t.Before(w.begin) && !t.After(w.end.Add(attributionGrace))
				})
				if i < 0 {
					i = len(ws)
				}
				counts[i]++
			}
			var parts []string
			for i, n := range counts {
				switch {
				case n == 0:
				case i == len(ws):
					parts = append(parts, fmt.Sprintf("%d outside any fault", n))
				default:
					w := ws[i]
					parts = append(parts, fmt.Sprintf("%d in %s %s (+%s..+%s)", n, w.f.Kind, w.f.nodes(),
						w.begin.Sub(o.Start).Round(100*time.Millisecond), w.end.Sub(o.Start).Round(100*time.Millisecond)))
				}
			}
			fmt.Fprintf(b, "  %s %s %d: %s\n", l.Name, k.what, len(k.ts), strings.Join(parts, ", "))
		}
	}
}

// splits are the network splits of the run, as they happened.
func (o *Outcome) splits() []Split {
	var out []Split
	for _, e := range o.Events {
		switch {
		case e.Fault.Kind != SplitDatanode:
		case e.Action == "split":
			out = append(out, Split{Start: o.Start.Add(e.At), End: o.Start.Add(e.At), Side: []string{e.Fault.With}})
		case e.Action == "heal" && len(out) > 0:
			out[len(out)-1].End = o.Start.Add(e.At)
		}
	}
	return out
}

// Verdict is every reason the outcome is beyond bounds, joined; nil when
// the run held.
func (o *Outcome) Verdict(b check.Bounds) error {
	var errs []error
	if o.RunErr != nil {
		errs = append(errs, o.RunErr)
	}
	errs = append(errs, o.Errors...)
	if o.Report != nil {
		if err := o.Report.Exceeds(b); err != nil {
			errs = append(errs, err)
		}
	}
	if len(o.Suspicions) > 0 {
		errs = append(errs, fmt.Errorf("%d datanode suspicions with no fault on the datanode", len(o.Suspicions)))
	}
	return errors.Join(errs...)
}

// Write prints how the nodes ended, the check of every log and the
// unexplained suspicions.
func (o *Outcome) Write(b *strings.Builder) {
	b.WriteString("\nnodes:\n")
	for _, e := range o.Exits {
		fmt.Fprintf(b, "  %s\n", e)
	}
	var names []string
	for n := range o.Dropped {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(b, "  %s counted %d events dropped\n", n, o.Dropped[n])
	}
	fmt.Fprintf(b, "\nlogs against ground truth (%s):\n", o.TruthNote)
	if o.Report != nil {
		o.Report.Write(b)
		o.attribute(b)
	}
	fmt.Fprintf(b, "datanodes suspected with no fault on them: %d\n", len(o.Suspicions))
	for _, s := range o.Suspicions {
		fmt.Fprintf(b, "  %s\n", s)
	}
}
