package testcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shoal/zeeklog"
)

// TestZeekLogInput: a worker fed Zeek's own conn.log of wikipedia.pcap
// logs the same known hosts as one reading the pcap. conn.log has no time
// for the SYN-ACK that Zeek dates known_hosts rows by, so each row carries
// its connection's start instead, which must lie within that connection
// and before Zeek's ts.
func TestZeekLogInput(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 3,
		Args: settings("--local-nets=141.142.0.0/16", "--known-hosts-tracking=all")})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	w, err := c.Add(ctx, RoleWorker, "--zeek-log", filepath.Join(zeekDir, "expected", "conn-wikipedia", "conn.v3.log"))
	if err != nil {
		t.Fatal(err)
	}
	checkTraceExit(t, ctx, w)
	shutdown(t, ctx, c)
	got, err := c.ReadLog(c.ByRole(RoleManager)[0], "known_hosts")
	if err != nil {
		t.Fatal(err)
	}
	want, err := zeeklog.ReadTSVFile(filepath.Join(zeekDir, "expected", "known-hosts", "known_hosts-all.v3.log"))
	if err != nil {
		t.Fatal(err)
	}
	zeekTS := map[string]string{}
	for _, r := range want.Rows {
		zeekTS[r[1]] = r[0]
	}
	if len(got.Rows) != len(want.Rows) {
		t.Fatalf("%d rows, want %d: %v", len(got.Rows), len(want.Rows), got.Rows)
	}
	for _, r := range got.Rows {
		zts, ok := zeekTS[r[1]]
		if !ok {
			t.Fatalf("host %s is not in Zeek's known_hosts", r[1])
		}
		if r[0] > zts || len(r[0]) != len(zts) {
			t.Errorf("%s: ts %s is not the start of a connection before Zeek's SYN-ACK time %s", r[1], r[0], zts)
		}
		t.Logf("%s: conn.log start %s, Zeek's SYN-ACK %s", r[1], r[0], zts)
	}
}

// TestZeekLogBadInput: an unknown #fields layout and a truncated line are
// reported with the file and line; the good lines are still used.
func TestZeekLogBadInput(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	dir := t.TempDir()
	conn, err := os.ReadFile(filepath.Join(zeekDir, "expected", "conn-wikipedia", "conn.v3.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(conn), "\n")
	for i, l := range lines { // cut one data row short
		if !strings.HasPrefix(l, "#") && strings.Contains(l, "\t") {
			lines[i] = l[:len(l)/2]
			break
		}
	}
	truncated := filepath.Join(dir, "conn.log")
	unknown := filepath.Join(dir, "weird.log")
	if err := os.WriteFile(truncated, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unknown, []byte("#separator \\x09\n#fields\tfoo\tbar\n#types\tstring\tstring\n1\t2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 1,
		Args: settings("--local-nets=141.142.0.0/16", "--known-hosts-tracking=all")})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	w, err := c.Add(ctx, RoleWorker, "--zeek-log", truncated, "--zeek-log", unknown)
	if err != nil && w == nil {
		t.Fatal(err)
	}
	code := waitExit(t, ctx, w, 30*time.Second)
	for _, want := range []string{truncated + ":", unknown + ":"} {
		if !w.StderrContains(want) {
			t.Errorf("stderr does not name %q:\n%s", want, w.StderrTail(3000))
		}
	}
	t.Logf("worker exit %d; stderr lines: %q %q", code, w.StderrLines(truncated+":"), w.StderrLines(unknown+":"))
	if code == 0 {
		t.Error("worker exited 0 after an unreadable log")
	}
	shutdown(t, ctx, c)
	got, err := c.ReadLog(c.ByRole(RoleManager)[0], "known_hosts")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) == 0 {
		t.Error("the good lines of the truncated log logged no host")
	}
}
