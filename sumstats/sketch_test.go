package sumstats

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
)

func topEntries(es []TopEntry) []string {
	var s []string
	for _, e := range es {
		s = append(s, fmt.Sprintf("%v:%d/%d", e.Value, e.Count, e.Epsilon))
	}
	return s
}

func TestTopKSpaceSaving(t *testing.T) {
	tests := map[string]struct {
		size    int
		adds    []uint64
		wantAll []string // Entries(), lowest count first
		top     int
		wantTop []string
	}{
		"exact below size": {
			size: 3, adds: []uint64{1, 2, 1, 3, 1, 2},
			wantAll: []string{"3:1/0", "2:2/0", "1:3/0"},
			top:     2, wantTop: []string{"1:3/0", "2:2/0"},
		},
		"new element evicts the oldest of the lowest bucket and inherits its count": {
			size: 2, adds: []uint64{1, 2, 3},
			// 1 (oldest, count 1) is evicted; 3 gets epsilon 1, count 2.
			wantAll: []string{"2:1/0", "3:2/1"},
			top:     1, wantTop: []string{"3:2/1"},
		},
		"ties are returned whole, in the order they reached the count": {
			size: 5, adds: []uint64{4, 1, 2, 3, 3, 2, 1},
			wantAll: []string{"4:1/0", "3:2/0", "2:2/0", "1:2/0"},
			top:     2, wantTop: []string{"3:2/0", "2:2/0", "1:2/0"},
		},
		"top of more than tracked returns all": {
			size: 5, adds: []uint64{7, 7, 8},
			wantAll: []string{"8:1/0", "7:2/0"},
			top:     10, wantTop: []string{"7:2/0", "8:1/0"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tk := NewTopK(tc.size)
			for _, a := range tc.adds {
				tk.Add(Num(a))
			}
			if got := topEntries(tk.Entries()); !slices.Equal(got, tc.wantAll) {
				t.Errorf("entries %v, want %v", got, tc.wantAll)
			}
			if got := topEntries(tk.Top(tc.top)); !slices.Equal(got, tc.wantTop) {
				t.Errorf("top(%d) %v, want %v", tc.top, got, tc.wantTop)
			}
			c := tk.Clone()
			if !slices.Equal(topEntries(c.Entries()), topEntries(tk.Entries())) {
				t.Error("clone differs")
			}
		})
	}
	if NewTopK(3).Top(5) != nil {
		t.Error("top of an empty summary")
	}
}

func TestTopKMergeLikeZeek(t *testing.T) {
	a, b := NewTopK(2), NewTopK(2)
	for _, v := range []uint64{1, 1, 2} {
		a.Add(Num(v))
	}
	for _, v := range []uint64{3, 3, 3, 2, 4} { // 4 evicts 2: count 2, eps 1
		b.Add(Num(v))
	}
	a.Merge(b)
	// No pruning: 4 elements although the size is 2.
	want := []string{"4:2/1", "1:2/0", "2:1/0", "3:3/0"}
	slices.Sort(want)
	got := topEntries(a.Entries())
	slices.Sort(got)
	if !slices.Equal(got, want) || a.Len() != 4 || a.Sum() != 8 {
		t.Fatalf("merged %v (len %d sum %d), want %v", got, a.Len(), a.Sum(), want)
	}
}

func TestHLL(t *testing.T) {
	p, err := HLLPrecision(DefaultHLLErrorMargin, DefaultHLLConfidence)
	if err != nil || p != 16 {
		t.Fatalf("Zeek's defaults give 2^%d registers (%v), want 2^16", p, err)
	}
	for _, bad := range [][2]float64{{0, 0.95}, {1, 0.95}, {0.01, 1}, {0.01, 0}, {math.NaN(), 0.5}, {0.00001, 0.99}} {
		if _, err := HLLPrecision(bad[0], bad[1]); !errors.Is(err, ErrBadParam) {
			t.Errorf("HLLPrecision(%v) = %v", bad, err)
		}
	}
	if p, err := HLLPrecision(0.2, 0.9); err != nil || p != 7 {
		t.Errorf("coarse precision %d %v", p, err)
	}
	rng := newRand(testSeed(t))
	for _, n := range []int{0, 1, 10, 1000, 4095, 4097, 50000} {
		h, err := NewHLL(0.01, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			h.Add(rng.Uint64())
		}
		// The running sums equal a recount from the registers.
		c := h.Clone()
		c.recount()
		if c.zeros != h.zeros || c.sumHi != h.sumHi || c.sumLo != h.sumLo {
			t.Fatalf("n=%d: running sums drifted", n)
		}
		// Sparse and dense forms estimate identically.
		d := h.Clone()
		if d.dense == nil {
			d.toDense()
		}
		if d.Estimate() != h.Estimate() {
			t.Fatalf("n=%d: dense %v sparse %v", n, d.Estimate(), h.Estimate())
		}
		if got := float64(h.Count()); math.Abs(got-float64(n)) > 0.02*float64(n)+0.5 {
			t.Fatalf("n=%d: estimate %v", n, got)
		}
	}
	a, _ := NewHLL(0.01, 0.95)
	b, _ := NewHLL(0.05, 0.95)
	if err := a.Merge(b); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("merge of different sizes: %v", err)
	}
}

