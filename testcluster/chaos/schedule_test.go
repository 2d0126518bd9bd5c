package chaos

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func plan(t *testing.T, cfg Config) []Fault {
	t.Helper()
	f, err := Plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestPlanReproducible: the same seed gives the same faults at the same
// points; another seed gives another schedule.
func TestPlanReproducible(t *testing.T) {
	cfg := Config{Seed: 1, Duration: 5 * time.Minute, Kinds: Kinds, Managers: 1, Datanodes: 3, Workers: 2}
	a, b := plan(t, cfg), plan(t, cfg)
	if len(a) < 10 {
		t.Fatalf("5 minutes gave %d faults: %v", len(a), a)
	}
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different schedules:\n%v\n%v", a, b)
	}
	// The order of the kinds given does not matter.
	rev := cfg
	rev.Kinds = slices.Clone(Kinds)
	slices.Reverse(rev.Kinds)
	if c := plan(t, rev); !slices.Equal(a, c) {
		t.Fatalf("kinds in another order changed the schedule")
	}
	cfg.Seed = 2
	if c := plan(t, cfg); slices.Equal(a, c) {
		t.Fatalf("seeds 1 and 2 gave the same schedule")
	}
}

// TestPlanBounds: every fault is of a listed kind, on an existing node of
// its role, within its outage bounds, after the one before ended and the
// gap passed, and inside the run minus warm-up and cool-down.
func TestPlanBounds(t *testing.T) {
	for seed := range int64(50) {
		cfg := Config{Seed: seed, Duration: 2 * time.Minute, Kinds: []Kind{KillDatanode, AddDatanode, StopManager},
			Managers: 2, Datanodes: 2, MinOutage: time.Second, MaxOutage: 4 * time.Second, MinGap: 2 * time.Second,
			MaxGap: 3 * time.Second, Warmup: 5 * time.Second, Cooldown: 10 * time.Second}
		faults := plan(t, cfg)
		datanodes := []string{"datanode-1", "datanode-2"}
		prevEnd := time.Duration(-1)
		for i, f := range faults {
			if !slices.Contains(cfg.Kinds, f.Kind) {
				t.Fatalf("seed %d fault %d: kind %s not listed", seed, i, f.Kind)
			}
			switch f.Kind {
			case AddDatanode:
				if f.For != 0 || slices.Contains(datanodes, f.Target) {
					t.Fatalf("seed %d fault %d: %v", seed, i, f)
				}
				datanodes = append(datanodes, f.Target)
			case StopManager:
				if f.Target != "manager-1" && f.Target != "manager-2" {
					t.Fatalf("seed %d fault %d: target %s", seed, i, f.Target)
				}
			default:
				if !slices.Contains(datanodes, f.Target) {
					t.Fatalf("seed %d fault %d: target %s not among %v", seed, i, f.Target, datanodes)
				}
			}
			if f.Kind != AddDatanode && (f.For < cfg.MinOutage || f.For > cfg.MaxOutage) {
				t.Fatalf("seed %d fault %d: outage %v", seed, i, f.For)
			}
			if i == 0 && f.At != cfg.Warmup {
				t.Fatalf("seed %d: first fault at %v, want the warm-up %v", seed, f.At, cfg.Warmup)
			}
			if gap := f.At - prevEnd; i > 0 && (gap < cfg.MinGap || gap > cfg.MaxGap) {
				t.Fatalf("seed %d fault %d: gap %v", seed, i, gap)
			}
			if f.End() > cfg.Duration-cfg.Cooldown {
				t.Fatalf("seed %d fault %d ends at %v, after %v", seed, i, f.End(), cfg.Duration-cfg.Cooldown)
			}
			prevEnd = f.End()
		}
		if len(faults) == 0 {
			t.Fatalf("seed %d: no fault in 2 minutes", seed)
		}
	}
}

func TestPlanConfig(t *testing.T) {
	tests := map[string]Config{
		"no duration":           {Kinds: []Kind{KillManager}, Managers: 1},
		"no kinds":              {Duration: time.Minute, Managers: 1},
		"manager kind alone":    {Duration: time.Minute, Kinds: []Kind{DiskFull}, Datanodes: 3},
		"datanode kind alone":   {Duration: time.Minute, Kinds: []Kind{StopDatanode}, Managers: 1},
		"split with one worker": {Duration: time.Minute, Kinds: []Kind{SplitDatanode}, Datanodes: 1, Workers: 1},
		"outage bounds":         {Duration: time.Minute, Kinds: []Kind{StopDatanode}, Datanodes: 1, MinOutage: 5 * time.Second, MaxOutage: time.Second},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Plan(cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("Plan = %v, want ErrConfig", err)
			}
		})
	}
}

func TestParseKinds(t *testing.T) {
	got, err := ParseKinds("stop-datanode, kill-manager,stop-datanode")
	if err != nil || !slices.Equal(got, []Kind{KillManager, StopDatanode}) {
		t.Fatalf("ParseKinds = %v, %v", got, err)
	}
	if got, err := ParseKinds("none"); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ParseKinds(none) = %#v, %v", got, err)
	}
	if f, err := Plan(Config{Duration: time.Minute, Kinds: []Kind{}}); err != nil || len(f) != 0 {
		t.Fatalf("Plan with no kinds = %v, %v; want no faults", f, err)
	}
	if got, err := ParseKinds("all"); err != nil || len(got) != len(Kinds) {
		t.Fatalf("ParseKinds(all) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "kill-everything", " , "} {
		if _, err := ParseKinds(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseKinds(%q) = %v, want ErrConfig", bad, err)
		}
	}
	if _, err := ParseKinds("kill-everything"); err == nil || !strings.Contains(err.Error(), "known: kill-manager") {
		t.Errorf("the error does not list the known kinds: %v", err)
	}
}
