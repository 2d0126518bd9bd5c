package scan

import (
	"testing"
	"time"
)

func newWorker(t testing.TB, cfg Config) *WorkerFilter {
	t.Helper()
	f, err := NewWorkerFilter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestWorkerFilter(t *testing.T) {
	type step struct {
		op      string // "allow", "report", "expire"
		scanner string
		victim  string
		port    uint16
		at      float64
		want    bool // allow: sent; expire: want > 0 removed
	}
	cases := map[string]struct {
		cfg   func(*Config)
		steps []step
	}{
		"repeat within a minute is dropped": {
			steps: []step{
				{"allow", "1.2.3.4", "10.0.0.1", 22, 0, true},
				{"allow", "1.2.3.4", "10.0.0.1", 22, 30, false},
				{"allow", "1.2.3.4", "10.0.0.1", 23, 30, true},
				{"allow", "5.6.7.8", "10.0.0.1", 22, 30, true}, // another scanner
				{"allow", "1.2.3.4", "10.0.0.1", 22, 59.999, false},
			},
		},
		"the set expires a minute after its creation": {
			steps: []step{
				{"allow", "1.2.3.4", "10.0.0.1", 22, 0, true},
				{"allow", "1.2.3.4", "10.0.0.1", 23, 50, true}, // does not extend the set's life
				{"allow", "1.2.3.4", "10.0.0.1", 23, 60, true},
				{"allow", "1.2.3.4", "10.0.0.1", 22, 61, true},
				{"allow", "1.2.3.4", "10.0.0.1", 22, 119, false},
			},
		},
		"stops after the remote threshold": {
			cfg: func(c *Config) { c.ScanThreshold = 3 },
			steps: []step{
				{"allow", "1.2.3.4", "10.0.0.1", 1, 0, true},
				{"allow", "1.2.3.4", "10.0.0.1", 2, 0, true},
				{"allow", "1.2.3.4", "10.0.0.1", 3, 0, true}, // the third is still sent
				{"allow", "1.2.3.4", "10.0.0.1", 4, 1, false},
				{"allow", "1.2.3.4", "10.0.0.2", 4, 3599, false},
				{"allow", "1.2.3.4", "10.0.0.2", 4, 3600, true}, // an hour after the stop
			},
		},
		"local scanners use the local threshold": {
			cfg: func(c *Config) {
				c.ScanThreshold = 2
				c.LocalScanThreshold = 3
				c.LocalNets = nets(t, "10.0.0.0/8")
			},
			steps: []step{
				{"allow", "10.9.9.9", "10.0.0.1", 1, 0, true},
				{"allow", "10.9.9.9", "10.0.0.1", 2, 0, true},
				{"allow", "10.9.9.9", "10.0.0.1", 3, 0, true},
				{"allow", "10.9.9.9", "10.0.0.1", 4, 0, false},
				{"allow", "1.2.3.4", "10.0.0.1", 1, 0, true},
				{"allow", "1.2.3.4", "10.0.0.1", 2, 0, true},
				{"allow", "1.2.3.4", "10.0.0.1", 3, 0, false},
			},
		},
		"reported scanners are not sent": {
			steps: []step{
				{"allow", "1.2.3.4", "10.0.0.1", 1, 0, true},
				{"report", "1.2.3.4", "", 0, 5, false},
				{"allow", "1.2.3.4", "10.0.0.1", 2, 6, false},
				{"report", "1.2.3.4", "", 0, 100, false}, // keeps the first deadline
				{"allow", "1.2.3.4", "10.0.0.1", 2, 3604.9, false},
				{"allow", "1.2.3.4", "10.0.0.1", 1, 3605, true}, // recent set was dropped by the report
			},
		},
		"expire": {
			steps: []step{
				{"allow", "1.2.3.4", "10.0.0.1", 1, 0, true},
				{"expire", "", "", 0, 59, false},
				{"expire", "", "", 0, 60, true},
				{"report", "1.2.3.4", "", 0, 60, false},
				{"expire", "", "", 0, 3659, false},
				{"expire", "", "", 0, 3660, true},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			f := newWorker(t, cfg)
			for i, s := range tc.steps {
				switch s.op {
				case "allow":
					a := Attempt{TS: at(s.at), Scanner: addr(s.scanner), Victim: addr(s.victim), Port: s.port, Proto: 6}
					if got := f.Allow(a, a.TS); got != s.want {
						t.Fatalf("step %d: Allow(%s -> %s:%d at %v) = %v, want %v", i, s.scanner, s.victim, s.port, s.at, got, s.want)
					}
				case "report":
					f.Reported(addr(s.scanner), at(s.at))
				case "expire":
					if got := f.Expire(at(s.at)) > 0; got != s.want {
						t.Fatalf("step %d: Expire(%v) removed something = %v, want %v (stats %+v)", i, s.at, got, s.want, f.Stats())
					}
				}
			}
		})
	}
}

func TestWorkerFilterBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxScanners = 4
	cfg.ScanThreshold = 3
	f := newWorker(t, cfg)
	for i := range 10 {
		a := Attempt{TS: at(float64(i)), Scanner: host("1.1.", i), Victim: addr("10.0.0.1"), Port: 1}
		if !f.Allow(a, a.TS) {
			t.Fatalf("scanner %d not sent", i)
		}
	}
	st := f.Stats()
	if st.Scanners != 4 || st.Evicted != 6 || st.Allowed != 10 {
		t.Fatalf("stats %+v", st)
	}
	// The oldest set was evicted: its repeat is sent again.
	if !f.Allow(Attempt{Scanner: host("1.1.", 0), Victim: addr("10.0.0.1"), Port: 1}, at(10)) {
		t.Error("evicted scanner's attempt should be sent")
	}
	// A long-lived scanner never holds more than threshold-1 attempts and its
	// stop is a suppression, bounded too.
	for i := range 6 {
		for p := range 3 {
			f.Allow(Attempt{Scanner: host("2.2.", i), Victim: addr("10.0.0.1"), Port: uint16(p)}, at(20))
		}
	}
	if st := f.Stats(); st.Suppressed != 4 || st.SuppressedEvicted != 2 || st.Stopped != 6 {
		t.Errorf("stats %+v", st)
	}
	f.Clear()
	if st := f.Stats(); st.Scanners != 0 || st.Suppressed != 0 || st.SuppressedEvicted != 2 {
		t.Errorf("after Clear %+v", st)
	}
	if got := f.Allow(Attempt{Scanner: host("2.2.", 5), Victim: addr("10.0.0.1"), Port: 0}, at(21)); !got {
		t.Error("after Clear a stopped scanner is sent again")
	}
	if f.Allow(Attempt{Victim: addr("10.0.0.1")}, at(21)) || f.Stats().Invalid != 1 {
		t.Error("invalid attempt sent")
	}
	f.Reported(host("2.2.", 5), at(21))
	if !f.Suppressed(host("2.2.", 5), time.Time{}) || f.Suppressed(host("2.2.", 5), at(3621)) {
		t.Error("Reported must suppress for an hour; a zero time means the current network time")
	}
}