func TestReservoir(t *testing.T) {
	fill := func(r *Reservoir, from, n int) {
		for i := range n {
			r.Add(Num(uint64(from + i)))
		}
	}
	a, b := NewReservoir(10, 1, 2), NewReservoir(10, 1, 2)
	fill(a, 0, 1000)
	fill(b, 0, 1000)
	if !slices.Equal(a.Samples(), b.Samples()) {
		t.Fatal("same seed, different samples")
	}
	// Uniformity, roughly: each of 20 values sampled by a size-5 reservoir
	// about 1/4 of the time over many runs.
	hits := make([]int, 20)
	const runs = 4000
	for run := range runs {
		r := NewReservoir(5, uint64(run), 7)
		fill(r, 0, 20)
		for _, s := range r.Samples() {
			hits[s.Num]++
		}
	}
	for v, h := range hits {
		if p := float64(h) / runs; math.Abs(p-0.25) > 0.04 {
			t.Errorf("value %d sampled %.3f of the time, want 0.25", v, p)
		}
	}
	// The same for merges of two halves.
	hits = make([]int, 20)
	for run := range runs {
		x, y := NewReservoir(5, uint64(run), 1), NewReservoir(5, uint64(run), 2)
		fill(x, 0, 12)
		fill(y, 12, 8)
		if err := x.Merge(y); err != nil {
			t.Fatal(err)
		}
		for _, s := range x.Samples() {
			hits[s.Num]++
		}
	}
	for v, h := range hits {
		if p := float64(h) / runs; math.Abs(p-0.25) > 0.05 {
			t.Errorf("merged: value %d sampled %.3f of the time, want 0.25", v, p)
		}
	}
	if err := NewReservoir(3, 0, 0).Merge(NewReservoir(4, 0, 0)); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("sizes: %v", err)
	}
}

func TestLastMergeByTime(t *testing.T) {
	a, b := NewLast(3), NewLast(3)
	a.Add(Num(1), sec(1))
	a.Add(Num(3), sec(3))
	b.Add(Num(2), sec(2))
	b.Add(Num(5), sec(3)) // same time as a's 3: a's comes first
	b.Add(Num(4), sec(4))
	a.Merge(b)
	if v := a.Values(); !slices.Equal(v, []Observation{Num(3), Num(5), Num(4)}) {
		t.Fatalf("merged %v", v)
	}
	if at := a.Items()[2].At; !at.Equal(sec(4)) {
		t.Fatalf("time %v", at)
	}
	l := NewLast(0)
	l.Add(Num(1), sec(1))
	if len(l.Items()) != 0 {
		t.Fatal("N=0 keeps observations")
	}
	l2 := NewLast(2)
	for i := range 5 {
		l2.Add(Num(uint64(i)), sec(float64(i)))
	}
	if v := l2.Values(); !slices.Equal(v, []Observation{Num(3), Num(4)}) {
		t.Fatalf("last 2: %v", v)
	}
}

func TestUniqueCap(t *testing.T) {
	tests := map[string]struct {
		max, adds int
		want      uint64
	}{
		"unlimited":   {0, 10, 10},
		"below cap":   {20, 10, 10},
		"at cap":      {10, 10, 10},
		"one above":   {9, 10, 10},
		"saturates":   {3, 10, 4},
		"cap of one":  {1, 10, 2},
		"nothing yet": {5, 0, 0},
	}
	for name, tc := range tests {
		u := NewUniqueSet(tc.max)
		for i := range tc.adds {
			u.Add(Num(uint64(i)))
			u.Add(Num(uint64(i)))
		}
		if u.Count() != tc.want {
			t.Errorf("%s: count %d, want %d", name, u.Count(), tc.want)
		}
	}
}
