package testcluster

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestScanNotices: workers read the simple-scan traces with the thresholds
// and local nets of ../shared/zeek/README.md; the manager's notice.log
// holds exactly the expected notices (columns src, p, note, msg, sub), and
// backscatter raises none.
func TestScanNotices(t *testing.T) {
	tests := map[string]struct {
		trace, expected string
		args            []string
	}{
		"port scan":    {"port_scan.pcap", "scan-port-scan", []string{"--local-nets=192.168.2.22/32", "--scan-threshold=5"}},
		"zero windows": {"scan_with_zero_windows.pcap", "scan-zero-windows", []string{"--local-nets=10.0.0.0/24", "--local-scan-threshold=5"}},
		"backscatter":  {"backscatter.trace", "scan-backscatter", []string{"--local-nets=192.150.0.0/16"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 90*time.Second)
			c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 3, Args: settings(tc.args...)})
			if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
				t.Fatal(err)
			}
			w, err := c.Add(ctx, RoleWorker, "--read", filepath.Join(zeekDir, "traces", tc.trace))
			if err != nil {
				t.Fatal(err)
			}
			checkTraceExit(t, ctx, w)
			want := expectedNotices(t, filepath.Join(zeekDir, "expected", tc.expected, "notice.log"))
			m := c.ByRole(RoleManager)[0]
			// The notice travels worker -> datanode -> manager; a graceful
			// stop drains each hop, so after it the log is complete.
			shutdown(t, ctx, c)
			got := noticeRows(t, c, m)
			t.Logf("%s: %d notice(s): %q", tc.trace, len(got), got)
			if !slices.Equal(got, want) {
				t.Fatalf("notices\n got %q\nwant %q", got, want)
			}
		})
	}
}

// expectedNotices reads a zeek-cut projection (src, p, note, msg, sub).
func expectedNotices(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			rows = append(rows, line)
		}
	}
	slices.Sort(rows)
	return rows
}

// noticeRows projects the manager's notice.log on src, p, note, msg, sub.
func noticeRows(t *testing.T, c *Cluster, m *Proc) []string {
	t.Helper()
	l, err := c.ReadLog(m, "notice")
	if os.IsNotExist(err) || (err != nil && strings.Contains(err.Error(), "no such file")) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	cols := []int{l.Index("src"), l.Index("p"), l.Index("note"), l.Index("msg"), l.Index("sub")}
	for i, c := range cols {
		if c < 0 {
			t.Fatalf("notice.log lacks column %d of src,p,note,msg,sub: %v", i, l.Fields)
		}
	}
	var rows []string
	for _, r := range l.Rows {
		var f []string
		for _, c := range cols {
			f = append(f, r[c])
		}
		rows = append(rows, strings.Join(f, "\t"))
	}
	slices.Sort(rows)
	return rows
}
