package ssconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"shoal/sumstats"
)

// Limits of a definitions file.
const (
	// MaxFileBytes is the largest definitions file Parse accepts.
	MaxFileBytes = 4 << 20
	// MaxParam bounds the integer reducer parameters (unique_max,
	// topk_size, num_samples, num_last_elements).
	MaxParam = 1 << 24
)

// Definition is one parsed sumstat: the Def ready for sumstats.Engine.Add
// (validated, ThresholdVal built from threshold_val, AlignEpochs set when the
// epoch is fixed), the notice the manager raises on each threshold crossing
// ("" for none) and the 1-based line of the definition in its file.
//
// A Definition is immutable after Parse; its Def.ThresholdVal is a pure
// function and safe for concurrent use.
type Definition struct {
	Def    sumstats.Def
	Notice string
	Line   int

	val *valueSpec // parsed threshold_val; nil without a threshold
}

// operand is one "{stream: s, calc: c}" of a threshold_val.
type operand struct {
	stream string
	calc   sumstats.Calc
}

// get returns the operand's value in r; ok is false when the stream has no
// ResultVal or the calculation has no value yet.
func (o operand) get(r sumstats.Result) (float64, bool) {
	v := r.Get(o.stream)
	if v == nil {
		return 0, false
	}
	return v.Value(o.calc)
}

// valueSpec is a parsed threshold_val: a (single operand) or a/b (ratio).
type valueSpec struct {
	a operand
	b *operand
}

// fn builds the Def.ThresholdVal function.
func (s *valueSpec) fn() func(sumstats.Key, sumstats.Result) float64 {
	a := s.a
	if s.b == nil {
		return func(_ sumstats.Key, r sumstats.Result) float64 {
			x, _ := a.get(r)
			return x
		}
	}
	b := *s.b
	return func(_ sumstats.Key, r sumstats.Result) float64 {
		x, okA := a.get(r)
		y, okB := b.get(r)
		if !okA || !okB || !(y > 0) {
			return 0
		}
		return x / y
	}
}

func (s *valueSpec) String() string {
	one := func(o operand) string { return o.calc.String() + "(" + strconv.Quote(o.stream) + ")" }
	if s.b == nil {
		return one(s.a)
	}
	return one(s.a) + "/" + one(*s.b)
}

// ParseFile reads and parses the definitions file at path; errors name the
// file as path.
func ParseFile(path string) ([]Definition, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ssconf: %w", err)
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse parses a definitions file (format in the package documentation)
// read from r. name is the file name used in errors. Every error about the
// content is an *Error wrapping ErrInvalidConfig and reads
// "name:line: what is wrong"; parsing stops at the first one. A read failure
// is returned wrapped, as is.
func Parse(name string, r io.Reader) ([]Definition, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("ssconf: read %s: %w", name, err)
	}
	p := &parser{file: name, data: data}
	if len(data) > MaxFileBytes {
		return nil, p.errAt(1, nil, "file larger than %d bytes", MaxFileBytes)
	}
	return p.parse()
}

type parser struct {
	file string
	data []byte
}

func (p *parser) errAt(line int, cause error, format string, args ...any) error {
	if line < 1 {
		line = 1
	}
	return &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...), Kind: ErrInvalidConfig, Cause: cause}
}

func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	return p.errAt(n.Line, nil, format, args...)
}

var yamlLineRE = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)
var yamlAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

// yamlParserProblems are the messages of yaml.v3's parser (as opposed to
// its scanner): yaml.v3 reports their line 0-based, and leaves it out when
// it is 0.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// syntaxErr turns a yaml.v3 error into an *Error with the line it names.
func (p *parser) syntaxErr(err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(yamlParserProblems, m[2]) {
			line++ // a 0-based mark
		}
		// A mark at the end of input may be one past the last line.
		last := bytes.Count(p.data, []byte("\n"))
		if len(p.data) > 0 && p.data[len(p.data)-1] != '\n' {
			last++
		}
		line = min(line, max(last, 1))
		return p.errAt(line, err, "%s", m[2])
	}
	line := 1
	if m := yamlAnchorRE.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(p.data, []byte("*"+m[1])); i >= 0 {
			line += bytes.Count(p.data[:i], []byte("\n"))
		}
	}
	return p.errAt(line, err, "%s", strings.TrimPrefix(msg, "yaml: "))
}

