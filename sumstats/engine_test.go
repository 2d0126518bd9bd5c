package sumstats

import (
	"errors"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sec(s float64) time.Time { return at(s) }

func ptr(f float64) *float64 { return &f }

var (
	hostA = Key{Host: netip.MustParseAddr("10.0.0.1")}
	hostB = Key{Host: netip.MustParseAddr("10.0.0.2")}
)

func sumDef(name string, epoch time.Duration) Def {
	return Def{Name: name, Epoch: epoch, Reducers: []Reducer{{Stream: "s", Apply: []Calc{CalcSum}}}}
}

func sumOf(stream string) func(Key, Result) float64 {
	return func(_ Key, r Result) float64 { return r.Get(stream).Sum }
}

// outline renders Outputs compactly for table tests:
// kind:def:key:num@start-end (times in seconds after caseT0).
func outline(outs []Output) []string {
	var s []string
	rel := func(t time.Time) string {
		if t.IsZero() {
			return "zero"
		}
		return strconv.FormatFloat(t.Sub(caseT0).Seconds(), 'f', -1, 64)
	}
	for _, o := range outs {
		switch o.Kind {
		case EpochResult:
			n := uint64(0)
			for _, v := range o.Result {
				n += v.Num
			}
			s = append(s, "result:"+o.Def+":"+o.Key.String()+":"+itoa(n)+"@"+rel(o.Start)+"-"+rel(o.End))
		case EpochFinished:
			s = append(s, "finished:"+o.Def+"@"+rel(o.Start)+"-"+rel(o.End))
		case ThresholdCrossed:
			s = append(s, "crossed:"+o.Def+":"+o.Key.String()+":"+itoa(uint64(o.Threshold))+"@"+rel(o.End))
		}
	}
	return s
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// step is one action of an engine table test.
type step struct {
	obs    string  // stream to observe on ("" = no observation)
	key    Key     // observation key
	val    float64 // observation value (Dbl)
	tick   bool    // Tick instead of Observe
	end    string  // EndEpoch(name) instead of Observe
	flush  bool    // Flush instead of Observe
	at     float64 // network time, seconds after caseT0
	want   []string
	wanErr error
}

func runSteps(t *testing.T, e *Engine, steps []step) {
	t.Helper()
	for i, s := range steps {
		var outs []Output
		var err error
		switch {
		case s.tick:
			outs = e.Tick(sec(s.at))
		case s.flush:
			outs = e.Flush(sec(s.at))
		case s.end != "":
			outs, err = e.EndEpoch(s.end, sec(s.at))
		default:
			outs = e.Observe(s.obs, s.key, Dbl(s.val), sec(s.at))
		}
		if !errors.Is(err, s.wanErr) {
			t.Fatalf("step %d: error %v, want %v", i, err, s.wanErr)
		}
		if got := outline(outs); !slices.Equal(got, s.want) {
			t.Fatalf("step %d: outputs\n  %q\nwant\n  %q", i, got, s.want)
		}
	}
}

func TestEpochs(t *testing.T) {
	tests := map[string]struct {
		defs  []Def
		start time.Time
		steps []step
	}{
		"fixed epoch ends at the first time at or after its end": {
			defs:  []Def{sumDef("d", 10*time.Second)},
			start: sec(0),
			steps: []step{
				{obs: "s", key: hostA, val: 1, at: 1},
				{obs: "s", key: hostB, val: 1, at: 5},
				{obs: "s", key: hostA, val: 1, at: 9},
				{tick: true, at: 9.5},
				{tick: true, at: 10, want: []string{
					"result:d:sumstats_key(host=10.0.0.1):2@0-10",
					"result:d:sumstats_key(host=10.0.0.2):1@0-10",
					"finished:d@0-10"}},
				{tick: true, at: 19},
				// Zeek reschedules Epoch after the firing time: next end 20.
				{obs: "s", key: hostA, val: 1, at: 25, want: []string{"finished:d@10-25"}},
				{tick: true, at: 34},
				{tick: true, at: 35, want: []string{"result:d:sumstats_key(host=10.0.0.1):1@25-35", "finished:d@25-35"}},
			},
		},
		"created before the first packet: an empty epoch ends at the first observation": {
			defs: []Def{sumDef("d", 3*time.Second)},
			steps: []step{
				{obs: "s", key: hostA, val: 5, at: 0, want: []string{"finished:d@zero-0"}},
				{tick: true, at: 3, want: []string{"result:d:sumstats_key(host=10.0.0.1):1@0-3", "finished:d@0-3"}},
			},
		},
		"aligned epochs end on window boundaries and skip empty windows": {
			defs: []Def{{Name: "d", Epoch: 10 * time.Second, AlignEpochs: true,
				Reducers: []Reducer{{Stream: "s", Apply: []Calc{CalcSum}}}}},
			start: sec(3), // caseT0 is 8 s past a multiple of 10 s: the window is [2, 12)
			steps: []step{
				{obs: "s", key: hostA, val: 1, at: 4},
				{tick: true, at: 12, want: []string{"result:d:sumstats_key(host=10.0.0.1):1@2-12", "finished:d@2-12"}},
				{obs: "s", key: hostA, val: 1, at: 15},
				{tick: true, at: 47, want: []string{"result:d:sumstats_key(host=10.0.0.1):1@12-22", "finished:d@12-22"}},
				{tick: true, at: 51.9},
				{tick: true, at: 52, want: []string{"finished:d@42-52"}},
			},
		},
		"network time never moves backwards": {
			defs:  []Def{sumDef("d", 10*time.Second)},
			start: sec(0),
			steps: []step{
				{obs: "s", key: hostA, val: 1, at: 8},
				{obs: "s", key: hostA, val: 1, at: 2}, // counts as 8
				{tick: true, at: 5},
				{tick: true, at: 10, want: []string{"result:d:sumstats_key(host=10.0.0.1):2@0-10", "finished:d@0-10"}},
			},
		},
		"manual epochs end only by EndEpoch, empty ones too": {
			defs:  []Def{sumDef("m", 0)},
			start: sec(0),
			steps: []step{
				{tick: true, at: 1e6},
				{end: "m", at: 1e6 + 1, want: []string{"finished:m@0-1000001"}},
				{obs: "s", key: hostA, val: 1, at: 1e6 + 2},
				{end: "m", at: 1e6 + 3, want: []string{"result:m:sumstats_key(host=10.0.0.1):1@1000001-1000003", "finished:m@1000001-1000003"}},
				{end: "m", at: 1e6 + 4, want: []string{"finished:m@1000003-1000004"}},
				{end: "nope", at: 1e6 + 5, wanErr: ErrUnknownDef},
			},
		},
		"EndEpoch refuses a fixed epoch": {
			defs:  []Def{sumDef("d", time.Second)},
			start: sec(0),
			steps: []step{{end: "d", at: 0.5, wanErr: ErrNotManual}},
		},
		"EndEpoch first ends other due epochs": {
			defs:  []Def{sumDef("d", 10*time.Second), sumDef("m", 0)},
			start: sec(0),
			steps: []step{
				{obs: "s", key: hostA, val: 1, at: 1},
				{end: "m", at: 11, want: []string{
					"result:d:sumstats_key(host=10.0.0.1):1@0-11", "finished:d@0-11",
					"result:m:sumstats_key(host=10.0.0.1):1@0-11", "finished:m@0-11"}},
			},
		},
		"due epochs end earliest first": {
			defs:  []Def{sumDef("slow", 7*time.Second), sumDef("fast", 5*time.Second)},
			start: sec(0),
			steps: []step{
				{tick: true, at: 7, want: []string{"finished:fast@0-7", "finished:slow@0-7"}},
			},
		},
		"flush ends every fixed epoch once, manual ones not": {
			defs:  []Def{sumDef("d", time.Hour), sumDef("m", 0)},
			start: sec(0),
			steps: []step{
				{obs: "s", key: hostA, val: 1, at: 1},
				{flush: true, at: 2, want: []string{"result:d:sumstats_key(host=10.0.0.1):1@0-2", "finished:d@0-2"}},
				{end: "m", at: 3, want: []string{"result:m:sumstats_key(host=10.0.0.1):1@0-3", "finished:m@0-3"}},
			},
		},
		"unknown stream is ignored": {
			defs:  []Def{sumDef("d", time.Hour)},
			start: sec(0),
			steps: []step{
				{obs: "other", key: hostA, val: 1, at: 1},
				{flush: true, at: 2, want: []string{"finished:d@0-2"}},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := New(Config{Rand: newRand(1)})
			for _, d := range tc.defs {
				if err := e.Add(d, tc.start); err != nil {
					t.Fatal(err)
				}
			}
			runSteps(t, e, tc.steps)
		})
	}
}

func TestThresholds(t *testing.T) {
	tests := map[string]struct {
		def   Def
		steps []step
	}{
		"plain threshold fires once per key per epoch": {
			def: Def{Name: "t", Epoch: 10 * time.Second, Reducers: []Reducer{{Stream: "s", Apply: []Calc{CalcSum}}},
				ThresholdVal: sumOf("s"), Threshold: ptr(5)},
			steps: []step{
				{obs: "s", key: hostA, val: 4, at: 1},
				{obs: "s", key: hostA, val: 1, at: 2, want: []string{"crossed:t:sumstats_key(host=10.0.0.1):0@2"}},
				{obs: "s", key: hostA, val: 100, at: 3},
				{obs: "s", key: hostB, val: 7, at: 4, want: []string{"crossed:t:sumstats_key(host=10.0.0.2):0@4"}},
				// New epoch: the key may fire again.
				{obs: "s", key: hostA, val: 9, at: 11, want: []string{
					"result:t:sumstats_key(host=10.0.0.1):3@0-11",
					"result:t:sumstats_key(host=10.0.0.2):1@0-11",
					"finished:t@0-11",
					"crossed:t:sumstats_key(host=10.0.0.1):0@11"}},
			},
		},
		"series tests only the next step and fires each step once": {
			def: Def{Name: "t", Epoch: 10 * time.Second, Reducers: []Reducer{{Stream: "s", Apply: []Calc{CalcSum}}},
				ThresholdVal: sumOf("s"), ThresholdSeries: []float64{3, 6, 800}},
			steps: []step{
				{obs: "s", key: hostA, val: 3, at: 1, want: []string{"crossed:t:sumstats_key(host=10.0.0.1):0@1"}},
				{obs: "s", key: hostA, val: 0, at: 1},
				// A jump past 6 and 800 fires once, for step 1.
				{obs: "s", key: hostA, val: 1000, at: 2, want: []string{"crossed:t:sumstats_key(host=10.0.0.1):1@2"}},
				// The next observation tests step 2 (800), still crossed.
				{obs: "s", key: hostA, val: 0, at: 3, want: []string{"crossed:t:sumstats_key(host=10.0.0.1):2@3"}},
				// Series exhausted.
				{obs: "s", key: hostA, val: 1e6, at: 4},
				{tick: true, at: 10, want: []string{"result:t:sumstats_key(host=10.0.0.1):5@0-10", "finished:t@0-10"}},
				{obs: "s", key: hostA, val: 3, at: 11, want: []string{"crossed:t:sumstats_key(host=10.0.0.1):0@11"}},
			},
		},
		"threshold and series together share the index": {
			def: Def{Name: "t", Epoch: 0, Reducers: []Reducer{{Stream: "s", Apply: []Calc{CalcSum}}},
				ThresholdVal: sumOf("s"), Threshold: ptr(2), ThresholdSeries: []float64{10, 20}},
			steps: []step{
				{obs: "s", key: hostA, val: 2, at: 1, want: []string{"crossed:t:sumstats_key(host=10.0.0.1):0@1"}},
				{obs: "s", key: hostA, val: 8, at: 2}, // 10 >= series[1]=20? no
				{obs: "s", key: hostA, val: 10, at: 3, want: []string{"crossed:t:sumstats_key(host=10.0.0.1):1@3"}},
				{obs: "s", key: hostA, val: 10, at: 4},
			},
		},
		"threshold only: a crossed key stops collecting, epoch_finished still reported": {
			def: Def{Name: "t", Epoch: 10 * time.Second, Reducers: []Reducer{{Stream: "s", Apply: []Calc{CalcSum}}},
				ThresholdVal: sumOf("s"), Threshold: ptr(5), ThresholdOnly: true},
			steps: []step{
				{obs: "s", key: hostA, val: 5, at: 1, want: []string{"crossed:t:sumstats_key(host=10.0.0.1):0@1"}},
				{obs: "s", key: hostA, val: 5, at: 2},
				{obs: "s", key: hostB, val: 1, at: 2},
				{tick: true, at: 10, want: []string{"finished:t@0-10"}},
				{obs: "s", key: hostA, val: 5, at: 11, want: []string{"crossed:t:sumstats_key(host=10.0.0.1):0@11"}},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := New(Config{})
			if err := e.Add(tc.def, sec(0)); err != nil {
				t.Fatal(err)
			}
			runSteps(t, e, tc.steps)
		})
	}
}

func TestThresholdOnlyStopsCollecting(t *testing.T) {
	for _, only := range []bool{false, true} {
		e := New(Config{})
		d := Def{Name: "t", Epoch: 0, Reducers: []Reducer{{Stream: "s", Apply: []Calc{CalcSum}}},
			ThresholdVal: sumOf("s"), Threshold: ptr(5), ThresholdOnly: only}
		if err := e.Add(d, sec(0)); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			e.Observe("s", hostA, Num(3), sec(float64(i)))
		}
		r, _ := e.Lookup("t", hostA)
		want := 4.0 * 3
		if only {
			want = 6 // the two observations up to the crossing
		}
		if got := r.Get("s").Sum; got != want {
			t.Errorf("ThresholdOnly=%v: sum %v, want %v", only, got, want)
		}
	}
}

func TestThresholdValSeesEveryStream(t *testing.T) {
	var seen []Result
	d := Def{Name: "ratio", Epoch: 0, Reducers: []Reducer{
		{Stream: "a", Apply: []Calc{CalcSum}},
		{Stream: "b", Apply: []Calc{CalcSum, CalcTopK}},
	}, ThresholdVal: func(_ Key, r Result) float64 {
		seen = append(seen, r)
		a, b := r.Get("a"), r.Get("b")
		if a == nil || b == nil {
			t.Fatal("a stream is missing from the threshold view")
		}
		if a.Sum > 0 {
			return b.Sum / a.Sum
		}
		return 0
	}, Threshold: ptr(5)}
	e := New(Config{})
	if err := e.Add(d, sec(0)); err != nil {
		t.Fatal(err)
	}
	if outs := e.Observe("b", hostA, Num(10), sec(1)); len(outs) != 0 {
		t.Fatalf("crossed with a = 0: %v", outline(outs))
	}
	if seen[0].Get("a").Num != 0 || seen[0].Get("b").TopK == nil {
		t.Fatalf("filler for a: %+v", seen[0].Get("a"))
	}
	outs := e.Observe("a", hostA, Num(2), sec(2))
	if len(outs) != 1 || outs[0].Kind != ThresholdCrossed || outs[0].Value != 5 {
		t.Fatalf("got %v", outline(outs))
	}
	// The crossing carries a copy: it does not change with later data.
	e.Observe("a", hostA, Num(2), sec(3))
	if outs[0].Result.Get("a").Sum != 2 {
		t.Fatalf("crossing result changed: %v", outs[0].Result.Get("a").Sum)
	}
	// Lookup returns only the streams with data... both have it now.
	r, ok := e.Lookup("ratio", hostA)
	if !ok || len(r) != 2 || r.Get("a").Sum != 4 {
		t.Fatalf("lookup %+v", r)
	}
}

func TestPredAndNormalizeKey(t *testing.T) {
	d := Def{Name: "n", Epoch: 0, Reducers: []Reducer{{
		Stream: "s", Apply: []Calc{CalcSum},
		NormalizeKey: func(k Key) Key { return Key{Host: k.Host} }, // drop Str
		Pred:         func(k Key, o Observation) bool { return o.Kind == KindNum && k.Host.Is4() },
	}}}
	e := New(Config{})
	if err := e.Add(d, sec(0)); err != nil {
		t.Fatal(err)
	}
	e.Observe("s", Key{Host: hostA.Host, Str: "x"}, Num(1), sec(1))
	e.Observe("s", Key{Host: hostA.Host, Str: "y"}, Num(2), sec(1))
	e.Observe("s", hostA, Str("no"), sec(1))
	e.Observe("s", Key{Host: netip.MustParseAddr("::1")}, Num(5), sec(1))
	if keys := e.Keys("n"); !slices.Equal(keys, []Key{hostA}) {
		t.Fatalf("keys %v", keys)
	}
	if r, _ := e.Lookup("n", hostA); r.Get("s").Sum != 3 {
		t.Fatalf("sum %v", r.Get("s").Sum)
	}
}

func TestLookupIsACopy(t *testing.T) {
	e := New(Config{})
	d := Def{Name: "d", Reducers: []Reducer{{Stream: "s", Apply: []Calc{CalcSum, CalcUnique, CalcTopK}}}}
	if err := e.Add(d, sec(0)); err != nil {
		t.Fatal(err)
	}
	e.Observe("s", hostA, Num(1), sec(1))
	r, ok := e.Lookup("d", hostA)
	if !ok {
		t.Fatal("no result")
	}
	r.Get("s").Sum = 100
	r.Get("s").TopK.Add(Num(9))
	r2, _ := e.Lookup("d", hostA)
	if r2.Get("s").Sum != 1 || r2.Get("s").TopK.Count(Num(9)) != 0 {
		t.Fatal("Lookup shares state with the engine")
	}
	if _, ok := e.Lookup("d", hostB); ok {
		t.Fatal("result for an unseen key")
	}
	if _, ok := e.Lookup("nope", hostA); ok {
		t.Fatal("result for an unknown sumstat")
	}
	if e.Len("d") != 1 || !e.Delete("d", hostA) || e.Len("d") != 0 || e.Delete("d", hostA) {
		t.Fatal("Len/Delete")
	}
}

func TestEngineMerge(t *testing.T) {
	def := Def{Name: "t", Epoch: 0, Reducers: []Reducer{{Stream: "s", Apply: []Calc{CalcSum, CalcSample}, SampleSize: 2}},
		ThresholdVal: sumOf("s"), ThresholdSeries: []float64{5, 10}}
	a, b := New(Config{Rand: newRand(1)}), New(Config{Rand: newRand(2)})
	for _, e := range []*Engine{a, b} {
		if err := e.Add(def, sec(0)); err != nil {
			t.Fatal(err)
		}
	}
	if outs := b.Observe("s", hostA, Num(6), sec(1)); len(outs) != 1 {
		t.Fatalf("b: %v", outline(outs))
	}
	a.Observe("s", hostA, Num(3), sec(2))
	rb, _ := b.Lookup("t", hostA)
	// The crossing of step 0 happened on b: carried over, not repeated; the
	// merged sum 9 does not reach step 1 (10).
	outs, err := a.Merge("t", hostA, rb, b.ThresholdIndex("t", hostA), sec(3))
	if err != nil || len(outs) != 0 {
		t.Fatalf("merge: %v %v", outline(outs), err)
	}
	if a.ThresholdIndex("t", hostA) != 1 {
		t.Fatalf("index %d", a.ThresholdIndex("t", hostA))
	}
	outs, _ = a.Merge("t", hostA, Result{rb.Get("s")}, 0, sec(4))
	if got := outline(outs); !slices.Equal(got, []string{"crossed:t:sumstats_key(host=10.0.0.1):1@4"}) {
		t.Fatalf("second merge: %v", got)
	}
	r, _ := a.Lookup("t", hostA)
	if v := r.Get("s"); v.Sum != 15 || v.Num != 3 || v.Sample.Elements() != 3 || len(v.Sample.Samples()) != 2 {
		t.Fatalf("merged %+v", v)
	}
	// Merging into an absent key creates it.
	if _, err := a.Merge("t", hostB, rb, 0, sec(5)); err != nil || a.Len("t") != 2 {
		t.Fatalf("merge into absent key: %v", err)
	}

	bad := rb.Clone()
	bad[0].Stream = "zz"
	if _, err := a.Merge("t", hostA, bad, 0, sec(6)); !errors.Is(err, ErrUnknownStream) {
		t.Fatalf("unknown stream: %v", err)
	}
	bad = rb.Clone()
	bad[0].Calcs = bad[0].Calcs.With(CalcMax)
	if _, err := a.Merge("t", hostA, bad, 0, sec(6)); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("different calcs: %v", err)
	}
	other := New(Config{})
	d2 := def
	d2.Reducers = []Reducer{{Stream: "s", Apply: []Calc{CalcSum, CalcSample}, SampleSize: 3}}
	if err := other.Add(d2, sec(0)); err != nil {
		t.Fatal(err)
	}
	other.Observe("s", hostA, Num(1), sec(1))
	ro, _ := other.Lookup("t", hostA)
	before, _ := a.Lookup("t", hostA)
	if _, err := a.Merge("t", hostA, ro, 0, sec(7)); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("sample sizes: %v", err)
	}
	after, _ := a.Lookup("t", hostA)
	if after.Get("s").Sum != before.Get("s").Sum {
		t.Fatal("a failed merge changed the key")
	}
	if _, err := a.Merge("nope", hostA, rb, 0, sec(7)); !errors.Is(err, ErrUnknownDef) {
		t.Fatalf("unknown def: %v", err)
	}
}

