package check

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Expect is what ground truth says about one key of a log.
type Expect struct {
	// TS are the acceptable values of the row's ts, in nanoseconds since
	// the epoch, compared at the microsecond the log has (rounded); empty:
	// any ts.
	TS []int64
	// Fields are exact values of other columns, as a TSV file renders them
	// ("-" unset, sets comma-separated).
	Fields map[string]string
	// Nums are numeric columns, equal within Spec.RelTol (relative; 0:
	// exact).
	Nums map[string]float64
	// Ranges are numeric columns that must lie in [lo, hi] (ground truth
	// that is only known within bounds, e.g. a count merged from two
	// generators).
	Ranges map[string][2]float64
	// Max is how many rows of the key are allowed; 0 means 1.
	Max int
	// Unacked: no worker had an event of this key acknowledged, so its
	// absence is counted as unacked instead of missing.
	Unacked bool
	// Optional: ground truth cannot tell whether the row must exist (it
	// may, once); its absence is not counted.
	Optional bool
}

// Spec is the ground truth of one log, or of the rows of a log that Select
// picks.
type Spec struct {
	// Name labels the report line; default Path.
	Name string
	// Path is the log's path, e.g. "known_hosts".
	Path string
	// Key are the columns that identify a row; the key of a row is their
	// TSV values joined with KeySep.
	Key []string
	// Want is every expected key.
	Want map[string]Expect
	// Select picks the rows this spec covers (get returns a column's TSV
	// value, "" for a column the file lacks); nil: every row.
	Select func(get func(field string) string) bool
	// RelTol is the relative tolerance of Expect.Nums.
	RelTol float64
	// Extra are columns to read besides Key, ts and those Want names (for
	// Select; JSON files only have the columns read).
	Extra []string
	// Open: a row whose key is not in Want is not wrong; such a key may
	// have one row (more are duplicates). For logs without ground truth,
	// only duplicates are found.
	Open bool
}

// KeySep joins the values of a Spec's Key columns.
const KeySep = "\t"

// Key joins values as Spec.Key's columns are joined.
func Key(values ...string) string { return strings.Join(values, KeySep) }

// LogReport is what Check found in one log (one Spec).
type LogReport struct {
	Name             string
	Files, Rows      int // rows the spec covers
	Expected         int // keys in Want that must have a row (not Optional)
	Missing, Unacked int
	Duplicate, Wrong int
	// MissingTS, DuplicateTS and WrongTS are the times of every missing
	// key (its first expected ts), repeated row and wrong row (the row's
	// ts), in nanoseconds, where known: for telling which fault caused
	// them.
	MissingTS, DuplicateTS, WrongTS []int64
	MissingExamples                 []string
	DuplicateExamples               []string
	WrongExamples                   []string
	UnackedExamples                 []string
	examplesPerKindMax              int
}

// Report is the result of Check.
type Report struct {
	Logs     []LogReport
	Problems []FileProblem // files that are not intact
}

// Check reads the logs of every spec from dirs (each manager's log
// directory) and compares them with the specs. examples bounds the examples
// kept per kind and log. The error is for I/O that stopped the check, not
// for what it found.
func Check(dirs []string, specs []Spec, examples int) (*Report, error) {
	rep := &Report{}
	seen := map[string]bool{} // files whose problems are reported
	for _, s := range specs {
		files, probs, err := readLog(dirs, s.Path, s.columns())
		if err != nil {
			return nil, err
		}
		for _, p := range probs {
			if !seen[p.File+"\x00"+p.Problem] {
				seen[p.File+"\x00"+p.Problem] = true
				rep.Problems = append(rep.Problems, p)
			}
		}
		rep.Logs = append(rep.Logs, compare(s, files, examples))
	}
	return rep, nil
}

