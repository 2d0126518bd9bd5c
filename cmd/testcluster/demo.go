package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"shoal/node"
	"shoal/testcluster"
)

// demo is one run of the demo. say is safe for concurrent use; the rest is
// used from run's goroutine only.
type demo struct {
	cfg   config
	out   io.Writer
	log   zerolog.Logger
	start time.Time
	dir   string

	mu     sync.Mutex // serializes output, guards killAt
	killAt time.Time

	last map[string]*node.Status // last status per node, for totals
}

// say prints one timestamped line.
func (d *demo) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// print writes a block (a table) without timestamps.
func (d *demo) print(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	io.WriteString(d.out, s)
}

// sinceKill renders t relative to the kill, or "" before it.
func (d *demo) sinceKill(t time.Time) string {
	d.mu.Lock()
	k := d.killAt
	d.mu.Unlock()
	if k.IsZero() || t.Before(k.Add(-time.Second)) {
		return ""
	}
	return fmt.Sprintf(" (%s after the kill)", fmtDur(t.Sub(k)))
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	default:
		return d.Round(time.Millisecond).String()
	}
}

// failover is one worker's record of the killed datanode.
type failover struct {
	worker             string
	detected, firstAck time.Time
	rerouted           int
}

func (d *demo) run(ctx context.Context) (err error) {
	cfg := d.cfg
	dir, err := os.MkdirTemp("", "shoal-demo-")
	if err != nil {
		return err
	}
	d.dir = dir
	defer func() {
		if err == nil && !cfg.keep {
			os.RemoveAll(dir)
			d.dir = ""
		} else if err == nil {
			fmt.Fprintf(d.out, "binary, node output and Zeek logs kept in %s\n", dir)
		}
	}()

	mode := fmt.Sprintf("generated traffic at %d connections/s per worker", cfg.rate)
	if cfg.rate == 0 {
		mode = "unthrottled generated traffic (benchmark)"
	}
	d.say("shoal demo: %d manager(s), %d datanodes, %d workers on %s, %d client hosts, seed %d",
		cfg.managers, cfg.datanodes, cfg.workers, mode, cfg.hosts, cfg.seed)
	d.say("building the node binary (go build ./cmd/node)")
	bin, err := testcluster.Build(ctx, filepath.Join(dir, "bin"))
	if err != nil {
		return err
	}

	every := []string{"--known-hosts-tracking=all"}
	var scanners []string
	if cfg.analyses {
		// Every node loads the same SumStats definitions (they are
		// cluster-wide); the workers' generators add remote scanners.
		ssFile := filepath.Join(dir, "sumstats.yaml")
		if err := os.WriteFile(ssFile, []byte(demoSumStats), 0o644); err != nil {
			return err
		}
		every = append(every, "--sumstats="+ssFile)
		scanners = []string{"--gen-scanners=" + strconv.Itoa(demoScanners)}
		d.say("SumStats definitions in %s (conns-per-host, attempts-per-scanner; 2s epochs); %d remote scanners per worker",
			ssFile, demoScanners)
	}
	workerArgs := append(append([]string(nil), every...), "--generate",
		"--gen-rate="+strconv.Itoa(cfg.rate), "--gen-hosts="+strconv.Itoa(cfg.hosts))
	workerArgs = append(workerArgs, scanners...)
	c, err := testcluster.Start(ctx, testcluster.Options{
		Binary: bin, Dir: dir, Profile: cfg.profile,
		Managers: cfg.managers, Datanodes: cfg.datanodes, Workers: cfg.workers,
		Args: map[string][]string{
			testcluster.RoleManager:  every,
			testcluster.RoleDatanode: every,
			testcluster.RoleWorker:   workerArgs,
		},
		WorkerArgs: func(i int) []string { return []string{"--gen-seed=" + strconv.FormatInt(cfg.seed+int64(i), 10)} },
		Logger:     d.log,
		Secure:     true, // encrypted gossip, a cluster name and an HTTP token, as a real cluster would have
	})
	if err != nil {
		return fmt.Errorf("starting the cluster: %w", err)
	}
	defer c.Close()
	d.printNodes(c)

	t0 := time.Now()
	if err := c.WaitConverged(ctx, 30*time.Second); err != nil {
		return fmt.Errorf("the cluster did not converge: %w", err)
	}
	manager := c.ByRole(testcluster.RoleManager)[0]
	st, err := manager.Status(ctx)
	if err != nil {
		return err
	}
	d.say("converged in %s: every node reports the same rings", fmtDur(time.Since(t0)))
	for _, line := range ringLines(st) {
		d.say("  %s", line)
	}

	wctx, stopWatch := context.WithCancel(ctx)
	var watchWG sync.WaitGroup
	watchWG.Add(1)
	go func() {
		defer watchWG.Done()
		newWatcher(d, manager, c.ByRole(testcluster.RoleWorker)).run(wctx)
	}()
	defer func() { stopWatch(); watchWG.Wait() }()

	workers := c.ByRole(testcluster.RoleWorker)
	datanodes := c.ByRole(testcluster.RoleDatanode)
	startTotals := d.totals(ctx, c)
	trafficStart := time.Now()
	d.say("watching membership and rings as %s sees them, and the workers' failovers", manager.Name)
	if err := d.phase(ctx, c, "traffic", cfg.duration); err != nil {
		return err
	}

	var problems []error
	var victim *testcluster.Proc
	var victimLast *node.Status
	var fos []failover
	var reconverged time.Duration
	if cfg.kill {
		victim = datanodes[len(datanodes)/2]
		if victimLast, err = victim.Status(ctx); err != nil {
			return err
		}
		killAt := time.Now()
		d.mu.Lock()
		d.killAt = killAt
		d.mu.Unlock()
		if err := victim.Kill(); err != nil {
			return err
		}
		d.say("KILL -9 %s (pid %d): a datanode crashes while the workers keep sending", victim.Name, victim.Pid)
		if err := c.WaitConverged(ctx, 20*time.Second); err != nil {
			return fmt.Errorf("the survivors did not converge after %s was killed: %w", victim.Name, err)
		}
		reconverged = time.Since(killAt)
		if st, err := manager.Status(ctx); err == nil {
			d.say("re-converged %s after the kill: every surviving node reports the same rings, without %s", fmtDur(reconverged), victim.Name)
			for _, line := range ringLines(st) {
				d.say("  %s", line)
			}
		}
		fos, err = d.failovers(ctx, workers, victim.Name)
		if err != nil {
			problems = append(problems, err)
		}
		if err := d.phase(ctx, c, "traffic after the failover", cfg.duration); err != nil {
			return err
		}
	} else if err := d.phase(ctx, c, "traffic", cfg.duration); err != nil {
		return err
	}

	// Stop the workers gracefully: they drain and wait for their acks.
	final := map[string]*node.Status{}
	for _, w := range workers {
		if st, err := w.Status(ctx); err == nil {
			final[w.Name] = st
		}
	}
	trafficTime := time.Since(trafficStart)
	d.say("stopping the workers (SIGTERM)")
	exits := map[string]string{}
	for _, w := range workers {
		if err := w.Terminate(); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", w.Name, err))
		}
	}
	for _, w := range workers {
		code, err := waitExit(ctx, w)
		exits[w.Name] = exitText(code, err)
		if err != nil || code != 0 {
			problems = append(problems, fmt.Errorf("%s did not exit cleanly after SIGTERM: %s; stderr tail:\n%s", w.Name, exits[w.Name], w.StderrTail(1500)))
		}
	}
	stopWatch()
	watchWG.Wait()
	if cfg.analyses {
		d.waitAnalyses(ctx, trafficTime)
	}
	for _, p := range c.Nodes() {
		if p.Role == testcluster.RoleWorker || !p.Running() {
			continue
		}
		if st, err := p.Status(ctx); err == nil {
			final[p.Name] = st
		}
	}
	if victim != nil {
		final[victim.Name] = victimLast
	}

	// Stop datanodes, then managers, so every record reaches its log and the
	// logs get their #close line.
	for _, role := range []string{testcluster.RoleDatanode, testcluster.RoleManager} {
		var procs []*testcluster.Proc
		for _, p := range c.ByRole(role) {
			if p.Running() && p.Terminate() == nil {
				procs = append(procs, p)
			}
		}
		for _, p := range procs {
			code, err := waitExit(ctx, p)
			exits[p.Name] = exitText(code, err)
			if err != nil || code != 0 {
				problems = append(problems, fmt.Errorf("%s did not exit cleanly after SIGTERM: %s; stderr tail:\n%s", p.Name, exits[p.Name], p.StderrTail(1500)))
			}
		}
	}
	if victim != nil {
		exits[victim.Name] = "killed (-9)"
	}
	rows, hosts := 0, map[string]int{}
	for _, m := range c.ByRole(testcluster.RoleManager) {
		l, err := c.ReadLog(m, "known_hosts")
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if h := l.Index("host"); h >= 0 {
			for _, r := range l.Rows {
				hosts[r[h]]++
			}
		}
		rows += len(l.Rows)
	}

	var an *analysis
	if cfg.analyses {
		var errs []error
		an, errs = readAnalysis(c)
		problems = append(problems, errs...)
	}
	d.summary(c, final, exits, startTotals, trafficTime, victim, fos, reconverged, rows, hosts, an)
	if an != nil {
		problems = append(problems, an.problems()...)
	}
	if tot := sumCounters(final, testcluster.RoleWorker); tot.Sent == 0 {
		problems = append(problems, errors.New("the workers sent no events"))
	}
	if rows == 0 {
		problems = append(problems, errors.New("the managers logged no host"))
	}
	if err := errors.Join(problems...); err != nil {
		return err
	}
	d.say("OK")
	return nil
}

