package testcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shoal/zeeklog"
)

// nodeBin is the node binary built once by TestMain; zeekDir is
// ../shared/zeek next to the module root.
var nodeBin, zeekDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "shoal-testcluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	nodeBin, err = Build(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	root, err := ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	zeekDir = filepath.Join(root, "..", "shared", "zeek")
	return m.Run()
}

// testCtx bounds one test.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startCluster starts a cluster whose processes end with the test; when the
// test failed, each node's stderr tail is logged.
func startCluster(t *testing.T, ctx context.Context, opts Options) *Cluster {
	t.Helper()
	opts.Binary = nodeBin
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.Logger = zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range c.Nodes() {
				t.Logf("--- %s (%s, pid %d) stderr tail:\n%s", p.Name, p.Role, p.Pid, p.StderrTail(3000))
			}
		}
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// settings are cluster-wide analysis settings: every role gets the same ones.
func settings(args ...string) map[string][]string {
	return map[string][]string{RoleManager: args, RoleDatanode: args, RoleWorker: args}
}

// hostRows returns "ts host" -> count for a known_hosts log.
func hostRows(t *testing.T, l *zeeklog.Log) map[string]int {
	t.Helper()
	ts, host := l.Index("ts"), l.Index("host")
	if ts < 0 || host < 0 {
		t.Fatalf("%s: fields %v lack ts or host", l.Path, l.Fields)
	}
	rows := map[string]int{}
	for _, r := range l.Rows {
		rows[r[ts]+" "+r[host]]++
	}
	return rows
}

func expectedHosts(t *testing.T, file string) map[string]int {
	t.Helper()
	l, err := zeeklog.ReadTSVFile(filepath.Join(zeekDir, "expected", "known-hosts", file))
	if err != nil {
		t.Fatal(err)
	}
	return hostRows(t, l)
}

func formatRows(rows map[string]int) string {
	var out []string
	for r, n := range rows {
		s := r
		if n != 1 {
			s += fmt.Sprintf(" (x%d)", n)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return "[" + strings.Join(out, "; ") + "]"
}

func sameRows(got, want map[string]int) error {
	if len(got) == len(want) {
		equal := true
		for r, n := range want {
			if got[r] != n {
				equal = false
			}
		}
		if equal {
			return nil
		}
	}
	return fmt.Errorf("known_hosts rows %s, want %s", formatRows(got), formatRows(want))
}

// waitHostRows waits until the manager's known_hosts.log holds exactly want.
func waitHostRows(t *testing.T, ctx context.Context, c *Cluster, m *Proc, want map[string]int) {
	t.Helper()
	err := waitFor(ctx, 10*time.Second, 100*time.Millisecond, func() error {
		l, err := c.ReadLog(m, "known_hosts")
		if err != nil {
			return err
		}
		return sameRows(hostRows(t, l), want)
	})
	if err != nil {
		t.Fatalf("manager %s: %v", m.Name, err)
	}
}

// waitExit waits for p to exit and returns its exit code.
func waitExit(t *testing.T, ctx context.Context, p *Proc, d time.Duration) int {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	code, err := p.Wait(wctx)
	if err != nil {
		t.Fatalf("%s did not exit: %v\nstderr tail:\n%s", p.Name, err, p.StderrTail(2000))
	}
	return code
}

// shutdown terminates the datanodes (at once), then the managers, and
// requires every one of them to exit 0: afterwards the managers' logs are
// final and closed.
func shutdown(t *testing.T, ctx context.Context, c *Cluster) {
	t.Helper()
	for _, role := range []string{RoleWorker, RoleDatanode, RoleManager} {
		var procs []*Proc
		for _, p := range c.ByRole(role) {
			if p.Running() {
				if err := p.Terminate(); err != nil {
					t.Fatal(err)
				}
				procs = append(procs, p)
			}
		}
		for _, p := range procs {
			if code := waitExit(t, ctx, p, 10*time.Second); code != 0 {
				t.Fatalf("%s exited with %d after SIGTERM, want 0\nstderr tail:\n%s", p.Name, code, p.StderrTail(2000))
			}
		}
	}
}

// startTrace starts a worker reading wikipedia.pcap. It may return a Proc
// with an error when the worker exited before its ready line.
func startTrace(ctx context.Context, c *Cluster) (*Proc, error) {
	pcap := filepath.Join(zeekDir, "traces", "wikipedia.pcap")
	w, err := c.Add(ctx, RoleWorker, "--read", pcap)
	if err != nil && (w == nil || !errors.Is(err, ErrExited)) {
		return nil, err
	}
	return w, nil
}

// checkTraceExit requires a worker started by startTrace to exit 0 after
// printing its done line.
func checkTraceExit(t *testing.T, ctx context.Context, w *Proc) {
	t.Helper()
	if code := waitExit(t, ctx, w, 30*time.Second); code != 0 {
		t.Fatalf("%s (%s) exited %d, want 0\nstderr tail:\n%s", w.Name, strings.Join(w.Args(), " "), code, w.StderrTail(2000))
	}
	if w.DoneLine() == "" {
		t.Errorf("%s printed no {\"event\":\"done\"} line on stdout", w.Name)
	}
}

// runTrace reads wikipedia.pcap with one worker and requires a clean exit.
func runTrace(t *testing.T, ctx context.Context, c *Cluster) {
	t.Helper()
	w, err := startTrace(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	checkTraceExit(t, ctx, w)
}

// TestKnownHostsWikipedia: 1 manager + 3 datanodes + 1 worker reading
// wikipedia.pcap write the known_hosts.log rows Zeek wrote, per tracking mode.
func TestKnownHostsWikipedia(t *testing.T) {
	tests := map[string]struct {
		expected string // baseline file, "" for no log at all
	}{
		"local": {expected: "known_hosts-local.v3.log"},
		"all":   {expected: "known_hosts-all.v3.log"},
		"none":  {},
	}
	for mode, tc := range tests {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 90*time.Second)
			c := startCluster(t, ctx, Options{
				Managers: 1, Datanodes: 3,
				Args: settings("--local-nets=141.142.0.0/16", "--known-hosts-tracking="+mode),
			})
			if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
				t.Fatal(err)
			}
			m := c.ByRole(RoleManager)[0]
			runTrace(t, ctx, c)
			var want map[string]int
			if tc.expected != "" {
				want = expectedHosts(t, tc.expected)
				waitHostRows(t, ctx, c, m, want)
			}
			shutdown(t, ctx, c)
			logFile := filepath.Join(m.LogDir, "known_hosts.log")
			if tc.expected == "" {
				if _, err := os.Stat(logFile); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("tracking none: stat %s = %v, want no file", logFile, err)
				}
				return
			}
			l, err := c.ReadLog(m, "known_hosts")
			if err != nil {
				t.Fatal(err)
			}
			if err := sameRows(hostRows(t, l), want); err != nil {
				t.Fatalf("after shutdown: %v", err)
			}
			if !l.Closed {
				t.Errorf("%s has no #close line after the manager's graceful exit", logFile)
			}
		})
	}
}

