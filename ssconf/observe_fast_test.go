package ssconf

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// feedSamples are lines of every shape: valid ones the fast path takes,
// valid ones it leaves to encoding/json, and malformed ones.
var feedSamples = []string{
	`{"stream":"test.metric","key":{"host":"1.2.3.4","str":"x"},"value":{"num":5},"ts":1300000000.25}`,
	`{"stream": "test", "key": {"host": "1.2.3.4"}, "value": {"num": 94}, "node": "worker-1", "repeat": 3, "phase": 2}`,
	`{"stream":"s","key":{"str":"counter"},"value":{"num":0}}`,
	`{"stream":"s","key":{"str":"k"},"value":{"num":18446744073709551615}}`,
	`{"stream":"s","key":{"str":"k"},"value":{"dbl":-2.5e3}}`,
	`{"stream":"s","key":{"str":"k"},"value":{"dbl":5}}`,
	`{"stream":"s","key":{"str":"k"},"value":{"str":"héllo"}}`,
	`{"stream":"s","key":{"str":"k"},"value":{"str":"h\u00e9llo\n"}}`,
	`{"stream":"s","key":{"host":"2001:db8::1"},"value":{"num":1}}`,
	`{"stream":"s","key":{"host":"::ffff:1.2.3.4"},"value":{"num":1}}`,
	`{"stream":"s","key":{"host":"1.2.3.4","str":null},"value":{"num":1},"ts":null,"repeat":null}`,
	"  {\"ts\":1300000000,\"stream\":\"s\",\"key\":{\"host\":\"1.2.3.4\"},\"value\":{\"num\":1}}\r\n",
	`{"stream":"s","key":{"str":"k"},"value":{"num":1},"ts":1300000000.123456,"x":[1,{"a":[true,false,null]},"\"\\"]}`,
	`{"stream":"s","stream":"t","key":{"str":"k"},"value":{"num":1}}`,
	`{"stream":"s","key":{"str":"k","str":"l"},"value":{"num":1}}`,
	`{"stream":"s","key":{"str":"k"},"value":{"num":1,"num":2}}`,
	`{"stream":"s"`, `{"stream":"s"} x`, `[1,2]`, ``, `{}`, `{"key":{"str":"k"},"value":{"num":1}}`,
	`{"stream":5,"key":{"str":"k"},"value":{"num":1}}`, `{"stream":"","key":{"str":"k"},"value":{"num":1}}`,
	`{"stream":"s","key":{},"value":{"num":1}}`, `{"stream":"s","key":{"hots":"1.2.3.4"},"value":{"num":1}}`,
	`{"stream":"s","key":{"host":"fe80::1%eth0"},"value":{"num":1}}`, `{"stream":"s","key":{"host":"1.2.3"},"value":{"num":1}}`,
	`{"stream":"s","key":{"str":"k"},"value":{}}`, `{"stream":"s","key":{"str":"k"},"value":{"num":1,"dbl":1}}`,
	`{"stream":"s","key":{"str":"k"},"value":{"num":-1}}`, `{"stream":"s","key":{"str":"k"},"value":{"num":1.5}}`,
	`{"stream":"s","key":{"str":"k"},"value":{"num":1e3}}`, `{"stream":"s","key":{"str":"k"},"value":{"num":01}}`,
	`{"stream":"s","key":{"str":"k"},"value":{"dbl":1e400}}`, `{"stream":"s","key":{"str":"k"},"value":{"num":1},"ts":-1}`,
	`{"stream":"s","key":{"str":"k"},"value":{"num":1},"ts":1e300}`, `{"stream":"s","key":{"str":"k"},"value":{"num":1},"repeat":2.0}`,
	`{"stream":"s","key":{"str":"k"},"value":{"num":1},"repeat":1000001}`, "{\"stream\":\"s\xff\",\"key\":{\"str\":\"k\"},\"value\":{\"num\":1}}",
	"{\"stream\":\"s\",\"key\":{\"str\":\"k\x01\"},\"value\":{\"num\":1}}", `{"stream":"s","key":{"str":"k"},"value":{"num":1},"x":tru}`,
	`{"stream":"s","key":{"str":"k"},"value":{"num":1},"x":"\u12"}`, `{"stream":"s","key":{"str":"k"},"value":{"num":1},}`,
	`{"str\u0065am":"s","key":{"str":"k"},"value":{"num":1}}`, `{"stream":"s","key":{"str":"k"},"value":{"num":1}}}`,
}

