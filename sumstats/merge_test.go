package sumstats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Property tests: for every reducer, merging the states of any split of a
// stream (2..5 parts, contiguous or interleaved, merged in a random tree)
// equals observing the whole stream, and the whole stream matches a naive
// reference.

type tobs struct {
	o  Observation
	at time.Time
}

var propKey = Key{Str: "k"}

const propStream = "s"

// genNums returns n observations of random counts below limit, at strictly
// increasing times.
func genNums(rng *rand.Rand, n int, limit uint64) []tobs {
	out := make([]tobs, n)
	t := caseT0
	for i := range out {
		t = t.Add(time.Duration(1+rng.IntN(1000)) * time.Millisecond)
		out[i] = tobs{o: Num(rng.Uint64N(limit)), at: t}
	}
	return out
}

// genMixed mixes counts, doubles and strings from a small domain, so that
// values repeat.
func genMixed(rng *rand.Rand, n, domain int) []tobs {
	out := make([]tobs, n)
	t := caseT0
	for i := range out {
		t = t.Add(time.Duration(1+rng.IntN(1000)) * time.Millisecond)
		v := rng.IntN(domain)
		var o Observation
		switch rng.IntN(3) {
		case 0:
			o = Num(uint64(v))
		case 1:
			o = Dbl(float64(v) / 4)
		default:
			o = Str(fmt.Sprintf("v%d", v))
		}
		out[i] = tobs{o: o, at: t}
	}
	return out
}

// genDbls returns doubles spread over several orders of magnitude.
func genDbls(rng *rand.Rand, n int) []tobs {
	out := make([]tobs, n)
	t := caseT0
	for i := range out {
		t = t.Add(time.Millisecond)
		out[i] = tobs{o: Dbl((rng.Float64() - 0.3) * math.Pow(10, float64(rng.IntN(6)))), at: t}
	}
	return out
}

// observeAll feeds obs to a fresh engine with def and returns the key's
// result.
func observeAll(t *testing.T, def Def, seed uint64, obs []tobs) Result {
	t.Helper()
	e := New(Config{Rand: newRand(seed)})
	if err := e.Add(def, caseT0); err != nil {
		t.Fatal(err)
	}
	for _, x := range obs {
		if outs := e.Observe(propStream, propKey, x.o, x.at); len(outs) != 0 {
			t.Fatalf("unexpected outputs %+v", outs)
		}
	}
	r, ok := e.Lookup(def.Name, propKey)
	if !ok && len(obs) > 0 {
		t.Fatal("no result")
	}
	return r
}

// split cuts obs into 2..5 parts, contiguous or interleaved at random, each
// in time order.
func split(rng *rand.Rand, obs []tobs) [][]tobs {
	k := 2 + rng.IntN(4)
	parts := make([][]tobs, k)
	if rng.IntN(2) == 0 {
		cuts := []int{0, len(obs)}
		for range k - 1 {
			cuts = append(cuts, rng.IntN(len(obs)+1))
		}
		slices.Sort(cuts)
		for i := range k {
			parts[i] = obs[cuts[i]:cuts[i+1]]
		}
		return parts
	}
	for _, x := range obs {
		i := rng.IntN(k)
		parts[i] = append(parts[i], x)
	}
	return parts
}

// mergeTree merges results in a random binary tree (any order, any
// association), through the binary encoding half of the time.
func mergeTree(t *testing.T, rng *rand.Rand, rs []Result) Result {
	t.Helper()
	rs = slices.Clone(rs)
	for len(rs) > 1 {
		i := rng.IntN(len(rs))
		a := rs[i]
		rs = slices.Delete(rs, i, i+1)
		j := rng.IntN(len(rs))
		b := rs[j]
		if rng.IntN(2) == 0 {
			b = roundTrip(t, b)
		}
		m, err := MergeResults(a, b)
		if err != nil {
			t.Fatal(err)
		}
		rs[j] = m
	}
	return rs[0]
}

type propRun struct {
	whole, merged *ResultVal
	leaves        []*ResultVal
	parts         [][]tobs
}

// splitAndMerge observes obs whole and in parts and merges the parts.
func splitAndMerge(t *testing.T, rng *rand.Rand, def Def, obs []tobs) propRun {
	t.Helper()
	whole := observeAll(t, def, rng.Uint64(), obs)
	parts := split(rng, obs)
	var leaves []Result
	var leafVals []*ResultVal
	for _, p := range parts {
		r := observeAll(t, def, rng.Uint64(), p)
		if r != nil {
			leaves = append(leaves, r)
			leafVals = append(leafVals, r.Get(propStream))
		}
	}
	merged := mergeTree(t, rng, leaves)
	return propRun{whole: whole.Get(propStream), merged: merged.Get(propStream), leaves: leafVals, parts: parts}
}