// TestTwoWorkersSameTrace: two workers read the same trace at once; every
// host is still logged exactly once.
func TestTwoWorkersSameTrace(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	c := startCluster(t, ctx, Options{
		Managers: 1, Datanodes: 3,
		Args: settings("--local-nets=141.142.0.0/16", "--known-hosts-tracking=all"),
	})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	// Start both at once: the second must not wait for the first's ready line.
	var wg sync.WaitGroup
	workers := make([]*Proc, 2)
	errs := make([]error, 2)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			workers[i], errs[i] = startTrace(ctx, c)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, w := range workers {
		checkTraceExit(t, ctx, w)
	}
	m := c.ByRole(RoleManager)[0]
	want := expectedHosts(t, "known_hosts-all.v3.log")
	waitHostRows(t, ctx, c, m, want)
	shutdown(t, ctx, c)
	l, err := c.ReadLog(m, "known_hosts")
	if err != nil {
		t.Fatal(err)
	}
	if err := sameRows(hostRows(t, l), want); err != nil {
		t.Fatalf("after shutdown: %v", err)
	}
}

// TestFailoverKill: SIGKILL of one of 3 datanodes while a worker streams
// generated traffic. The worker's first ack from a new owner comes within
// 1 s of the kill, the worker keeps sending, and the survivors converge.
func TestFailoverKill(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	c := startCluster(t, ctx, Options{
		Managers: 1, Datanodes: 3, Workers: 1,
		Args: map[string][]string{RoleWorker: {
			"--generate", "--gen-seed=1", "--gen-rate=20000", "--gen-hosts=1000000",
		}},
	})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	w := c.ByRole(RoleWorker)[0]
	victim := c.Node("datanode-2")

	// Some traffic first: acknowledged events, and every datanode receiving.
	err := waitFor(ctx, 10*time.Second, 100*time.Millisecond, func() error {
		st, err := w.Status(ctx)
		if err != nil {
			return err
		}
		if st.Counters.Acknowledged < 5000 {
			return fmt.Errorf("worker: %d events acknowledged, want 5000", st.Counters.Acknowledged)
		}
		for _, d := range c.ByRole(RoleDatanode) {
			ds, err := d.Status(ctx)
			if err != nil {
				return err
			}
			if ds.Counters.Received == 0 {
				return fmt.Errorf("%s received nothing yet", d.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	before, err := w.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}

	// The worker keeps sending through the failover: sample its sent
	// counter for 2 s and require progress in every half second.
	type sample struct {
		at   time.Duration
		sent uint64
	}
	samples := []sample{{0, before.Counters.Sent}}
	tick := time.NewTicker(100 * time.Millisecond)
	for time.Since(killedAt) < 2*time.Second {
		<-tick.C
		st, err := w.Status(ctx)
		if err != nil {
			tick.Stop()
			t.Fatalf("worker status %v after the kill: %v", time.Since(killedAt), err)
		}
		samples = append(samples, sample{time.Since(killedAt), st.Counters.Sent})
	}
	tick.Stop()
	last := func(upTo time.Duration) sample {
		s := samples[0]
		for _, x := range samples {
			if x.at <= upTo {
				s = x
			}
		}
		return s
	}
	var progress []string
	for k := 0; k <= 4; k++ {
		s := last(time.Duration(k) * 500 * time.Millisecond)
		progress = append(progress, fmt.Sprintf("%v: %d", s.at.Round(time.Millisecond), s.sent))
	}
	t.Logf("worker sent counter after the kill: %s", strings.Join(progress, ", "))
	for k := 1; k <= 4; k++ {
		from, to := last(time.Duration(k-1)*500*time.Millisecond), last(time.Duration(k)*500*time.Millisecond)
		if to.sent <= from.sent {
			t.Errorf("worker sent counter stalled between %v (%d) and %v (%d) after the kill",
				from.at.Round(time.Millisecond), from.sent, to.at.Round(time.Millisecond), to.sent)
		}
	}

	// The worker's failover record for the victim.
	var detected, firstAck time.Time
	var rerouted int
	err = waitFor(ctx, 5*time.Second, 100*time.Millisecond, func() error {
		st, err := w.Status(ctx)
		if err != nil {
			return err
		}
		for _, f := range st.Failovers {
			if f.Peer != victim.Name {
				continue
			}
			if f.FirstAckAt == "" {
				return fmt.Errorf("failover of %s detected at %s has no first_ack_at yet", f.Peer, f.DetectedAt)
			}
			if detected, err = time.Parse(time.RFC3339Nano, f.DetectedAt); err != nil {
				return fmt.Errorf("detected_at: %w", err)
			}
			if firstAck, err = time.Parse(time.RFC3339Nano, f.FirstAckAt); err != nil {
				return fmt.Errorf("first_ack_at: %w", err)
			}
			rerouted = f.Rerouted
			return nil
		}
		return fmt.Errorf("worker failovers %+v list no %s", st.Failovers, victim.Name)
	})
	if err != nil {
		t.Fatal(err)
	}
	toDetect, toAck := detected.Sub(killedAt), firstAck.Sub(killedAt)
	msg := fmt.Sprintf("failover: %s killed; detected by the worker after %v, first ack from a new owner after %v (%d events re-routed)",
		victim.Name, toDetect.Round(time.Microsecond), toAck.Round(time.Microsecond), rerouted)
	t.Log(msg)
	fmt.Println(msg)
	if toAck > time.Second {
		t.Errorf("first re-routed ack %v after the kill, want <= 1s", toAck)
	}
	if toAck < 0 || toDetect < 0 {
		t.Errorf("failover times precede the kill: detected %v, first ack %v", toDetect, toAck)
	}

	// Every survivor converges on one ring without the victim.
	if err := c.WaitConverged(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Running() {
		st, err := p.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(st.Rings[RoleDatanode].Members, victim.Name) {
			t.Errorf("%s still has %s in its datanode ring", p.Name, victim.Name)
		}
	}
	// And traffic still flows to the survivors.
	after, err := w.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = waitFor(ctx, 5*time.Second, 100*time.Millisecond, func() error {
		st, err := w.Status(ctx)
		if err != nil {
			return err
		}
		if st.Counters.Acknowledged <= after.Counters.Acknowledged {
			return fmt.Errorf("worker acknowledged stays at %d", st.Counters.Acknowledged)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
