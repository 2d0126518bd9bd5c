package gossip

import (
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type step struct {
		key            string
		at             time.Duration
		ok             bool
		wantSuppressed int
	}
	tests := map[string]struct {
		maxKeys int
		steps   []step
	}{
		"first passes, repeats suppressed then counted": {maxKeys: 8, steps: []step{
			{"a", 0, true, 0},
			{"a", time.Second, false, 0},
			{"a", 2 * time.Second, false, 0},
			{"a", 10 * time.Second, true, 2},
			{"a", 11 * time.Second, false, 0},
		}},
		"keys are independent": {maxKeys: 8, steps: []step{
			{"a", 0, true, 0},
			{"b", 0, true, 0},
			{"a", time.Second, false, 0},
			{"b", time.Second, false, 0},
		}},
		"full table forgets idle keys": {maxKeys: 2, steps: []step{
			{"a", 0, true, 0},
			{"b", 0, true, 0},
			{"c", 20 * time.Second, true, 0},
			{"a", 21 * time.Second, true, 0}, // a was pruned, so it is new again
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRateLimiter(10*time.Second, tc.maxKeys)
			for i, s := range tc.steps {
				ok, n := r.allow(s.key, t0.Add(s.at))
				if ok != s.ok || n != s.wantSuppressed {
					t.Fatalf("step %d (%s@%v): allow = %v,%d want %v,%d", i, s.key, s.at, ok, n, s.ok, s.wantSuppressed)
				}
			}
			if len(r.keys) > tc.maxKeys {
				t.Fatalf("%d keys kept, max %d", len(r.keys), tc.maxKeys)
			}
		})
	}
}