// columns are the columns of s to read from JSON files.
func (s *Spec) columns() []string {
	set := map[string]bool{"ts": true}
	for _, k := range s.Key {
		set[k] = true
	}
	for _, k := range s.Extra {
		set[k] = true
	}
	for _, e := range s.Want {
		for f := range e.Fields {
			set[f] = true
		}
		for f := range e.Nums {
			set[f] = true
		}
		for f := range e.Ranges {
			set[f] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// row is one row of a file the spec covers.
type row struct {
	f    *file
	n    int // 1-based row number in its file
	vals []string
}

func (r row) get(field string) string {
	v, _ := r.f.get(r.vals, field)
	return v
}

// appendTS appends the row's ts in nanoseconds, if it has one.
func (r row) appendTS(ts []int64) []int64 {
	if us, err := parseMicros(r.get("ts")); err == nil {
		return append(ts, us*1000)
	}
	return ts
}

func (r row) String() string {
	return fmt.Sprintf("%s row %d: %s", r.f.name, r.n, strings.Join(r.vals, " "))
}

// compare checks the rows of files against s.
func compare(s Spec, files []*file, examples int) LogReport {
	name := s.Name
	if name == "" {
		name = s.Path
	}
	rep := LogReport{Name: name, Files: len(files), examplesPerKindMax: examples}
	for _, e := range s.Want {
		if !e.Optional {
			rep.Expected++
		}
	}
	byKey, order := s.group(files)
	for _, key := range order {
		rep.Rows += len(byKey[key])
		rep.judge(s, key, byKey[key])
	}
	var missing []string
	for key := range s.Want {
		if _, ok := byKey[key]; !ok {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	for _, key := range missing {
		switch want := s.Want[key]; {
		case want.Optional:
		case want.Unacked:
			rep.Unacked++
			rep.example(&rep.UnackedExamples, fmt.Sprintf("%q (never acknowledged to a worker)", key))
		default:
			rep.Missing++
			rep.example(&rep.MissingExamples, fmt.Sprintf("%q%s", key, describe(want)))
			if len(want.TS) > 0 {
				rep.MissingTS = append(rep.MissingTS, slices.Min(want.TS))
			}
		}
	}
	return rep
}

// group returns the rows s covers by key, and the keys in order of first
// appearance.
func (s *Spec) group(files []*file) (map[string][]row, []string) {
	byKey := map[string][]row{}
	var order []string
	kv := make([]string, len(s.Key))
	for _, f := range files {
		for i, vals := range f.log.Rows {
			r := row{f: f, n: i + 1, vals: vals}
			if s.Select != nil && !s.Select(r.get) {
				continue
			}
			for j, k := range s.Key {
				kv[j] = r.get(k)
			}
			key := Key(kv...)
			if _, ok := byKey[key]; !ok {
				order = append(order, key)
			}
			byKey[key] = append(byKey[key], r)
		}
	}
	return byKey, order
}

// judge counts what is wrong with the rows of one key.
func (l *LogReport) judge(s Spec, key string, rows []row) {
	want, ok := s.Want[key]
	switch {
	case !ok && s.Open:
		l.Duplicate += len(rows) - 1
		for _, r := range rows[1:] {
			l.example(&l.DuplicateExamples, fmt.Sprintf("%d rows for %q: %s", len(rows), key, r.String()))
			l.DuplicateTS = r.appendTS(l.DuplicateTS)
		}
		return
	case !ok:
		l.Wrong += len(rows)
		for _, r := range rows {
			l.example(&l.WrongExamples, "not in ground truth: "+r.String())
			l.WrongTS = r.appendTS(l.WrongTS)
		}
		return
	}
	good := slices.IndexFunc(rows, func(r row) bool { return mismatch(s, want, r) == "" })
	if good < 0 {
		l.Wrong++
		l.example(&l.WrongExamples, mismatch(s, want, rows[0])+": "+rows[0].String())
		l.WrongTS = rows[0].appendTS(l.WrongTS)
		good = 0
	}
	allowed := max(want.Max, 1)
	if len(rows) <= allowed {
		return
	}
	l.Duplicate += len(rows) - allowed
	n := 0
	for i, r := range rows {
		if i == good {
			continue
		}
		if n++; n > allowed-1 {
			l.example(&l.DuplicateExamples, fmt.Sprintf("%d rows for %q, allowed %d: %s", len(rows), key, allowed, r.String()))
			l.DuplicateTS = r.appendTS(l.DuplicateTS)
		}
	}
}

func (l *LogReport) example(list *[]string, s string) {
	if len(*list) < l.examplesPerKindMax {
		*list = append(*list, s)
	}
}

// describe renders what was expected of a missing key.
func describe(e Expect) string {
	var parts []string
	if len(e.TS) > 0 {
		parts = append(parts, "ts "+fmtMicros(roundMicros(e.TS[0])))
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+" "+e.Fields[k])
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// mismatch says how r differs from want, or "" when it matches.
func mismatch(s Spec, want Expect, r row) string {
	if len(want.TS) > 0 {
		ts := r.get("ts")
		got, err := parseMicros(ts)
		if err != nil {
			return fmt.Sprintf("bad ts %q", ts)
		}
		if !slices.ContainsFunc(want.TS, func(ns int64) bool { return roundMicros(ns) == got }) {
			return fmt.Sprintf("ts %s, want %s", ts, fmtMicros(roundMicros(want.TS[0])))
		}
	}
	keys := make([]string, 0, len(want.Fields))
	for k := range want.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got := r.get(k); got != want.Fields[k] {
			return fmt.Sprintf("%s %q, want %q", k, got, want.Fields[k])
		}
	}
	keys = keys[:0]
	for k := range want.Nums {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w := want.Nums[k]
		got, err := strconv.ParseFloat(r.get(k), 64)
		if err != nil || !near(got, w, s.RelTol) {
			return fmt.Sprintf("%s %q, want %v", k, r.get(k), w)
		}
	}
	keys = keys[:0]
	for k := range want.Ranges {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b := want.Ranges[k]
		got, err := strconv.ParseFloat(r.get(k), 64)
		if err != nil || got < b[0] || got > b[1] {
			return fmt.Sprintf("%s %q, want %v..%v", k, r.get(k), b[0], b[1])
		}
	}
	return ""
}

func near(got, want, rel float64) bool {
	if got == want {
		return true
	}
	return math.Abs(got-want) <= rel*math.Max(math.Abs(got), math.Abs(want))
}

func roundMicros(ns int64) int64 {
	if ns >= 0 {
		return (ns + 500) / 1000
	}
	return -((-ns + 500) / 1000)
}

// parseMicros parses a Zeek time ("1700000000.123456") exactly, to
// microseconds.
func parseMicros(s string) (int64, error) {
	sec, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(sec, "-")
	whole, err := strconv.ParseInt(strings.TrimPrefix(sec, "-"), 10, 64)
	if err != nil || len(frac) > 9 {
		return 0, errors.New("not a time")
	}
	frac = (frac + "000000")[:6]
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, errors.New("not a time")
	}
	us := whole*1e6 + f
	if neg {
		us = -us
	}
	return us, nil
}

func fmtMicros(us int64) string {
	sign := ""
	if us < 0 {
		sign, us = "-", -us
	}
	return fmt.Sprintf("%s%d.%06d", sign, us/1e6, us%1e6)
}
