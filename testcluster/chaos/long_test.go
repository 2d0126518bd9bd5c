package chaos_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shoal/internal/zeekdata"
	"shoal/testcluster"
	"shoal/testcluster/chaos"
	"shoal/testcluster/check"
	"shoal/zeeklog"
)

// The acceptance runs of issue 8 ("Durable records"): long, so they run only
// with SHOAL_FAULTS=long (SHOAL_FAULTS_REPEAT runs of each, default 10):
//
//	SHOAL_FAULTS=long go test -run TestLong -v -timeout 3h ./testcluster/chaos/
//
// Each prints one line per run and a summary per scenario.

func longRuns(t *testing.T) int {
	t.Helper()
	if os.Getenv("SHOAL_FAULTS") != "long" {
		t.Skip("a long fault run: set SHOAL_FAULTS=long")
	}
	n := 10
	if s := os.Getenv("SHOAL_FAULTS_REPEAT"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("SHOAL_FAULTS_REPEAT=%q: want a positive count", s)
		}
		n = v
	}
	return n
}

const localNet = "10.0.0.0/8"

// loadScenario is 1 manager, 3 datanodes and 2 generator workers at 2,000
// connections/s each over 10M hosts (about 3,000 known_hosts records/s),
// with faults, for warm-up + the faults + 20 s.
func loadScenario(t *testing.T, faults []chaos.Fault) chaos.Scenario {
	end := 10 * time.Second
	if len(faults) > 0 {
		end = faults[len(faults)-1].End()
	}
	return chaos.Scenario{
		Options: testcluster.Options{
			Binary: nodeBin, Dir: t.TempDir(), Managers: 1, Datanodes: 3, Profile: "local",
			Args: map[string][]string{testcluster.RoleWorker: {
				"--generate", "--gen-rate=2000", "--gen-hosts=10000000", "--gen-scanners=3"}},
			Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		},
		Workers:    2,
		Count:      int(2000 * (end + 20*time.Second).Seconds()),
		WorkerArgs: func(i int) []string { return []string{"--gen-seed=" + strconv.Itoa(100+i)} },
		Faults:     faults,
		Duration:   end + 20*time.Second,
		Say:        func(off time.Duration, line string) { t.Logf("%7s  %s", off.Round(100*time.Millisecond), line) },
		Settings: chaos.TruthSettings{
			LocalNets: []netip.Prefix{netip.MustParsePrefix(localNet)},
			SumStats:  []chaos.SumStat{{Name: "conns-per-host", Stream: "conn.established", Epoch: 10 * time.Second}},
		},
	}
}

// runLoad runs sc and returns one line saying how it went, and whether it
// held: every log exact, every file intact, no datanode suspected, and at
// least minRate records per second written.
func runLoad(t *testing.T, sc chaos.Scenario, minRate float64) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sc.Duration+5*time.Minute)
	defer cancel()
	out, err := sc.Run(ctx)
	if err != nil {
		t.Errorf("run: %v", err)
		return "run failed: " + err.Error(), false
	}
	var b strings.Builder
	out.Write(&b)
	t.Log(b.String())
	rows, parts := 0, []string{}
	for _, l := range out.Report.Logs {
		rows += l.Rows
		if l.Rows > 0 || l.Expected > 0 {
			parts = append(parts, fmt.Sprintf("%s %d rows: missing %d, duplicate %d, wrong %d, unacked %d",
				l.Name, l.Rows, l.Missing, l.Duplicate, l.Wrong, l.Unacked))
		}
	}
	rate := float64(rows) / sc.Duration.Seconds()
	hosts := 0
	if l := out.Report.Log("known_hosts"); l != nil {
		hosts = l.Rows
	}
	line := fmt.Sprintf("%.0f records/s (known_hosts %.0f/s); %s; files intact %v; unexplained suspicions %d",
		rate, float64(hosts)/sc.Duration.Seconds(), strings.Join(parts, "; "), len(out.Report.Problems) == 0, len(out.Suspicions))
	verdict := out.Verdict(check.Bounds{})
	if rate < minRate {
		t.Errorf("%.0f records/s, want at least %.0f", rate, minRate)
	}
	if verdict != nil {
		t.Errorf("beyond the bound: %v", verdict)
		line += "; FAILED: " + strings.ReplaceAll(verdict.Error(), "\n", "; ")
	}
	return line, verdict == nil && rate >= minRate
}

