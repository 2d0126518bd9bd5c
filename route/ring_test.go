package route

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/quick"

	"github.com/buraksezer/consistent"
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i+1)
	}
	return out
}

func TestRingConfigValidate(t *testing.T) {
	tests := map[string]struct {
		cfg     RingConfig
		members int
		wantErr bool
	}{
		"default":                 {cfg: DefaultRingConfig(), members: 3},
		"default, no members":     {cfg: DefaultRingConfig(), members: 0},
		"members == partitions":   {cfg: RingConfig{Partitions: 7, ReplicationFactor: 5, Load: 1.25}, members: 7},
		"members > partitions":    {cfg: RingConfig{Partitions: 7, ReplicationFactor: 5, Load: 1.25}, members: 8, wantErr: true},
		"one partition, one node": {cfg: RingConfig{Partitions: 1, ReplicationFactor: 1, Load: 1}, members: 1},
		"zero partitions":         {cfg: RingConfig{Partitions: 0, ReplicationFactor: 20, Load: 1.25}, wantErr: true},
		"too many partitions":     {cfg: RingConfig{Partitions: 1<<20 + 1, ReplicationFactor: 20, Load: 1.25}, wantErr: true},
		"zero replication":        {cfg: RingConfig{Partitions: 271, Load: 1.25}, wantErr: true},
		"huge replication":        {cfg: RingConfig{Partitions: 271, ReplicationFactor: 1001, Load: 1.25}, wantErr: true},
		"load below 1":            {cfg: RingConfig{Partitions: 271, ReplicationFactor: 20, Load: 0.9}, wantErr: true},
		"load NaN":                {cfg: RingConfig{Partitions: 271, ReplicationFactor: 20, Load: math.NaN()}, wantErr: true},
		"load huge":               {cfg: RingConfig{Partitions: 271, ReplicationFactor: 20, Load: 101}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.ValidateMembers(tc.members)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ValidateMembers = %v, want error %v", err, tc.wantErr)
			}
			// NewRing must agree and never panic.
			r, nerr := NewRing(tc.cfg, names("m", tc.members))
			if (nerr != nil) != tc.wantErr {
				t.Fatalf("NewRing = %v, want error %v", nerr, tc.wantErr)
			}
			if tc.wantErr {
				if !errors.Is(nerr, ErrRingConfig) || r != nil {
					t.Fatalf("NewRing = %v, %v; want nil and ErrRingConfig", r, nerr)
				}
				return
			}
			if r.Len() != tc.members || r.Partitions() != tc.cfg.Partitions {
				t.Fatalf("ring has %d members, %d partitions", r.Len(), r.Partitions())
			}
		})
	}
}

func TestRingHashDistinguishesConfigs(t *testing.T) {
	a := DefaultRingConfig()
	b := a
	b.Partitions++
	c := a
	c.Load = 1.5
	if a.Hash() == b.Hash() || a.Hash() == c.Hash() || a.Hash() != DefaultRingConfig().Hash() {
		t.Fatal("config hash does not identify the configuration")
	}
}

func TestEmptyRing(t *testing.T) {
	r, err := NewRing(DefaultRingConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := r.Owner([]byte("k")); ok || o != "" {
		t.Fatalf("Owner on empty ring = %q, %v", o, ok)
	}
	if r.PartitionOwner(0) != -1 || r.Replicas([]byte("k"), 3) != nil || len(r.Owned()) != 0 || r.Len() != 0 {
		t.Fatal("empty ring reports members")
	}
	r2, _ := NewRing(DefaultRingConfig(), []string{})
	if r.Checksum() != r2.Checksum() {
		t.Fatal("empty rings differ")
	}
}

func TestRingDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 5, 16} {
		ms := names("datanode", n)
		base, err := NewRing(DefaultRingConfig(), ms)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			shuffled := slices.Clone(ms)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			// Duplicates collapse.
			shuffled = append(shuffled, shuffled[0])
			r, err := NewRing(DefaultRingConfig(), shuffled)
			if err != nil {
				t.Fatal(err)
			}
			if r.Checksum() != base.Checksum() || !slices.Equal(r.Members(), base.Members()) {
				t.Fatalf("%d members: order changed the ring", n)
			}
			for p := range r.Partitions() {
				if r.PartitionOwner(p) != base.PartitionOwner(p) {
					t.Fatalf("partition %d owner differs", p)
				}
			}
		}
	}
	a, _ := NewRing(DefaultRingConfig(), names("a", 3))
	b, _ := NewRing(DefaultRingConfig(), names("b", 3))
	if a.Checksum() == b.Checksum() {
		t.Fatal("different members, same checksum")
	}
}

