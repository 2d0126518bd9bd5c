package testcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"shoal/internal/logcmp"
)

// connCase is one conformance case: a trace, how Zeek ran it, and its
// baselines ("" when the case has none).
type connCase struct {
	name, trace        string
	run                logcmp.Run
	wantConn, wantTunn string
}

// connCases are the conn.log cases of ../shared/zeek (full default scripts,
// checksums validated) and every case of ../shared/zeek/tunnels.
func connCases(t *testing.T) []connCase {
	var cases []connCase
	for _, c := range []struct{ trace, log string }{
		{"wikipedia.pcap", "conn-wikipedia/conn.log"},
		{"http-get.pcap", "conn-http-get/conn.log"},
		{"ftp-ipv4.pcap", "conn-ftp-ipv4/conn.log"},
	} {
		cases = append(cases, connCase{name: c.trace, trace: filepath.Join(zeekDir, "traces", c.trace),
			run: logcmp.Run{Checksums: true}, wantConn: filepath.Join(zeekDir, "expected", c.log)})
	}
	dirs, err := filepath.Glob(filepath.Join(zeekDir, "tunnels", "expected", "*"))
	if err != nil || len(dirs) != 30 {
		t.Fatalf("want 30 tunnel cases, found %d (%v)", len(dirs), err)
	}
	for _, dir := range dirs {
		run, err := logcmp.ReadRun(dir)
		if err != nil {
			t.Fatal(err)
		}
		cc := connCase{name: filepath.Base(dir), trace: filepath.Join(zeekDir, "tunnels", "traces", run.Trace), run: run}
		for _, f := range []struct {
			name string
			dst  *string
		}{{"conn.log", &cc.wantConn}, {"tunnel.log", &cc.wantTunn}} {
			if p := filepath.Join(dir, f.name); fileExists(p) {
				*f.dst = p
			}
		}
		cases = append(cases, cc)
	}
	return cases
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestConnLogConformance runs every conn.log and tunnel case through a real
// cluster (1 manager, 1 datanode, a worker per trace): the conn.log and
// tunnel.log rows the manager writes for each trace equal Zeek's, every
// column but masked timestamps, uids by format and through the rows they
// name. Cases run by Zeek the same way share a cluster started with the
// flags that reproduce Zeek's run (--analyzers for a bare "zeek -b" with
// its @load list, --validate-checksums without -C, --tunnel-max-depth).
func TestConnLogConformance(t *testing.T) {
	ctx := testCtx(t, 10*time.Minute)
	groups := map[string][]connCase{}
	for _, cc := range connCases(t) {
		cl, wk := cc.run.Flags()
		key := strings.Join(cl, " ") + "|" + strings.Join(wk, " ")
		groups[key] = append(groups[key], cc)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	equal, total := 0, 0
	for _, key := range keys {
		cases := groups[key]
		t.Run("flags "+key, func(t *testing.T) {
			cl, wk := cases[0].run.Flags()
			c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 1, Args: map[string][]string{
				RoleManager: cl, RoleDatanode: cl, RoleWorker: append(slices.Clone(cl), wk...)}})
			m := c.ByRole(RoleManager)[0]
			var seen logCounts
			for _, cc := range cases {
				total++
				if t.Run(cc.name, func(t *testing.T) { seen = runConnCase(t, ctx, c, m, cc, seen) }) {
					equal++
				}
			}
		})
	}
	t.Logf("%d of %d cases: conn.log and tunnel.log written by the cluster equal to Zeek's", equal, total)
}

// logCounts are the rows of conn.log and tunnel.log read so far.
type logCounts struct{ conn, tunnel int }