func propDef(r Reducer) Def {
	r.Stream = propStream
	return Def{Name: "prop", Reducers: []Reducer{r}}
}

func relClose(a, b, rel float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= rel*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func checkCommon(t *testing.T, pr propRun, obs []tobs) {
	t.Helper()
	w, m := pr.whole, pr.merged
	if m.Num != uint64(len(obs)) || w.Num != m.Num {
		t.Fatalf("num: whole %d merged %d, want %d", w.Num, m.Num, len(obs))
	}
	if !m.Begin.Equal(w.Begin) || !m.End.Equal(w.End) || !w.End.Equal(obs[len(obs)-1].at) {
		t.Fatalf("begin/end: whole %v..%v merged %v..%v", w.Begin, w.End, m.Begin, m.End)
	}
}

func TestMergeEqualsWholeStream(t *testing.T) {
	seed := testSeed(t)
	type check func(t *testing.T, rng *rand.Rand, trial int)
	tests := map[string]check{
		"sum_min_max/exact": func(t *testing.T, rng *rand.Rand, _ int) {
			obs := genNums(rng, 1+rng.IntN(300), 1<<40)
			pr := splitAndMerge(t, rng, propDef(Reducer{Apply: []Calc{CalcSum, CalcMin, CalcMax}}), obs)
			checkCommon(t, pr, obs)
			var sum float64
			mn, mx := math.Inf(1), math.Inf(-1)
			for _, x := range obs {
				v := x.o.Value()
				sum += v
				mn, mx = math.Min(mn, v), math.Max(mx, v)
			}
			for _, v := range []*ResultVal{pr.whole, pr.merged} {
				if v.Sum != sum || v.Min != mn || v.Max != mx {
					t.Fatalf("sum/min/max %v/%v/%v, want %v/%v/%v", v.Sum, v.Min, v.Max, sum, mn, mx)
				}
			}
		},
		"sum/doubles": func(t *testing.T, rng *rand.Rand, _ int) {
			obs := genDbls(rng, 1+rng.IntN(300))
			pr := splitAndMerge(t, rng, propDef(Reducer{Apply: []Calc{CalcSum, CalcMin, CalcMax}}), obs)
			checkCommon(t, pr, obs)
			if !relClose(pr.whole.Sum, pr.merged.Sum, 1e-9) || pr.whole.Min != pr.merged.Min || pr.whole.Max != pr.merged.Max {
				t.Fatalf("whole %+v merged %+v", pr.whole, pr.merged)
			}
		},
		"average_variance_std_dev": func(t *testing.T, rng *rand.Rand, trial int) {
			var obs []tobs
			if trial%2 == 0 {
				obs = genNums(rng, 1+rng.IntN(300), 1000)
			} else {
				obs = genDbls(rng, 1+rng.IntN(300))
			}
			pr := splitAndMerge(t, rng, propDef(Reducer{Apply: []Calc{CalcStdDev}}), obs)
			checkCommon(t, pr, obs)
			// Reference: two-pass mean and sample variance.
			var mean float64
			for _, x := range obs {
				mean += x.o.Value()
			}
			mean /= float64(len(obs))
			var ss float64
			for _, x := range obs {
				d := x.o.Value() - mean
				ss += d * d
			}
			variance := 0.0
			if len(obs) > 1 {
				variance = ss / float64(len(obs)-1)
			}
			for name, v := range map[string]*ResultVal{"whole": pr.whole, "merged": pr.merged} {
				if !v.Calcs.Has(CalcAverage) || !v.Calcs.Has(CalcVariance) {
					t.Fatalf("%s: dependencies missing: %v", name, v.Calcs)
				}
				if !relClose(v.Average, mean, 1e-9) || !relClose(v.Variance, variance, 1e-9) ||
					!relClose(v.StdDev, math.Sqrt(variance), 1e-9) {
					t.Fatalf("%s: avg %v var %v sd %v, want %v %v %v", name, v.Average, v.Variance, v.StdDev,
						mean, variance, math.Sqrt(variance))
				}
			}
		},
		"unique": func(t *testing.T, rng *rand.Rand, trial int) {
			obs := genMixed(rng, 1+rng.IntN(200), 1+rng.IntN(60))
			distinct := map[Observation]bool{}
			for _, x := range obs {
				distinct[x.o] = true
			}
			d := len(distinct)
			// Unlimited, below, just below, at and above the cap.
			caps := []int{0, max(1, d/3), max(1, d-1), d, d + 1, d + 5}
			c := caps[trial%len(caps)]
			pr := splitAndMerge(t, rng, propDef(Reducer{Apply: []Calc{CalcUnique}, UniqueMax: c}), obs)
			checkCommon(t, pr, obs)
			want := uint64(d)
			if c > 0 && d > c+1 {
				want = uint64(c + 1)
			}
			if pr.whole.Unique != want || pr.merged.Unique != want {
				t.Fatalf("cap %d distinct %d: whole %d merged %d, want %d", c, d, pr.whole.Unique, pr.merged.Unique, want)
			}
			for _, o := range pr.merged.UniqueVals.Values() {
				if !distinct[o] {
					t.Fatalf("merged set holds %v, never observed", o)
				}
			}
			if c == 0 || d <= c+1 {
				if !slices.Equal(pr.whole.UniqueVals.Values(), pr.merged.UniqueVals.Values()) {
					t.Fatal("uncapped sets differ")
				}
			}
		},
		"last": func(t *testing.T, rng *rand.Rand, _ int) {
			obs := genMixed(rng, 1+rng.IntN(100), 50)
			n := 1 + rng.IntN(20)
			pr := splitAndMerge(t, rng, propDef(Reducer{Apply: []Calc{CalcLast}, LastN: n}), obs)
			checkCommon(t, pr, obs)
			want := obs[max(0, len(obs)-n):]
			for name, v := range map[string]*ResultVal{"whole": pr.whole, "merged": pr.merged} {
				items := v.Last.Items()
				if len(items) != len(want) {
					t.Fatalf("%s: %d items, want %d", name, len(items), len(want))
				}
				for i := range want {
					if items[i].Value != want[i].o || !items[i].At.Equal(want[i].at) {
						t.Fatalf("%s: item %d = %+v, want %+v", name, i, items[i], want[i])
					}
				}
			}
		},
		"sample": func(t *testing.T, rng *rand.Rand, _ int) {
			// Distinct values, so that "subset" is a set check.
			obs := genNums(rng, 1+rng.IntN(200), 1<<62)
			seen := map[Observation]int{}
			for _, x := range obs {
				seen[x.o]++
			}
			size := rng.IntN(30)
			pr := splitAndMerge(t, rng, propDef(Reducer{Apply: []Calc{CalcSample}, SampleSize: size}), obs)
			checkCommon(t, pr, obs)
			for name, v := range map[string]*ResultVal{"whole": pr.whole, "merged": pr.merged} {
				s := v.Sample
				if s.Elements() != uint64(len(obs)) {
					t.Fatalf("%s: elements %d, want %d", name, s.Elements(), len(obs))
				}
				if len(s.Samples()) != min(size, len(obs)) {
					t.Fatalf("%s: %d samples, want %d", name, len(s.Samples()), min(size, len(obs)))
				}
				used := map[Observation]int{}
				for _, o := range s.Samples() {
					used[o]++
					if used[o] > seen[o] {
						t.Fatalf("%s: sample %v not in the stream (or repeated)", name, o)
					}
				}
			}
		},
		"topk": func(t *testing.T, rng *rand.Rand, trial int) {
			// Zipf-like values so that some are frequent; sizes below and
			// above the number of distinct values.
			n := 1 + rng.IntN(2000)
			z := rand.NewZipf(rng, 1.3, 2, 300)
			obs := make([]tobs, n)
			for i := range obs {
				obs[i] = tobs{o: Num(z.Uint64()), at: caseT0.Add(time.Duration(i) * time.Millisecond)}
			}
			size := []int{5, 20, 80, 500}[trial%4]
			pr := splitAndMerge(t, rng, propDef(Reducer{Apply: []Calc{CalcTopK}, TopKSize: size}), obs)
			checkCommon(t, pr, obs)
			checkTopKBounds(t, pr, obs, size)
		},
		"hll_unique": func(t *testing.T, rng *rand.Rand, trial int) {
			n := 1 + rng.IntN(20000)
			domain := 1 + rng.IntN(30000)
			obs := make([]tobs, n)
			distinct := map[Observation]bool{}
			for i := range obs {
				o := Num(uint64(rng.IntN(domain)))
				if trial%3 == 0 {
					o = Str(fmt.Sprint(rng.IntN(domain)))
				}
				distinct[o] = true
				obs[i] = tobs{o: o, at: caseT0.Add(time.Duration(i) * time.Millisecond)}
			}
			pr := splitAndMerge(t, rng, propDef(Reducer{Apply: []Calc{CalcHLLUnique}}), obs)
			checkCommon(t, pr, obs)
			w, m := pr.whole.HLL, pr.merged.HLL
			if w.M() != 1<<16 || m.M() != w.M() {
				t.Fatalf("registers %d/%d, want 65536", w.M(), m.M())
			}
			for i := range w.M() {
				if w.Register(i) != m.Register(i) {
					t.Fatalf("register %d: whole %d merged %d", i, w.Register(i), m.Register(i))
				}
			}
			if pr.whole.HLLUnique != pr.merged.HLLUnique {
				t.Fatalf("estimates differ: %d vs %d", pr.whole.HLLUnique, pr.merged.HLLUnique)
			}
			// The stated bound: within 2% of the true count (the standard
			// error of 2^16 registers is 0.41%, so this is ~5 sigma), and
			// exact below 100 distinct values (linear counting).
			d := float64(len(distinct))
			got := float64(pr.merged.HLLUnique)
			if math.Abs(got-d) > 0.02*d || (d < 100 && got != d) {
				t.Fatalf("estimate %v for %v distinct", got, d)
			}
		},
	}
	trials := map[string]int{"hll_unique": 12, "topk": 120}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			rng := newRand(seed ^ uint64(len(name))<<32 ^ uint64(name[0]))
			n := trials[name]
			if n == 0 {
				n = 200
			}
			for trial := range n {
				fn(t, rng, trial)
			}
		})
	}
}