// repeat runs one scenario n times and logs a summary.
func repeat(t *testing.T, name string, n int, mk func(t *testing.T) chaos.Scenario) {
	var lines []string
	held := 0
	for i := range n {
		t.Run("run-"+strconv.Itoa(i+1), func(t *testing.T) {
			line, ok := runLoad(t, mk(t), 2000)
			if ok {
				held++
			}
			lines = append(lines, fmt.Sprintf("  run %2d: %s", i+1, line))
		})
	}
	summary := fmt.Sprintf("%s: %d of %d runs held\n%s", name, held, n, strings.Join(lines, "\n"))
	t.Log(summary)
	fmt.Println(summary)
}

func managerFault(kind chaos.Kind, outage time.Duration) []chaos.Fault {
	return []chaos.Fault{{At: 10 * time.Second, Kind: kind, Target: "manager-1", For: outage}}
}

// TestLongManagerKill5s: kill -9 of the manager, restarted after 5 s with
// the same --log-dir, under load: nothing missing or repeated, files
// intact, no datanode suspected.
func TestLongManagerKill5s(t *testing.T) {
	n := longRuns(t)
	repeat(t, "manager kill -9 for 5s", n, func(t *testing.T) chaos.Scenario {
		return loadScenario(t, managerFault(chaos.KillManager, 5*time.Second))
	})
}

// TestLongManagerKill60s: the same with a 60 s outage.
func TestLongManagerKill60s(t *testing.T) {
	n := longRuns(t)
	repeat(t, "manager kill -9 for 60s", n, func(t *testing.T) chaos.Scenario {
		return loadScenario(t, managerFault(chaos.KillManager, 60*time.Second))
	})
}

// TestLongManagerStop60s: the manager stopped (SIGSTOP) for 60 s.
func TestLongManagerStop60s(t *testing.T) {
	n := longRuns(t)
	repeat(t, "manager SIGSTOP for 60s", n, func(t *testing.T) chaos.Scenario {
		return loadScenario(t, managerFault(chaos.StopManager, 60*time.Second))
	})
}

// TestLongManagerDiskFull30s: the manager's log disk full for 30 s under
// load, then freed.
func TestLongManagerDiskFull30s(t *testing.T) {
	n := longRuns(t)
	repeat(t, "manager disk full for 30s", n, func(t *testing.T) chaos.Scenario {
		return loadScenario(t, managerFault(chaos.DiskFull, 30*time.Second))
	})
}

