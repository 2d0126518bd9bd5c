package zeekin

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tsvLog builds a Zeek TSV log: the usual header for path and fields, then
// the rows (tab-joined cells, one per line), then "#close".
func tsvLog(path string, fields []string, rows ...string) string {
	var b strings.Builder
	b.WriteString("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n")
	b.WriteString("#path\t" + path + "\n#open\t2024-01-01-00-00-00\n")
	b.WriteString("#fields\t" + strings.Join(fields, "\t") + "\n")
	types := make([]string, len(fields))
	for i := range types {
		types[i] = "string"
	}
	b.WriteString("#types\t" + strings.Join(types, "\t") + "\n")
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	b.WriteString("#close\t2024-01-01-01-00-00\n")
	return b.String()
}

var testConnFields = []string{"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration", "conn_state", "history"}

// connRow is a row for testConnFields; uid distinguishes rows.
func connRow(uid string) string {
	return "1300475168.724007\t" + uid + "\t141.142.220.118\t48649\t208.80.152.118\t80\ttcp\thttp\t0.119905\tS1\tShADad"
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func uids(conns []*Conn) []string {
	out := make([]string, len(conns))
	for i, c := range conns {
		out[i] = c.UID
	}
	return out
}

// TestReadFilesCases covers layouts, encodings and every kind of bad input:
// each bad line is reported as "file:line: ...", counted, and skipped; an
// unknown layout rejects the file; the other files are still read.
func TestReadFilesCases(t *testing.T) {
	type want struct {
		uids      []string // conn uids delivered, in order
		errs      []string // substrings of the errors, in order ("%s" is the file name)
		layout    int      // how many of errs wrap ErrLayout (the rest wrap ErrMalformed)
		skipped   uint64
		malformed uint64
	}
	cases := map[string]struct {
		name    string
		content string
		want    want
	}{
		"columns in any order, extra columns ignored": {
			name: "conn.log",
			content: tsvLog("conn", []string{"history", "extra", "id.resp_p", "proto", "id.orig_h", "uid", "conn_state", "id.resp_h", "ts", "id.orig_p"},
				"ShADad\tx\t80\ttcp\t10.0.0.1\tC1\tS1\t10.0.0.2\t1.5\t1234"),
			want: want{uids: []string{"C1"}},
		},
		"missing required column": {
			name:    "conn.log",
			content: tsvLog("conn", []string{"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "conn_state"}, "1\tC1\t1.1.1.1\t1\t2.2.2.2\t2\ttcp\tS0"),
			want:    want{errs: []string{`%s:7: conn log layout: missing required column "history"`}, layout: 1},
		},
		"unknown fields layout": {
			name:    "dns.log",
			content: tsvLog("dns", []string{"ts", "uid", "query"}, "1\tC1\texample.com"),
			want:    want{errs: []string{`%s:7: unknown #fields layout (#path dns)`}, layout: 1},
		},
		"ssl log of no known layout": {
			name:    "ssl.log",
			content: tsvLog("ssl", []string{"ts", "id.resp_h", "id.resp_p", "established"}, "1\t1.1.1.1\t443\tT"),
			want:    want{errs: []string{`%s:7: unknown ssl log layout`}, layout: 1},
		},
		"field count disagrees with #fields": {
			name:    "conn.log",
			content: tsvLog("conn", testConnFields, connRow("C1"), "1\tC2\t1.1.1.1", connRow("C3")+"\textra", connRow("C4")),
			want: want{uids: []string{"C1", "C4"}, malformed: 2, errs: []string{
				"%s:10: conn log row has 3 fields, #fields (line 7) has 11",
				"%s:11: conn log row has more than 11 fields"}},
		},
		"truncated last line": {
			name:    "conn.log",
			content: strings.TrimSuffix(strings.TrimSuffix(tsvLog("conn", testConnFields, connRow("C1")), "\n"), "#close\t2024-01-01-01-00-00") + connRow("C2"),
			want:    want{uids: []string{"C1"}, malformed: 1, errs: []string{"%s:10: truncated line"}},
		},
		"bad values": {
			name: "conn.log",
			content: tsvLog("conn", testConnFields,
				strings.Replace(connRow("C1"), "141.142.220.118", "141.142.220", 1),
				strings.Replace(connRow("C2"), "48649", "70000", 1),
				strings.Replace(connRow("C3"), "1300475168.724007", "13004x", 1),
				strings.Replace(connRow("C4"), "0.119905", "1.2.3", 1),
				connRow("C5")),
			want: want{uids: []string{"C5"}, malformed: 4, errs: []string{
				`%s:9: column id.orig_h: bad address "141.142.220"`,
				`%s:10: column id.orig_p: bad number "70000": out of range`,
				`%s:11: column ts: bad time "13004x"`,
				`%s:12: column duration: bad interval "1.2.3"`}},
		},
		"record before #fields": {
			name:    "conn.log",
			content: "#separator \\x09\n" + connRow("C1") + "\n",
			want:    want{errs: []string{"%s:2: record before #fields"}, layout: 1},
		},
		"neither TSV nor JSON": {
			name:    "conn.log",
			content: "hello\n" + connRow("C1") + "\n",
			want:    want{errs: []string{"%s:1: neither a Zeek TSV header"}, layout: 1},
		},
		"concatenated logs, blank line, CRLF, btest line": {
			name: "conn.log",
			content: "### BTest baseline data\n" + tsvLog("conn", testConnFields, connRow("C1")) + "\n" +
				strings.ReplaceAll(tsvLog("conn", testConnFields, connRow("C2")), "\n", "\r\n"),
			want: want{uids: []string{"C1", "C2"}, skipped: 1},
		},
		"record after #close": {
			name:    "conn.log",
			content: tsvLog("conn", testConnFields, connRow("C1")) + connRow("C2") + "\n",
			want:    want{uids: []string{"C1"}, malformed: 1, errs: []string{"%s:11: record after #close"}},
		},
		"other separators and markers": {
			name: "conn.log",
			content: "#separator \\x7c\n#set_separator|;\n#unset_field|NONE\n#empty_field|EMPTY\n#path|conn\n" +
				"#fields|" + strings.Join(testConnFields, "|") + "\n" +
				"1.0|C1|1.1.1.1|1|2.2.2.2|2|tcp|a;b\\x3bc|NONE|S0|S\n" +
				"1.0|C2|1.1.1.1|1|2.2.2.2|2|tcp|EMPTY|NONE|S0|-\n",
			want: want{uids: []string{"C1", "C2"}},
		},
		"JSON lines": {
			name: "conn.log",
			content: `{"ts":1300475168.724007,"uid":"C1","id.orig_h":"141.142.220.118","id.orig_p":48649,"id.resp_h":"208.80.152.118","id.resp_p":80,"proto":"tcp","conn_state":"S1","history":"ShADad","extra":{"a":[1]}}` + "\n" +
				`{"ts":"2011-03-18T19:06:08.724007Z","uid":"C2","id.orig_h":"::ffff:1.2.3.4","id.orig_p":1,"id.resp_h":"2001:db8::1","id.resp_p":2,"proto":"udp","conn_state":"S0"}` + "\n" +
				`{"ts":1300475168724,"uid":"C3","id.orig_h":"1.1.1.1","id.orig_p":1,"id.resp_h":"2.2.2.2","id.resp_p":2,"proto":"udp"}` + "\n" +
				`{"ts":1300475168.724007,"uid":"C4","id.orig_p":1,"id.resp_h":"2.2.2.2","id.resp_p":2,"proto":"udp"}` + "\n" +
				`{"ts":1300475168.724007,"uid":"C5","id.orig_h":"1.1.1.1","id.orig_p":"1","id.resp_h":"2.2.2.2","id.resp_p":2,"proto":"udp"}` + "\n" +
				`{"ts":1300475168.7,` + "\n" +
				"\n" +
				`["not", "an", "object"]` + "\n" +
				`{"ts":1300475168.724007,"uid":"C6","id.orig_h":"1.1.1.1","id.orig_p":1,"id.resp_h":"2.2.2.2","id.resp_p":2,"proto":"udp","duration":1e-3}` + "\n",
			want: want{uids: []string{"C1", "C2", "C3", "C6"}, malformed: 4, skipped: 1, errs: []string{
				"%s:4: conn log: missing required key id.orig_h",
				"%s:5: conn log: key id.orig_p: string is not a uint16",
				"%s:6: conn log: bad JSON",
				"%s:8: not a JSON object"}},
		},
		"JSON of unknown layout": {
			name:    "dns.json",
			content: `{"ts":1.0,"query":"example.com"}` + "\n" + `{"ts":2.0,"query":"example.org"}` + "\n",
			want:    want{errs: []string{"%s:1: unknown JSON layout"}, layout: 1},
		},
		"ssl rows without certificates are skipped": {
			name:    "ssl.log",
			content: tsvLog("ssl", []string{"ts", "id.resp_h", "id.resp_p", "established", "cert_chain_fps"}, "1\t1.1.1.1\t443\tT\t-", "1\t1.1.1.1\t443\tF\t(empty)"),
			want:    want{skipped: 2},
		},
		"overlong line": {
			name:    "conn.log",
			content: tsvLog("conn", testConnFields, connRow("C1"), strings.Repeat("x", MaxLine+10), connRow("C2")),
			want:    want{uids: []string{"C1", "C2"}, malformed: 1, errs: []string{"%s:10: line longer than"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, tc.name, tc.content)
			// A good file after the one under test must always be read.
			good := writeFile(t, dir, "good.conn.log", tsvLog("conn", testConnFields, connRow("G1")))
			r := readAll(t, p, good)
			wantUIDs := append(append([]string{}, tc.want.uids...), "G1")
			if got := uids(r.conns); strings.Join(got, ",") != strings.Join(wantUIDs, ",") {
				t.Errorf("conns %v, want %v", got, wantUIDs)
			}
			if len(r.errs) != len(tc.want.errs) {
				t.Fatalf("errors %q, want %d", r.errs, len(tc.want.errs))
			}
			layout := 0
			for i, err := range r.errs {
				want := strings.ReplaceAll(tc.want.errs[i], "%s", p)
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %d = %q, want it to contain %q", i, err, want)
				}
				var le *LineError
				if !errors.As(err, &le) || le.Path != p {
					t.Errorf("error %q is not a *LineError for %s", err, p)
				}
				switch {
				case errors.Is(err, ErrLayout):
					layout++
				case !errors.Is(err, ErrMalformed):
					t.Errorf("error %q wraps neither ErrLayout nor ErrMalformed", err)
				}
			}
			if layout != tc.want.layout || r.stats.Rejected != tc.want.layout {
				t.Errorf("layout errors %d, Rejected %d, want %d", layout, r.stats.Rejected, tc.want.layout)
			}
			if r.stats.Malformed != tc.want.malformed || r.stats.Skipped != tc.want.skipped {
				t.Errorf("stats %+v, want malformed %d skipped %d", r.stats, tc.want.malformed, tc.want.skipped)
			}
			if (r.retErr == nil) != (len(tc.want.errs) == 0) {
				t.Errorf("returned error %v, want one iff errors were reported", r.retErr)
			}
			for _, e := range r.errs {
				if !errors.Is(r.retErr, e) {
					t.Errorf("returned error does not include %q", e)
				}
			}
		})
	}
}

func TestJSONValues(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "x.log",
		`{"ts":"2011-03-18T19:06:08.724007Z","uid":"C\\xff","id.orig_h":"::ffff:1.2.3.4","id.orig_p":1,"id.resp_h":"2001:db8::1","id.resp_p":2,"proto":"tcp","service":"ssl,http","duration":0.061329,"local_orig":true,"local_resp":false,"orig_bytes":5,"history":"Sh","ip_proto":6}`+"\n")
	r := readAll(t, p)
	if r.retErr != nil || len(r.conns) != 1 {
		t.Fatalf("%v %d", r.retErr, len(r.conns))
	}
	c := r.conns[0]
	want := Conn{
		TS: time.Date(2011, 3, 18, 19, 6, 8, 724007000, time.UTC), UID: "C\xff",
		OrigH: netip.MustParseAddr("1.2.3.4"), OrigP: 1, RespH: netip.MustParseAddr("2001:db8::1"), RespP: 2,
		Proto: "tcp", Service: []string{"ssl", "http"}, Duration: 61329 * time.Microsecond, LocalOrig: true,
		OrigBytes: 5, History: "Sh", IPProto: 6,
		Set: HasTS | HasUID | HasOrigH | HasOrigP | HasRespH | HasRespP | HasProto | HasService | HasDuration |
			HasLocalOrig | HasLocalResp | HasOrigBytes | HasHistory | HasIPProto,
	}
	if !connEqual(c, &want) {
		t.Errorf("got  %+v\nwant %+v", *c, want)
	}
}

func TestGzipAndOpenErrors(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	io.WriteString(zw, tsvLog("conn", testConnFields, connRow("Z1"), connRow("Z2")))
	zw.Close()
	gz := writeFile(t, dir, "conn.00-00-00.log.gz", buf.String())
	bad := writeFile(t, dir, "conn.log.gz", "\x1f\x8bnot gzip at all")
	missing := filepath.Join(dir, "nope.log")
	r := readAll(t, missing, gz, bad)
	if got := strings.Join(uids(r.conns), ","); got != "Z1,Z2" {
		t.Errorf("conns %s", got)
	}
	if len(r.errs) != 2 || !errors.Is(r.errs[0], os.ErrNotExist) || !strings.Contains(r.errs[1].Error(), "gzip") {
		t.Errorf("errors %v", r.errs)
	}
	if !errors.Is(r.retErr, os.ErrNotExist) {
		t.Errorf("returned %v", r.retErr)
	}
}

func TestOpenFileNext(t *testing.T) {
	p := expected(t, "known-certs", "x509.v3.log")
	f, err := OpenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Kind() != KindUnknown || f.Path() != p {
		t.Errorf("kind %v path %s before reading", f.Kind(), f.Path())
	}
	var serials []string
	for {
		rec, err := f.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind != KindX509 || rec.X509 == nil || rec.X509.FileID == "" {
			t.Fatalf("record %+v", rec)
		}
		serials = append(serials, rec.X509.Serial)
	}
	if got := strings.Join(serials, ","); got != "4A2C8628C1010633,023A69,12BBE6,4A2C8628C1010633,023A69,12BBE6" {
		t.Errorf("serials %s", got)
	}
	if f.Kind() != KindX509 || f.Stats().Records != 6 || f.Stats().Lines != 15 {
		t.Errorf("kind %v stats %+v", f.Kind(), f.Stats())
	}
	if _, err := f.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after EOF: %v", err)
	}
}

func TestReadFilesContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ReadFiles(ctx, []string{expected(t, "conn-wikipedia", "conn.log")}, Handler{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

func TestReadFilesErrorCap(t *testing.T) {
	rows := make([]string, 0, 30)
	for range 30 {
		rows = append(rows, "bad")
	}
	p := writeFile(t, t.TempDir(), "conn.log", tsvLog("conn", testConnFields, rows...))
	var n int
	st, err := ReadFiles(context.Background(), []string{p}, Handler{Error: func(error) { n++ }})
	if n != 30 || st.Malformed != 30 {
		t.Errorf("handler saw %d errors, stats %+v", n, st)
	}
	if err == nil || !strings.Contains(err.Error(), "10 more errors not shown") || strings.Count(err.Error(), "\n") != 20 {
		t.Errorf("err = %v", err)
	}
}

func TestParseDecimal(t *testing.T) {
	cases := map[string]struct {
		in   string
		want time.Duration
		bad  bool
	}{
		"zeek":      {in: "0.061329", want: 61329 * time.Microsecond},
		"integer":   {in: "12", want: 12 * time.Second},
		"trailing":  {in: "3.", want: 3 * time.Second},
		"leading":   {in: ".5", want: 500 * time.Millisecond},
		"negative":  {in: "-1.25", want: -1250 * time.Millisecond},
		"nanos":     {in: "1.1234567891", want: time.Second + 123456789},
		"exponent":  {in: "1e-3", want: time.Millisecond},
		"empty":     {in: "", bad: true},
		"dot":       {in: ".", bad: true},
		"minus":     {in: "-", bad: true},
		"garbage":   {in: "1x", bad: true},
		"two dots":  {in: "1.2.3", bad: true},
		"huge":      {in: "99999999999999999999", bad: true},
		"huge exp":  {in: "1e300", bad: true},
		"inf":       {in: "Inf", bad: true},
		"nan exp":   {in: "1eNaN", bad: true},
		"plus sign": {in: "+1", bad: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := parseInterval([]byte(tc.in))
			if tc.bad {
				if err == nil {
					t.Errorf("parseInterval(%q) = %v, want error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseInterval(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindUnknown: "unknown", KindConn: "conn", KindSSL: "ssl", KindX509: "x509", Kind(9): "kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("%d: %q, want %q", k, got, want)
		}
	}
}
