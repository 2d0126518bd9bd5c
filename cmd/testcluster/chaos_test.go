package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestChaosDryRun: the schedule printed for a seed is the same every time,
// another seed prints another, and bad fault lists are refused with exit 2.
func TestChaosDryRun(t *testing.T) {
	run1 := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"--chaos", "--dry-run"}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	code, a := run1("--seed", "7", "--duration", "5m", "--faults", "all")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, a)
	}
	for _, want := range []string{"seed 7, 5m0s of generated traffic", "gossip profile local", "schedule: ", "kill-manager"} {
		if !strings.Contains(a, want) {
			t.Errorf("output lacks %q:\n%s", want, a)
		}
	}
	if _, b := run1("--seed", "7", "--duration", "5m", "--faults", "all"); a != b {
		t.Errorf("seed 7 printed two schedules:\n%s\n%s", a, b)
	}
	if _, c := run1("--seed", "8", "--duration", "5m", "--faults", "all"); a == c {
		t.Errorf("seeds 7 and 8 printed the same schedule")
	}
	if code, out := run1("--faults", "kill-everything"); code != 2 || !strings.Contains(out, `unknown fault "kill-everything"`) {
		t.Errorf("unknown fault: exit %d:\n%s", code, out)
	}
	if code, out := run1("--duration", "3s"); code != 2 || !strings.Contains(out, "no room for a fault") {
		t.Errorf("3s: exit %d:\n%s", code, out)
	}
}
