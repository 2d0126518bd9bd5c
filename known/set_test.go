package known

import (
	"math/rand"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"testing/quick"
	"time"
)

var t0 = time.Unix(1300475168, 783842000).UTC()

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func TestObserveTable(t *testing.T) {
	type step struct {
		op   string // "obs", "has", "exp"
		key  string
		at   float64
		want int // obs/has: 1 true, 0 false; exp: count removed
	}
	cases := map[string]struct {
		ttl   time.Duration
		steps []step
		len   int
	}{
		"first sighting then repeat": {
			ttl: time.Hour,
			steps: []step{
				{"obs", "a", 0, 1}, {"obs", "a", 1, 0}, {"obs", "b", 2, 1}, {"has", "a", 3, 1}, {"has", "c", 3, 0},
			},
			len: 2,
		},
		"create expire not read expire": {
			ttl: 10 * time.Second,
			steps: []step{
				{"obs", "a", 0, 1}, {"obs", "a", 5, 0}, {"obs", "a", 9.999, 0},
				{"has", "a", 9.999, 1}, {"has", "a", 10, 0}, // expired exactly at Inserted+ttl
				{"obs", "a", 10, 1}, {"obs", "a", 19, 0}, {"obs", "a", 20, 1},
			},
			len: 1,
		},
		"expire counts": {
			ttl: 10 * time.Second,
			steps: []step{
				{"obs", "a", 0, 1}, {"obs", "b", 1, 1}, {"obs", "c", 2, 1},
				{"exp", "", 10.5, 1}, {"exp", "", 10.5, 0}, {"exp", "", 12, 2}, {"has", "c", 12, 0},
			},
			len: 0,
		},
		"never expires": {
			ttl: 0,
			steps: []step{
				{"obs", "a", 0, 1}, {"exp", "", 1e9, 0}, {"obs", "a", 1e9, 0}, {"has", "a", 1e9, 1},
			},
			len: 1,
		},
		"out of order insert": {
			ttl: 10 * time.Second,
			steps: []step{
				{"obs", "a", 5, 1}, {"obs", "b", 1, 1}, {"obs", "c", 3, 1},
				{"exp", "", 11, 1}, {"has", "b", 11, 0}, {"has", "c", 11, 1}, {"exp", "", 14, 1}, {"has", "a", 14, 1},
			},
			len: 1,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := NewSet[string](tc.ttl)
			for i, st := range tc.steps {
				var got int
				switch st.op {
				case "obs":
					got = b2i(s.Observe(st.key, at(st.at)))
				case "has":
					got = b2i(s.Contains(st.key, at(st.at)))
				case "exp":
					got = s.Expire(at(st.at))
				}
				if got != st.want {
					t.Fatalf("step %d %s(%q, %v) = %d, want %d", i, st.op, st.key, st.at, got, st.want)
				}
			}
			if s.Len() != tc.len {
				t.Errorf("Len() = %d, want %d", s.Len(), tc.len)
			}
			checkOrdered(t, s)
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func checkOrdered[K comparable](t *testing.T, s *Set[K]) {
	t.Helper()
	es := s.Entries()
	if len(es) != s.Len() {
		t.Fatalf("Entries has %d members, Len %d", len(es), s.Len())
	}
	for i := 1; i < len(es); i++ {
		if es[i].Inserted.Before(es[i-1].Inserted) {
			t.Fatalf("Entries not ordered at %d: %v", i, es)
		}
	}
	for _, e := range es {
		if got := s.m[e.Key]; !got.Equal(e.Inserted) {
			t.Fatalf("entry %v disagrees with map time %v", e, got)
		}
	}
}

func TestZeroValueAndClear(t *testing.T) {
	var s Set[int]
	if !s.Observe(1, t0) || s.Observe(1, at(1e6)) {
		t.Fatal("zero Set does not behave as a never-expiring set")
	}
	s.Clear()
	if s.Len() != 0 || len(s.Entries()) != 0 || s.Contains(1, t0) {
		t.Fatal("Clear left members")
	}
	if !s.Observe(1, t0) {
		t.Fatal("Observe after Clear did not insert")
	}
}

func TestHostsAlias(t *testing.T) {
	h := NewSet[netip.Addr](DefaultExpiry)
	var _ *Hosts = h
	a := netip.MustParseAddr("141.142.220.118")
	if !h.Observe(a, t0) || h.Observe(a, t0.Add(23*time.Hour)) || !h.Observe(a, t0.Add(24*time.Hour)) {
		t.Fatal("host set does not expire after one day")
	}
	if h.TTL() != DefaultExpiry {
		t.Fatalf("TTL = %v", h.TTL())
	}
}

func TestCompactionKeepsOrder(t *testing.T) {
	s := NewSet[int](100 * time.Second)
	for i := 0; i < 10000; i++ {
		s.Observe(i, at(float64(i)))
		if i%97 == 0 {
			checkOrdered(t, s)
		}
	}
	if s.Len() != 100 {
		t.Fatalf("Len = %d, want 100 live members", s.Len())
	}
	if cap(s.q) > 1024 {
		t.Fatalf("queue capacity %d grew without bound", cap(s.q))
	}
}

// reference is the obvious implementation the Set is checked against.
type reference map[int]time.Time

func (r reference) expire(now time.Time, ttl time.Duration) int {
	n := 0
	for k, ins := range r {
		if ttl > 0 && !now.Before(ins.Add(ttl)) {
			delete(r, k)
			n++
		}
	}
	return n
}

// op is one generated operation: Kind 0 observe, 1 expire, 2 contains.
type op struct {
	Kind  uint8
	Key   uint8
	Delta int16 // time step in 100 ms; mostly forwards, sometimes backwards
}

func TestQuickAgainstReference(t *testing.T) {
	const ttl = 30 * time.Second
	check := func(ops []op) bool {
		s := NewSet[int](ttl)
		ref := reference{}
		now := t0
		for _, o := range ops {
			d := int(o.Delta) % 100
			if d < -20 {
				d = -d
			}
			now = now.Add(time.Duration(d) * 100 * time.Millisecond)
			k := int(o.Key % 16)
			switch o.Kind % 3 {
			case 0:
				ref.expire(now, ttl)
				_, had := ref[k]
				if !had {
					ref[k] = now
				}
				if s.Observe(k, now) != !had {
					return false
				}
			case 1:
				if s.Expire(now) != ref.expire(now, ttl) {
					return false
				}
			case 2:
				ins, ok := ref[k]
				want := ok && now.Before(ins.Add(ttl))
				if s.Contains(k, now) != want {
					return false
				}
			}
			if s.Len() != len(ref) {
				return false
			}
		}
		return sameAsRef(s, ref)
	}
	if err := quick.Check(check, &quick.Config{MaxCount: 500, Rand: rand.New(rand.NewSource(1))}); err != nil {
		t.Fatal(err)
	}
}

func sameAsRef(s *Set[int], ref reference) bool {
	es := s.Entries()
	if len(es) != len(ref) {
		return false
	}
	for i, e := range es {
		if ins, ok := ref[e.Key]; !ok || !ins.Equal(e.Inserted) {
			return false
		}
		if i > 0 && e.Inserted.Before(es[i-1].Inserted) {
			return false
		}
	}
	return true
}

// obs is one generated observation for the merge properties.
type obs struct {
	Key  uint8
	At   uint16 // seconds after t0
	Side bool   // which half of the split it goes to
}

func observeSorted(s *Set[int], list []obs) {
	list = slices.Clone(list)
	slices.SortStableFunc(list, func(a, b obs) int { return int(a.At) - int(b.At) })
	for _, o := range list {
		s.Observe(int(o.Key%32), at(float64(o.At)))
	}
}

func TestQuickMergeOfSplitEqualsUnion(t *testing.T) {
	check := func(all []obs) bool {
		var a, b []obs
		ref := reference{}
		for _, o := range all {
			if o.Side {
				a = append(a, o)
			} else {
				b = append(b, o)
			}
			k, ts := int(o.Key%32), at(float64(o.At))
			if cur, ok := ref[k]; !ok || ts.Before(cur) {
				ref[k] = ts
			}
		}
		sa, sb := NewSet[int](0), NewSet[int](0)
		observeSorted(sa, a)
		observeSorted(sb, b)
		before := sb.Entries()

		ab := NewSet[int](0)
		ab.Merge(sa)
		ab.Merge(sb)
		ba := NewSet[int](0)
		ba.Merge(sb)
		ba.Merge(sa)
		if !sameAsRef(ab, ref) || !sameAsRef(ba, ref) {
			return false
		}
		// Merging into a non-empty set and re-merging are no-ops beyond the union.
		sa.Merge(sb)
		sa.Merge(sb)
		if !sameAsRef(sa, ref) || !reflect.DeepEqual(before, sb.Entries()) {
			return false
		}
		// And expiry of the merged set matches the reference.
		for _, ttl := range []time.Duration{time.Second, time.Minute, time.Hour} {
			m := NewSet[int](ttl)
			m.Merge(sa)
			r := reference{}
			for k, v := range ref {
				r[k] = v
			}
			now := at(float64(len(all)))
			if m.Expire(now) != r.expire(now, ttl) || !sameAsRef(m, r) {
				return false
			}
		}
		return true
	}
	if err := quick.Check(check, &quick.Config{MaxCount: 500, Rand: rand.New(rand.NewSource(2))}); err != nil {
		t.Fatal(err)
	}
}

func TestMergeTable(t *testing.T) {
	cases := map[string]struct {
		a, b []Entry[string]
		want []Entry[string]
	}{
		"disjoint": {
			a:    []Entry[string]{{"x", at(1)}, {"z", at(3)}},
			b:    []Entry[string]{{"y", at(2)}},
			want: []Entry[string]{{"x", at(1)}, {"y", at(2)}, {"z", at(3)}},
		},
		"earlier wins from other": {
			a:    []Entry[string]{{"x", at(5)}, {"y", at(6)}},
			b:    []Entry[string]{{"x", at(1)}},
			want: []Entry[string]{{"x", at(1)}, {"y", at(6)}},
		},
		"earlier wins from self": {
			a:    []Entry[string]{{"x", at(1)}},
			b:    []Entry[string]{{"x", at(5)}},
			want: []Entry[string]{{"x", at(1)}},
		},
		"equal times keep self first": {
			a:    []Entry[string]{{"x", at(1)}},
			b:    []Entry[string]{{"y", at(1)}},
			want: []Entry[string]{{"x", at(1)}, {"y", at(1)}},
		},
		"empty other": {
			a:    []Entry[string]{{"x", at(1)}},
			want: []Entry[string]{{"x", at(1)}},
		},
		"empty self": {
			b:    []Entry[string]{{"x", at(1)}},
			want: []Entry[string]{{"x", at(1)}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a, b := NewSet[string](time.Hour), NewSet[string](time.Hour)
			for _, e := range tc.a {
				a.Observe(e.Key, e.Inserted)
			}
			for _, e := range tc.b {
				b.Observe(e.Key, e.Inserted)
			}
			a.Merge(b)
			a.Merge(a)
			a.Merge(nil)
			got := a.Entries()
			if len(got) != len(tc.want) {
				t.Fatalf("Entries = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].Key != tc.want[i].Key || !got[i].Inserted.Equal(tc.want[i].Inserted) {
					t.Fatalf("Entries = %v, want %v", got, tc.want)
				}
			}
			checkOrdered(t, a)
		})
	}
}

func TestEntriesIsACopy(t *testing.T) {
	s := NewSet[string](time.Hour)
	s.Observe("a", t0)
	es := s.Entries()
	es[0].Key = "mutated"
	if !s.Contains("a", t0) || s.Entries()[0].Key != "a" {
		t.Fatal("Entries exposed internal storage")
	}
}

func BenchmarkObserve(b *testing.B) {
	s := NewSet[netip.Addr](time.Minute)
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Observe(addrs[i%len(addrs)], t0.Add(time.Duration(i)*time.Millisecond))
	}
}
