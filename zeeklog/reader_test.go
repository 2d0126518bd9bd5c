package zeeklog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadBaselines(t *testing.T) {
	hostFields := "ts host"
	hostTypes := "time addr"
	svcFields := "ts host port_num port_proto service"
	svcTypes := "time addr port enum set[string]"
	tests := map[string]struct {
		path, fields, types string
		rows                int
		first               string // first row, space-joined
		openTime            string
	}{
		"known_hosts-all.log":          {"known_hosts", hostFields, hostTypes, 4, "XXXXXXXXXX.XXXXXX 141.142.220.118", "XXXX-XX-XX-XX-XX-XX"},
		"known_hosts-all.v3.log":       {"known_hosts", hostFields, hostTypes, 4, "1300475168.783842 208.80.152.118", "2016-07-13-16-17-24"},
		"known_hosts-local.log":        {"known_hosts", hostFields, hostTypes, 1, "XXXXXXXXXX.XXXXXX 141.142.220.118", "XXXX-XX-XX-XX-XX-XX"},
		"known_hosts-local.v3.log":     {"known_hosts", hostFields, hostTypes, 1, "1300475168.783842 141.142.220.118", "2016-07-13-16-17-22"},
		"known_hosts-remote.log":       {"known_hosts", hostFields, hostTypes, 3, "XXXXXXXXXX.XXXXXX 208.80.152.118", "XXXX-XX-XX-XX-XX-XX"},
		"known_hosts-remote.v3.log":    {"known_hosts", hostFields, hostTypes, 3, "1300475168.783842 208.80.152.118", "2016-07-13-16-17-23"},
		"known_services-all.log":       {"known_services", svcFields, svcTypes, 7, "XXXXXXXXXX.XXXXXX 172.16.238.131 22 tcp SSH", "XXXX-XX-XX-XX-XX-XX"},
		"known_services-all.v3.log":    {"known_services", svcFields, svcTypes, 7, "1308930691.089263 172.16.238.131 22 tcp SSH", "2020-05-29-22-23-37"},
		"known_services-local.log":     {"known_services", svcFields, svcTypes, 4, "XXXXXXXXXX.XXXXXX 172.16.238.131 22 tcp SSH", "XXXX-XX-XX-XX-XX-XX"},
		"known_services-local.v3.log":  {"known_services", svcFields, svcTypes, 4, "1308930691.089263 172.16.238.131 22 tcp SSH", "2020-05-29-22-19-22"},
		"known_services-remote.log":    {"known_services", svcFields, svcTypes, 3, "XXXXXXXXXX.XXXXXX 74.125.225.81 80 tcp HTTP", "XXXX-XX-XX-XX-XX-XX"},
		"known_services-remote.v3.log": {"known_services", svcFields, svcTypes, 3, "1308930716.462556 74.125.225.81 80 tcp HTTP", "2019-06-15-23-44-01"},
	}
	files := baselineFiles(t)
	if len(files) != len(tests) {
		t.Fatalf("%d files, %d table entries", len(files), len(tests))
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			tc, ok := tests[name]
			if !ok {
				t.Fatalf("no table entry for %s", name)
			}
			l, err := ReadTSVFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if l.Path != tc.path || strings.Join(l.Fields, " ") != tc.fields || strings.Join(l.Types, " ") != tc.types {
				t.Fatalf("header: path %q fields %q types %q", l.Path, l.Fields, l.Types)
			}
			if len(l.Rows) != tc.rows {
				t.Fatalf("%d rows, want %d", len(l.Rows), tc.rows)
			}
			if got := strings.Join(l.Rows[0], " "); got != tc.first {
				t.Fatalf("first row %q, want %q", got, tc.first)
			}
			if !l.Closed || l.OpenTime != tc.openTime || l.CloseTime != tc.openTime {
				t.Fatalf("closed %v open %q close %q", l.Closed, l.OpenTime, l.CloseTime)
			}
			if i := l.Index("host"); i != 1 {
				t.Fatalf("Index(host) = %d", i)
			}
			if i := l.Index("nope"); i != -1 {
				t.Fatalf("Index(nope) = %d", i)
			}
		})
	}
}

func TestReadTSVMalformed(t *testing.T) {
	const header = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tp\n#open\t2020-01-01-00-00-00\n#fields\ta\tb\n#types\tcount\tstring\n"
	tests := map[string]struct {
		in   string
		line int // 0: no error expected; -1: an error at line 0 (empty input)
	}{
		"ok":                 {header + "1\tx\n#close\t2020-01-01-00-00-01\n", 0},
		"ok no trailing nl":  {header + "1\tx", 0},
		"ok crlf":            {strings.ReplaceAll(header+"1\tx\n", "\n", "\r\n"), 0},
		"ok btest line":      {"### BTest baseline data\n" + header + "1\tx\n", 0},
		"ok unknown comment": {header + "#something else\n1\tx\n", 0},
		"too few fields":     {header + "1\tx\n2\n", 10},
		"too many fields":    {header + "1\tx\ty\n", 9},
		"empty line":         {header + "\n", 9},
		"record before hdr":  {"1\tx\n" + header, 1},
		"record after close": {header + "#close\tX\n1\tx\n", 10},
		"types mismatch":     {"#fields\ta\tb\n#types\tcount\n", 2},
		"duplicate fields":   {"#fields\ta\n#fields\tb\n", 2},
		"empty fields":       {"#fields\n", 1},
		"duplicate close":    {header + "#close\tX\n#close\tY\n", 10},
		"bad separator":      {"#separator \n", 1},
		"missing fields":     {"#path\tp\n", 1},
		"empty input":        {"", 0 - 1},
		"other separator":    {"#separator |\n#fields|a|b\n1|x\n1\tx\n", 4},
		"other separator ok": {"#separator \\x7c\n#fields|a|b\n#types|count|string\n1|x\n", 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, err := ReadTSV(strings.NewReader(tc.in))
			if tc.line == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if len(l.Rows) != 1 || l.Rows[0][0] != "1" || l.Rows[0][1] != "x" {
					t.Fatalf("rows %q", l.Rows)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err %T is not a *SyntaxError", err)
			}
			want := tc.line
			if want < 0 {
				want = 0
			}
			if se.Line != want {
				t.Fatalf("error at line %d, want %d: %v", se.Line, want, err)
			}
			if !strings.Contains(err.Error(), "line ") {
				t.Fatalf("message lacks the line: %v", err)
			}
		})
	}
}

