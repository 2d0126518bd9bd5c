package testcluster

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"shoal/zeeklog"
)

// TestSoftwareHTTPFlash is Zeek's software-http-flash case through a real
// cluster (the node binary: 1 manager, 3 datanodes, a worker reading
// flash-version.pcap with --software-tracking=all): software.log equals
// the baseline in every column, and its times (masked in the baseline) are
// the packets' where Zeek finds each piece of software.
func TestSoftwareHTTPFlash(t *testing.T) {
	t.Parallel()
	base, err := zeeklog.ReadTSVFile(filepath.Join(zeekDir, "expected", "software-http-flash", "software.log"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range base.Rows {
		want = append(want, strings.Join(r, " "))
	}
	got := runKnown(t, "flash-version.pcap", "software", "--software-tracking=all")
	var masked, times []string
	for _, r := range got {
		ts, rest, _ := strings.Cut(r, " ")
		times = append(times, ts)
		masked = append(masked, "XXXXXXXXXX.XXXXXX "+rest)
	}
	if !slices.Equal(sorted(masked), sorted(want)) {
		t.Fatalf("software rows\n got %q\nwant %q", masked, want)
	}
	if wantTimes := []string{"1320279616.824058", "1320279616.824058", "1320279616.907315"}; !slices.Equal(sorted(times), wantTimes) {
		t.Errorf("times %q, want %q", times, wantTimes)
	}
	t.Logf("software.log: %q", got)
}
