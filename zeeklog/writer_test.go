package zeeklog

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2016, 7, 13, 16, 17, 24, 0, time.Local)

// TestKnownHostsAllV3ByteForByte is the headline check: writing the rows of
// known_hosts-all.v3.log reproduces the file exactly, apart from the
// #open/#close dates.
func TestKnownHostsAllV3ByteForByte(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(zeekDir(t), "expected", "known-hosts", "known_hosts-all.v3.log"))
	if err != nil {
		t.Fatal(err)
	}
	hosts := []struct {
		ts   int64 // microseconds
		host string
	}{
		{1300475168783842, "208.80.152.118"},
		{1300475168783842, "141.142.220.118"},
		{1300475168915940, "208.80.152.3"},
		{1300475168962628, "208.80.152.2"},
	}
	dir := t.TempDir()
	w, err := Create(dir, "known_hosts", []Field{{"ts", "time"}, {"host", "addr"}}, FormatTSV, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if err := w.Write(Time(time.UnixMicro(h.ts)), Addr(netip.MustParseAddr(h.host))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "known_hosts.log"))
	if err != nil {
		t.Fatal(err)
	}
	if g, w := maskLog(string(got), false), maskLog(string(want), false); g != w {
		t.Fatalf("output differs from baseline\n--- got\n%s\n--- want\n%s", g, w)
	}
	// Only the two date lines were masked.
	if n := len(openCloseRE.FindAllString(string(got), -1)); n != 2 {
		t.Fatalf("found %d #open/#close lines, want 2", n)
	}
}