func sameObservation(a, b Observation) bool {
	return a.Stream == b.Stream && a.Key == b.Key && a.Value == b.Value && a.TS.Equal(b.TS) &&
		a.TS.IsZero() == b.TS.IsZero() && a.Repeat == b.Repeat
}

// checkAgainstJSON fails when ParseObservation differs from the encoding/json
// reference on line, or the fast path accepts what the reference does not
// decode the same way. It reports whether the fast path took the line.
func checkAgainstJSON(t *testing.T, line []byte) (fast bool) {
	t.Helper()
	trimmed := bytes.TrimSpace(line)
	ref, rerr := parseObservationJSON(trimmed)
	got, gerr := ParseObservation(line)
	switch {
	case (rerr == nil) != (gerr == nil):
		t.Fatalf("%q: reference error %v, ParseObservation error %v", line, rerr, gerr)
	case rerr != nil && rerr.Error() != gerr.Error():
		t.Fatalf("%q: reference error %q, ParseObservation %q", line, rerr, gerr)
	case rerr == nil && !sameObservation(ref, got):
		t.Fatalf("%q: reference %+v, ParseObservation %+v", line, ref, got)
	}
	var p fastParser
	o, ok := p.parse(trimmed)
	if ok && (rerr != nil || !sameObservation(o, ref)) {
		t.Fatalf("%q: fast path accepted %+v; reference %+v, %v", line, o, ref, rerr)
	}
	return ok
}

// TestFastParserAgainstJSON: on the sample lines and 100,000 random
// mutations of them (bytes changed, inserted, deleted, fields cut), the
// decoder gives encoding/json's results and errors, and the fast path takes
// the usual lines.
func TestFastParserAgainstJSON(t *testing.T) {
	fast := 0
	for _, s := range feedSamples {
		if checkAgainstJSON(t, []byte(s)) {
			fast++
		}
	}
	if fast < 10 {
		t.Fatalf("the fast path took only %d of the sample lines", fast)
	}
	for _, s := range []string{feedSamples[0], feedSamples[1], feedSamples[2], feedSamples[4], feedSamples[6], feedSamples[12]} {
		if !checkAgainstJSON(t, []byte(s)) {
			t.Errorf("the fast path declined %s", s)
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	const alphabet = `{}[]":,.-+eE0123456789 \nabcdefghijklmnopqrstuvwxyz` + "\\\x00\xc3\xa9\xff"
	accepted := 0
	n := 100000
	if testing.Short() {
		n = 20000
	}
	for range n {
		b := []byte(feedSamples[rng.IntN(len(feedSamples))])
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(b) + 1)
			switch rng.IntN(8) {
			case 0: // change a byte
				if i < len(b) {
					b[i] = alphabet[rng.IntN(len(alphabet))]
				}
			case 1: // insert one
				b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
			case 2: // delete one
				if i < len(b) {
					b = append(b[:i], b[i+1:]...)
				}
			case 3: // cut
				b = b[:i]
			default: // a digit for a digit, a letter for a letter: mostly still valid
				if i < len(b) {
					switch c := b[i]; {
					case c >= '0' && c <= '9':
						b[i] = byte('0' + rng.IntN(10))
					case c >= 'a' && c <= 'z':
						b[i] = byte('a' + rng.IntN(26))
					}
				}
			}
		}
		if checkAgainstJSON(t, b) {
			accepted++
		}
	}
	if accepted < n/50 {
		t.Errorf("the fast path took %d of %d mutated lines: the mutations test little", accepted, n)
	}
	t.Logf("fast path: %d of %d samples, %d of %d mutations", fast, len(feedSamples), accepted, n)
}

// BenchmarkParseObservation compares the decoder with encoding/json's on
// the usual line, in one run.
func BenchmarkParseObservation(b *testing.B) {
	line := []byte(`{"stream":"http.requests","key":{"host":"10.1.2.3","str":"GET"},"value":{"num":1},"ts":1700000000.125}`)
	var p fastParser
	p.intern = map[string]string{}
	start := time.Now()
	for b.Loop() {
		if _, err := p.parseLine(line); err != nil {
			b.Fatal(err)
		}
	}
	fastDur := time.Since(start) / time.Duration(b.N)
	start = time.Now()
	for range b.N {
		if _, err := parseObservationJSON(line); err != nil {
			b.Fatal(err)
		}
	}
	jsonDur := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(fastDur.Nanoseconds()), "fast-ns/line")
	b.ReportMetric(float64(jsonDur.Nanoseconds()), "json-ns/line")
	b.ReportMetric(float64(jsonDur)/float64(fastDur), "speedup")

}