// readCluster is 1 manager and 2 datanodes with Zeek's settings for
// wikipedia.pcap; its known_hosts.log must equal Zeek's baseline.
func readCluster(t *testing.T, ctx context.Context) *testcluster.Cluster {
	t.Helper()
	every := []string{"--local-nets=141.142.0.0/16", "--known-hosts-tracking=local"}
	c, err := testcluster.Start(ctx, testcluster.Options{
		Binary: nodeBin, Dir: t.TempDir(), Managers: 1, Datanodes: 2, Profile: "fast",
		Args:   map[string][]string{testcluster.RoleManager: every, testcluster.RoleDatanode: every, testcluster.RoleWorker: every},
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range c.Nodes() {
				t.Logf("--- %s stderr tail:\n%s", p.Name, p.StderrTail(2500))
			}
		}
		c.Close()
	})
	if err := c.WaitConverged(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

// killDatanodes kills every datanode and waits until the rest agree they
// are gone.
func killDatanodes(t *testing.T, ctx context.Context, c *testcluster.Cluster) {
	t.Helper()
	for _, d := range c.ByRole(testcluster.RoleDatanode) {
		if err := d.Kill(); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitConverged(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestLongAllDatanodesKilledRead: with every datanode dead, a worker reading
// a trace waits, says why, and after --wait-timeout exits non-zero with the
// count of events it could not deliver; with a datanode restarted before
// the timeout it completes, exits 0, and known_hosts.log is Zeek's.
func TestLongAllDatanodesKilledRead(t *testing.T) {
	longRuns(t)
	pcap := zeekdata.Path(t, "traces", "wikipedia.pcap")
	if !supportsFlag(t, "wait-timeout") {
		t.Fatal("the node binary has no --wait-timeout flag (issue 8 item 3 has not landed)")
	}
	t.Run("timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c := readCluster(t, ctx)
		killDatanodes(t, ctx, c)
		start := time.Now()
		w, err := c.Add(ctx, testcluster.RoleWorker, "--read", pcap, "--wait-timeout=10s")
		if err != nil && w == nil {
			t.Fatal(err)
		}
		code, err := w.Wait(ctx)
		took := time.Since(start)
		t.Logf("worker exit %d after %v; done line %s", code, took.Round(time.Millisecond), w.DoneLine())
		for _, l := range w.StderrLines("waiting for a live datanode") {
			t.Logf("worker said: %s", l)
		}
		switch {
		case err != nil:
			t.Fatalf("worker still running: %v", err)
		case code == 0:
			t.Errorf("worker exited 0 with no datanode alive")
		case took < 10*time.Second || took > 40*time.Second:
			t.Errorf("worker exited after %v, want about the 10s wait timeout", took)
		}
		if len(w.StderrLines("waiting for a live datanode")) == 0 {
			t.Errorf("the worker never said it was waiting for a live datanode")
		}
		if !strings.Contains(w.DoneLine()+w.StderrTail(4000), "undelivered") {
			t.Errorf("the worker did not report its undelivered events")
		}
	})
	t.Run("datanode back in time", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c := readCluster(t, ctx)
		killDatanodes(t, ctx, c)
		w, err := c.Add(ctx, testcluster.RoleWorker, "--read", pcap, "--wait-timeout=60s")
		if err != nil && w == nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second) // the worker waits meanwhile
		if err := c.Node("datanode-1").Restart(ctx); err != nil {
			t.Fatal(err)
		}
		code, err := w.Wait(ctx)
		if err != nil || code != 0 {
			t.Fatalf("worker exit %d (%v) after a datanode came back; stderr:\n%s", code, err, w.StderrTail(3000))
		}
		m := c.Node("manager-1")
		spec := zeekHosts(t, zeekdata.Path(t, "expected", "known-hosts", "known_hosts-local.v3.log"))
		var rep *check.Report
		deadline := time.Now().Add(15 * time.Second)
		for {
			if rep, err = check.Check([]string{m.LogDir}, []check.Spec{spec}, 5); err != nil {
				t.Fatal(err)
			}
			if rep.Clean() || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		var b strings.Builder
		rep.Write(&b)
		t.Logf("known_hosts.log against Zeek's baseline:\n%s", b.String())
		fmt.Printf("all datanodes killed, one back after 3s: worker exit %d\n%s", code, b.String())
		if !rep.Clean() {
			t.Errorf("known_hosts.log differs from Zeek's")
		}
	})
}

// zeekHosts is the spec of a Zeek known_hosts baseline: each host once, at
// Zeek's ts.
func zeekHosts(t *testing.T, file string) check.Spec {
	t.Helper()
	l, err := zeeklog.ReadTSVFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ts, host := l.Index("ts"), l.Index("host")
	spec := check.Spec{Path: "known_hosts", Key: []string{"host"}, Want: map[string]check.Expect{}}
	for _, r := range l.Rows {
		f, err := strconv.ParseFloat(r[ts], 64)
		if err != nil {
			t.Fatal(err)
		}
		spec.Want[check.Key(r[host])] = check.Expect{TS: []int64{int64(f*1e6+0.5) * 1000}}
	}
	return spec
}

func supportsFlag(t *testing.T, name string) bool {
	t.Helper()
	out, _ := exec.Command(nodeBin, "--help").CombinedOutput()
	return strings.Contains(string(out), "-"+name)
}