func waitExit(ctx context.Context, p *testcluster.Proc) (int, error) {
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return p.Wait(wctx)
}

func exitText(code int, err error) string {
	switch {
	case err != nil:
		return "still running"
	case code == -1:
		return "killed by a signal"
	default:
		return "exit " + strconv.Itoa(code)
	}
}

// phase lets traffic run for d, printing progress every second.
func (d *demo) phase(ctx context.Context, c *testcluster.Cluster, label string, dur time.Duration) error {
	d.say("%s for %s", label, dur)
	end := time.Now().Add(dur)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prev, prevAt := d.totals(ctx, c), time.Now()
	for time.Now().Before(end) {
		wait := time.Until(end)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		case <-tick.C:
		}
		cur, now := d.totals(ctx, c), time.Now()
		rate := float64(cur.sent-prev.sent) / now.Sub(prevAt).Seconds()
		d.say("  workers sent %d events (%.0f/s), %d acknowledged; datanodes received %d; %d hosts logged",
			cur.sent, rate, cur.acked, cur.received, cur.logged)
		prev, prevAt = cur, now
	}
	return nil
}

// totals is the cluster's progress as its nodes report it; a node that
// does not answer (killed) counts with the last status it gave.
type totals struct{ sent, acked, received, rerouted, logged uint64 }

