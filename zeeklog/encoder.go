package zeeklog

import (
	"fmt"
	"strings"
	"time"
)

// encoder renders the header, records and footer of one log. It is
// immutable after newEncoder and safe for concurrent use; the byte slices
// it appends to belong to the caller.
type encoder struct {
	path   string
	format Format
	fields []Field
	kinds  []kind
	keys   [][]byte // JSON: `"name":` per field
}

func newEncoder(path string, fields []Field, format Format) (*encoder, error) {
	if err := validate(path, fields, format); err != nil {
		return nil, err
	}
	e := &encoder{
		path:   path,
		format: format,
		fields: append([]Field(nil), fields...),
		kinds:  make([]kind, len(fields)),
	}
	for i, f := range fields {
		e.kinds[i], _ = fieldKind(f.Type) // validated above
	}
	if format == FormatJSON {
		e.keys = make([][]byte, len(fields))
		for i, f := range fields {
			k := appendJSONString(nil, f.Name)
			e.keys[i] = append(k, ':')
		}
	}
	return e, nil
}

func validate(path string, fields []Field, format Format) error {
	if format != FormatTSV && format != FormatJSON {
		return fmt.Errorf("zeeklog: format %q: %w", string(format), ErrFormat)
	}
	if path == "" || path == "." || path == ".." || strings.ContainsAny(path, `/\`) || !printable(path) {
		return fmt.Errorf("zeeklog: path %q: %w", path, ErrPath)
	}
	if len(fields) == 0 {
		return fmt.Errorf("zeeklog: %s: no fields: %w", path, ErrField)
	}
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if f.Name == "" || !printable(f.Name) || strings.ContainsRune(f.Name, setSeparator) {
			return fmt.Errorf("zeeklog: %s: field name %q: %w", path, f.Name, ErrField)
		}
		if seen[f.Name] {
			return fmt.Errorf("zeeklog: %s: duplicate field %q: %w", path, f.Name, ErrField)
		}
		seen[f.Name] = true
		if _, ok := fieldKind(f.Type); !ok {
			return fmt.Errorf("zeeklog: %s: field %s: type %q: %w", path, f.Name, f.Type, ErrField)
		}
	}
	return nil
}

// printable reports whether s is non-empty printable ASCII without spaces.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// appendHeader appends the TSV header stamped with the local time of now
// ("#open\t2006-01-02-15-04-05"). JSON logs have no header: b is returned
// unchanged.
func (e *encoder) appendHeader(b []byte, now time.Time) []byte {
	if e.format == FormatJSON {
		return b
	}
	b = append(b, "#separator \\x09\n"...)
	b = append(b, "#set_separator\t,\n"...)
	b = append(b, "#empty_field\t(empty)\n"...)
	b = append(b, "#unset_field\t-\n"...)
	b = append(b, "#path\t"...)
	b = append(b, e.path...)
	b = append(b, "\n#open\t"...)
	b = now.Local().AppendFormat(b, openTimeFmt)
	b = append(b, "\n#fields"...)
	for _, f := range e.fields {
		b = append(b, '\t')
		b = append(b, f.Name...)
	}
	b = append(b, "\n#types"...)
	for _, f := range e.fields {
		b = append(b, '\t')
		b = append(b, f.Type...)
	}
	return append(b, '\n')
}

// appendFooter appends the TSV footer "#close\t<local time of now>"; JSON
// logs have none.
func (e *encoder) appendFooter(b []byte, now time.Time) []byte {
	if e.format == FormatJSON {
		return b
	}
	b = append(b, "#close\t"...)
	b = now.Local().AppendFormat(b, openTimeFmt)
	return append(b, '\n')
}

// appendRow appends one record, newline included. It returns
// ErrValueCount or ErrType (and b unchanged) for a bad record. It does not
// allocate when b has room.
func (e *encoder) appendRow(b []byte, vals []Value) ([]byte, error) {
	if len(vals) != len(e.kinds) {
		return b, fmt.Errorf("zeeklog: %s: got %d values for %d fields: %w", e.path, len(vals), len(e.kinds), ErrValueCount)
	}
	for i := range vals {
		if !accepts(e.kinds[i], vals[i].kind) {
			return b, fmt.Errorf("zeeklog: %s: value %d: %w", e.path, i, ErrType)
		}
	}
	if e.format == FormatJSON {
		b = append(b, '{')
		first := true
		for i := range vals {
			if vals[i].kind == kindUnset {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, e.keys[i]...)
			b = appendJSONValue(b, &vals[i])
		}
		return append(b, '}', '\n'), nil
	}
	start := len(b)
	for i := range vals {
		if i > 0 {
			b = append(b, separator)
		}
		b = appendTSVValue(b, &vals[i])
	}
	if b[start] == '#' {
		// The line would look like a header line; Zeek escapes the
		// '#'. Grow by three bytes, shift, and write \x23.
		b = append(b, "x23"...)
		copy(b[start+4:], b[start+1:len(b)-3])
		copy(b[start:start+4], `\x23`)
	}
	return append(b, '\n'), nil
}
