package sumstats

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"shoal/internal/zeekdata"
	"slices"
	"strings"
	"testing"
	"time"
)

// The SumStats cases of ../shared/zeek/sumstats/cases.json, run through the
// pure Engine and compared with Zeek's baselines in ../shared/zeek/expected.

type zcases struct {
	Cases []zcase `json:"cases"`
}

type zcase struct {
	Name          string   `json:"name"`
	ExpectedDir   string   `json:"expected_dir"`
	ExpectedFiles []string `json:"expected_files"`
	Topology      struct {
		Mode    string   `json:"mode"`
		Workers []string `json:"workers"`
	} `json:"topology"`
	Sumstats     []zsumstat `json:"sumstats"`
	Steps        []zstep    `json:"steps"`
	Observations []zobs     `json:"observations"`
	Expected     struct {
		Ordered   any         `json:"ordered"`
		Lines     []string    `json:"lines"`
		Results   []zresult   `json:"results"`
		Crossings []zcrossing `json:"crossings"`
	} `json:"expected"`
}

type zsumstat struct {
	Name            string     `json:"name"`
	EpochS          float64    `json:"epoch_s"`
	Reducers        []zreducer `json:"reducers"`
	Threshold       *float64   `json:"threshold"`
	ThresholdSeries []float64  `json:"threshold_series"`
}

type zreducer struct {
	Stream          string   `json:"stream"`
	Apply           []string `json:"apply"`
	UniqueMax       *int     `json:"unique_max"`
	TopKSize        int      `json:"topk_size"`
	NumSamples      int      `json:"num_samples"`
	NumLastElements int      `json:"num_last_elements"`
	HLLErrorMargin  float64  `json:"hll_error_margin"`
	HLLConfidence   float64  `json:"hll_confidence"`
}

type zstep struct {
	Action  string  `json:"action"`
	Phase   int     `json:"phase"`
	AtS     float64 `json:"at_s"`
	Text    string  `json:"text"`
	Sumstat string  `json:"sumstat"`
}

type zkey struct {
	Host string `json:"host"`
	Str  string `json:"str"`
}

func (k zkey) key(t testing.TB) Key {
	var out Key
	if k.Host != "" {
		a, err := netip.ParseAddr(k.Host)
		if err != nil {
			t.Fatalf("bad host %q: %v", k.Host, err)
		}
		out.Host = a
	}
	out.Str = k.Str
	return out
}

type zobs struct {
	Stream string `json:"stream"`
	Key    zkey   `json:"key"`
	Value  struct {
		Num *uint64  `json:"num"`
		Dbl *float64 `json:"dbl"`
		Str *string  `json:"str"`
	} `json:"value"`
	Node   string `json:"node"`
	Repeat int    `json:"repeat"`
	Phase  int    `json:"phase"`
}

func (o zobs) observation() Observation {
	switch {
	case o.Value.Num != nil:
		return Num(*o.Value.Num)
	case o.Value.Dbl != nil:
		return Dbl(*o.Value.Dbl)
	case o.Value.Str != nil:
		return Str(*o.Value.Str)
	}
	return Observation{}
}

type zresult struct {
	Key       zkey     `json:"key"`
	Num       *uint64  `json:"num"`
	Sum       *float64 `json:"sum"`
	Variance  *float64 `json:"variance"`
	Average   *float64 `json:"average"`
	Max       *float64 `json:"max"`
	Min       *float64 `json:"min"`
	StdDev    *float64 `json:"std_dev"`
	Unique    *uint64  `json:"unique"`
	HLLUnique *uint64  `json:"hll_unique"`
	Top       []struct {
		Num     uint64 `json:"num"`
		Count   uint64 `json:"count"`
		Epsilon uint64 `json:"epsilon"`
	} `json:"top"`
}

type zcrossing struct {
	Sumstat          string  `json:"sumstat"`
	Key              zkey    `json:"key"`
	AfterObservation int     `json:"after_observation"`
	Value            float64 `json:"value"`
	SeriesStep       *int    `json:"series_step"`
}

// zeekDir returns ../shared/zeek relative to the module root (the directory
// holding go.mod).
func zeekDir(t testing.TB) string {
	t.Helper()
	return zeekdata.Path(t)
}

func loadCases(t testing.TB) []zcase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(zeekDir(t), "sumstats", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs zcases
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	return cs.Cases
}

