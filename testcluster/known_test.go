package testcluster

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"shoal/zeeklog"
)

// TestKnownServices: a worker reads var-services-std-ports.pcap with
// --local-nets=172.16.238.0/24; known_services.log equals Zeek's for each
// tracking mode (all 7 rows, local 4, remote 3), timestamps included (the
// v3 "all" file dates every row as current Zeek does).
func TestKnownServices(t *testing.T) {
	tsOf := map[string]string{} // host port proto service -> v3 ts
	v3, err := zeeklog.ReadTSVFile(filepath.Join(zeekDir, "expected", "known-services", "known_services-all.v3.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range v3.Rows {
		tsOf[strings.Join(r[1:], " ")] = r[0]
	}
	for _, mode := range []string{"all", "local", "remote"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			base, err := zeeklog.ReadTSVFile(filepath.Join(zeekDir, "expected", "known-services", "known_services-"+mode+".log"))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, r := range base.Rows {
				k := strings.Join(r[1:], " ")
				want = append(want, tsOf[k]+" "+k)
			}
			got := runKnown(t, "var-services-std-ports.pcap", "known_services",
				"--local-nets=172.16.238.0/24", "--known-services-tracking="+mode)
			if !slices.Equal(got, sorted(want)) {
				t.Fatalf("known_services rows\n got %q\nwant %q", got, sorted(want))
			}
			t.Logf("%s: %d rows equal to Zeek's", mode, len(got))
		})
	}
}

// TestKnownCerts: a worker reads google-duplicate.pcap with cert tracking
// all; known_certs.log holds Zeek's single row.
func TestKnownCerts(t *testing.T) {
	t.Parallel()
	v3, err := zeeklog.ReadTSVFile(filepath.Join(zeekDir, "expected", "known-certs", "known_certs.v3.log"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range v3.Rows {
		want = append(want, strings.Join(r, " "))
	}
	got := runKnown(t, "google-duplicate.pcap", "known_certs", "--known-certs-tracking=all")
	if !slices.Equal(got, sorted(want)) {
		t.Fatalf("known_certs rows\n got %q\nwant %q", got, sorted(want))
	}
	t.Logf("known_certs: %q", got)
}

// runKnown reads trace with one worker in a fresh 1 manager + 3 datanode
// cluster started with args, stops the cluster gracefully and returns the
// manager's rows of path, each joined with spaces, sorted.
func runKnown(t *testing.T, trace, path string, args ...string) []string {
	t.Helper()
	ctx := testCtx(t, 90*time.Second)
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 3, Args: settings(args...)})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	w, err := c.Add(ctx, RoleWorker, "--read", filepath.Join(zeekDir, "traces", trace))
	if err != nil {
		t.Fatal(err)
	}
	checkTraceExit(t, ctx, w)
	shutdown(t, ctx, c)
	l, err := c.ReadLog(c.ByRole(RoleManager)[0], path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, r := range l.Rows {
		rows = append(rows, strings.Join(r, " "))
	}
	return sorted(rows)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
