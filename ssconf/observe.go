package ssconf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"shoal/sumstats"
)

// Limits of the observation feed.
const (
	// MaxLineBytes is the longest observation line (without its newline);
	// a longer line is reported as malformed and skipped.
	MaxLineBytes = 1 << 20
	// MaxRepeat is the largest "repeat" of one line.
	MaxRepeat = 1_000_000
	// maxTS bounds "ts" (epoch seconds), well inside time.Time's range.
	maxTS = 1e11
)

// Observation is one line of the feed: an observation of Value under Key on
// Stream, made Repeat times (>= 1) at TS (the zero time when the line has no
// "ts": the caller decides, usually "now").
type Observation struct {
	Stream string
	Key    sumstats.Key
	Value  sumstats.Observation
	TS     time.Time
	Repeat int
}

// Stats counts what ReadObservations read: Lines is every line (empty ones
// included), Observations the valid lines handed to fn (one per line,
// whatever its repeat), Malformed the lines handed to bad.
type Stats struct {
	Lines, Observations, Malformed uint64
}

func malformed(format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Kind: ErrMalformed}
}

// ParseObservation parses one feed line (format in the package
// documentation). Leading and trailing white space is ignored. An error is
// an *Error wrapping ErrMalformed whose Msg says what is wrong. It is safe
// for concurrent use; line is not retained.
//
// The usual line is decoded by a scanner for the fixed schema, without
// reflection; the rest (escapes in strings, nulls, duplicate fields, and
// every malformed line) by encoding/json, so that results and errors are
// encoding/json's.
func ParseObservation(line []byte) (Observation, error) {
	var p fastParser
	return p.parseLine(line)
}

// parseLine is ParseObservation with p's stream name cache.
func (p *fastParser) parseLine(line []byte) (Observation, error) {
	line = bytes.TrimSpace(line)
	if o, ok := p.parse(line); ok {
		return o, nil
	}
	return parseObservationJSON(line)
}

// parseObservationJSON is ParseObservation by encoding/json: the reference
// decoding, for lines the fast path declines. line is trimmed.
func parseObservationJSON(line []byte) (Observation, error) {
	var o Observation
	if len(line) == 0 || line[0] != '{' {
		return o, malformed("want a JSON object")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(line, &top); err != nil {
		return o, malformed("invalid JSON: %s", jsonReason(err))
	}

	raw, ok := top["stream"]
	if !ok || isNull(raw) {
		return o, malformed("missing stream")
	}
	if err := json.Unmarshal(raw, &o.Stream); err != nil {
		return o, malformed("stream: want a string, got %s", clip(raw))
	}
	if o.Stream == "" {
		return o, malformed("stream: empty")
	}

	raw, ok = top["key"]
	if !ok || isNull(raw) {
		return o, malformed("missing key")
	}
	var err error
	if o.Key, err = parseKey(raw); err != nil {
		return o, err
	}

	raw, ok = top["value"]
	if !ok || isNull(raw) {
		return o, malformed("missing value")
	}
	if o.Value, err = parseValue(raw); err != nil {
		return o, err
	}

	if raw, ok := top["ts"]; ok && !isNull(raw) {
		var ts float64
		if err := json.Unmarshal(raw, &ts); err != nil {
			return o, malformed("ts: want epoch seconds (a number), got %s", clip(raw))
		}
		if ts < 0 || ts > maxTS {
			return o, malformed("ts: %s is out of range [0, %g]", clip(raw), float64(maxTS))
		}
		o.TS = epochTime(ts)
	}

	o.Repeat = 1
	if raw, ok := top["repeat"]; ok && !isNull(raw) {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n < 1 || n > MaxRepeat {
			return o, malformed("repeat: want an integer in [1, %d], got %s", MaxRepeat, clip(raw))
		}
		o.Repeat = int(n)
	}
	return o, nil
}

// epochTime converts epoch seconds to a time, to the microsecond.
func epochTime(ts float64) time.Time {
	sec := math.Floor(ts)
	usec := math.Round((ts - sec) * 1e6)
	return time.Unix(int64(sec), int64(usec)*1000)
}

func parseKey(raw json.RawMessage) (sumstats.Key, error) {
	var k sumstats.Key
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return k, malformed("key: want an object with host and/or str, got %s", clip(raw))
	}
	for _, name := range slices.Sorted(maps.Keys(m)) { // sorted: the same message every time
		if name != "host" && name != "str" {
			return k, malformed("key: unknown field %q (want host and/or str)", name)
		}
	}
	if h, ok := m["host"]; ok && !isNull(h) {
		var s string
		if err := json.Unmarshal(h, &s); err != nil {
			return k, malformed("key: host: want an IP address string, got %s", clip(h))
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return k, malformed("key: host: %q is not an IP address", s)
		}
		k.Host = a.Unmap()
	}
	if s, ok := m["str"]; ok && !isNull(s) {
		if err := json.Unmarshal(s, &k.Str); err != nil {
			return k, malformed("key: str: want a string, got %s", clip(s))
		}
	}
	if !k.Host.IsValid() && k.Str == "" {
		return k, malformed("key: want host and/or a non-empty str")
	}
	return k, nil
}

