package zeeklog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Writer appends records to one Zeek-format log. Records are buffered; they
// reach the destination on Flush, when the buffer fills, and on Close.
//
// A Writer is not safe for concurrent use: exactly one goroutine owns it and
// makes every call. That goroutine must call Flush at least once a second
// (the manager does so from its run loop) so that readers see records
// promptly and a crash loses at most about a second of output.
type Writer struct {
	closer io.Closer // the file created by Create; nil for New
	bw     *bufio.Writer
	path   string
	format Format
	kinds  []kind
	keys   [][]byte // JSON: `"name":` per field
	buf    []byte   // scratch record, reused across Writes
	closed bool
}

// Create creates (or truncates) the file <dir>/<path>.log, creating dir if
// needed, and writes the TSV header stamped with the local time of now
// ("#open\t2006-01-02-15-04-05"). JSON logs have no header. The returned
// Writer owns the file and closes it in Close. See Writer for the
// concurrency and flushing contract.
func Create(dir, path string, fields []Field, format Format, now time.Time) (*Writer, error) {
	if err := validate(path, fields, format); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("zeeklog: create %s: %w", path, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, path+".log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("zeeklog: create %s: %w", path, err)
	}
	w, err := New(f, path, fields, format, now)
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	w.closer = f
	return w, nil
}

// New returns a Writer that writes the log named path (the "#path" header,
// e.g. "known_hosts") to dst instead of a file. The TSV header is buffered
// like any record. Close flushes but does not close dst. See Writer for the
// concurrency and flushing contract.
func New(dst io.Writer, path string, fields []Field, format Format, now time.Time) (*Writer, error) {
	if err := validate(path, fields, format); err != nil {
		return nil, err
	}
	w := &Writer{
		bw:     bufio.NewWriterSize(dst, 64<<10),
		path:   path,
		format: format,
		kinds:  make([]kind, len(fields)),
		buf:    make([]byte, 0, 512),
	}
	for i, f := range fields {
		w.kinds[i], _ = fieldKind(f.Type) // validated above
	}
	if format == FormatJSON {
		w.keys = make([][]byte, len(fields))
		for i, f := range fields {
			k := appendJSONString(nil, f.Name)
			w.keys[i] = append(k, ':')
		}
		return w, nil
	}
	w.writeHeader(fields, now)
	return w, nil
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

func (w *Writer) writeHeader(fields []Field, now time.Time) {
	b := w.buf[:0]
	b = append(b, "#separator \\x09\n"...)
	b = append(b, "#set_separator\t,\n"...)
	b = append(b, "#empty_field\t(empty)\n"...)
	b = append(b, "#unset_field\t-\n"...)
	b = append(b, "#path\t"...)
	b = append(b, w.path...)
	b = append(b, "\n#open\t"...)
	b = now.Local().AppendFormat(b, openTimeFmt)
	b = append(b, "\n#fields"...)
	for _, f := range fields {
		b = append(b, '\t')
		b = append(b, f.Name...)
	}
	b = append(b, "\n#types"...)
	for _, f := range fields {
		b = append(b, '\t')
		b = append(b, f.Type...)
	}
	b = append(b, '\n')
	w.buf = b
	// An error here is sticky in bufio and is returned by the next Write,
	// Flush or Close.
	_, _ = w.bw.Write(b)
}

// Path returns the log's path, e.g. "known_hosts". Safe to call from the
// owning goroutine.
func (w *Writer) Path() string { return w.path }

// Write appends one record with one value per field, in field order. It
// returns ErrValueCount if len(vals) differs from the number of fields,
// ErrType if a value's kind does not fit its field's type (Unset fits any
// field; String and Enum are interchangeable), ErrClosed after Close, or
// the error of an earlier failed write to the destination. Nothing is
// written when an error is returned for a bad record. Write does not
// retain vals. Called only from the goroutine that owns w.
func (w *Writer) Write(vals ...Value) error {
	if w.closed {
		return ErrClosed
	}
	if len(vals) != len(w.kinds) {
		return fmt.Errorf("zeeklog: %s: got %d values for %d fields: %w", w.path, len(vals), len(w.kinds), ErrValueCount)
	}
	for i := range vals {
		if !accepts(w.kinds[i], vals[i].kind) {
			return fmt.Errorf("zeeklog: %s: value %d: %w", w.path, i, ErrType)
		}
	}
	b := w.buf[:0]
	if w.format == FormatJSON {
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
			b = append(b, w.keys[i]...)
			b = appendJSONValue(b, &vals[i])
		}
		b = append(b, '}', '\n')
	} else {
		for i := range vals {
			if i > 0 {
				b = append(b, separator)
			}
			b = appendTSVValue(b, &vals[i])
		}
		if b[0] == '#' {
			// The line would look like a header line; Zeek escapes
			// the '#'. Grow by three bytes, shift, and write \x23.
			b = append(b, "x23"...)
			copy(b[4:], b[1:len(b)-3])
			copy(b[:4], `\x23`)
		}
		b = append(b, '\n')
	}
	w.buf = b
	if _, err := w.bw.Write(b); err != nil {
		return fmt.Errorf("zeeklog: %s: write: %w", w.path, err)
	}
	return nil
}

// Flush writes buffered records to the destination. The owning goroutine
// calls it at least once a second. Returns ErrClosed after Close.
func (w *Writer) Flush() error {
	if w.closed {
		return ErrClosed
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("zeeklog: %s: flush: %w", w.path, err)
	}
	return nil
}

// Close writes the TSV footer "#close\t<local time of now>", flushes, and
// closes the file if the Writer was made by Create. It is idempotent: later
// calls return nil. Called only from the goroutine that owns w.
func (w *Writer) Close(now time.Time) error {
	if w.closed {
		return nil
	}
	w.closed = true
	var errs []error
	if w.format == FormatTSV {
		b := append(w.buf[:0], "#close\t"...)
		b = now.Local().AppendFormat(b, openTimeFmt)
		b = append(b, '\n')
		w.buf = b
		if _, err := w.bw.Write(b); err != nil {
			errs = append(errs, fmt.Errorf("zeeklog: %s: write: %w", w.path, err))
		}
	}
	if err := w.bw.Flush(); err != nil && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("zeeklog: %s: flush: %w", w.path, err))
	}
	if w.closer != nil {
		if err := w.closer.Close(); err != nil {
			errs = append(errs, fmt.Errorf("zeeklog: %s: close: %w", w.path, err))
		}
	}
	return errors.Join(errs...)
}