// expectedLines reads the baseline files of a case, without btest's '#'
// header lines.
func expectedLines(t testing.TB, c zcase) []string {
	t.Helper()
	var out []string
	for _, f := range c.ExpectedFiles {
		b, err := os.ReadFile(filepath.Join(zeekDir(t), c.ExpectedDir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			if !strings.HasPrefix(l, "###") {
				out = append(out, l)
			}
		}
	}
	return out
}

var caseT0 = time.Unix(1300475168, 0).UTC()

func at(s float64) time.Time { return caseT0.Add(time.Duration(s * float64(time.Second))) }

// thresholdVals holds the threshold_val functions the cases describe in
// words, by sumstat name.
var thresholdVals = map[string]func(Key, Result) float64{
	"test1": func(_ Key, r Result) float64 { return r.Get("test.metric").Sum },
	"test2": func(_ Key, r Result) float64 { return r.Get("test.metric").Sum },
	"test3": func(_ Key, r Result) float64 {
		m, m2 := r.Get("test.metric"), r.Get("test.metric2")
		if m != nil && m2 != nil && m.Sum > 0 {
			return m2.Sum / m.Sum
		}
		return 0
	},
}

func buildDef(t testing.TB, s zsumstat) Def {
	t.Helper()
	d := Def{
		Name:            s.Name,
		Epoch:           time.Duration(s.EpochS * float64(time.Second)),
		Threshold:       s.Threshold,
		ThresholdSeries: s.ThresholdSeries,
	}
	if d.HasThreshold() {
		d.ThresholdVal = thresholdVals[s.Name]
		d.ThresholdOnly = true // the threshold cases have no epoch_result
	}
	for _, r := range s.Reducers {
		red := Reducer{
			Stream:         r.Stream,
			TopKSize:       r.TopKSize,
			SampleSize:     r.NumSamples,
			LastN:          r.NumLastElements,
			HLLErrorMargin: r.HLLErrorMargin,
			HLLConfidence:  r.HLLConfidence,
		}
		if r.UniqueMax != nil {
			red.UniqueMax = *r.UniqueMax
		}
		for _, a := range r.Apply {
			c, err := ParseCalc(a)
			if err != nil {
				t.Fatal(err)
			}
			red.Apply = append(red.Apply, c)
		}
		d.Reducers = append(d.Reducers, red)
	}
	return d
}

// printer renders Outputs the way each case's Zeek script prints them.
type printer func(o Output) []string

func hostLine(basicOrder bool) printer {
	return func(o Output) []string {
		if o.Kind != EpochResult {
			return nil
		}
		r := o.Result[0]
		if basicOrder {
			return []string{fmt.Sprintf("Host: %s - num:%d - sum:%.1f - var:%.1f - avg:%.1f - max:%.1f - min:%.1f - std_dev:%.1f - unique:%d - hllunique:%d",
				o.Key.Host, r.Num, r.Sum, r.Variance, r.Average, r.Max, r.Min, r.StdDev, r.Unique, r.HLLUnique)}
		}
		return []string{fmt.Sprintf("Host: %s - num:%d - sum:%.1f - avg:%.1f - max:%.1f - min:%.1f - var:%.1f - std_dev:%.1f - unique:%d - hllunique:%d",
			o.Key.Host, r.Num, r.Sum, r.Average, r.Max, r.Min, r.Variance, r.StdDev, r.Unique, r.HLLUnique)}
	}
}

func topkLines(o Output) []string {
	if o.Kind != EpochResult {
		return nil
	}
	r := o.Result.Get("test.metric")
	out := []string{"Top entries for key " + o.Key.Str}
	for _, e := range r.TopK.Top(5) {
		out = append(out, fmt.Sprintf("Num: %d, count: %d, epsilon: %d", e.Value.Num, r.TopK.Count(e.Value), r.TopK.Epsilon(e.Value)))
	}
	return out
}

func thresholdLines(o Output) []string {
	if o.Kind != ThresholdCrossed {
		return nil
	}
	switch o.Def {
	case "test1":
		return []string{fmt.Sprintf("THRESHOLD: hit a threshold value at %.0f for %s", o.Result.Get("test.metric").Sum, o.Key)}
	case "test2":
		return []string{fmt.Sprintf("THRESHOLD_SERIES: hit a threshold series value at %.0f for %s", o.Result.Get("test.metric").Sum, o.Key)}
	case "test3":
		ratio := o.Result.Get("test.metric2").Sum / o.Result.Get("test.metric").Sum
		return []string{fmt.Sprintf("THRESHOLD WITH RATIO BETWEEN REDUCERS: hit a threshold value at %.0fx for %s", ratio, o.Key)}
	}
	return nil
}

// caseRun is one way of running a case: "standalone" feeds one Engine;
// "split" feeds one Engine per worker and merges the results of each key
// at epoch end with MergeResults (Zeek's manager); "handoff" feeds one
// Engine per worker and, at epoch end, merges every other engine's keys
// into the first with Engine.Merge before ending the epoch there (a key
// moving between datanodes); "roundtrip" is split with every Result sent
// through its binary encoding first.
type caseRun string

type runner struct {
	t        *testing.T
	c        zcase
	mode     caseRun
	engines  map[string]*Engine // by node
	nodes    []string
	print    printer
	lines    []string
	crossed  []zcrossing
	obsIndex int
	sent     bool
}

func newRunner(t *testing.T, c zcase, mode caseRun, p printer) *runner {
	r := &runner{t: t, c: c, mode: mode, print: p, engines: map[string]*Engine{}}
	r.nodes = []string{"standalone"}
	if c.Topology.Mode == "cluster" && mode != "standalone" {
		r.nodes = c.Topology.Workers
	}
	for i, n := range r.nodes {
		e := New(Config{Rand: newRand(uint64(i + 1))})
		for _, s := range c.Sumstats {
			if err := e.Add(buildDef(t, s), at(0)); err != nil {
				t.Fatal(err)
			}
		}
		r.engines[n] = e
	}
	return r
}

func (r *runner) engineFor(node string) *Engine {
	if len(r.nodes) == 1 {
		return r.engines[r.nodes[0]]
	}
	e := r.engines[node]
	if e == nil {
		r.t.Fatalf("observation from unknown node %q", node)
	}
	return e
}

func (r *runner) emit(outs []Output) {
	for _, o := range outs {
		r.lines = append(r.lines, r.print(o)...)
		if o.Kind == ThresholdCrossed {
			cr := zcrossing{Sumstat: o.Def, AfterObservation: r.obsIndex, Value: o.Value}
			cr.Key.Str = o.Key.Str
			if o.Key.Host.IsValid() {
				cr.Key.Host = o.Key.Host.String()
			}
			step := o.Threshold
			cr.SeriesStep = &step
			r.crossed = append(r.crossed, cr)
		}
		if o.Kind == EpochFinished && r.c.Name == "manual-epoch" {
			r.lines = append(r.lines, "epoch_finished")
		}
		if o.Kind == EpochFinished && r.c.Name == "manual-epoch-cluster" {
			r.lines = append(r.lines, fmt.Sprintf("epoch finished, %s", map[bool]string{false: "F", true: "T"}[r.sent]))
		}
	}
}

func (r *runner) observe(phase int, now time.Time) {
	for _, o := range r.c.Observations {
		p := o.Phase
		if p == 0 {
			p = 1
		}
		if p != phase {
			continue
		}
		n := max(o.Repeat, 1)
		for range n {
			r.obsIndex++
			r.emit(r.engineFor(o.Node).Observe(o.Stream, o.Key.key(r.t), o.observation(), now))
		}
	}
	r.sent = true
}

// endEpoch ends the epoch on every engine and reports it as one node would.
func (r *runner) endEpoch(name string, now time.Time, manual bool) {
	end := func(e *Engine) []Output {
		if manual {
			outs, err := e.EndEpoch(name, now)
			if err != nil {
				r.t.Fatal(err)
			}
			return outs
		}
		return e.Tick(now)
	}
	if len(r.nodes) == 1 {
		r.emit(end(r.engines[r.nodes[0]]))
		return
	}
	if r.mode == "handoff" {
		first := r.engines[r.nodes[0]]
		for _, n := range r.nodes[1:] {
			e := r.engines[n]
			for _, d := range e.Defs() {
				for _, k := range e.Keys(d) {
					res, _ := e.Lookup(d, k)
					outs, err := first.Merge(d, k, res, e.ThresholdIndex(d, k), first.Now())
					if err != nil {
						r.t.Fatal(err)
					}
					r.emit(outs)
					e.Delete(d, k)
				}
			}
		}
		r.emit(end(first))
		for _, n := range r.nodes[1:] {
			for _, o := range end(r.engines[n]) {
				if o.Kind == EpochResult {
					r.t.Fatalf("handoff: %s still had key %v", n, o.Key)
				}
			}
		}
		return
	}
	// split / roundtrip: merge per key across engines, then one report.
	var order []Key
	merged := map[Key]Result{}
	var finished *Output
	for _, n := range r.nodes {
		for _, o := range end(r.engines[n]) {
			switch o.Kind {
			case EpochResult:
				res := o.Result
				if r.mode == "roundtrip" {
					res = roundTrip(r.t, res)
				}
				if have, ok := merged[o.Key]; ok {
					m, err := MergeResults(have, res)
					if err != nil {
						r.t.Fatal(err)
					}
					merged[o.Key] = m
				} else {
					merged[o.Key] = res
					order = append(order, o.Key)
				}
			case EpochFinished:
				finished = &o
			default:
				r.emit([]Output{o})
			}
		}
	}
	slices.SortFunc(order, Key.Compare)
	for _, k := range order {
		r.emit([]Output{{Kind: EpochResult, Def: name, Key: k, Result: merged[k], Start: finished.Start, End: finished.End}})
	}
	r.emit([]Output{*finished})
}

func roundTrip(t testing.TB, r Result) Result {
	t.Helper()
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var out Result
	if err := out.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return out
}

func (r *runner) run() {
	manual := map[string]bool{}
	for _, s := range r.c.Sumstats {
		manual[s.Name] = s.EpochS == 0
	}
	for _, st := range r.c.Steps {
		switch st.Action {
		case "observe":
			p := st.Phase
			if p == 0 {
				p = 1
			}
			r.observe(p, at(st.AtS))
		case "print":
			r.lines = append(r.lines, st.Text)
		case "next_epoch":
			r.endEpoch(st.Sumstat, at(st.AtS), true)
		case "epoch_ends":
			for _, s := range r.c.Sumstats {
				r.endEpoch(s.Name, at(s.EpochS), false)
			}
		default:
			r.t.Fatalf("unknown step %q", st.Action)
		}
	}
}

// compareLines applies the case's ordering convention.
func compareLines(t *testing.T, c zcase, got, want []string) {
	t.Helper()
	fail := func() {
		t.Errorf("case %s: got lines\n%s\nwant\n%s", c.Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	switch c.Name {
	case "manual-epoch":
		// Non-Host lines in order; Host lines as a multiset in place.
		mask := func(ls []string) ([]string, []string) {
			var seq, hosts []string
			for _, l := range ls {
				if strings.HasPrefix(l, "Host: ") {
					seq = append(seq, "Host")
					hosts = append(hosts, l)
				} else {
					seq = append(seq, l)
				}
			}
			slices.Sort(hosts)
			return seq, hosts
		}
		gs, gh := mask(got)
		ws, wh := mask(want)
		if !slices.Equal(gs, ws) || !slices.Equal(gh, wh) {
			fail()
		}
	case "topk":
		// Blocks per key keep their order inside; blocks in any order.
		blocks := func(ls []string) []string {
			var bs []string
			for _, l := range ls {
				if strings.HasPrefix(l, "Top entries") || len(bs) == 0 {
					bs = append(bs, l)
				} else {
					bs[len(bs)-1] += "\n" + l
				}
			}
			slices.Sort(bs)
			return bs
		}
		if !slices.Equal(blocks(got), blocks(want)) {
			fail()
		}
	default:
		g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
		if !slices.Equal(g, w) {
			fail()
		}
	}
}

func TestZeekCases(t *testing.T) {
	printers := map[string]printer{
		"basic":                hostLine(true),
		"basic-cluster":        hostLine(false),
		"thresholding":         thresholdLines,
		"topk":                 topkLines,
		"topk-cluster":         topkLines,
		"manual-epoch":         hostLine(true),
		"manual-epoch-cluster": hostLine(false),
	}
	cases := loadCases(t)
	if len(cases) != len(printers) {
		t.Fatalf("cases.json has %d cases, the test knows %d", len(cases), len(printers))
	}
	for _, c := range cases {
		p := printers[c.Name]
		if p == nil {
			t.Fatalf("no printer for case %q", c.Name)
		}
		want := expectedLines(t, c)
		if g, w := slices.Sorted(slices.Values(c.Expected.Lines)), slices.Sorted(slices.Values(want)); !slices.Equal(g, w) {
			t.Fatalf("case %s: cases.json lines differ from %s", c.Name, c.ExpectedDir)
		}
		modes := []caseRun{"standalone"}
		if c.Topology.Mode == "cluster" {
			modes = append(modes, "split", "handoff", "roundtrip")
		}
		for _, mode := range modes {
			t.Run(c.Name+"/"+string(mode), func(t *testing.T) {
				r := newRunner(t, c, mode, p)
				r.run()
				compareLines(t, c, r.lines, want)
				if len(c.Expected.Crossings) > 0 {
					checkCrossings(t, c.Expected.Crossings, r.crossed)
				}
			})
		}
	}
}

func checkCrossings(t *testing.T, want, got []zcrossing) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d crossings %+v, want %d", len(got), got, len(want))
	}
	// Crossings after the same observation may come in any order.
	key := func(c zcrossing) string {
		return fmt.Sprintf("%04d/%s/%s/%s", c.AfterObservation, c.Sumstat, c.Key.Host, c.Key.Str)
	}
	slices.SortFunc(got, func(a, b zcrossing) int { return strings.Compare(key(a), key(b)) })
	slices.SortFunc(want, func(a, b zcrossing) int { return strings.Compare(key(a), key(b)) })
	for i := range want {
		g, w := got[i], want[i]
		if key(g) != key(w) || math.Abs(g.Value-w.Value) > 0.005 {
			t.Errorf("crossing %d: got %s value %v, want %s value %v", i, key(g), g.Value, key(w), w.Value)
		}
		if w.SeriesStep != nil && *g.SeriesStep != *w.SeriesStep {
			t.Errorf("crossing %d (%s): step %d, want %d", i, key(w), *g.SeriesStep, *w.SeriesStep)
		}
	}
}

// TestZeekCaseResults checks the numeric expected results of the cases
// (before printing) on the merged view.
func TestZeekCaseResults(t *testing.T) {
	for _, c := range loadCases(t) {
		if len(c.Expected.Results) == 0 {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			var got map[Key]Result
			r := newRunner(t, c, "split", func(o Output) []string {
				if o.Kind == EpochResult {
					if got == nil {
						got = map[Key]Result{}
					}
					got[o.Key] = o.Result
				}
				return nil
			})
			r.run()
			for _, w := range c.Expected.Results {
				res, ok := got[w.Key.key(t)]
				if !ok {
					t.Errorf("no result for %+v", w.Key)
					continue
				}
				v := res[0]
				near := func(name string, g float64, w *float64) {
					// Expected values are rounded to one decimal.
					if w != nil && math.Abs(g-*w) > 0.05+1e-9 {
						t.Errorf("%+v %s = %v, want %v", w, name, g, *w)
					}
				}
				if w.Num != nil && v.Num != *w.Num {
					t.Errorf("%+v num = %d, want %d", w.Key, v.Num, *w.Num)
				}
				near("sum", v.Sum, w.Sum)
				near("variance", v.Variance, w.Variance)
				near("average", v.Average, w.Average)
				near("max", v.Max, w.Max)
				near("min", v.Min, w.Min)
				near("std_dev", v.StdDev, w.StdDev)
				if w.Unique != nil && v.Unique != *w.Unique {
					t.Errorf("%+v unique = %d, want %d", w.Key, v.Unique, *w.Unique)
				}
				if w.HLLUnique != nil && v.HLLUnique != *w.HLLUnique {
					t.Errorf("%+v hll_unique = %d, want %d", w.Key, v.HLLUnique, *w.HLLUnique)
				}
				if len(w.Top) > 0 {
					top := v.TopK.Top(5)
					if len(top) != len(w.Top) {
						t.Fatalf("%+v top = %+v, want %+v", w.Key, top, w.Top)
					}
					for i, e := range w.Top {
						if top[i].Value != Num(e.Num) || top[i].Count != e.Count || top[i].Epsilon != e.Epsilon {
							t.Errorf("%+v top[%d] = %+v, want %+v", w.Key, i, top[i], e)
						}
					}
				}
			}
		})
	}
}
