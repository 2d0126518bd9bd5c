package analysis_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"shoal/analysis"
)

func TestPartSet(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := analysis.NewPartSet[int](4, time.Minute)
	for i := range 20 {
		if !s.Add(i%4, i, t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("%d not new", i)
		}
	}
	if s.Add(1, 1, t0) || s.Len() != 20 || !s.Contains(2, 2, t0) || s.Contains(3, 2, t0) {
		t.Fatal("membership is not per partition")
	}
	if n := s.Drop([]bool{false, true, false, true}); n != 10 || s.Len() != 10 || s.Contains(1, 1, t0) || !s.Contains(0, 0, t0) {
		t.Fatalf("Drop removed %d, len %d", n, s.Len())
	}
	if n := s.Expire(t0.Add(time.Minute + 9*time.Second)); n != 5 || s.Len() != 5 {
		t.Fatalf("Expire removed %d, len %d", n, s.Len())
	}
	if !s.Delete(2, 18) || s.Delete(2, 18) || s.Len() != 4 {
		t.Fatalf("Delete: len %d", s.Len())
	}
	if n := s.ExpirePart(0, t0.Add(time.Hour)); n != 2 || s.Len() != 2 {
		t.Fatalf("ExpirePart removed %d, len %d", n, s.Len())
	}
}

// TestPartitionIsTheRings: Partition must place keys exactly as the ring
// does; the ring's own test pins the formula, this one the value.
func TestPartition(t *testing.T) {
	k := netip.MustParseAddr("141.142.220.118").As16()
	if p := analysis.Partition(k[:], 1021); p < 0 || p >= 1021 {
		t.Fatalf("partition %d out of range", p)
	}
	if analysis.Partition([]byte("a"), 1) != 0 {
		t.Fatal("one partition")
	}
}

type nested struct {
	D time.Duration
	S []string
}

type settings struct {
	A int
	B string
	N nested
	P *int
	M map[string]float64
}

func TestSettingsHash(t *testing.T) {
	base := settings{A: 1, B: "b", N: nested{D: time.Second, S: []string{"x"}}, M: map[string]float64{"k": 1, "j": 2}}
	h0, err := analysis.SettingsHash(base)
	if err != nil {
		t.Fatal(err)
	}
	same := base
	same.M = map[string]float64{"j": 2, "k": 1}
	if h, _ := analysis.SettingsHash(same); h != h0 {
		t.Fatal("equal settings hash differently")
	}
	one := 1
	for name, v := range map[string]settings{
		"A": {A: 2, B: "b", N: base.N, M: base.M}, "B": {A: 1, B: "c", N: base.N, M: base.M},
		"N.D": {A: 1, B: "b", N: nested{D: 2 * time.Second, S: []string{"x"}}, M: base.M},
		"N.S": {A: 1, B: "b", N: nested{D: time.Second, S: []string{"x", ""}}, M: base.M},
		"P":   {A: 1, B: "b", N: base.N, M: base.M, P: &one},
		"M":   {A: 1, B: "b", N: base.N, M: map[string]float64{"k": 1}},
	} {
		if h, _ := analysis.SettingsHash(v); h == h0 {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	for name, v := range map[string]any{
		"func":       struct{ F func() }{},
		"unexported": struct{ x int }{},
		"int map":    map[int]int{1: 1},
	} {
		if _, err := analysis.SettingsHash(v); err == nil || !strings.Contains(err.Error(), "settings") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

type mod struct {
	name string
	evs  []analysis.EventSpec
}

func (m mod) Name() string                                { return m.name }
func (m mod) Events() []analysis.EventSpec                { return m.evs }
func (m mod) Settings() any                               { return struct{}{} }
func (m mod) Attach(analysis.Env) (analysis.Parts, error) { return analysis.Parts{}, nil }

func TestCheckEvents(t *testing.T) {
	ok := analysis.EventSpec{Type: 4000, Name: "x", Delivery: analysis.Hashed, To: analysis.RoleDatanode,
		From: []analysis.Role{analysis.RoleWorker}}
	other := ok
	other.Type = 4001
	if err := analysis.CheckEvents([]analysis.Module{mod{"a", []analysis.EventSpec{ok}}, mod{"b", []analysis.EventSpec{other}}}); err != nil {
		t.Fatal(err)
	}
	for name, mods := range map[string][]analysis.Module{
		"type twice":   {mod{"a", []analysis.EventSpec{ok}}, mod{"b", []analysis.EventSpec{ok}}},
		"module twice": {mod{"a", nil}, mod{"a", nil}},
		"no sender":    {mod{"a", []analysis.EventSpec{{Type: 1, Name: "x", Delivery: analysis.Hashed, To: analysis.RoleManager}}}},
	} {
		if err := analysis.CheckEvents(mods); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