func TestDefValidation(t *testing.T) {
	good := func() Def {
		return Def{Name: "d", Epoch: time.Second, Reducers: []Reducer{{Stream: "s", Apply: []Calc{CalcSum}}}}
	}
	tests := map[string]struct {
		mod  func(*Def)
		want error
	}{
		"valid":               {func(*Def) {}, nil},
		"empty name":          {func(d *Def) { d.Name = "" }, ErrInvalidDef},
		"negative epoch":      {func(d *Def) { d.Epoch = -1 }, ErrInvalidDef},
		"no reducers":         {func(d *Def) { d.Reducers = nil }, ErrInvalidDef},
		"empty stream":        {func(d *Def) { d.Reducers[0].Stream = "" }, ErrInvalidDef},
		"no calculations":     {func(d *Def) { d.Reducers[0].Apply = nil }, ErrInvalidDef},
		"unknown calculation": {func(d *Def) { d.Reducers[0].Apply = []Calc{numCalcs} }, ErrUnknownCalc},
		"zero calculation":    {func(d *Def) { d.Reducers[0].Apply = []Calc{0} }, ErrUnknownCalc},
		"duplicate stream": {func(d *Def) {
			d.Reducers = append(d.Reducers, Reducer{Stream: "s", Apply: []Calc{CalcMax}})
		}, ErrInvalidDef},
		"negative unique_max":             {func(d *Def) { d.Reducers[0].UniqueMax = -1 }, ErrBadParam},
		"negative topk_size":              {func(d *Def) { d.Reducers[0].TopKSize = -1 }, ErrBadParam},
		"threshold without threshold_val": {func(d *Def) { d.Threshold = ptr(1) }, ErrInvalidDef},
		"series without threshold_val":    {func(d *Def) { d.ThresholdSeries = []float64{1} }, ErrInvalidDef},
		"NaN threshold": {func(d *Def) {
			d.Threshold, d.ThresholdVal = ptr(math.NaN()), sumOf("s")
		}, ErrInvalidDef},
		"descending series": {func(d *Def) {
			d.ThresholdSeries, d.ThresholdVal = []float64{5, 3}, sumOf("s")
		}, ErrInvalidDef},
		"hll error margin out of range": {func(d *Def) {
			d.Reducers[0].Apply, d.Reducers[0].HLLErrorMargin = []Calc{CalcHLLUnique}, 1.5
		}, ErrBadParam},
		"hll too precise": {func(d *Def) {
			d.Reducers[0].Apply, d.Reducers[0].HLLErrorMargin = []Calc{CalcHLLUnique}, 0.0001
		}, ErrBadParam},
		"hll parameters ignored without hll_unique": {func(d *Def) { d.Reducers[0].HLLErrorMargin = 7 }, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := good()
			tc.mod(&d)
			err := d.Validate()
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "sumstat") {
				t.Errorf("error %q does not say where", err)
			}
			if err := New(Config{}).Add(d, sec(0)); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Add() = %v, want %v", err, tc.want)
			}
		})
	}
	e := New(Config{})
	if err := e.Add(good(), sec(0)); err != nil {
		t.Fatal(err)
	}
	if err := e.Add(good(), sec(0)); !errors.Is(err, ErrDuplicateDef) {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestParseCalc(t *testing.T) {
	tests := map[string]Calc{
		"SUM": CalcSum, "min": CalcMin, "MAX": CalcMax, "AVERAGE": CalcAverage, "avg": CalcAverage,
		"VARIANCE": CalcVariance, "STD_DEV": CalcStdDev, "stddev": CalcStdDev, "UNIQUE": CalcUnique,
		"HLL_UNIQUE": CalcHLLUnique, "TOPK": CalcTopK, "top_k": CalcTopK, "SAMPLE": CalcSample, " last ": CalcLast,
	}
	for in, want := range tests {
		got, err := ParseCalc(in)
		if err != nil || got != want {
			t.Errorf("ParseCalc(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, err := ParseCalc(want.String()); err != nil || back != want {
			t.Errorf("ParseCalc(%q) does not round-trip", want.String())
		}
	}
	if _, err := ParseCalc("median"); !errors.Is(err, ErrUnknownCalc) || !strings.Contains(err.Error(), "median") {
		t.Errorf("median: %v", err)
	}
	if s := (CalcSet(0).With(CalcSum).With(CalcStdDev)).String(); s != "sum,std_dev" {
		t.Errorf("CalcSet.String = %q", s)
	}
}

func TestKeyString(t *testing.T) {
	tests := map[string]struct {
		k    Key
		want string
	}{
		"host":   {Key{Host: netip.MustParseAddr("1.2.3.4")}, "sumstats_key(host=1.2.3.4)"},
		"str":    {Key{Str: "x"}, "sumstats_key(str=x)"},
		"both":   {Key{Host: netip.MustParseAddr("2001:db8::1"), Str: "x"}, "sumstats_key(host=2001:db8::1, str=x)"},
		"none":   {Key{}, "sumstats_key()"},
		"sorted": {Key{Str: "a"}, "sumstats_key(str=a)"},
	}
	for name, tc := range tests {
		if got := tc.k.String(); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
	keys := []Key{hostB, {Str: "b"}, hostA, {Host: hostA.Host, Str: "a"}, {Str: "a"}}
	slices.SortFunc(keys, Key.Compare)
	want := []Key{{Str: "a"}, {Str: "b"}, hostA, {Host: hostA.Host, Str: "a"}, hostB}
	if !slices.Equal(keys, want) {
		t.Errorf("order %v", keys)
	}
}

func TestObservationValue(t *testing.T) {
	tests := map[string]struct {
		o    Observation
		want float64
	}{
		"num":  {Num(5), 5},
		"dbl":  {Dbl(2.5), 2.5},
		"str":  {Str("x"), 1},
		"none": {Observation{}, 1},
	}
	for name, tc := range tests {
		if got := tc.o.Value(); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	if Num(5).elem() == Dbl(5).elem() {
		t.Error("num 5 and dbl 5 are the same element")
	}
	if a, b := Dbl(math.NaN()).elem(), Dbl(math.NaN()).elem(); a != b {
		t.Error("NaN is not one element")
	}
}

func TestNextDue(t *testing.T) {
	e := New(Config{})
	if _, ok := e.NextDue(); ok {
		t.Fatal("due without sumstats")
	}
	_ = e.Add(sumDef("m", 0), sec(0))
	if _, ok := e.NextDue(); ok {
		t.Fatal("due with only manual epochs")
	}
	_ = e.Add(sumDef("a", 7*time.Second), sec(0))
	_ = e.Add(sumDef("b", 5*time.Second), sec(0))
	if due, ok := e.NextDue(); !ok || !due.Equal(sec(5)) {
		t.Fatalf("due %v %v", due, ok)
	}
	if got := e.Defs(); !slices.Equal(got, []string{"m", "a", "b"}) {
		t.Fatalf("defs %v", got)
	}
}
