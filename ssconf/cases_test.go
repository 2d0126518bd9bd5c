package ssconf

import (
	"bytes"
	"context"
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

	"shoal/sumstats"
)

// The SumStats cases of ../shared/zeek/sumstats/cases.json written as YAML
// definitions files: each parses to the Defs the case describes, and the
// case's observations, fed as JSON lines through ReadObservations into a
// sumstats.Engine running the parsed Defs, give the expected results and
// threshold crossings.

var caseYAML = map[string]string{
	"basic": `
sumstats:
  - name: test
    epoch: 3s
    reducers:
      - stream: test.metric
        apply: [SUM, VARIANCE, AVERAGE, MAX, MIN, STD_DEV, UNIQUE, HLL_UNIQUE]
`,
	"basic-cluster": `
sumstats:
  - name: test
    epoch: 5s
    reducers:
      - stream: test
        apply: [sum, min, max, average, std_dev, variance, unique, hll_unique]
`,
	"thresholding": `
# three sumstats over the same stream
sumstats:
  - name: test1
    epoch: 3s
    reducers:
      - {stream: test.metric, apply: [SUM]}
    threshold: 5
    threshold_val: {stream: test.metric, calc: sum}
    notice: Test::Threshold_Crossed
  - name: test2
    epoch: 3s
    reducers:
      - {stream: test.metric, apply: [SUM]}
    threshold_series: [3, 6, 800]
    threshold_val: {stream: test.metric, calc: SUM}
  - name: test3
    epoch: 3s
    reducers:
      - {stream: test.metric, apply: [SUM]}
      - {stream: test.metric2, apply: [SUM]}
    threshold: 5.0
    threshold_val:
      ratio:
        - {stream: test.metric2, calc: sum}
        - {stream: test.metric, calc: sum}
`,
	"topk": `
sumstats:
  - name: topk-test
    epoch: 3s
    reducers:
      - stream: test.metric
        apply: [TOPK]
        topk_size: 500
`,
	"topk-cluster": `
sumstats:
  - name: topk-test
    epoch: 5s
    reducers:
      - stream: test.metric
        apply: [topk]
        topk_size: 500
`,
	"manual-epoch": `
sumstats:
  - name: test
    epoch: manual
    reducers:
      - stream: test.metric
        apply: [SUM, VARIANCE, AVERAGE, MAX, MIN, STD_DEV, UNIQUE, HLL_UNIQUE]
`,
	"manual-epoch-cluster": `
sumstats:
  - name: test
    epoch: 0
    reducers:
      - stream: test
        apply: [SUM, MIN, MAX, AVERAGE, STD_DEV, VARIANCE, UNIQUE, HLL_UNIQUE]
`,
}

type jcases struct {
	Cases []jcase `json:"cases"`
}

type jcase struct {
	Name         string            `json:"name"`
	Sumstats     []jsumstat        `json:"sumstats"`
	Observations []json.RawMessage `json:"observations"`
	Expected     struct {
		Results   []map[string]json.RawMessage `json:"results"`
		Crossings []jcrossing                  `json:"crossings"`
	} `json:"expected"`
}

type jsumstat struct {
	Name     string  `json:"name"`
	EpochS   float64 `json:"epoch_s"`
	Reducers []struct {
		Stream          string   `json:"stream"`
		Apply           []string `json:"apply"`
		UniqueMax       *int     `json:"unique_max"`
		TopKSize        int      `json:"topk_size"`
		NumSamples      int      `json:"num_samples"`
		NumLastElements int      `json:"num_last_elements"`
		HLLErrorMargin  float64  `json:"hll_error_margin"`
		HLLConfidence   float64  `json:"hll_confidence"`
	} `json:"reducers"`
	Threshold       *float64        `json:"threshold"`
	ThresholdSeries []float64       `json:"threshold_series"`
	ThresholdVal    json.RawMessage `json:"threshold_val"`
}

type jkey struct {
	Host string `json:"host"`
	Str  string `json:"str"`
}

func (k jkey) key(t *testing.T) sumstats.Key {
	t.Helper()
	var out sumstats.Key
	if k.Host != "" {
		out.Host = netip.MustParseAddr(k.Host)
	}
	out.Str = k.Str
	return out
}

type jcrossing struct {
	Sumstat          string  `json:"sumstat"`
	Key              jkey    `json:"key"`
	AfterObservation int     `json:"after_observation"`
	Value            float64 `json:"value"`
	SeriesStep       int     `json:"series_step"`
}

// sharedZeek finds ../shared/zeek next to the repository root (the
// directory holding go.mod).
func sharedZeek(t testing.TB) string {
	t.Helper()
	return zeekdata.Path(t)
}