// TestBaselinesReproduced rewrites every known-hosts and known-services
// baseline from its own rows. The v3 files keep real timestamps and must
// match exactly except for the #open/#close dates; the current files have
// masked timestamps, so the ts column is masked on both sides.
func TestBaselinesReproduced(t *testing.T) {
	for _, file := range baselineFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			in, err := ReadTSV(bytes.NewReader(want))
			if err != nil {
				t.Fatal(err)
			}
			v3 := strings.Contains(file, ".v3.")
			dir := t.TempDir()
			w, err := Create(dir, in.Path, fieldsOf(in), FormatTSV, testNow)
			if err != nil {
				t.Fatal(err)
			}
			for i, row := range in.Rows {
				if err := w.Write(rowValues(t, in, row, time.UnixMicro(1308930691089263+int64(i)))...); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(testNow); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, in.Path+".log"))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := maskLog(string(got), !v3), maskLog(string(want), !v3); g != w {
				t.Fatalf("output differs from baseline\n--- got\n%s\n--- want\n%s", g, w)
			}
			if !strings.Contains(string(got), "#open\t2016-07-13-16-17-24\n") ||
				!strings.HasSuffix(string(got), "#close\t2016-07-13-16-17-24\n") {
				t.Fatalf("open/close stamps wrong:\n%s", got)
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	in, err := ReadTSVFile(filepath.Join(zeekDir(t), "expected", "known-services", "known_services-all.v3.log"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := New(&buf, in.Path, fieldsOf(in), FormatJSON, testNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range in.Rows {
		if err := w.Write(rowValues(t, in, row, time.Time{})...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(testNow); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("got %d JSON lines, want 7:\n%s", len(lines), buf.String())
	}
	if want := `{"ts":1308930691.089263,"host":"172.16.238.131","port_num":22,"port_proto":"tcp","service":["SSH"]}`; lines[0] != want {
		t.Fatalf("first line\n got %s\nwant %s", lines[0], want)
	}
	for i, line := range lines {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		row := in.Rows[i]
		if got := m["ts"].(json.Number).String(); got != row[0] {
			t.Errorf("line %d ts %s, want %s", i, got, row[0])
		}
		if got := m["host"].(string); got != row[1] {
			t.Errorf("line %d host %s, want %s", i, got, row[1])
		}
		if got := m["port_num"].(json.Number).String(); got != row[2] {
			t.Errorf("line %d port_num %s, want %s", i, got, row[2])
		}
		if got := m["port_proto"].(string); got != row[3] {
			t.Errorf("line %d port_proto %s, want %s", i, got, row[3])
		}
		svc := m["service"].([]any)
		if len(svc) != 1 || svc[0].(string) != row[4] {
			t.Errorf("line %d service %v, want [%s]", i, svc, row[4])
		}
	}
	// Reading the JSON back gives the TSV rows.
	back, err := ReadJSON(&buf, in.Fields)
	if err != nil {
		t.Fatal(err)
	}
	if !equalRows(back.Rows, in.Rows) {
		t.Fatalf("ReadJSON rows\n got %q\nwant %q", back.Rows, in.Rows)
	}
}

func TestJSONUnsetOmittedAndTypes(t *testing.T) {
	fields := []Field{
		{"ts", "time"}, {"uid", "string"}, {"n", "count"}, {"i", "int"}, {"d", "double"},
		{"dropped", "bool"}, {"dur", "interval"}, {"actions", "set[enum]"}, {"note", "enum"},
	}
	var buf bytes.Buffer
	w, err := New(&buf, "notice", fields, FormatJSON, testNow)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Write(Time(time.UnixMicro(-1_500_000)), Unset(), Count(18446744073709551615), Int(-7), Double(2),
		Bool(false), Interval(1500*time.Millisecond), StringSet(nil), Enum("Scan::Port_Scan"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `{"ts":-1.500000,"n":18446744073709551615,"i":-7,"d":2.0,"dropped":false,"dur":1.500000,"actions":[],"note":"Scan::Port_Scan"}` + "\n"
	if buf.String() != want {
		t.Fatalf("got  %s\nwant %s", buf.String(), want)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["uid"]; ok {
		t.Fatal("unset field uid present in JSON")
	}
	if err := w.Close(testNow); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want {
		t.Fatalf("JSON Close wrote a footer: %q", buf.String())
	}
}

func equalRows(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00") != strings.Join(b[i], "\x00") || len(a[i]) != len(b[i]) {
			return false
		}
	}
	return true
}

func TestHeaderAndFooter(t *testing.T) {
	utc := time.Date(2020, 5, 29, 22, 23, 37, 0, time.UTC)
	var buf bytes.Buffer
	w, err := New(&buf, "known_services", []Field{
		{"ts", "time"}, {"host", "addr"}, {"port_num", "port"}, {"port_proto", "enum"}, {"service", "set[string]"},
	}, FormatTSV, utc)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(utc.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	stamp := func(tm time.Time) string { return tm.Local().Format("2006-01-02-15-04-05") }
	want := "#separator \\x09\n" +
		"#set_separator\t,\n" +
		"#empty_field\t(empty)\n" +
		"#unset_field\t-\n" +
		"#path\tknown_services\n" +
		"#open\t" + stamp(utc) + "\n" +
		"#fields\tts\thost\tport_num\tport_proto\tservice\n" +
		"#types\ttime\taddr\tport\tenum\tset[string]\n" +
		"#close\t" + stamp(utc.Add(time.Hour)) + "\n"
	if buf.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", buf.String(), want)
	}
}

func TestCreateErrors(t *testing.T) {
	good := []Field{{"ts", "time"}}
	tests := map[string]struct {
		path   string
		fields []Field
		format Format
		want   error
	}{
		"unknown format":   {"x", good, Format("xml"), ErrFormat},
		"empty format":     {"x", good, Format(""), ErrFormat},
		"empty path":       {"", good, FormatTSV, ErrPath},
		"path with slash":  {"a/b", good, FormatTSV, ErrPath},
		"dotdot path":      {"..", good, FormatTSV, ErrPath},
		"path with tab":    {"a\tb", good, FormatTSV, ErrPath},
		"no fields":        {"x", nil, FormatTSV, ErrField},
		"empty name":       {"x", []Field{{"", "time"}}, FormatTSV, ErrField},
		"name with tab":    {"x", []Field{{"a\tb", "time"}}, FormatTSV, ErrField},
		"name with comma":  {"x", []Field{{"a,b", "time"}}, FormatTSV, ErrField},
		"duplicate name":   {"x", []Field{{"a", "time"}, {"a", "addr"}}, FormatJSON, ErrField},
		"unknown type":     {"x", []Field{{"a", "subnet"}}, FormatTSV, ErrField},
		"bad set type":     {"x", []Field{{"a", "set[string"}}, FormatTSV, ErrField},
		"set of unknown":   {"x", []Field{{"a", "set[record]"}}, FormatTSV, ErrField},
		"vector is fine":   {"x", []Field{{"a", "vector[string]"}}, FormatTSV, nil},
		"set[enum] fine":   {"x", []Field{{"a", "set[enum]"}}, FormatJSON, nil},
		"dotted name fine": {"x", []Field{{"id.orig_h", "addr"}}, FormatTSV, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := Create(dir, tc.path, tc.fields, tc.format, testNow)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				if w != nil {
					t.Fatal("non-nil Writer with error")
				}
				entries, _ := os.ReadDir(dir)
				if len(entries) != 0 {
					t.Fatalf("files left behind: %v", entries)
				}
				return
			}
			if err := w.Close(testNow); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCreateNeverTruncates: a second Create appends to a JSON log and to a
// TSV log that was not closed (the process died), without a second header;
// a closed TSV log is archived, not overwritten.
func TestCreateNeverTruncates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs", "sub")
	for range 2 {
		w, err := Create(dir, "cluster", []Field{{"node", "string"}}, FormatJSON, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(String("m1")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(testNow); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, "cluster.log"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "{\"node\":\"m1\"}\n{\"node\":\"m1\"}\n" {
		t.Fatalf("got %q", got)
	}

	fields := []Field{{"n", "count"}}
	w, err := Create(dir, "x", fields, FormatTSV, testNow)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write(Count(1))
	_ = w.Flush() // no Close: the process died
	w2, err := Create(dir, "x", fields, FormatTSV, testNow)
	if err != nil {
		t.Fatal(err)
	}
	_ = w2.Write(Count(2))
	if err := w2.Close(testNow); err != nil {
		t.Fatal(err)
	}
	l, err := ReadTSVFile(filepath.Join(dir, "x.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Closed || len(l.Rows) != 2 || l.Rows[0][0] != "1" || l.Rows[1][0] != "2" {
		t.Fatalf("appended log %+v", l)
	}
	closeTime := testNow.Add(90 * time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "x.log"), closeTime, closeTime); err != nil {
		t.Fatal(err)
	}
	w3, err := Create(dir, "x", fields, FormatTSV, testNow)
	if err != nil {
		t.Fatal(err)
	}
	_ = w3.Write(Count(3))
	if err := w3.Close(testNow); err != nil {
		t.Fatal(err)
	}
	arch := filepath.Join(dir, archiveName("x", testNow, closeTime, "", 0, false))
	if old, err := ReadTSVFile(arch); err != nil || len(old.Rows) != 2 || !old.Closed {
		t.Fatalf("closed log not archived as %s: %+v %v", arch, old, err)
	}
	if l, err := ReadTSVFile(filepath.Join(dir, "x.log")); err != nil || len(l.Rows) != 1 || l.Rows[0][0] != "3" {
		t.Fatalf("new log %+v %v", l, err)
	}
}

func TestWriteErrors(t *testing.T) {
	fields := []Field{{"ts", "time"}, {"host", "addr"}, {"proto", "enum"}, {"svc", "set[string]"}}
	tests := map[string]struct {
		vals []Value
		want error
	}{
		"too few":         {[]Value{Unset()}, ErrValueCount},
		"too many":        {[]Value{Unset(), Unset(), Unset(), Unset(), Unset()}, ErrValueCount},
		"none":            {nil, ErrValueCount},
		"count as time":   {[]Value{Count(1), Unset(), Unset(), Unset()}, ErrType},
		"string as addr":  {[]Value{Unset(), String("1.2.3.4"), Unset(), Unset()}, ErrType},
		"set as enum":     {[]Value{Unset(), Unset(), StringSet([]string{"a"}), Unset()}, ErrType},
		"string as set":   {[]Value{Unset(), Unset(), Unset(), String("a")}, ErrType},
		"string for enum": {[]Value{Unset(), Unset(), String("tcp"), Unset()}, nil},
		"all unset":       {[]Value{Unset(), Unset(), Unset(), Unset()}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := New(&buf, "x", fields, FormatTSV, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			before := buf.Len()
			err = w.Write(tc.vals...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && buf.Len() != before {
				t.Fatalf("a rejected record wrote %q", buf.Bytes()[before:])
			}
			if tc.want == nil && buf.Len() == before {
				t.Fatal("an accepted record wrote nothing")
			}
		})
	}
}

func TestCloseIdempotentAndClosedErrors(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, "known_hosts", []Field{{"ts", "time"}, {"host", "addr"}}, FormatTSV, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(testNow); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(testNow.Add(time.Hour)); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := w.Write(Unset(), Unset()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "known_hosts.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(got), "#close"); n != 1 {
		t.Fatalf("%d #close lines, want 1", n)
	}
	l, err := ReadTSV(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Closed || len(l.Rows) != 0 || l.Path != "known_hosts" {
		t.Fatalf("read back %+v", l)
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ left int }

var errDiskFull = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n := f.left
		f.left = 0
		return n, errDiskFull
	}
	f.left -= len(p)
	return len(p), nil
}

func TestWriteErrorsPropagate(t *testing.T) {
	w, err := New(&failWriter{left: 10}, "x", []Field{{"s", "string"}}, FormatTSV, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); !errors.Is(err, errDiskFull) {
		t.Fatalf("Flush: %v", err)
	}
	if err := w.Write(String("a")); !errors.Is(err, errDiskFull) {
		t.Fatalf("Write after failure: %v", err)
	}
	if err := w.Close(testNow); !errors.Is(err, errDiskFull) {
		t.Fatalf("Close: %v", err)
	}
}

func TestParseFormat(t *testing.T) {
	tests := map[string]struct {
		in   string
		want Format
		err  error
	}{
		"tsv":   {"tsv", FormatTSV, nil},
		"json":  {"json", FormatJSON, nil},
		"upper": {"JSON", FormatJSON, nil},
		"space": {" tsv ", FormatTSV, nil},
		"empty": {"", "", ErrFormat},
		"xml":   {"xml", "", ErrFormat},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseFormat(tc.in)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Fatalf("ParseFormat(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}