// checkTopKBounds checks the Space-Saving guarantees documented on TopK for
// the whole-stream summary and for the merge of the parts' summaries.
func checkTopKBounds(t *testing.T, pr propRun, obs []tobs, size int) {
	t.Helper()
	truth := map[Observation]uint64{}
	for _, x := range obs {
		truth[x.o]++
	}
	total := uint64(len(obs))
	w := pr.whole.TopK
	for _, e := range w.Entries() {
		f := truth[e.Value]
		if e.Count-e.Epsilon > f || f > e.Count {
			t.Fatalf("whole: %v count %d eps %d, true %d", e.Value, e.Count, e.Epsilon, f)
		}
	}
	m := pr.merged.TopK
	for o, f := range truth {
		// Every element above N/k is tracked, in the whole and the merge.
		if f*uint64(size) > total && (w.Count(o) == 0 || m.Count(o) == 0) {
			t.Fatalf("%v with %d of %d (k=%d) not tracked: whole %d merged %d", o, f, total, size, w.Count(o), m.Count(o))
		}
	}
	anyFull := false
	for _, l := range pr.leaves {
		anyFull = anyFull || l.TopK.Len() >= l.TopK.Size()
	}
	for _, e := range m.Entries() {
		f := truth[e.Value]
		slack := uint64(0)
		for _, l := range pr.leaves {
			if l.TopK.Count(e.Value) == 0 && l.TopK.Len() >= l.TopK.Size() {
				slack += l.TopK.minCount()
			}
		}
		if e.Count-e.Epsilon > f || f > e.Count+slack {
			t.Fatalf("merged: %v count %d eps %d slack %d, true %d", e.Value, e.Count, e.Epsilon, slack, f)
		}
		if !anyFull && (e.Count != f || e.Epsilon != 0) {
			t.Fatalf("merged without evictions: %v count %d eps %d, true %d", e.Value, e.Count, e.Epsilon, f)
		}
	}
	if len(truth) <= size {
		// No evictions anywhere: whole and merged are exact.
		if w.Len() != len(truth) || m.Len() != len(truth) {
			t.Fatalf("tracked %d/%d of %d distinct", w.Len(), m.Len(), len(truth))
		}
		for o, f := range truth {
			if w.Count(o) != f || m.Count(o) != f || w.Epsilon(o) != 0 || m.Epsilon(o) != 0 {
				t.Fatalf("%v: whole %d merged %d, true %d", o, w.Count(o), m.Count(o), f)
			}
		}
	}
}