func TestReadTSVFileMissing(t *testing.T) {
	_, err := ReadTSVFile(filepath.Join(t.TempDir(), "nope.log"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func TestUnescape(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"plain":        {"abc", "abc"},
		"hex":          {`a\x09b`, "a\tb"},
		"upper hex":    {`\xFF`, "\xff"},
		"backslash":    {`a\\b`, `a\b`},
		"escaped hex":  {`\\x41`, `\x41`},
		"dash":         {`\x2d`, "-"},
		"short":        {`\x4`, `\x4`},
		"bad digits":   {`\xzz`, `\xzz`},
		"trailing":     {`a\`, `a\`},
		"other escape": {`\n`, `\n`},
		"utf8":         {"é", "é"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Unescape(tc.in); got != tc.want {
				t.Fatalf("Unescape(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestReadJSON(t *testing.T) {
	fields := []string{"ts", "s", "n", "b", "set", "missing"}
	in := "### BTest baseline data\n" +
		`{"ts":1300475168.783842,"s":"a\tb","n":18446744073709551615,"b":true,"set":["x,y","-"],"extra":1}` + "\n\n" +
		`{"ts":-1.5,"s":"","n":0,"b":false,"set":[],"missing":null}` + "\n" +
		`{"s":"-","set":[1,2]}` + "\n"
	l, err := ReadJSON(strings.NewReader(in), fields)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"1300475168.783842", `a\x09b`, "18446744073709551615", "T", `x\x2cy,\x2d`, "-"},
		{"-1.5", "(empty)", "0", "F", "(empty)", "-"},
		{"-", `\x2d`, "-", "-", "1,2", "-"},
	}
	if !equalRows(l.Rows, want) {
		t.Fatalf("rows\n got %q\nwant %q", l.Rows, want)
	}

	bad := map[string]struct {
		in   string
		line int
	}{
		"not object":   {"[1]\n", 1},
		"broken":       {"{}\n{\"ts\":\n", 2},
		"nested":       {`{"ts":{"a":1}}` + "\n", 1},
		"nested array": {`{"set":[[1]]}` + "\n", 1},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := ReadJSON(strings.NewReader(tc.in), fields)
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrMalformed) || se.Line != tc.line {
				t.Fatalf("err = %v, want a SyntaxError at line %d", err, tc.line)
			}
		})
	}
	if _, err := ReadJSON(strings.NewReader(""), nil); !errors.Is(err, ErrField) {
		t.Fatalf("no fields: %v", err)
	}
}

// FuzzReadTSV checks that ReadTSV never panics and that every row it
// accepts has one value per field.
func FuzzReadTSV(f *testing.F) {
	for _, file := range baselineFiles(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("#separator \\x7c\n#fields|a\n1\n"))
	f.Add([]byte("#fields\ta\tb\n#types\tx\n"))
	f.Add([]byte("#separator \\x\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ReadTSV(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if len(l.Fields) == 0 {
			t.Fatal("accepted a log without fields")
		}
		if l.Types != nil && len(l.Types) != len(l.Fields) {
			t.Fatalf("%d types for %d fields", len(l.Types), len(l.Fields))
		}
		for i, row := range l.Rows {
			if len(row) != len(l.Fields) {
				t.Fatalf("row %d has %d values for %d fields", i, len(row), len(l.Fields))
			}
		}
	})
}

// FuzzTSVString checks that any string written by the TSV writer stays on
// one line, stays in one field, and reads back to the original.
func FuzzTSVString(f *testing.F) {
	for _, s := range []string{"", "-", "(empty)", "#x", "a\tb", `\x41`, "\xff", "é", "a,b"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, inSet bool) {
		var buf bytes.Buffer
		typ, v := "string", String(s)
		if inSet {
			typ, v = "set[string]", StringSet([]string{s, "z"})
		}
		w, err := New(&buf, "fz", []Field{{"a", typ}, {"b", "count"}}, FormatTSV, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(v, Count(1)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(testNow); err != nil {
			t.Fatal(err)
		}
		l, err := ReadTSV(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Rows) != 1 || l.Rows[0][1] != "1" {
			t.Fatalf("rows %q", l.Rows)
		}
		got := l.Rows[0][0]
		if inSet {
			parts := strings.Split(got, ",")
			if len(parts) != 2 || parts[1] != "z" {
				t.Fatalf("set %q split into %q", got, parts)
			}
			got = parts[0]
		}
		if got == emptyField {
			got = ""
		} else {
			got = Unescape(got)
		}
		if got != s {
			t.Fatalf("wrote %q, read back %q", s, got)
		}
	})
}