func (d *demo) totals(ctx context.Context, c *testcluster.Cluster) totals {
	var t totals
	if d.last == nil {
		d.last = map[string]*node.Status{}
	}
	for _, p := range c.Nodes() {
		st := d.last[p.Name]
		if p.Running() {
			if s, err := p.Status(ctx); err == nil {
				st = s
				d.last[p.Name] = s
			}
		}
		if st == nil {
			continue
		}
		switch p.Role {
		case testcluster.RoleWorker:
			t.sent += st.Counters.Sent
			t.acked += st.Counters.Acknowledged
			t.rerouted += st.Counters.Rerouted
		case testcluster.RoleDatanode:
			t.received += st.Counters.Received
		case testcluster.RoleManager:
			if st.Manager != nil {
				t.logged += st.Manager.Records["known_hosts"]
			}
		}
	}
	return t
}

// failovers waits up to 5 s for every worker to record the victim's failover
// with a first acknowledgement from a new owner.
func (d *demo) failovers(ctx context.Context, workers []*testcluster.Proc, victim string) ([]failover, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var fos []failover
		var missing []string
		for _, w := range workers {
			st, err := w.Status(ctx)
			if err != nil {
				missing = append(missing, w.Name+" ("+err.Error()+")")
				continue
			}
			found := false
			for _, f := range st.Failovers {
				if f.Peer != victim || f.FirstAckAt == "" {
					continue
				}
				det, err1 := time.Parse(time.RFC3339Nano, f.DetectedAt)
				ack, err2 := time.Parse(time.RFC3339Nano, f.FirstAckAt)
				if err1 != nil || err2 != nil {
					return nil, fmt.Errorf("%s: failover times %q, %q: %w", w.Name, f.DetectedAt, f.FirstAckAt, errors.Join(err1, err2))
				}
				fos = append(fos, failover{worker: w.Name, detected: det, firstAck: ack, rerouted: f.Rerouted})
				found = true
				break
			}
			if !found {
				missing = append(missing, w.Name)
			}
		}
		if len(missing) == 0 {
			return fos, nil
		}
		if time.Now().After(deadline) {
			return fos, fmt.Errorf("no failover of %s with a re-routed ack recorded by %s within 5s of re-convergence", victim, strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return fos, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *demo) printNodes(c *testcluster.Cluster) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NODE\tROLE\tPID\tGOSSIP\tEVENTS\tSTATUS")
	for _, p := range c.Nodes() {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\thttp://%s/status\n", p.Name, p.Role, p.Pid, p.Gossip, p.Data, p.HTTP)
	}
	tw.Flush()
	d.say("started %d node processes in %s (stdout/stderr: <node>.stdout/.stderr; Zeek logs: manager-1/)", len(c.Nodes()), c.Dir())
	d.print(b.String())
}

// ringLines describes each ring of st, one line per pool.
func ringLines(st *node.Status) []string {
	pools := make([]string, 0, len(st.Rings))
	for p := range st.Rings {
		pools = append(pools, p)
	}
	sort.Strings(pools)
	var out []string
	for _, pool := range pools {
		r := st.Rings[pool]
		out = append(out, fmt.Sprintf("ring %-8s v%-3d checksum %s  %s", pool, r.Version, r.Checksum, ownership(r)))
	}
	return out
}

// ownership renders a ring's members with their partition counts.
func ownership(r node.RingStatus) string {
	if len(r.Members) == 0 {
		return "(no members)"
	}
	ms := append([]string(nil), r.Members...)
	sort.Strings(ms)
	parts := make([]string, len(ms))
	for i, m := range ms {
		if n, ok := r.Owned[m]; ok {
			parts[i] = fmt.Sprintf("%s=%d", m, n)
		} else {
			parts[i] = m
		}
	}
	return strings.Join(parts, " ")
}
