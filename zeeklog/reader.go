package zeeklog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxLine bounds the length of one line accepted by the readers.
const maxLine = 64 << 20

// Log is a parsed Zeek log. Rows hold each record's values exactly as they
// appear in a TSV file: still escaped, "-" for unset and "(empty)" for empty
// (see Unescape). A Log is plain data; it is not safe for concurrent
// mutation.
type Log struct {
	Path   string     // "#path", e.g. "known_hosts"
	Fields []string   // "#fields"
	Types  []string   // "#types"; nil for JSON input
	Rows   [][]string // one slice of len(Fields) values per record
	Closed bool       // a "#close" line was seen

	OpenTime  string // the "#open" value, e.g. "2016-07-13-16-17-24"; "" if absent
	CloseTime string // the "#close" value; "" if absent
}

// Index returns the position of the named field in l.Fields, or -1.
func (l *Log) Index(field string) int {
	for i, f := range l.Fields {
		if f == field {
			return i
		}
	}
	return -1
}

// SyntaxError describes malformed reader input. It matches ErrMalformed
// with errors.Is.
type SyntaxError struct {
	Line int // 1-based line number; for errors found at the end, the last line
	Msg  string
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("zeeklog: line %d: %s", e.Line, e.Msg)
}

// Is makes errors.Is(err, ErrMalformed) true for every SyntaxError.
func (e *SyntaxError) Is(target error) bool { return target == ErrMalformed }

func syntaxErr(line int, format string, args ...any) error {
	return &SyntaxError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// ReadTSVFile reads the Zeek TSV log in the named file; see ReadTSV.
func ReadTSVFile(name string) (*Log, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("zeeklog: read %s: %w", name, err)
	}
	defer f.Close()
	l, err := ReadTSV(f)
	if err != nil {
		return nil, fmt.Errorf("zeeklog: read %s: %w", name, err)
	}
	return l, nil
}

// ReadTSV parses a Zeek TSV log. It honours "#separator", skips the
// "### BTest" lines that btest adds to baselines, accepts the masked header
// form "#open XXXX-XX-XX-XX-XX-XX" (space instead of tab), and ignores
// unknown "#" lines. It returns a *SyntaxError (matching ErrMalformed) with
// the line number when a record has the wrong number of fields, a record
// comes before "#fields" or after "#close", "#fields" and "#types" differ in
// length, a header repeats, or "#fields" is missing.
func ReadTSV(r io.Reader) (*Log, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	l := &Log{}
	sep := "\t"
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.HasPrefix(line, "### BTest") {
			continue
		}
		if strings.HasPrefix(line, "#") {
			if err := l.directive(line, &sep, lineNo); err != nil {
				return nil, err
			}
			continue
		}
		switch {
		case l.Fields == nil:
			return nil, syntaxErr(lineNo, "record before #fields")
		case l.Closed:
			return nil, syntaxErr(lineNo, "record after #close")
		}
		vals := strings.Split(line, sep)
		if len(vals) != len(l.Fields) {
			return nil, syntaxErr(lineNo, "record has %d fields, want %d", len(vals), len(l.Fields))
		}
		l.Rows = append(l.Rows, vals)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, syntaxErr(lineNo+1, "line longer than %d bytes", maxLine)
		}
		return nil, fmt.Errorf("zeeklog: read line %d: %w", lineNo+1, err)
	}
	if l.Fields == nil {
		return nil, syntaxErr(lineNo, "missing #fields header")
	}
	return l, nil
}