func parseValue(raw json.RawMessage) (sumstats.Observation, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return sumstats.Observation{}, malformed("value: want an object with one of num, dbl, str, got %s", clip(raw))
	}
	names := slices.Sorted(maps.Keys(m)) // sorted: the same message every time
	for _, name := range names {
		if name != "num" && name != "dbl" && name != "str" {
			return sumstats.Observation{}, malformed("value: unknown field %q (want one of num, dbl, str)", name)
		}
	}
	if len(names) != 1 {
		return sumstats.Observation{}, malformed("value: want exactly one of num, dbl, str, got %d (%s)", len(names), strings.Join(names, ", "))
	}
	v := m[names[0]]
	switch names[0] {
	case "num":
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return sumstats.Observation{}, malformed("value: num: want an unsigned integer, got %s", clip(v))
		}
		return sumstats.Num(n), nil
	case "dbl":
		var f float64
		if isNull(v) || json.Unmarshal(v, &f) != nil {
			return sumstats.Observation{}, malformed("value: dbl: want a number, got %s", clip(v))
		}
		return sumstats.Dbl(f), nil
	default:
		var s string
		if isNull(v) || json.Unmarshal(v, &s) != nil {
			return sumstats.Observation{}, malformed("value: str: want a string, got %s", clip(v))
		}
		return sumstats.Str(s), nil
	}
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// clip quotes at most 40 bytes of a raw JSON value for a message.
func clip(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "..."
	}
	return string(raw)
}

// jsonReason shortens encoding/json's messages.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "want an object, got " + te.Value
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// ReadObservations reads the feed from r line by line until EOF or ctx is
// done. name is the input's name in messages ("-" or "stdin" for standard
// input, a file name, "http" ...). Each valid line goes to fn; the
// *Observation is reused and valid only during the call, so fn copies what
// it keeps. Each malformed line goes to bad (if not nil) as an *Error
// "name:line: reason" wrapping ErrMalformed, and reading continues; a line
// longer than MaxLineBytes is malformed and skipped. Blank lines are skipped.
//
// The returned error is nil at EOF, ctx.Err() when ctx ended first (checked
// between lines: to stop a blocked read, close r), or the read error,
// wrapped. fn and bad run on the calling goroutine.
func ReadObservations(ctx context.Context, name string, r io.Reader, fn func(*Observation), bad func(error)) (Stats, error) {
	var st Stats
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	var o Observation
	p := fastParser{intern: map[string]string{}}
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		line, tooLong, rerr := readLine(br, buf[:0])
		buf = line
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return st, fmt.Errorf("ssconf: read %s: %w", name, rerr)
		}
		if len(line) == 0 && !tooLong && errors.Is(rerr, io.EOF) {
			return st, nil // end of input after the last newline
		}
		st.Lines++
		if st.Lines == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // UTF-8 BOM
		}
		var perr error
		switch {
		case tooLong:
			perr = malformed("line longer than %d bytes", MaxLineBytes)
		case len(bytes.TrimSpace(line)) == 0:
		default:
			o, perr = p.parseLine(line)
			if perr == nil {
				st.Observations++
				fn(&o)
			}
		}
		if perr != nil {
			st.Malformed++
			if bad != nil {
				e := *perr.(*Error)
				e.File, e.Line = name, int(min(st.Lines, math.MaxInt32))
				bad(&e)
			}
		}
		if errors.Is(rerr, io.EOF) {
			return st, nil
		}
	}
}

// readLine reads one line into buf without its "\n" or "\r\n". tooLong
// reports a line over MaxLineBytes, which is consumed but not returned. err
// is io.EOF for a last line without newline (or no line at all).
func readLine(br *bufio.Reader, buf []byte) (line []byte, tooLong bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(frag) > MaxLineBytes+2 {
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, frag...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		if len(buf) > MaxLineBytes {
			tooLong, buf = true, buf[:0]
		}
		return buf, tooLong, err
	}
}