// decode reads the single YAML document of the file into a node tree.
func (p *parser) decode() (doc *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil { // yaml.v3 must not take the process down on bad input
			doc, err = nil, p.errAt(1, nil, "yaml: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(p.data))
	var d yaml.Node
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, p.errAt(1, nil, "empty file: want a top-level \"sumstats:\" list")
		}
		return nil, p.syntaxErr(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, p.errAt(extra.Line, nil, "more than one YAML document")
	} else if !errors.Is(err, io.EOF) {
		return nil, p.syntaxErr(err)
	}
	return &d, nil
}

func (p *parser) parse() ([]Definition, error) {
	doc, err := p.decode()
	if err != nil {
		return nil, err
	}
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, p.errf(root, "empty file: want a top-level \"sumstats:\" list")
		}
		root = root.Content[0]
	}
	top, err := p.mapping(root, "the file", []string{"sumstats"})
	if err != nil {
		return nil, err
	}
	list, ok := top["sumstats"]
	if !ok {
		return nil, p.errf(root, "missing top-level key \"sumstats\"")
	}
	seq := resolve(list.val)
	if seq.Kind != yaml.SequenceNode {
		return nil, p.errf(list.val, "sumstats: want a list of definitions, got %s", describe(seq))
	}
	defs := make([]Definition, 0, len(seq.Content))
	seen := make(map[string]int)
	for _, item := range seq.Content {
		d, err := p.definition(item)
		if err != nil {
			return nil, err
		}
		if first, dup := seen[d.Def.Name]; dup {
			return nil, p.errAt(d.Line, nil, "duplicate sumstat name %q (first defined at line %d)", d.Def.Name, first)
		}
		seen[d.Def.Name] = d.Line
		defs = append(defs, d)
	}
	return defs, nil
}

var defKeys = []string{"name", "epoch", "reducers", "threshold", "threshold_series", "threshold_val", "threshold_only", "notice"}

var reducerKeys = []string{"stream", "apply", "unique_max", "topk_size", "num_samples", "num_last_elements", "hll_error_margin", "hll_confidence"}

var noticeRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$`)

func (p *parser) definition(item *yaml.Node) (Definition, error) {
	n := resolve(item)
	out := Definition{Line: item.Line}
	m, err := p.mapping(n, "a sumstat definition", defKeys)
	if err != nil {
		return out, err
	}
	d := &out.Def
	f, ok := m["name"]
	if !ok {
		return out, p.errf(n, "definition without a name")
	}
	if d.Name, err = p.str(f, "name"); err != nil {
		return out, err
	}
	if d.Name == "" {
		return out, p.errf(f.val, "name: empty")
	}
	what := fmt.Sprintf("sumstat %q", d.Name)

	f, ok = m["epoch"]
	if !ok {
		return out, p.errf(n, "%s: missing epoch (a duration such as 5m, or manual)", what)
	}
	if d.Epoch, err = p.epoch(f); err != nil {
		return out, err
	}
	d.AlignEpochs = d.Epoch > 0

	f, ok = m["reducers"]
	if !ok {
		return out, p.errf(n, "%s: missing reducers", what)
	}
	rs := resolve(f.val)
	if rs.Kind != yaml.SequenceNode || len(rs.Content) == 0 {
		return out, p.errf(f.val, "reducers: want a non-empty list of reducers, got %s", describe(rs))
	}
	streams := make(map[string]int)
	for _, rn := range rs.Content {
		r, err := p.reducer(rn)
		if err != nil {
			return out, err
		}
		if first, dup := streams[r.Stream]; dup {
			return out, p.errf(rn, "stream %q already has a reducer in %s (line %d)", r.Stream, what, first)
		}
		streams[r.Stream] = rn.Line
		d.Reducers = append(d.Reducers, r)
	}

	if f, ok := m["threshold"]; ok {
		t, err := p.float(f, "threshold")
		if err != nil {
			return out, err
		}
		d.Threshold = &t
	}
	if f, ok := m["threshold_series"]; ok {
		sn := resolve(f.val)
		if sn.Kind != yaml.SequenceNode || len(sn.Content) == 0 {
			return out, p.errf(f.val, "threshold_series: want a non-empty list of numbers, got %s", describe(sn))
		}
		for i, e := range sn.Content {
			t, err := p.float(field{key: f.key, val: e}, "threshold_series")
			if err != nil {
				return out, err
			}
			if i > 0 && t < d.ThresholdSeries[i-1] {
				return out, p.errf(e, "threshold_series: not ascending (%v after %v)", t, d.ThresholdSeries[i-1])
			}
			d.ThresholdSeries = append(d.ThresholdSeries, t)
		}
	}
	if f, ok := m["threshold_val"]; ok {
		if !d.HasThreshold() {
			return out, p.errf(f.key, "threshold_val without threshold or threshold_series")
		}
		if out.val, err = p.thresholdVal(f, d.Reducers); err != nil {
			return out, err
		}
		d.ThresholdVal = out.val.fn()
	} else if d.HasThreshold() {
		return out, p.errf(n, "%s: a threshold needs threshold_val ({stream: s, calc: c} or {ratio: [...]})", what)
	}
	if f, ok := m["threshold_only"]; ok {
		if d.ThresholdOnly, err = p.boolean(f, "threshold_only"); err != nil {
			return out, err
		}
		if d.ThresholdOnly && !d.HasThreshold() {
			return out, p.errf(f.key, "threshold_only without threshold or threshold_series")
		}
	}
	if f, ok := m["notice"]; ok {
		if out.Notice, err = p.str(f, "notice"); err != nil {
			return out, err
		}
		if !noticeRE.MatchString(out.Notice) {
			return out, p.errf(f.val, "notice: %q is not a notice name such as Module::Name", out.Notice)
		}
		if !d.HasThreshold() {
			return out, p.errf(f.key, "notice without threshold or threshold_series (notices are raised on crossings)")
		}
	}
	if err := d.Validate(); err != nil {
		return out, p.errAt(out.Line, err, "%v", err)
	}
	return out, nil
}

func (p *parser) reducer(item *yaml.Node) (sumstats.Reducer, error) {
	var r sumstats.Reducer
	n := resolve(item)
	m, err := p.mapping(n, "a reducer", reducerKeys)
	if err != nil {
		return r, err
	}
	f, ok := m["stream"]
	if !ok {
		return r, p.errf(item, "reducer without a stream")
	}
	if r.Stream, err = p.str(f, "stream"); err != nil {
		return r, err
	}
	if r.Stream == "" {
		return r, p.errf(f.val, "stream: empty")
	}
	f, ok = m["apply"]
	if !ok {
		return r, p.errf(item, "reducer %q without apply (a list of calculations)", r.Stream)
	}
	an := resolve(f.val)
	if an.Kind != yaml.SequenceNode || len(an.Content) == 0 {
		return r, p.errf(f.val, "apply: want a non-empty list of calculations, got %s", describe(an))
	}
	var set sumstats.CalcSet
	for _, cn := range an.Content {
		s, err := p.str(field{key: f.key, val: cn}, "apply")
		if err != nil {
			return r, err
		}
		c, err := sumstats.ParseCalc(s)
		if err != nil {
			return r, p.errAt(resolve(cn).Line, err, "unknown reducer %q (want one of %s)", s, calcList())
		}
		if set.Has(c) {
			return r, p.errf(cn, "apply: %s listed twice", c)
		}
		set = set.With(c)
		r.Apply = append(r.Apply, c)
	}
	params := []struct {
		key  string
		calc sumstats.Calc
		min  int
		dst  *int
	}{
		{"unique_max", sumstats.CalcUnique, 1, &r.UniqueMax},
		{"topk_size", sumstats.CalcTopK, 1, &r.TopKSize},
		{"num_samples", sumstats.CalcSample, 0, &r.SampleSize},
		{"num_last_elements", sumstats.CalcLast, 0, &r.LastN},
	}
	for _, pm := range params {
		f, ok := m[pm.key]
		if !ok {
			continue
		}
		if !set.Has(pm.calc) {
			return r, p.errf(f.key, "%s without %s in apply", pm.key, pm.calc)
		}
		if *pm.dst, err = p.integer(f, pm.key, pm.min, MaxParam); err != nil {
			return r, err
		}
	}
	for _, pm := range []struct {
		key string
		dst *float64
	}{{"hll_error_margin", &r.HLLErrorMargin}, {"hll_confidence", &r.HLLConfidence}} {
		f, ok := m[pm.key]
		if !ok {
			continue
		}
		if !set.Has(sumstats.CalcHLLUnique) {
			return r, p.errf(f.key, "%s without hll_unique in apply", pm.key)
		}
		if *pm.dst, err = p.float(f, pm.key); err != nil {
			return r, err
		}
		if !(*pm.dst > 0 && *pm.dst < 1) {
			return r, p.errf(f.val, "%s: %v is not in (0, 1)", pm.key, *pm.dst)
		}
	}
	if set.Has(sumstats.CalcHLLUnique) {
		em, conf := r.HLLErrorMargin, r.HLLConfidence
		if em == 0 {
			em = sumstats.DefaultHLLErrorMargin
		}
		if conf == 0 {
			conf = sumstats.DefaultHLLConfidence
		}
		if _, err := sumstats.HLLPrecision(em, conf); err != nil {
			return r, p.errAt(item.Line, err, "reducer %q: %s", r.Stream, strings.TrimPrefix(err.Error(), sumstats.ErrBadParam.Error()+": "))
		}
	}
	return r, nil
}

// thresholdVal parses {stream: s, calc: c} or {ratio: [{...}, {...}]}.
func (p *parser) thresholdVal(f field, reducers []sumstats.Reducer) (*valueSpec, error) {
	n := resolve(f.val)
	m, err := p.mapping(n, "threshold_val", []string{"stream", "calc", "ratio"})
	if err != nil {
		return nil, err
	}
	if rf, ok := m["ratio"]; ok {
		if len(m) != 1 {
			return nil, p.errf(n, "threshold_val: ratio excludes stream and calc")
		}
		rn := resolve(rf.val)
		if rn.Kind != yaml.SequenceNode || len(rn.Content) != 2 {
			return nil, p.errf(rf.val, "threshold_val: ratio wants a list of two {stream, calc} (numerator, denominator), got %s", describe(rn))
		}
		a, err := p.operand(rn.Content[0], reducers)
		if err != nil {
			return nil, err
		}
		b, err := p.operand(rn.Content[1], reducers)
		if err != nil {
			return nil, err
		}
		return &valueSpec{a: a, b: &b}, nil
	}
	a, err := p.operand(f.val, reducers)
	if err != nil {
		return nil, err
	}
	return &valueSpec{a: a}, nil
}

func (p *parser) operand(item *yaml.Node, reducers []sumstats.Reducer) (operand, error) {
	var o operand
	n := resolve(item)
	m, err := p.mapping(n, "threshold_val operand", []string{"stream", "calc"})
	if err != nil {
		return o, err
	}
	sf, ok := m["stream"]
	if !ok {
		return o, p.errf(n, "threshold_val: missing stream")
	}
	cf, ok := m["calc"]
	if !ok {
		return o, p.errf(n, "threshold_val: missing calc")
	}
	if o.stream, err = p.str(sf, "threshold_val stream"); err != nil {
		return o, err
	}
	s, err := p.str(cf, "threshold_val calc")
	if err != nil {
		return o, err
	}
	if o.calc, err = sumstats.ParseCalc(s); err != nil {
		return o, p.errAt(cf.val.Line, err, "threshold_val: unknown calc %q (want one of %s)", s, calcList())
	}
	i := slices.IndexFunc(reducers, func(r sumstats.Reducer) bool { return r.Stream == o.stream })
	if i < 0 {
		return o, p.errf(sf.val, "threshold_val: stream %q has no reducer in this sumstat", o.stream)
	}
	if !expand(reducers[i].Apply).Has(o.calc) {
		return o, p.errf(cf.val, "threshold_val: %s is not applied to stream %q", o.calc, o.stream)
	}
	return o, nil
}

// expand is the set of calcs a reducer computes, with Zeek's dependencies
// (STD_DEV needs VARIANCE, VARIANCE needs AVERAGE).
func expand(cs []sumstats.Calc) sumstats.CalcSet {
	var s sumstats.CalcSet
	for _, c := range cs {
		s = s.With(c)
	}
	if s.Has(sumstats.CalcStdDev) {
		s = s.With(sumstats.CalcVariance)
	}
	if s.Has(sumstats.CalcVariance) {
		s = s.With(sumstats.CalcAverage)
	}
	return s
}

func calcList() string {
	var names []string
	for c := sumstats.Calc(1); c.Valid(); c++ {
		names = append(names, c.String())
	}
	return strings.Join(names, ", ")
}

// field is a key node and its value node in a mapping.
type field struct {
	key, val *yaml.Node
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; i < 64 && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

// describe names a node's kind for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return "an empty list"
		}
		return fmt.Sprintf("a list of %d", len(n.Content))
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("%s %q", strings.TrimPrefix(n.ShortTag(), "!!"), v)
	}
	return "an unexpected node"
}

// mapping checks that n is a mapping whose keys are distinct strings from
// allowed, and returns its fields by key.
func (p *parser) mapping(n *yaml.Node, what string, allowed []string) (map[string]field, error) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "%s: want a mapping, got %s", what, describe(n))
	}
	out := make(map[string]field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			if k.ShortTag() == "!!merge" {
				return nil, p.errf(k, "merge keys (<<) are not supported")
			}
			return nil, p.errf(k, "%s: want string keys, got %s", what, describe(k))
		}
		if !slices.Contains(allowed, k.Value) {
			return nil, p.errf(k, "unknown key %q in %s (want one of %s)", k.Value, what, strings.Join(allowed, ", "))
		}
		if prev, dup := out[k.Value]; dup {
			return nil, p.errf(k, "duplicate key %q (first at line %d)", k.Value, prev.key.Line)
		}
		out[k.Value] = field{key: k, val: v}
	}
	return out, nil
}

func (p *parser) str(f field, what string) (string, error) {
	n := resolve(f.val)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return "", p.errf(f.val, "%s: want a string, got %s", what, describe(n))
	}
	return n.Value, nil
}

func (p *parser) boolean(f field, what string) (bool, error) {
	n := resolve(f.val)
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		return false, p.errf(f.val, "%s: want true or false, got %s", what, describe(n))
	}
	return b, nil
}

func (p *parser) integer(f field, what string, lo, hi int) (int, error) {
	n := resolve(f.val)
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		return 0, p.errf(f.val, "%s: want an integer, got %s", what, describe(n))
	}
	if v < int64(lo) || v > int64(hi) {
		if v < 0 {
			return 0, p.errf(f.val, "%s: negative value %d", what, v)
		}
		return 0, p.errf(f.val, "%s: %d is out of range [%d, %d]", what, v, lo, hi)
	}
	return int(v), nil
}

func (p *parser) float(f field, what string) (float64, error) {
	n := resolve(f.val)
	var v float64
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&v) != nil {
		return 0, p.errf(f.val, "%s: want a number, got %s", what, describe(n))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, p.errf(f.val, "%s: want a finite number, got %v", what, v)
	}
	return v, nil
}

// epoch parses a Go duration, "manual", or 0 (manual).
func (p *parser) epoch(f field) (time.Duration, error) {
	n := resolve(f.val)
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int", "!!float":
			if n.Value == "0" {
				return 0, nil
			}
			return 0, p.errf(f.val, "epoch: bare number %s needs a unit (for example %ss), or use manual", n.Value, n.Value)
		case "!!str":
			if strings.EqualFold(n.Value, "manual") {
				return 0, nil
			}
			d, err := time.ParseDuration(n.Value)
			if err != nil {
				return 0, p.errAt(f.val.Line, err, "epoch: %q is not a duration such as 30s or 5m, nor manual", n.Value)
			}
			if d < 0 {
				return 0, p.errf(f.val, "epoch: negative duration %s", n.Value)
			}
			return d, nil
		}
	}
	return 0, p.errf(f.val, "epoch: want a duration such as 30s or 5m, or manual, got %s", describe(n))
}