func loadCases(t *testing.T) []jcase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedZeek(t), "sumstats", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs jcases
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	if len(cs.Cases) != 7 {
		t.Fatalf("cases.json has %d cases, want 7", len(cs.Cases))
	}
	return cs.Cases
}

// wantDef is the Def a case's sumstat describes (without ThresholdVal).
func wantDef(t *testing.T, s jsumstat) sumstats.Def {
	t.Helper()
	d := sumstats.Def{
		Name:            s.Name,
		Epoch:           time.Duration(s.EpochS * float64(time.Second)),
		AlignEpochs:     s.EpochS > 0,
		Threshold:       s.Threshold,
		ThresholdSeries: s.ThresholdSeries,
	}
	for _, r := range s.Reducers {
		red := sumstats.Reducer{
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
			c, err := sumstats.ParseCalc(a)
			if err != nil {
				t.Fatal(err)
			}
			red.Apply = append(red.Apply, c)
		}
		d.Reducers = append(d.Reducers, red)
	}
	return d
}

// rv builds a ResultVal with SUM applied.
func rv(stream string, num uint64, sum float64) *sumstats.ResultVal {
	return &sumstats.ResultVal{Stream: stream, Num: num, Calcs: sumstats.CalcSet(0).With(sumstats.CalcSum), Sum: sum}
}

func TestCasesParse(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			y, ok := caseYAML[c.Name]
			if !ok {
				t.Fatalf("no YAML for case %q", c.Name)
			}
			defs, err := Parse(c.Name+".yaml", strings.NewReader(y))
			if err != nil {
				t.Fatal(err)
			}
			if len(defs) != len(c.Sumstats) {
				t.Fatalf("parsed %d definitions, want %d", len(defs), len(c.Sumstats))
			}
			for i, s := range c.Sumstats {
				got, want := defs[i].Def, wantDef(t, s)
				hasVal := len(s.ThresholdVal) > 0 && string(s.ThresholdVal) != "null"
				if (got.ThresholdVal != nil) != hasVal {
					t.Errorf("%s: ThresholdVal set = %v, want %v", s.Name, got.ThresholdVal != nil, hasVal)
				}
				got.ThresholdVal = nil
				if (got.Threshold == nil) != (want.Threshold == nil) || (got.Threshold != nil && *got.Threshold != *want.Threshold) {
					t.Errorf("%s: threshold %v, want %v", s.Name, got.Threshold, want.Threshold)
				}
				got.Threshold, want.Threshold = nil, nil
				if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) || !slices.Equal(got.ThresholdSeries, want.ThresholdSeries) {
					t.Errorf("%s:\n got %+v\nwant %+v", s.Name, got, want)
				}
				if defs[i].Line < 2 {
					t.Errorf("%s: line %d", s.Name, defs[i].Line)
				}
			}
		})
	}
}

func TestThresholdVal(t *testing.T) {
	defs, err := Parse("thresholding.yaml", strings.NewReader(caseYAML["thresholding"]))
	if err != nil {
		t.Fatal(err)
	}
	k := sumstats.Key{Host: netip.MustParseAddr("7.2.1.5")}
	tests := map[string]struct {
		def  int
		r    sumstats.Result
		want float64
	}{
		"sum":                 {0, sumstats.Result{rv("test.metric", 2, 1001)}, 1001},
		"sum series":          {1, sumstats.Result{rv("test.metric", 1, 3)}, 3},
		"sum missing stream":  {0, sumstats.Result{rv("test.metric2", 1, 3)}, 0},
		"sum empty result":    {0, nil, 0},
		"ratio":               {2, sumstats.Result{rv("test.metric", 2, 1001), rv("test.metric2", 3, 55331)}, 55331.0 / 1001},
		"ratio reversed":      {2, sumstats.Result{rv("test.metric2", 3, 55331), rv("test.metric", 2, 1001)}, 55331.0 / 1001},
		"ratio zero denom":    {2, sumstats.Result{rv("test.metric", 0, 0), rv("test.metric2", 1, 10)}, 0},
		"ratio no numerator":  {2, sumstats.Result{rv("test.metric", 1, 4)}, 0},
		"ratio no denom":      {2, sumstats.Result{rv("test.metric2", 1, 10)}, 0},
		"ratio negative base": {2, sumstats.Result{rv("test.metric", 1, -4), rv("test.metric2", 1, 10)}, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := defs[tc.def].Def.ThresholdVal(k, tc.r)
			if math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("ThresholdVal = %v, want %v", got, tc.want)
			}
		})
	}
	if defs[0].Notice != "Test::Threshold_Crossed" || defs[1].Notice != "" {
		t.Fatalf("notices %q %q", defs[0].Notice, defs[1].Notice)
	}
}

