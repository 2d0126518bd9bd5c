package zeeklog

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// writeOne writes a one-field record and returns the record line.
func writeOne(t *testing.T, format Format, typ string, v Value) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := New(&buf, "test", []Field{{"f", typ}}, format, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	buf.Reset() // drop the header
	if err := w.Write(v); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	line, ok := strings.CutSuffix(buf.String(), "\n")
	if !ok || strings.Contains(line, "\n") {
		t.Fatalf("record is not one line: %q", buf.String())
	}
	return line
}

func TestTSVEscaping(t *testing.T) {
	tests := map[string]struct {
		typ  string
		v    Value
		want string
	}{
		// Strings, checked against Zeek's ascii-escape baselines.
		"plain":                {"string", String("hello world"), "hello world"},
		"empty string":         {"string", String(""), "(empty)"},
		"unset":                {"string", Unset(), "-"},
		"literal dash":         {"string", String("-"), `\x2d`},
		"literal (empty)":      {"string", String("(empty)"), `\x28empty)`},
		"dash inside":          {"string", String("a-b"), "a-b"},
		"double dash":          {"string", String("--"), "--"},
		"tab":                  {"string", String("a\tb"), `a\x09b`},
		"newline":              {"string", String("foo \n\t\x00 bar"), `foo \x0a\x09\x00 bar`},
		"carriage return":      {"string", String("a\rb"), `a\x0db`},
		"backslash":            {"string", String(`back\slash`), `back\\slash`},
		"escaped-looking text": {"string", String(`AB\xffCD`), `AB\\xffCD`},
		"del":                  {"string", String("a\x7fb"), `a\x7fb`},
		"invalid utf8":         {"string", String("AB\xffCD\x00"), `AB\xffCD\x00`},
		"truncated utf8":       {"string", String("x\xc3"), `x\xc3`},
		"surrogate is invalid": {"string", String("\xed\xa0\x80"), `\xed\xa0\x80`},
		"valid 2-byte utf8":    {"string", String("foo \xc2\xae bar"), "foo \xc2\xae bar"},
		"valid 3-byte utf8":    {"string", String("दुनिया"), "दुनिया"},
		"valid 4-byte utf8":    {"string", String("hello 𠜎"), "hello 𠜎"},
		"comma outside set":    {"string", String("a,b"), "a,b"},
		"space only":           {"string", String(" "), " "},
		"leading hash":         {"string", String("#Kaputt"), `\x23Kaputt`},
		"only hash":            {"string", String("#"), `\x23`},
		"hash inside":          {"string", String("a#b"), "a#b"},
		"enum":                 {"enum", Enum("tcp"), "tcp"},
		"enum with colons":     {"enum", Enum("Scan::Port_Scan"), "Scan::Port_Scan"},
		// Sets.
		"set":                {"set[string]", StringSet([]string{"SSH", "HTTP"}), "SSH,HTTP"},
		"set one":            {"set[string]", StringSet([]string{"DNS"}), "DNS"},
		"empty set":          {"set[string]", StringSet([]string{}), "(empty)"},
		"nil set":            {"set[string]", StringSet(nil), "(empty)"},
		"unset set":          {"set[string]", Unset(), "-"},
		"set comma escaped":  {"set[string]", StringSet([]string{"a,b", "c"}), `a\x2cb,c`},
		"set empty element":  {"set[string]", StringSet([]string{"", "x"}), "(empty),x"},
		"set dash element":   {"set[string]", StringSet([]string{"-"}), `\x2d`},
		"set tab element":    {"vector[string]", StringSet([]string{"a\tb"}), `a\x09b`},
		"set leading hash":   {"set[enum]", StringSet([]string{"#a", "#b"}), `\x23a,#b`},
		"set backslash elem": {"set[string]", StringSet([]string{`a\`}), `a\\`},
		// Times: six decimals from integer microseconds.
		"time":                 {"time", Time(time.UnixMicro(1300475168783842)), "1300475168.783842"},
		"time trailing zeros":  {"time", Time(time.UnixMicro(1308930728226250)), "1308930728.226250"},
		"time whole second":    {"time", Time(time.Unix(1300475168, 0)), "1300475168.000000"},
		"time epoch":           {"time", Time(time.Unix(0, 0)), "0.000000"},
		"time pre-1970":        {"time", Time(time.Unix(-315619200, 0)), "-315619200.000000"},
		"time -1us":            {"time", Time(time.UnixMicro(-1)), "-0.000001"},
		"time -1.5s":           {"time", Time(time.UnixMicro(-1_500_000)), "-1.500000"},
		"time rounds up":       {"time", Time(time.Unix(0, 1500)), "0.000002"},
		"time rounds down":     {"time", Time(time.Unix(0, 1499)), "0.000001"},
		"time carries second":  {"time", Time(time.Unix(7, 999_999_600)), "8.000000"},
		"time negative rounds": {"time", Time(time.Unix(-1, 999_999_400)), "-0.000001"},
		"time zero is unset":   {"time", Time(time.Time{}), "-"},
		"time after 2038":      {"time", Time(time.UnixMicro(4102444800_000001)), "4102444800.000001"},
		// Intervals.
		"interval":          {"interval", Interval(211484 * time.Microsecond), "0.211484"},
		"interval long":     {"interval", Interval(38055625 * time.Microsecond), "38.055625"},
		"interval zero":     {"interval", Interval(0), "0.000000"},
		"interval negative": {"interval", Interval(-500 * time.Millisecond), "-0.500000"},
		"interval rounds":   {"interval", Interval(1500 * time.Nanosecond), "0.000002"},
		// Scalars.
		"port":            {"port", Port(80), "80"},
		"port zero":       {"port", Port(0), "0"},
		"port max":        {"port", Port(65535), "65535"},
		"count":           {"count", Count(5007), "5007"},
		"count max":       {"count", Count(math.MaxUint64), "18446744073709551615"},
		"int negative":    {"int", Int(-42), "-42"},
		"int min":         {"int", Int(math.MinInt64), "-9223372036854775808"},
		"bool true":       {"bool", Bool(true), "T"},
		"bool false":      {"bool", Bool(false), "F"},
		"double":          {"double", Double(44.2), "44.2"},
		"double whole":    {"double", Double(221), "221.0"},
		"double third":    {"double", Double(1.0 / 3), "0.333333"},
		"double tiny":     {"double", Double(1e-9), "0.0"},
		"double neg":      {"double", Double(-33.8), "-33.8"},
		"double tiny neg": {"double", Double(-1e-9), "0.0"},
		"double nan":      {"double", Double(math.NaN()), "nan"},
		// Addresses.
		"ipv4":            {"addr", Addr(netip.MustParseAddr("141.142.220.118")), "141.142.220.118"},
		"ipv6":            {"addr", Addr(netip.MustParseAddr("2001:db8:0:0:1::1")), "2001:db8::1:0:0:1"},
		"ipv6 multicast":  {"addr", Addr(netip.MustParseAddr("ff02::fb")), "ff02::fb"},
		"ipv6 loopback":   {"addr", Addr(netip.MustParseAddr("::1")), "::1"},
		"ipv6 any":        {"addr", Addr(netip.MustParseAddr("::")), "::"},
		"ipv4-mapped":     {"addr", Addr(netip.MustParseAddr("::ffff:1.2.3.4")), "1.2.3.4"},
		"ipv4-compatible": {"addr", Addr(netip.MustParseAddr("::102:304")), "::1.2.3.4"},
		"ipv6 zone":       {"addr", Addr(netip.MustParseAddr("fe80::1%eth0")), "fe80::1"},
		"invalid addr":    {"addr", Addr(netip.Addr{}), "-"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := writeOne(t, FormatTSV, tc.typ, tc.v); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestJSONValues(t *testing.T) {
	tests := map[string]struct {
		typ  string
		v    Value
		want string // the whole record
	}{
		"string":        {"string", String("hello"), `{"f":"hello"}`},
		"empty string":  {"string", String(""), `{"f":""}`},
		"dash":          {"string", String("-"), `{"f":"-"}`},
		"quote":         {"string", String(`say "hi"`), `{"f":"say \"hi\""}`},
		"backslash":     {"string", String(`a\b`), `{"f":"a\\b"}`},
		"controls":      {"string", String("a\tb\nc\x00\x1f"), `{"f":"a\tb\nc\u0000\u001F"}`},
		"utf8":          {"string", String("foo \xc2\xae"), "{\"f\":\"foo \xc2\xae\"}"},
		"invalid utf8":  {"string", String("AB\xffCD"), `{"f":"AB\\xffCD"}`},
		"unset omitted": {"string", Unset(), `{}`},
		"time":          {"time", Time(time.UnixMicro(1300475168783842)), `{"f":1300475168.783842}`},
		"time pre-1970": {"time", Time(time.Unix(-315619200, 0)), `{"f":-315619200.000000}`},
		"interval":      {"interval", Interval(211484 * time.Microsecond), `{"f":0.211484}`},
		"addr":          {"addr", Addr(netip.MustParseAddr("2001:db8::1")), `{"f":"2001:db8::1"}`},
		"port":          {"port", Port(443), `{"f":443}`},
		"count":         {"count", Count(3), `{"f":3}`},
		"int":           {"int", Int(-3), `{"f":-3}`},
		"double":        {"double", Double(44.2), `{"f":44.2}`},
		"double whole":  {"double", Double(3), `{"f":3.0}`},
		"double big":    {"double", Double(1e300), `{"f":1e+300}`},
		"double nan":    {"double", Double(math.NaN()), `{"f":null}`},
		"bool":          {"bool", Bool(true), `{"f":true}`},
		"set":           {"set[string]", StringSet([]string{"a,b", `c"`}), `{"f":["a,b","c\""]}`},
		"empty set":     {"set[string]", StringSet(nil), `{"f":[]}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := writeOne(t, FormatJSON, tc.typ, tc.v)
			if got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("invalid JSON %s", got)
			}
		})
	}
}

