package ssconf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"shoal/sumstats"
)

func TestParseObservationValid(t *testing.T) {
	h := netip.MustParseAddr("1.2.3.4")
	tests := map[string]struct {
		line string
		want Observation
	}{
		"full": {`{"stream":"test.metric","key":{"host":"1.2.3.4","str":"x"},"value":{"num":5},"ts":1300000000.25}`,
			Observation{Stream: "test.metric", Key: sumstats.Key{Host: h, Str: "x"}, Value: sumstats.Num(5), TS: time.Unix(1300000000, 250e6), Repeat: 1}},
		"cases.json shape": {`{"stream": "test", "key": {"host": "1.2.3.4"}, "value": {"num": 94}, "node": "worker-1", "repeat": 3, "phase": 2}`,
			Observation{Stream: "test", Key: sumstats.Key{Host: h}, Value: sumstats.Num(94), Repeat: 3}},
		"str key only": {`{"stream":"s","key":{"str":"counter"},"value":{"num":0}}`,
			Observation{Stream: "s", Key: sumstats.Key{Str: "counter"}, Value: sumstats.Num(0), Repeat: 1}},
		"max num": {`{"stream":"s","key":{"str":"k"},"value":{"num":18446744073709551615}}`,
			Observation{Stream: "s", Key: sumstats.Key{Str: "k"}, Value: sumstats.Num(18446744073709551615), Repeat: 1}},
		"dbl": {`{"stream":"s","key":{"str":"k"},"value":{"dbl":-2.5e3}}`,
			Observation{Stream: "s", Key: sumstats.Key{Str: "k"}, Value: sumstats.Dbl(-2500), Repeat: 1}},
		"dbl integer": {`{"stream":"s","key":{"str":"k"},"value":{"dbl":5}}`,
			Observation{Stream: "s", Key: sumstats.Key{Str: "k"}, Value: sumstats.Dbl(5), Repeat: 1}},
		"str value": {`{"stream":"s","key":{"str":"k"},"value":{"str":"héllo\n"}}`,
			Observation{Stream: "s", Key: sumstats.Key{Str: "k"}, Value: sumstats.Str("héllo\n"), Repeat: 1}},
		"empty str value": {`{"stream":"s","key":{"str":"k"},"value":{"str":""}}`,
			Observation{Stream: "s", Key: sumstats.Key{Str: "k"}, Value: sumstats.Str(""), Repeat: 1}},
		"ipv6": {`{"stream":"s","key":{"host":"2001:db8::1"},"value":{"num":1}}`,
			Observation{Stream: "s", Key: sumstats.Key{Host: netip.MustParseAddr("2001:db8::1")}, Value: sumstats.Num(1), Repeat: 1}},
		"v4-mapped": {`{"stream":"s","key":{"host":"::ffff:1.2.3.4"},"value":{"num":1}}`,
			Observation{Stream: "s", Key: sumstats.Key{Host: h}, Value: sumstats.Num(1), Repeat: 1}},
		"null ts and repeat": {`{"stream":"s","key":{"host":"1.2.3.4","str":null},"value":{"num":1},"ts":null,"repeat":null}`,
			Observation{Stream: "s", Key: sumstats.Key{Host: h}, Value: sumstats.Num(1), Repeat: 1}},
		"integer ts, spaces": {"  {\"ts\":1300000000,\"stream\":\"s\",\"key\":{\"host\":\"1.2.3.4\"},\"value\":{\"num\":1}}\r\n",
			Observation{Stream: "s", Key: sumstats.Key{Host: h}, Value: sumstats.Num(1), TS: time.Unix(1300000000, 0), Repeat: 1}},
		"ts microseconds": {`{"stream":"s","key":{"str":"k"},"value":{"num":1},"ts":1300000000.123456}`,
			Observation{Stream: "s", Key: sumstats.Key{Str: "k"}, Value: sumstats.Num(1), TS: time.Unix(1300000000, 123456000), Repeat: 1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseObservation([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if got.Stream != tc.want.Stream || got.Key != tc.want.Key || got.Value != tc.want.Value ||
				!got.TS.Equal(tc.want.TS) || got.TS.IsZero() != tc.want.TS.IsZero() || got.Repeat != tc.want.Repeat {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseObservationInvalid(t *testing.T) {
	tests := map[string]struct{ line, want string }{
		"empty":          {"", "want a JSON object"},
		"array":          {`[1,2]`, "want a JSON object"},
		"truncated":      {`{"stream":"s"`, "invalid JSON: unexpected end of JSON input (at byte 13)"},
		"trailing":       {`{"stream":"s"} x`, "invalid JSON: invalid character 'x' after top-level value (at byte 16)"},
		"missing stream": {`{"key":{"str":"k"},"value":{"num":1}}`, "missing stream"},
		"stream number":  {`{"stream":5,"key":{"str":"k"},"value":{"num":1}}`, "stream: want a string, got 5"},
		"empty stream":   {`{"stream":"","key":{"str":"k"},"value":{"num":1}}`, "stream: empty"},
		"missing key":    {`{"stream":"s","value":{"num":1}}`, "missing key"},
		"key string":     {`{"stream":"s","key":"1.2.3.4","value":{"num":1}}`, `key: want an object with host and/or str, got "1.2.3.4"`},
		"empty key":      {`{"stream":"s","key":{},"value":{"num":1}}`, "key: want host and/or a non-empty str"},
		"empty key str":  {`{"stream":"s","key":{"str":""},"value":{"num":1}}`, "key: want host and/or a non-empty str"},
		"key typo":       {`{"stream":"s","key":{"hots":"1.2.3.4"},"value":{"num":1}}`, `key: unknown field "hots" (want host and/or str)`},
		"bad host":       {`{"stream":"s","key":{"host":"1.2.3"},"value":{"num":1}}`, `key: host: "1.2.3" is not an IP address`},
		"host zone":      {`{"stream":"s","key":{"host":"fe80::1%eth0"},"value":{"num":1}}`, `key: host: "fe80::1%eth0" is not an IP address`},
		"host number":    {`{"stream":"s","key":{"host":16909060},"value":{"num":1}}`, "key: host: want an IP address string, got 16909060"},
		"key str number": {`{"stream":"s","key":{"str":5},"value":{"num":1}}`, "key: str: want a string, got 5"},
		"missing value":  {`{"stream":"s","key":{"str":"k"}}`, "missing value"},
		"value number":   {`{"stream":"s","key":{"str":"k"},"value":5}`, "value: want an object with one of num, dbl, str, got 5"},
		"no value field": {`{"stream":"s","key":{"str":"k"},"value":{}}`, "value: want exactly one of num, dbl, str, got 0 ()"},
		"two values":     {`{"stream":"s","key":{"str":"k"},"value":{"num":1,"dbl":1}}`, "value: want exactly one of num, dbl, str, got 2 (dbl, num)"},
		"value typo":     {`{"stream":"s","key":{"str":"k"},"value":{"nmu":1}}`, `value: unknown field "nmu" (want one of num, dbl, str)`},
		"num negative":   {`{"stream":"s","key":{"str":"k"},"value":{"num":-1}}`, "value: num: want an unsigned integer, got -1"},
		"num float":      {`{"stream":"s","key":{"str":"k"},"value":{"num":1.5}}`, "value: num: want an unsigned integer, got 1.5"},
		"num exponent":   {`{"stream":"s","key":{"str":"k"},"value":{"num":1e3}}`, "value: num: want an unsigned integer, got 1e3"},
		"num overflow":   {`{"stream":"s","key":{"str":"k"},"value":{"num":18446744073709551616}}`, "value: num: want an unsigned integer, got 18446744073709551616"},
		"num string":     {`{"stream":"s","key":{"str":"k"},"value":{"num":"5"}}`, `value: num: want an unsigned integer, got "5"`},
		"dbl string":     {`{"stream":"s","key":{"str":"k"},"value":{"dbl":"5"}}`, `value: dbl: want a number, got "5"`},
		"dbl null":       {`{"stream":"s","key":{"str":"k"},"value":{"dbl":null}}`, `value: dbl: want a number, got null`},
		"str number":     {`{"stream":"s","key":{"str":"k"},"value":{"str":5}}`, "value: str: want a string, got 5"},
		"ts string":      {`{"stream":"s","key":{"str":"k"},"value":{"num":1},"ts":"2011-03-13"}`, `ts: want epoch seconds (a number), got "2011-03-13"`},
		"ts negative":    {`{"stream":"s","key":{"str":"k"},"value":{"num":1},"ts":-1}`, "ts: -1 is out of range [0, 1e+11]"},
		"ts huge":        {`{"stream":"s","key":{"str":"k"},"value":{"num":1},"ts":1e300}`, "ts: 1e300 is out of range [0, 1e+11]"},
		"repeat zero":    {`{"stream":"s","key":{"str":"k"},"value":{"num":1},"repeat":0}`, "repeat: want an integer in [1, 1000000], got 0"},
		"repeat huge":    {`{"stream":"s","key":{"str":"k"},"value":{"num":1},"repeat":1000001}`, "repeat: want an integer in [1, 1000000], got 1000001"},
		"repeat float":   {`{"stream":"s","key":{"str":"k"},"value":{"num":1},"repeat":2.0}`, "repeat: want an integer in [1, 1000000], got 2.0"},
		"long value": {`{"stream":"s","key":{"str":"k"},"value":{"num":"` + strings.Repeat("9", 60) + `"}}`,
			`value: num: want an unsigned integer, got "` + strings.Repeat("9", 39) + `...`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseObservation([]byte(tc.line))
			if err == nil {
				t.Fatal("no error")
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %#v is not an *Error wrapping ErrMalformed", err)
			}
			if e.Msg != tc.want {
				t.Fatalf("msg\n got %s\nwant %s", e.Msg, tc.want)
			}
			if err.Error() != "ssconf: malformed observation: "+tc.want {
				t.Fatalf("Error() = %s", err)
			}
		})
	}
}

func TestReadObservations(t *testing.T) {
	long := `{"stream":"s","key":{"str":"k"},"value":{"str":"` + strings.Repeat("x", MaxLineBytes) + `"}}`
	lines := []string{
		"\xef\xbb\xbf" + `{"stream":"a","key":{"str":"k1"},"value":{"num":1}}`, // 1, with a BOM
		`{"stream":"a","key":{"str":"k2"},"value":{"num":2},"repeat":4}`,       // 2
		``,               // 3 blank
		`{"stream":"a",`, // 4 bad
		`   `,            // 5 blank
		`not json`,       // 6 bad
		long,             // 7 too long
		`{"stream":"b","key":{"host":"10.0.0.1"},"value":{"dbl":0.5},"ts":1300000000.5}`, // 8
		`{"stream":"b","key":{"host":"10.0.0.1"},"value":{"num":-3}}`,                    // 9 bad
		`{"stream":"c","key":{"str":"k3"},"value":{"str":"v"}}`,                          // 10, no final newline
	}
	input := strings.Join(lines, "\n")
	for name, in := range map[string]string{"lf": input, "crlf": strings.ReplaceAll(input, "\n", "\r\n")} {
		t.Run(name, func(t *testing.T) {
			var got []string
			var bad []string
			st, err := ReadObservations(context.Background(), "feed.jsonl", strings.NewReader(in), func(o *Observation) {
				got = append(got, fmt.Sprintf("%s %s %s %d %v", o.Stream, o.Key, o.Value, o.Repeat, o.TS.IsZero()))
			}, func(err error) {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("bad error does not wrap ErrMalformed: %v", err)
				}
				bad = append(bad, err.Error())
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				"a sumstats_key(str=k1) 1 1 true",
				"a sumstats_key(str=k2) 2 4 true",
				"b sumstats_key(host=10.0.0.1) 0.5 1 false",
				`c sumstats_key(str=k3) "v" 1 true`,
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("delivered\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			wantBad := []string{
				"feed.jsonl:4: invalid JSON: unexpected end of JSON input (at byte 14)",
				"feed.jsonl:6: want a JSON object",
				"feed.jsonl:7: line longer than 1048576 bytes",
				"feed.jsonl:9: value: num: want an unsigned integer, got -3",
			}
			if strings.Join(bad, "\n") != strings.Join(wantBad, "\n") {
				t.Errorf("bad\n%s\nwant\n%s", strings.Join(bad, "\n"), strings.Join(wantBad, "\n"))
			}
			if st != (Stats{Lines: 10, Observations: 4, Malformed: 4}) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestReadObservationsEdges(t *testing.T) {
	count := func(in string) (Stats, error) {
		return ReadObservations(context.Background(), "-", strings.NewReader(in), func(*Observation) {}, nil)
	}
	ok := `{"stream":"a","key":{"str":"k"},"value":{"num":1}}`
	tests := map[string]struct {
		in   string
		want Stats
	}{
		"empty input":       {"", Stats{}},
		"one newline":       {"\n", Stats{Lines: 1}},
		"final newline":     {ok + "\n", Stats{Lines: 1, Observations: 1}},
		"no final newline":  {ok, Stats{Lines: 1, Observations: 1}},
		"exactly max bytes": {`{"stream":"a","key":{"str":"k"},"value":{"num":1}}` + strings.Repeat(" ", MaxLineBytes-len(ok)) + "\n" + ok, Stats{Lines: 2, Observations: 2}},
		"one over max":      {`{"stream":"a","key":{"str":"k"},"value":{"num":1}}` + strings.Repeat(" ", MaxLineBytes-len(ok)+1) + "\n" + ok, Stats{Lines: 2, Observations: 1, Malformed: 1}},
		"huge last line":    {ok + "\n" + strings.Repeat("y", 3*MaxLineBytes), Stats{Lines: 2, Observations: 1, Malformed: 1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st, err := count(tc.in)
			if err != nil || st != tc.want {
				t.Fatalf("stats %+v err %v, want %+v", st, err, tc.want)
			}
		})
	}
}

type failReader struct {
	data string
	err  error
}

func (r *failReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadObservationsErrors(t *testing.T) {
	ok := `{"stream":"a","key":{"str":"k"},"value":{"num":1}}` + "\n"
	boom := errors.New("boom")
	n := 0
	st, err := ReadObservations(context.Background(), "pipe", &failReader{data: ok + ok, err: boom}, func(*Observation) { n++ }, nil)
	if !errors.Is(err, boom) || err.Error() != "ssconf: read pipe: boom" || n != 2 || st.Observations != 2 {
		t.Fatalf("I/O error: %v, %d delivered, %+v", err, n, st)
	}

	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	st, err = ReadObservations(ctx, "-", strings.NewReader(strings.Repeat(ok, 10)), func(*Observation) {
		n++
		if n == 3 {
			cancel()
		}
	}, nil)
	if !errors.Is(err, context.Canceled) || n != 3 || st.Observations != 3 {
		t.Fatalf("cancel: %v, %d delivered, %+v", err, n, st)
	}
	var _ io.Reader = (*failReader)(nil)
}

// FuzzParseObservation: go test -run=^$ -fuzz=FuzzParseObservation ./ssconf
// — the decoder agrees with encoding/json (results and errors), and what it
// accepts is a valid observation.
func FuzzParseObservation(f *testing.F) {
	for _, s := range feedSamples {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"stream":"test.metric","key":{"host":"1.2.3.4","str":"x"},"value":{"num":5},"ts":1300000000.25}`))
	f.Add([]byte(`{"stream":"s","key":{"str":"k"},"value":{"dbl":-2.5e3},"repeat":7}`))
	f.Add([]byte(`{"stream":"s","key":{"host":"::ffff:1.2.3.4"},"value":{"str":"v"},"node":"w"}`))
	f.Add([]byte(`{"stream":"s","key":{},"value":{"num":1,"dbl":2}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		checkAgainstJSON(t, line)
		o, err := ParseObservation(line)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if o.Stream == "" || (!o.Key.Host.IsValid() && o.Key.Str == "") || o.Repeat < 1 || o.Repeat > MaxRepeat ||
			o.Value.Kind == sumstats.KindNone || o.Key.Host.Is4In6() {
			t.Fatalf("invalid observation accepted: %+v", o)
		}
		// Whatever parses also parses inside a feed, on its own line.
		st, err := ReadObservations(context.Background(), "f", strings.NewReader("\n"+string(line)+"\n"), func(*Observation) {}, nil)
		if err != nil || (st.Observations != 1 && !strings.ContainsAny(string(line), "\n")) {
			t.Fatalf("feed: %+v %v", st, err)
		}
	})
}