// directive applies one "#" header or footer line.
func (l *Log) directive(line string, sep *string, lineNo int) error {
	if rest, ok := strings.CutPrefix(line, "#separator "); ok {
		s := Unescape(rest)
		if s == "" || strings.ContainsRune(s, '\n') {
			return syntaxErr(lineNo, "bad #separator %q", rest)
		}
		*sep = s
		return nil
	}
	key, val, found := strings.Cut(line, *sep)
	if !found {
		key, val, found = strings.Cut(line, " ")
	}
	switch key {
	case "#path":
		l.Path = val
	case "#open", "#start":
		l.OpenTime = val
	case "#close", "#end":
		if l.Closed {
			return syntaxErr(lineNo, "duplicate %s", key)
		}
		l.Closed = true
		l.CloseTime = val
	case "#fields", "#types":
		dst := &l.Fields
		if key == "#types" {
			dst = &l.Types
		}
		if *dst != nil {
			return syntaxErr(lineNo, "duplicate %s", key)
		}
		if !found || val == "" {
			return syntaxErr(lineNo, "empty %s", key)
		}
		*dst = strings.Split(val, *sep)
		if l.Fields != nil && l.Types != nil && len(l.Fields) != len(l.Types) {
			return syntaxErr(lineNo, "%d #fields but %d #types", len(l.Fields), len(l.Types))
		}
	}
	return nil
}

// Unescape decodes a TSV value as written by Zeek: \xNN becomes the byte
// NN and \\ becomes one backslash; anything else is kept. It does not map
// "-" or "(empty)"; callers that care compare against those first. Pure,
// safe for concurrent use.
func Unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			if s[i+1] == '\\' {
				b.WriteByte('\\')
				i++
				continue
			}
			if s[i+1] == 'x' && i+3 < len(s) {
				hi, ok1 := unhex(s[i+2])
				lo, ok2 := unhex(s[i+3])
				if ok1 && ok2 {
					b.WriteByte(hi<<4 | lo)
					i += 3
					continue
				}
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ReadJSON parses a Zeek JSON log (one object per line) into a Log with the
// given field names, rendering every value the way the TSV writer would:
// strings escaped, missing or null fields as "-", arrays joined with ","
// ("(empty)" when empty), booleans as T/F, and numbers as their literal
// text (so a time written as 1300475168.783842 reads back unchanged). Keys
// not in fields are ignored; blank lines and "### BTest" lines are skipped.
// Path, Types and the times stay empty. Malformed lines give a
// *SyntaxError.
func ReadJSON(r io.Reader, fields []string) (*Log, error) {
	if len(fields) == 0 {
		return nil, fmt.Errorf("zeeklog: read json: no fields: %w", ErrField)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	l := &Log{Fields: append([]string(nil), fields...)}
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || bytes.HasPrefix(line, []byte("### BTest")) {
			continue
		}
		if line[0] != '{' {
			return nil, syntaxErr(lineNo, "not a JSON object")
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(line, &obj); err != nil {
			return nil, syntaxErr(lineNo, "bad JSON: %v", err)
		}
		row := make([]string, len(fields))
		for i, name := range fields {
			raw, ok := obj[name]
			if !ok {
				row[i] = unsetField
				continue
			}
			s, err := jsonToTSV(raw)
			if err != nil {
				return nil, syntaxErr(lineNo, "field %s: %v", name, err)
			}
			row[i] = s
		}
		l.Rows = append(l.Rows, row)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, syntaxErr(lineNo+1, "line longer than %d bytes", maxLine)
		}
		return nil, fmt.Errorf("zeeklog: read line %d: %w", lineNo+1, err)
	}
	return l, nil
}

// jsonToTSV renders one JSON value as the TSV writer would write it.
func jsonToTSV(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", errors.New("empty value")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return string(appendTSVString(nil, s, false)), nil
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return "", err
		}
		if len(elems) == 0 {
			return emptyField, nil
		}
		var b []byte
		for i, e := range elems {
			if i > 0 {
				b = append(b, setSeparator)
			}
			e = bytes.TrimSpace(e)
			switch {
			case len(e) > 0 && e[0] == '"':
				var s string
				if err := json.Unmarshal(e, &s); err != nil {
					return "", err
				}
				b = appendTSVString(b, s, true)
			case len(e) > 0 && (e[0] == '-' || ('0' <= e[0] && e[0] <= '9')):
				b = append(b, e...)
			default:
				return "", fmt.Errorf("unsupported array element %s", e)
			}
		}
		return string(b), nil
	case '{':
		return "", errors.New("nested objects are not supported")
	case 't':
		return "T", nil
	case 'f':
		return "F", nil
	case 'n':
		return unsetField, nil
	}
	return string(raw), nil // a number, already validated by json.Unmarshal
}