// runConnCase reads one trace with a new worker, waits until the manager
// wrote every row the worker sent, and compares the rows since seen.
func runConnCase(t *testing.T, ctx context.Context, c *Cluster, m *Proc, cc connCase, seen logCounts) logCounts {
	w, err := c.Add(ctx, RoleWorker, "--read", cc.trace)
	if err != nil && (w == nil || !strings.Contains(err.Error(), "exited")) {
		t.Fatal(err)
	}
	checkTraceExit(t, ctx, w)
	var done struct {
		Worker map[string]any `json:"worker"`
	}
	if err := json.Unmarshal([]byte(w.DoneLine()), &done); err != nil {
		t.Fatalf("done line %q: %v", w.DoneLine(), err)
	}
	count := func(k string) int { v, _ := done.Worker[k].(float64); return int(v) }
	want := logCounts{conn: seen.conn + count("conn_rows_sent"), tunnel: seen.tunnel + count("tunnel_rows_sent")}
	if n := count("conn_rows_unsent"); n != 0 {
		t.Errorf("worker could not send %d rows", n)
	}
	var conn, tunnel *logcmp.Table
	err = waitFor(ctx, 20*time.Second, 100*time.Millisecond, func() error {
		var err error
		if conn, err = readTable(c, m, "conn", want.conn); err != nil {
			return err
		}
		tunnel, err = readTable(c, m, "tunnel", want.tunnel)
		return err
	})
	if err != nil {
		t.Fatalf("manager %s: %v", m.Name, err)
	}
	conn.Rows, tunnel.Rows = conn.Rows[seen.conn:], tunnel.Rows[seen.tunnel:]
	var wantConn, wantTunnel *logcmp.Table
	if cc.wantConn != "" {
		if wantConn, err = logcmp.ReadFile(cc.wantConn); err != nil {
			t.Fatal(err)
		}
	}
	if cc.wantTunn != "" {
		if wantTunnel, err = logcmp.ReadFile(cc.wantTunn); err != nil {
			t.Fatal(err)
		}
	}
	if cc.run.NoTunnel && len(tunnel.Rows) > 0 {
		t.Errorf("tunnel.log got %d rows; Zeek wrote none", len(tunnel.Rows))
	}
	for _, d := range logcmp.Compare(conn, wantConn, tunnel, wantTunnel) {
		t.Error(d)
	}
	return want
}

// readTable reads a manager's log once it has n rows (none yet is no log
// at all when n is 0).
func readTable(c *Cluster, m *Proc, path string, n int) (*logcmp.Table, error) {
	if n == 0 && !fileExists(filepath.Join(m.LogDir, path+".log")) {
		return &logcmp.Table{}, nil
	}
	l, err := c.ReadLog(m, path)
	if err != nil {
		return nil, err
	}
	if len(l.Rows) < n {
		return nil, fmt.Errorf("%s.log has %d rows, want %d", path, len(l.Rows), n)
	}
	return &logcmp.Table{Fields: l.Fields, Rows: l.Rows}, nil
}

// TestAnalyzersFlip: wikipedia.pcap holds a lone SYN-ACK from
// 173.192.163.128:80. With HTTP not loaded (--analyzers DNS) port 80 is no
// likely server port, so conn.log keeps its sender as the originator
// (history H); with HTTP loaded but disabled (--disable-analyzers HTTP) the
// port still counts and the connection is flipped (^h), as in Zeek.
func TestAnalyzersFlip(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	for name, tc := range map[string]struct {
		flags         []string
		orig, history string
	}{
		"without http":  {[]string{"--analyzers", "DNS"}, "173.192.163.128", "H"},
		"http disabled": {[]string{"--disable-analyzers", "HTTP"}, "141.142.220.235", "^h"},
	} {
		t.Run(name, func(t *testing.T) {
			c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 1, Args: settings(tc.flags...)})
			m := c.ByRole(RoleManager)[0]
			runTrace(t, ctx, c)
			err := waitFor(ctx, 10*time.Second, 100*time.Millisecond, func() error {
				l, err := c.ReadLog(m, "conn")
				if err != nil {
					return err
				}
				for _, r := range l.Rows {
					if r[l.Index("id.orig_p")] != "6705" && r[l.Index("id.resp_p")] != "6705" {
						continue // the lone SYN-ACK is the trace's only connection with port 6705
					}
					if o, h := r[l.Index("id.orig_h")], r[l.Index("history")]; o != tc.orig || h != tc.history {
						return fmt.Errorf("lone SYN-ACK row: originator %s history %s, want %s %s", o, h, tc.orig, tc.history)
					}
					return nil
				}
				return fmt.Errorf("no row for the lone SYN-ACK in %d rows", len(l.Rows))
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
