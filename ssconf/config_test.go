package ssconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shoal/sumstats"
)

// good is a valid file using every key; bad inputs below are variations.
const good = `# all the keys
sumstats:
  - name: test
    epoch: 3s
    reducers:
      - stream: test.metric
        apply: [sum, variance, average, max, min, std_dev, unique, hll_unique]
        unique_max: 10
        hll_error_margin: 0.01
        hll_confidence: 0.95
      - stream: test.words
        apply: [TOPK, Sample, last]
        topk_size: 50
        num_samples: 5
        num_last_elements: 3
    threshold: 5
    threshold_series: [3, 6, 800]
    threshold_val: {stream: test.metric, calc: sum}
    threshold_only: true
    notice: Test::Threshold_Crossed
  - name: manual
    epoch: manual
    reducers:
      - {stream: s, apply: [last]}
`

func TestParseGood(t *testing.T) {
	defs, err := Parse("good.yaml", strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 2 {
		t.Fatalf("%d definitions", len(defs))
	}
	d := defs[0]
	if d.Line != 3 || defs[1].Line != 21 {
		t.Errorf("lines %d %d, want 3 21", d.Line, defs[1].Line)
	}
	if d.Def.Name != "test" || d.Def.Epoch != 3*time.Second || !d.Def.AlignEpochs || !d.Def.ThresholdOnly ||
		d.Notice != "Test::Threshold_Crossed" || *d.Def.Threshold != 5 || len(d.Def.ThresholdSeries) != 3 {
		t.Errorf("def %+v notice %q", d.Def, d.Notice)
	}
	r0, r1 := d.Def.Reducers[0], d.Def.Reducers[1]
	if len(r0.Apply) != 8 || r0.UniqueMax != 10 || r0.HLLErrorMargin != 0.01 || r0.HLLConfidence != 0.95 {
		t.Errorf("reducer 0 %+v", r0)
	}
	if r1.Apply[0] != sumstats.CalcTopK || r1.Apply[1] != sumstats.CalcSample || r1.Apply[2] != sumstats.CalcLast ||
		r1.TopKSize != 50 || r1.SampleSize != 5 || r1.LastN != 3 {
		t.Errorf("reducer 1 %+v", r1)
	}
	if m := defs[1].Def; m.Epoch != 0 || m.AlignEpochs || m.ThresholdVal != nil {
		t.Errorf("manual def %+v", m)
	}
	for _, d := range defs {
		e := sumstats.New(sumstats.Config{})
		if err := e.Add(d.Def, time.Unix(0, 0)); err != nil {
			t.Errorf("Engine.Add(%s): %v", d.Def.Name, err)
		}
	}
}

func TestParseVariants(t *testing.T) {
	tests := map[string]struct {
		yaml  string
		epoch time.Duration
	}{
		"epoch zero":       {"sumstats:\n  - {name: a, epoch: 0, reducers: [{stream: s, apply: [sum]}]}\n", 0},
		"epoch MANUAL":     {"sumstats:\n  - {name: a, epoch: MANUAL, reducers: [{stream: s, apply: [sum]}]}\n", 0},
		"epoch 1h30m":      {"sumstats:\n  - {name: a, epoch: 1h30m, reducers: [{stream: s, apply: [sum]}]}\n", 90 * time.Minute},
		"epoch quoted":     {"sumstats:\n  - {name: a, epoch: \"250ms\", reducers: [{stream: s, apply: [sum]}]}\n", 250 * time.Millisecond},
		"aliases":          {"r: &r {stream: s, apply: [sum]}\nsumstats: []\n", -1},
		"empty list":       {"sumstats: []\n", -1},
		"document marker":  {"---\nsumstats:\n  - {name: a, epoch: 1m, reducers: [{stream: s, apply: [sum]}]}\n...\n", time.Minute},
		"alias to reducer": {"sumstats:\n  - name: a\n    epoch: 2m\n    reducers: [&r {stream: s, apply: [sum, avg]}]\n  - name: b\n    epoch: 2m\n    reducers: [*r]\n", 2 * time.Minute},
		"crlf":             {"sumstats:\r\n  - name: a\r\n    epoch: 1m\r\n    reducers: [{stream: s, apply: [sum]}]\r\n", time.Minute},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			defs, err := Parse("v.yaml", strings.NewReader(tc.yaml))
			if name == "aliases" {
				// A top-level key besides sumstats is unknown.
				if err == nil || !strings.HasPrefix(err.Error(), "v.yaml:1: unknown key \"r\"") {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.epoch < 0 {
				if len(defs) != 0 {
					t.Fatalf("%d defs", len(defs))
				}
				return
			}
			if len(defs) == 0 || defs[0].Def.Epoch != tc.epoch || defs[0].Def.AlignEpochs != (tc.epoch > 0) {
				t.Fatalf("defs %+v", defs)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const head = "sumstats:\n  - name: test\n    epoch: 3s\n    reducers:\n" // lines 1-4
	const red = "      - stream: test.metric\n        apply: [sum]\n"        // lines 5-6
	tests := map[string]struct {
		yaml string
		want string // the whole message
		is   error  // an extra error the result wraps
	}{
		"unknown reducer": {head + "      - stream: test.metric\n        apply:\n          - sum\n          - medain\n",
			`bad.yaml:8: unknown reducer "medain" (want one of sum, min, max, average, variance, std_dev, unique, hll_unique, topk, sample, last)`,
			sumstats.ErrUnknownCalc},
		"syntax": {head + red + "    threshold: [1, 2\n",
			"bad.yaml:7: did not find expected ',' or ']'", nil},
		"syntax first line": {"sumstats: [a\n",
			"bad.yaml:1: did not find expected ',' or ']'", nil},
		"syntax block": {head + red + "  name: x\n",
			"bad.yaml:2: did not find expected '-' indicator", nil}, // yaml.v3 names the line where the list starts
		"syntax mapping value": {head + red + "    epoch: a: b\n",
			"bad.yaml:7: mapping values are not allowed in this context", nil},
		"tab indent": {"sumstats:\n\t- name: a\n",
			"bad.yaml:2: found character that cannot start any token", nil},
		"empty file": {"# nothing\n",
			`bad.yaml:1: empty file: want a top-level "sumstats:" list`, nil},
		"top not mapping": {"- a\n- b\n",
			`bad.yaml:1: the file: want a mapping, got a list of 2`, nil},
		"missing sumstats": {"{}\n",
			`bad.yaml:1: missing top-level key "sumstats"`, nil},
		"sumstats not list": {"sumstats: 5\n",
			`bad.yaml:1: sumstats: want a list of definitions, got int "5"`, nil},
		"unknown key": {head + red + "    treshold: 5\n",
			`bad.yaml:7: unknown key "treshold" in a sumstat definition (want one of name, epoch, reducers, threshold, threshold_series, threshold_val, threshold_only, notice)`, nil},
		"unknown reducer key": {head + red + "        unique: 3\n",
			`bad.yaml:7: unknown key "unique" in a reducer (want one of stream, apply, unique_max, topk_size, num_samples, num_last_elements, hll_error_margin, hll_confidence)`, nil},
		"duplicate name": {head + red + "  - name: test\n    epoch: 1s\n    reducers: [{stream: s, apply: [sum]}]\n",
			`bad.yaml:7: duplicate sumstat name "test" (first defined at line 2)`, nil},
		"duplicate key": {head + red + "    epoch: 4s\n",
			`bad.yaml:7: duplicate key "epoch" (first at line 3)`, nil},
		"duplicate stream": {head + red + red,
			`bad.yaml:7: stream "test.metric" already has a reducer in sumstat "test" (line 5)`, nil},
		"duplicate calc": {head + "      - {stream: s, apply: [sum, SUM]}\n",
			`bad.yaml:5: apply: sum listed twice`, nil},
		"negative topk_size": {head + "      - stream: s\n        apply: [topk]\n        topk_size: -3\n",
			`bad.yaml:7: topk_size: negative value -3`, nil},
		"param without calc": {head + red + "        unique_max: 3\n",
			`bad.yaml:7: unique_max without unique in apply`, nil},
		"quoted number": {head + "      - stream: s\n        apply: [unique]\n        unique_max: \"3\"\n",
			`bad.yaml:7: unique_max: want an integer, got str "3"`, nil},
		"float param": {head + "      - stream: s\n        apply: [unique]\n        unique_max: 2.5\n",
			`bad.yaml:7: unique_max: want an integer, got float "2.5"`, nil},
		"hll margin out of range": {head + "      - stream: s\n        apply: [hll_unique]\n        hll_error_margin: 1.5\n",
			`bad.yaml:7: hll_error_margin: 1.5 is not in (0, 1)`, nil},
		"hll too precise": {head + "      - stream: s\n        apply: [hll_unique]\n        hll_error_margin: 0.00001\n",
			`bad.yaml:5: reducer "s": hll error margin 1e-05 and confidence 0.95 need 2^34 registers (allowed 2^4..2^20)`,
			sumstats.ErrBadParam},
		"missing stream": {head + "      - apply: [sum]\n",
			`bad.yaml:5: reducer without a stream`, nil},
		"missing apply": {head + "      - stream: s\n",
			`bad.yaml:5: reducer "s" without apply (a list of calculations)`, nil},
		"empty apply": {head + "      - stream: s\n        apply: []\n",
			`bad.yaml:6: apply: want a non-empty list of calculations, got an empty list`, nil},
		"apply not list": {head + "      - stream: s\n        apply: sum\n",
			`bad.yaml:6: apply: want a non-empty list of calculations, got str "sum"`, nil},
		"missing name": {"sumstats:\n  - epoch: 3s\n    reducers: [{stream: s, apply: [sum]}]\n",
			`bad.yaml:2: definition without a name`, nil},
		"name not string": {"sumstats:\n  - name: true\n",
			`bad.yaml:2: name: want a string, got bool "true"`, nil},
		"missing epoch": {"sumstats:\n  - name: a\n    reducers: [{stream: s, apply: [sum]}]\n",
			`bad.yaml:2: sumstat "a": missing epoch (a duration such as 5m, or manual)`, nil},
		"bare epoch": {"sumstats:\n  - name: a\n    epoch: 3\n",
			`bad.yaml:3: epoch: bare number 3 needs a unit (for example 3s), or use manual`, nil},
		"bad epoch": {"sumstats:\n  - name: a\n    epoch: 3 days\n",
			`bad.yaml:3: epoch: "3 days" is not a duration such as 30s or 5m, nor manual`, nil},
		"negative epoch": {"sumstats:\n  - name: a\n    epoch: -1m\n",
			`bad.yaml:3: epoch: negative duration -1m`, nil},
		"missing reducers": {"sumstats:\n  - name: a\n    epoch: 1m\n",
			`bad.yaml:2: sumstat "a": missing reducers`, nil},
		"threshold without val": {head + red + "    threshold: 5\n",
			`bad.yaml:2: sumstat "test": a threshold needs threshold_val ({stream: s, calc: c} or {ratio: [...]})`, nil},
		"val without threshold": {head + red + "    threshold_val: {stream: test.metric, calc: sum}\n",
			`bad.yaml:7: threshold_val without threshold or threshold_series`, nil},
		"val unknown stream": {head + red + "    threshold: 5\n    threshold_val: {stream: other, calc: sum}\n",
			`bad.yaml:8: threshold_val: stream "other" has no reducer in this sumstat`, nil},
		"val calc not applied": {head + red + "    threshold: 5\n    threshold_val: {stream: test.metric, calc: max}\n",
			`bad.yaml:8: threshold_val: max is not applied to stream "test.metric"`, nil},
		"val unknown calc": {head + red + "    threshold: 5\n    threshold_val: {stream: test.metric, calc: median}\n",
			`bad.yaml:8: threshold_val: unknown calc "median" (want one of sum, min, max, average, variance, std_dev, unique, hll_unique, topk, sample, last)`, nil},
		"ratio of one": {head + red + "    threshold: 5\n    threshold_val: {ratio: [{stream: test.metric, calc: sum}]}\n",
			`bad.yaml:8: threshold_val: ratio wants a list of two {stream, calc} (numerator, denominator), got a list of 1`, nil},
		"series descending": {head + red + "    threshold_series: [3, 6, 5]\n    threshold_val: {stream: test.metric, calc: sum}\n",
			`bad.yaml:7: threshold_series: not ascending (5 after 6)`, nil},
		"series nan": {head + red + "    threshold_series: [3, .nan]\n",
			`bad.yaml:7: threshold_series: want a finite number, got NaN`, nil},
		"threshold string": {head + red + "    threshold: five\n",
			`bad.yaml:7: threshold: want a number, got str "five"`, nil},
		"notice without threshold": {head + red + "    notice: Test::X\n",
			`bad.yaml:7: notice without threshold or threshold_series (notices are raised on crossings)`, nil},
		"notice bad name": {head + red + "    threshold: 1\n    threshold_val: {stream: test.metric, calc: sum}\n    notice: not a note\n",
			`bad.yaml:9: notice: "not a note" is not a notice name such as Module::Name`, nil},
		"threshold_only bool": {head + red + "    threshold_only: 1\n",
			`bad.yaml:7: threshold_only: want true or false, got int "1"`, nil},
		"merge key": {head + "      - <<: {stream: s}\n        apply: [sum]\n",
			`bad.yaml:5: merge keys (<<) are not supported`, nil},
		"unknown anchor": {head + red + "  - *nope\n",
			`bad.yaml:7: unknown anchor 'nope' referenced`, nil},
		"two documents": {head + red + "---\nsumstats: []\n",
			`bad.yaml:7: more than one YAML document`, nil},
		"definition not mapping": {"sumstats:\n  - just a name\n",
			`bad.yaml:2: a sumstat definition: want a mapping, got str "just a name"`, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			defs, err := Parse("bad.yaml", strings.NewReader(tc.yaml))
			if err == nil {
				t.Fatalf("no error; defs %+v", defs)
			}
			if err.Error() != tc.want {
				t.Fatalf("error\n got %s\nwant %s", err, tc.want)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error does not wrap ErrInvalidConfig")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error does not wrap %v", tc.is)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "bad.yaml" || e.Line < 1 {
				t.Errorf("error is not an *Error with a place: %#v", err)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "defs.yaml")
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	defs, err := ParseFile(path)
	if err != nil || len(defs) != 2 {
		t.Fatalf("ParseFile: %d defs, %v", len(defs), err)
	}
	bad := strings.Replace(good, "apply: [sum, variance", "apply: [sum, medain", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ParseFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":7: unknown reducer \"medain\"") {
		t.Fatalf("err = %v", err)
	}
	if _, err := ParseFile(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	big := strings.NewReader(strings.Repeat("#", MaxFileBytes+1))
	if _, err := Parse("big.yaml", big); err == nil || !strings.HasPrefix(err.Error(), "big.yaml:1: file larger than") {
		t.Fatalf("big file: %v", err)
	}
}

func TestHash(t *testing.T) {
	parse := func(s string) []Definition {
		t.Helper()
		defs, err := Parse("h.yaml", strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		return defs
	}
	base := parse(good)
	h := Hash(base)
	same := map[string]string{
		"comments and layout": "\n\n# moved\n" + strings.ReplaceAll(good, "# all the keys", ""),
		"definition order": "sumstats:\n  - name: manual\n    epoch: 0\n    reducers: [{stream: s, apply: [LAST]}]\n" +
			strings.Split(good, "  - name: manual")[0][len("# all the keys\nsumstats:\n"):],
		"calc order": strings.Replace(good, "[sum, variance, average, max, min, std_dev, unique, hll_unique]",
			"[hll_unique, unique, std_dev, min, max, average, variance, SUM]", 1),
	}
	for name, s := range same {
		if got := Hash(parse(s)); got != h {
			t.Errorf("%s: hash %x != %x\n%s\n%s", name, got, h, Canonical(parse(s)), Canonical(base))
		}
	}
	differ := map[string]string{
		"epoch":         strings.Replace(good, "epoch: 3s", "epoch: 4s", 1),
		"topk_size":     strings.Replace(good, "topk_size: 50", "topk_size: 51", 1),
		"threshold":     strings.Replace(good, "threshold: 5", "threshold: 6", 1),
		"threshold_val": strings.Replace(good, "{stream: test.metric, calc: sum}", "{stream: test.metric, calc: max}", 1),
		"notice":        strings.Replace(good, "Test::Threshold_Crossed", "Test::Other", 1),
		"calc":          strings.Replace(good, "apply: [TOPK, Sample, last]", "apply: [TOPK, Sample, last, sum]", 1),
		"name":          strings.Replace(good, "name: manual", "name: manual2", 1),
	}
	for name, s := range differ {
		if got := Hash(parse(s)); got == h {
			t.Errorf("%s: hash unchanged\n%s", name, Canonical(parse(s)))
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(good)
	for _, s := range caseYAML {
		f.Add(s)
	}
	f.Add("sumstats:\n  - &a {name: a, epoch: 1s, reducers: [*a]}\n")
	f.Add("a: &a [*a]\n")
	f.Add("sumstats: [{name: x, epoch: 0, reducers: [{stream: s, apply: [sum]}], threshold: 1, threshold_val: {ratio: [{stream: s, calc: sum}, {stream: s, calc: sum}]}}]")
	f.Fuzz(func(t *testing.T, s string) {
		defs, err := Parse("f.yaml", strings.NewReader(s))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Line < 1 || !strings.HasPrefix(err.Error(), "f.yaml:") {
				t.Fatalf("error without a place: %v", err)
			}
			return
		}
		for _, d := range defs {
			if err := d.Def.Validate(); err != nil {
				t.Fatalf("parsed def does not validate: %v", err)
			}
			_ = d.String()
		}
		_ = Hash(defs)
	})
}
