package chaos

import (
	"strings"
	"testing"
	"time"

	"shoal/testcluster/check"
)

// TestAttribute: missing, repeated and wrong rows are counted against the
// fault whose window (plus the grace) holds their time, or none.
func TestAttribute(t *testing.T) {
	start := time.Unix(1700000000, 0)
	kill := Fault{At: 10 * time.Second, Kind: KillManager, Target: "manager-1", For: 5 * time.Second}
	stop := Fault{At: 40 * time.Second, Kind: StopDatanode, Target: "datanode-2", For: 3 * time.Second}
	o := &Outcome{Start: start, Events: []Event{
		{At: kill.At, Fault: kill, Action: "kill -9"}, {At: kill.End(), Fault: kill, Action: "restart"},
		{At: stop.At, Fault: stop, Action: "sigstop"}, {At: stop.End(), Fault: stop, Action: "sigcont"},
	}}
	ns := func(s float64) int64 { return start.Add(time.Duration(s * float64(time.Second))).UnixNano() }
	o.Report = &check.Report{Logs: []check.LogReport{
		{Name: "known_hosts", Missing: 4, MissingTS: []int64{ns(11), ns(14), ns(29), ns(5)},
			Duplicate: 1, DuplicateTS: []int64{ns(41)}},
		{Name: "known_services"},
	}}
	var b strings.Builder
	o.attribute(&b)
	got := b.String()
	for _, want := range []string{
		"known_hosts missing 4: 3 in kill-manager manager-1 (+10s..+15s), 1 outside any fault",
		"known_hosts duplicate 1: 1 in stop-datanode datanode-2 (+40s..+43s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("attribution lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "known_services") {
		t.Errorf("a clean log is attributed:\n%s", got)
	}
}