// TestCasesRun feeds each case's observations (the JSON of cases.json, with
// its extra fields) through ReadObservations into an Engine running the
// parsed Defs, and checks the expected results and crossings.
func TestCasesRun(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			defs, err := Parse(c.Name+".yaml", strings.NewReader(caseYAML[c.Name]))
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Unix(1300000000, 0)
			e := sumstats.New(sumstats.Config{})
			for _, d := range defs {
				if err := e.Add(d.Def, t0); err != nil {
					t.Fatal(err)
				}
			}
			var feed bytes.Buffer
			for _, o := range c.Observations {
				feed.Write(o)
				feed.WriteByte('\n')
			}
			var outs []sumstats.Output
			var crossed []jcrossing
			n := 0
			st, err := ReadObservations(context.Background(), c.Name+".jsonl", &feed, func(o *Observation) {
				for range o.Repeat {
					n++
					for _, out := range e.Observe(o.Stream, o.Key, o.Value, t0) {
						if out.Kind == sumstats.ThresholdCrossed {
							crossed = append(crossed, jcrossing{Sumstat: out.Def, Key: jkey{Host: out.Key.Host.String()},
								AfterObservation: n, Value: math.Round(out.Value*100) / 100, SeriesStep: out.Threshold})
						}
					}
				}
			}, func(err error) { t.Errorf("bad line: %v", err) })
			if err != nil || st.Malformed != 0 || st.Observations != uint64(len(c.Observations)) {
				t.Fatalf("ReadObservations: %+v, %v", st, err)
			}
			for _, d := range defs {
				if d.Def.Epoch == 0 {
					o, err := e.EndEpoch(d.Def.Name, t0.Add(time.Second))
					if err != nil {
						t.Fatal(err)
					}
					outs = append(outs, o...)
				}
			}
			outs = append(outs, e.Flush(t0.Add(time.Minute))...)

			if len(c.Expected.Crossings) > 0 {
				ck := func(x jcrossing) string { return fmt.Sprintf("%+v", x) }
				got, want := slices.Clone(crossed), slices.Clone(c.Expected.Crossings)
				slices.SortFunc(got, func(a, b jcrossing) int { return strings.Compare(ck(a), ck(b)) })
				slices.SortFunc(want, func(a, b jcrossing) int { return strings.Compare(ck(a), ck(b)) })
				if !slices.Equal(got, want) {
					t.Errorf("crossings\n got %+v\nwant %+v", got, want)
				}
			}
			results := map[sumstats.Key]sumstats.Result{}
			for _, o := range outs {
				if o.Kind == sumstats.EpochResult {
					results[o.Key] = o.Result
				}
			}
			if len(c.Expected.Results) > 0 && len(results) != len(c.Expected.Results) {
				t.Errorf("%d epoch results, want %d", len(results), len(c.Expected.Results))
			}
			stream := defs[0].Def.Reducers[0].Stream
			for _, want := range c.Expected.Results {
				var k jkey
				if err := json.Unmarshal(want["key"], &k); err != nil {
					t.Fatal(err)
				}
				v := results[k.key(t)].Get(stream)
				if v == nil {
					t.Errorf("%v: no result", k)
					continue
				}
				checkResult(t, k, v, want)
			}
		})
	}
}

func checkResult(t *testing.T, k jkey, v *sumstats.ResultVal, want map[string]json.RawMessage) {
	t.Helper()
	for field, raw := range want {
		switch field {
		case "key":
		case "num":
			var n uint64
			_ = json.Unmarshal(raw, &n)
			if v.Num != n {
				t.Errorf("%v: num %d, want %d", k, v.Num, n)
			}
		case "top":
			var top []struct{ Num, Count, Epsilon uint64 }
			if err := json.Unmarshal(raw, &top); err != nil {
				t.Fatal(err)
			}
			for _, e := range top {
				o := sumstats.Num(e.Num)
				if v.TopK.Count(o) != e.Count || v.TopK.Epsilon(o) != e.Epsilon {
					t.Errorf("%v: topk %d: count %d eps %d, want %d %d", k, e.Num, v.TopK.Count(o), v.TopK.Epsilon(o), e.Count, e.Epsilon)
				}
			}
		default:
			c, err := sumstats.ParseCalc(field)
			if err != nil {
				t.Fatalf("result field %q: %v", field, err)
			}
			var w float64
			_ = json.Unmarshal(raw, &w)
			got, ok := v.Value(c)
			if !ok || fmt.Sprintf("%.1f", got) != fmt.Sprintf("%.1f", w) {
				t.Errorf("%v: %s = %v (ok %v), want %v", k, field, got, ok, w)
			}
		}
	}
}
