package check

import (
	"bytes"
	"compress/gzip"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shoal/zeeklog"
)

var hostFields = []zeeklog.Field{{Name: "ts", Type: "time"}, {Name: "host", Type: "addr"}}

// hostRow is one known_hosts row: ts in nanoseconds.
type hostRow struct {
	ts   int64
	host string
}

// render writes rows as a complete log of format.
func render(t *testing.T, format zeeklog.Format, rows []hostRow) []byte {
	t.Helper()
	var b bytes.Buffer
	open := time.Unix(1700000000, 0)
	w, err := zeeklog.New(&b, "known_hosts", hostFields, format, open)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(zeeklog.Time(time.Unix(0, r.ts)), zeeklog.Addr(netip.MustParseAddr(r.host))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(open.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func write(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// truth is 6 hosts, first seen a millisecond apart (plus a few
// microseconds, so that a row one microsecond off is wrong).
func truth() []hostRow {
	var rows []hostRow
	for i := range 6 {
		rows = append(rows, hostRow{ts: 1700000000_000000000 + int64(i)*1_000_003_000, host: "10.0.0." + string(rune('1'+i))})
	}
	return rows
}

func hostSpec(rows []hostRow) Spec {
	s := Spec{Path: "known_hosts", Key: []string{"host"}, Want: map[string]Expect{}}
	for _, r := range rows {
		s.Want[Key(r.host)] = Expect{TS: []int64{r.ts}}
	}
	return s
}

// TestCheckPlanted: the checker finds each planted fault in a log split
// over a gzip archive and the live file, and passes the clean log.
func TestCheckPlanted(t *testing.T) {
	tests := map[string]struct {
		archive, live func([]hostRow) []hostRow // rows of each file, from the truth
		format        zeeklog.Format
		spec          func(Spec) Spec
		mangle        func(live []byte) []byte
		want          LogReport // counts only
		problem       string    // substring of the only file problem
		example       string    // substring of an example
	}{
		"clean":      {want: LogReport{Rows: 6}},
		"clean json": {format: zeeklog.FormatJSON, want: LogReport{Rows: 6}},
		"missing row": {
			live: func(r []hostRow) []hostRow { return r[3:5] },
			want: LogReport{Rows: 5, Missing: 1}, example: `"10.0.0.6" (ts 1700000005.000015)`,
		},
		"duplicate row": {
			live: func(r []hostRow) []hostRow { return append([]hostRow{r[2]}, r[3:]...) },
			want: LogReport{Rows: 7, Duplicate: 1}, example: `2 rows for "10.0.0.3"`,
		},
		"duplicate across json files": {
			format: zeeklog.FormatJSON,
			live:   func(r []hostRow) []hostRow { return append([]hostRow{r[0]}, r[3:]...) },
			want:   LogReport{Rows: 7, Duplicate: 1},
		},
		"wrong timestamp": {
			live: func(r []hostRow) []hostRow {
				out := append([]hostRow(nil), r[3:]...)
				out[1].ts += 1000 // one microsecond later
				return out
			},
			want: LogReport{Rows: 6, Wrong: 1}, example: "ts 1700000004.000013, want 1700000004.000012",
		},
		"row not in ground truth": {
			live: func(r []hostRow) []hostRow { return append(r[3:], hostRow{ts: 1700000000e9, host: "10.9.9.9"}) },
			want: LogReport{Rows: 7, Wrong: 1}, example: "not in ground truth",
		},
		"unacknowledged key absent": {
			live: func(r []hostRow) []hostRow { return r[3:5] },
			spec: func(s Spec) Spec {
				e := s.Want[Key("10.0.0.6")]
				e.Unacked = true
				s.Want[Key("10.0.0.6")] = e
				return s
			},
			want: LogReport{Rows: 5, Unacked: 1},
		},
		"open spec, no truth: only duplicates": {
			live: func(r []hostRow) []hostRow { return append(r[3:], r[5], hostRow{ts: 1e18, host: "10.9.9.9"}) },
			spec: func(s Spec) Spec { return Spec{Path: s.Path, Key: s.Key, Open: true} },
			want: LogReport{Rows: 8, Duplicate: 1}, example: `2 rows for "10.0.0.6"`,
		},
		"partial last line": {
			mangle:  func(b []byte) []byte { return append(b, "1700000009.000000\t10.0."...) },
			want:    LogReport{Rows: 6},
			problem: "partial last line",
		},
		"missing headers": {
			mangle: func(b []byte) []byte {
				var out []string
				for _, l := range strings.SplitAfter(string(b), "\n") {
					if !strings.HasPrefix(l, "#types") && !strings.HasPrefix(l, "#open") {
						out = append(out, l)
					}
				}
				return []byte(strings.Join(out, ""))
			},
			want:    LogReport{Rows: 6},
			problem: "missing header #open, #types",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rows := truth()
			arch, live := rows[:3], rows[3:]
			if tc.archive != nil {
				arch = tc.archive(rows)
			}
			if tc.live != nil {
				live = tc.live(rows)
			}
			format := tc.format
			if format == "" {
				format = zeeklog.FormatTSV
			}
			dir := t.TempDir()
			write(t, filepath.Join(dir, "2023-11-14", "known_hosts.22:13:20-23:13:20.log.gz"), gz(t, render(t, format, arch)))
			lb := render(t, format, live)
			if tc.mangle != nil {
				lb = tc.mangle(lb)
			}
			write(t, filepath.Join(dir, "known_hosts.log"), lb)
			spec := hostSpec(rows)
			if tc.spec != nil {
				spec = tc.spec(spec)
			}
			rep, err := Check([]string{dir}, []Spec{spec}, 3)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			rep.Write(&out)
			t.Logf("report:\n%s", out.String())
			got := rep.Logs[0]
			if spec.Open {
				tc.want.Expected = len(spec.Want)
			} else {
				tc.want.Expected = 6
			}
			if got.Files != 2 || got.Expected != tc.want.Expected || got.Rows != tc.want.Rows || got.Missing != tc.want.Missing ||
				got.Duplicate != tc.want.Duplicate || got.Wrong != tc.want.Wrong || got.Unacked != tc.want.Unacked {
				t.Errorf("files %d expected %d rows %d missing %d duplicate %d wrong %d unacked %d; want 2 %d %d %d %d %d %d",
					got.Files, got.Expected, got.Rows, got.Missing, got.Duplicate, got.Wrong, got.Unacked,
					tc.want.Expected, tc.want.Rows, tc.want.Missing, tc.want.Duplicate, tc.want.Wrong, tc.want.Unacked)
			}
			if len(got.MissingTS) != got.Missing || len(got.DuplicateTS) != got.Duplicate || len(got.WrongTS) != got.Wrong {
				t.Errorf("times of %d missing, %d duplicate, %d wrong rows, want one each", len(got.MissingTS), len(got.DuplicateTS), len(got.WrongTS))
			}
			if tc.example != "" && !strings.Contains(out.String(), tc.example) {
				t.Errorf("report lacks %q", tc.example)
			}
			switch {
			case tc.problem == "" && len(rep.Problems) > 0:
				t.Errorf("problems %v, want none", rep.Problems)
			case tc.problem != "" && (len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Problem, tc.problem)):
				t.Errorf("problems %v, want one with %q", rep.Problems, tc.problem)
			}
			clean := tc.want.Missing+tc.want.Duplicate+tc.want.Wrong == 0 && tc.problem == ""
			if rep.Clean() != clean {
				t.Errorf("Clean() = %v, want %v (Exceeds: %v)", rep.Clean(), clean, rep.Exceeds(Bounds{}))
			}
		})
	}
}

// TestCheckSelectNums: a spec over part of a log (one sumstat's results)
// compares numbers within a tolerance and ignores the other rows.
func TestCheckSelectNums(t *testing.T) {
	fields := []zeeklog.Field{{Name: "ts", Type: "time"}, {Name: "name", Type: "string"}, {Name: "event", Type: "enum"},
		{Name: "key_host", Type: "addr"}, {Name: "sum", Type: "double"}}
	var b bytes.Buffer
	w, err := zeeklog.New(&b, "sumstats", fields, zeeklog.FormatTSV, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	row := func(name, event, host string, sum float64) {
		t.Helper()
		if err := w.Write(zeeklog.Time(time.Unix(1700000002, 0)), zeeklog.String(name), zeeklog.Enum(event),
			zeeklog.Addr(netip.MustParseAddr(host)), zeeklog.Double(sum)); err != nil {
			t.Fatal(err)
		}
	}
	row("a", "epoch_result", "10.0.0.1", 3)
	row("a", "epoch_result", "10.0.0.2", 0.1+0.2)
	row("a", "epoch_result", "10.0.0.3", 7.5) // wrong: 7
	row("b", "epoch_result", "10.0.0.1", 99)  // another sumstat
	row("a", "epoch_finished", "10.0.0.1", 0) // not a result
	row("a", "epoch_result", "10.0.0.4", 5)   // in range
	row("a", "epoch_result", "10.0.0.5", 9)   // out of range
	w.Close(time.Unix(1700000003, 0))
	dir := t.TempDir()
	write(t, filepath.Join(dir, "sumstats.log"), b.Bytes())
	spec := Spec{
		Name: "sumstats/a", Path: "sumstats", Key: []string{"key_host"}, RelTol: 1e-9, Extra: []string{"name", "event"},
		Select: func(get func(string) string) bool { return get("name") == "a" && get("event") == "epoch_result" },
		Want: map[string]Expect{
			Key("10.0.0.1"): {Nums: map[string]float64{"sum": 3}},
			Key("10.0.0.2"): {Nums: map[string]float64{"sum": 0.3}},
			Key("10.0.0.3"): {Nums: map[string]float64{"sum": 7}},
			Key("10.0.0.4"): {Ranges: map[string][2]float64{"sum": {4, 6}}},
			Key("10.0.0.5"): {Ranges: map[string][2]float64{"sum": {4, 6}}},
			Key("10.0.0.6"): {Optional: true},
		},
	}
	rep, err := Check([]string{dir}, []Spec{spec}, 3)
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Log("sumstats/a")
	if l == nil || l.Rows != 5 || l.Wrong != 2 || l.Missing != 0 || l.Duplicate != 0 {
		t.Fatalf("report %+v, want 5 rows, 2 wrong", l)
	}
	if !strings.Contains(l.WrongExamples[0], `sum "7.5", want 7`) || !strings.Contains(l.WrongExamples[1], `sum "9.0", want 4..6`) {
		t.Errorf("wrong examples %q", l.WrongExamples)
	}
	err = rep.Exceeds(Bounds{Default: Bound{Wrong: 2}})
	if err != nil {
		t.Errorf("Exceeds with 2 wrong allowed: %v", err)
	}
	if err := rep.Exceeds(Bounds{}); err == nil || !strings.Contains(err.Error(), "sumstats/a: 2 wrong rows, bound 0") {
		t.Errorf("Exceeds = %v", err)
	}
}

func TestParseMicros(t *testing.T) {
	tests := map[string]struct {
		in   string
		want int64
		bad  bool
	}{
		"zeek time":    {in: "1700000000.123456", want: 1700000000123456},
		"short frac":   {in: "1.5", want: 1500000},
		"no frac":      {in: "12", want: 12000000},
		"negative":     {in: "-1.000001", want: -1000001},
		"extra digits": {in: "1.1234567", want: 1123456},
		"unset":        {in: "-", bad: true},
		"garbage":      {in: "x.1", bad: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseMicros(tc.in)
			if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
				t.Fatalf("parseMicros(%q) = %d, %v; want %d (bad %v)", tc.in, got, err, tc.want, tc.bad)
			}
		})
	}
}