// TestJSONStringsDecode checks that encoding/json decodes every written
// string back to the original (invalid UTF-8 bytes come back as \xNN text).
func TestJSONStringsDecode(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"ascii":     {"abc", "abc"},
		"controls":  {"\x00\x01\b\f\n\r\t\x1f\x7f", "\x00\x01\b\f\n\r\t\x1f\x7f"},
		"quotes":    {`"\'`, `"\'`},
		"utf8":      {"दुनिया 𠜎", "दुनिया 𠜎"},
		"invalid":   {"a\xffb", `a\xffb`},
		"html-ish":  {"<a&b>", "<a&b>"},
		"u2028":     {"\u2028", "\u2028"},
		"backslash": {`\x41`, `\x41`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got string
			if err := json.Unmarshal(appendJSONString(nil, tc.in), &got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("decoded %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTSVRoundTrip checks Unescape(escape(s)) == s over many byte strings.
func TestTSVRoundTrip(t *testing.T) {
	inputs := []string{"", "-", "(empty)", "a\\", "\\x41", "\t\n\r", "\xff\xfe", "é", "a,b", "#x", "\\\\x"}
	for c := range 256 {
		inputs = append(inputs, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"\\")
	}
	for _, s := range inputs {
		for _, inSet := range []bool{false, true} {
			enc := string(appendTSVString(nil, s, inSet))
			if strings.ContainsAny(enc, "\t\n\r") || (inSet && strings.Contains(enc, ",")) {
				t.Fatalf("escape(%q, set=%v) = %q contains a separator", s, inSet, enc)
			}
			dec := Unescape(enc)
			if enc == emptyField {
				dec = ""
			}
			if dec != s {
				t.Fatalf("round trip of %q (set=%v): escaped %q, unescaped %q", s, inSet, enc, dec)
			}
		}
	}
}