func TestRingBalanced(t *testing.T) {
	cfg := DefaultRingConfig()
	for _, n := range []int{2, 3, 4, 7} {
		r, err := NewRing(cfg, names("datanode", n))
		if err != nil {
			t.Fatal(err)
		}
		hi := int(math.Ceil(float64(cfg.Partitions) / float64(n) * cfg.Load))
		lo := cfg.Partitions / n / 3
		total := 0
		for m, owned := range r.Owned() {
			if owned > hi || owned < lo {
				t.Errorf("%d members: %s owns %d partitions, want within [%d, %d]", n, m, owned, lo, hi)
			}
			total += owned
		}
		if total != cfg.Partitions {
			t.Fatalf("owned sums to %d", total)
		}
	}
}

func TestRingRemovalMovesLittle(t *testing.T) {
	tests := map[string]struct {
		cfg RingConfig
		// maxOther bounds the partitions that move between surviving
		// members. With bounded loads a survivor that was full took
		// overflow from its neighbours; when a member leaves, the bound
		// rises and some of that overflow returns home.
		maxOther int
	}{
		"unbounded load": {cfg: RingConfig{Partitions: 271, ReplicationFactor: 20, Load: 100}, maxOther: 0},
		"default":        {cfg: DefaultRingConfig(), maxOther: 271 / 10},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for _, n := range []int{3, 5, 8} {
				for trial := range 5 {
					ms := names(fmt.Sprintf("dn%d", trial), n)
					full, err := NewRing(tc.cfg, ms)
					if err != nil {
						t.Fatal(err)
					}
					for _, gone := range ms {
						rest := slices.DeleteFunc(slices.Clone(ms), func(m string) bool { return m == gone })
						r, err := NewRing(tc.cfg, rest)
						if err != nil {
							t.Fatal(err)
						}
						other := 0
						for p := range tc.cfg.Partitions {
							before := full.Member(full.PartitionOwner(p))
							after := r.Member(r.PartitionOwner(p))
							if after == gone {
								t.Fatalf("partition %d still on removed %s", p, gone)
							}
							if before != gone && after != before {
								other++
							}
						}
						if other > tc.maxOther {
							t.Errorf("%d members, removing %s moved %d partitions of survivors, max %d", n, gone, other, tc.maxOther)
						}
					}
				}
			}
		})
	}
}

func TestReplicas(t *testing.T) {
	r, err := NewRing(DefaultRingConfig(), names("datanode", 4))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct{ n, want int }{
		"none":     {n: 0, want: 0},
		"owner":    {n: 1, want: 1},
		"two":      {n: 2, want: 2},
		"all":      {n: 4, want: 4},
		"too many": {n: 9, want: 4},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for i := range 200 {
				key := []byte(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
				reps := r.Replicas(key, tc.n)
				if len(reps) != tc.want {
					t.Fatalf("Replicas(%s, %d) = %v", key, tc.n, reps)
				}
				if len(slices.Compact(slices.Sorted(slices.Values(reps)))) != len(reps) {
					t.Fatalf("Replicas(%s, %d) = %v: not distinct", key, tc.n, reps)
				}
				if owner, _ := r.Owner(key); tc.n > 0 && reps[0] != owner {
					t.Fatalf("first replica %s, owner %s", reps[0], owner)
				}
			}
		})
	}
}

// TestOwnerMatchesConsistent checks the precomputed partition table
// against the reference: a freshly built consistent.Consistent.
func TestOwnerMatchesConsistent(t *testing.T) {
	cfg := DefaultRingConfig()
	check := func(seed uint64, nMembers uint8, keys [][]byte) bool {
		n := int(nMembers%12) + 1
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		ms := make([]string, n)
		cm := make([]consistent.Member, n)
		for i := range ms {
			ms[i] = fmt.Sprintf("node-%x", rng.Uint32())
			cm[i] = ringMember(ms[i])
		}
		if len(slices.Compact(slices.Sorted(slices.Values(ms)))) != n {
			return true // a name collision: another case
		}
		r, err := NewRing(cfg, ms)
		if err != nil {
			t.Log(err)
			return false
		}
		ref := consistent.New(cm, consistent.Config{
			Hasher: xxhasher{}, PartitionCount: cfg.Partitions,
			ReplicationFactor: cfg.ReplicationFactor, Load: cfg.Load,
		})
		for _, k := range keys {
			got, ok := r.Owner(k)
			if !ok || got != ref.LocateKey(k).String() {
				t.Logf("key %x: Owner %q, LocateKey %q", k, got, ref.LocateKey(k))
				return false
			}
		}
		return true
	}
	if err := quick.Check(check, &quick.Config{MaxCount: 200, Rand: nil}); err != nil {
		t.Fatal(err)
	}
}

func ExampleRing() {
	r, err := NewRing(DefaultRingConfig(), []string{"datanode-1", "datanode-2", "datanode-3"})
	if err != nil {
		panic(err)
	}
	owner, ok := r.Owner([]byte("10.0.0.1"))
	fmt.Println(owner, ok)
	fmt.Println(r.Replicas([]byte("10.0.0.1"), 2))
	empty, _ := NewRing(DefaultRingConfig(), nil)
	_, ok = empty.Owner([]byte("10.0.0.1"))
	fmt.Println(ok)
	// Output:
	// datanode-2 true
	// [datanode-2 datanode-1]
	// false
}
