package zeeklog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"
)

// Writer appends records to one Zeek-format log. Records are buffered; they
// reach the destination on Flush, when the buffer fills, and on Close. A
// Writer offers no commit point and no protection against repeated rows:
// the manager writes through File; Writer serves tools and tests that
// render logs.
//
// A Writer is not safe for concurrent use: exactly one goroutine owns it and
// makes every call. That goroutine must call Flush at least once a second
// so that readers see records promptly and a crash loses at most about a
// second of output.
type Writer struct {
	closer io.Closer // the file opened by Create; nil for New
	bw     *bufio.Writer
	enc    *encoder
	buf    []byte // scratch record, reused across Writes
	closed bool
}

// Create opens the log <dir>/<path>.log for appending, creating dir if
// needed. It never truncates: a file left by an earlier run is repaired (a
// partial last line is cut) and appended to when it can be — a JSON file,
// or a TSV file with this log's complete header and no "#close" — and
// otherwise archived under zeekctl's name first (see File.Rotate). A new
// TSV file starts with the header stamped with the local time of now
// ("#open\t2006-01-02-15-04-05"); JSON logs have no header. The returned
// Writer owns the file and closes it in Close. See Writer for the
// concurrency and flushing contract.
func Create(dir, path string, fields []Field, format Format, now time.Time) (*Writer, error) {
	lf, _, err := OpenFile(FileConfig{Dir: dir, Path: path, Fields: fields, Format: format, Window: 1, KeepLeftover: true}, now)
	if err != nil {
		return nil, err
	}
	if err := lf.ensureOpen(); err != nil {
		return nil, fmt.Errorf("zeeklog: create %s: %w", path, err)
	}
	w := newWriter(lf.f, lf.enc)
	w.closer = lf.f
	if lf.size == 0 {
		w.writeHeader(now)
	}
	return w, nil
}

// New returns a Writer that writes the log named path (the "#path" header,
// e.g. "known_hosts") to dst instead of a file. The TSV header is buffered
// like any record. Close flushes but does not close dst. See Writer for the
// concurrency and flushing contract.
func New(dst io.Writer, path string, fields []Field, format Format, now time.Time) (*Writer, error) {
	enc, err := newEncoder(path, fields, format)
	if err != nil {
		return nil, err
	}
	w := newWriter(dst, enc)
	w.writeHeader(now)
	return w, nil
}

func newWriter(dst io.Writer, enc *encoder) *Writer {
	return &Writer{bw: bufio.NewWriterSize(dst, 64<<10), enc: enc, buf: make([]byte, 0, 512)}
}

func (w *Writer) writeHeader(now time.Time) {
	w.buf = w.enc.appendHeader(w.buf[:0], now)
	// An error here is sticky in bufio and is returned by the next Write,
	// Flush or Close.
	_, _ = w.bw.Write(w.buf)
}

// Path returns the log's path, e.g. "known_hosts". Safe to call from the
// owning goroutine.
func (w *Writer) Path() string { return w.enc.path }

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
	b, err := w.enc.appendRow(w.buf[:0], vals)
	if err != nil {
		return err
	}
	w.buf = b
	if _, err := w.bw.Write(b); err != nil {
		return fmt.Errorf("zeeklog: %s: write: %w", w.enc.path, err)
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
		return fmt.Errorf("zeeklog: %s: flush: %w", w.enc.path, err)
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
	if w.enc.format == FormatTSV {
		w.buf = w.enc.appendFooter(w.buf[:0], now)
		if _, err := w.bw.Write(w.buf); err != nil {
			errs = append(errs, fmt.Errorf("zeeklog: %s: write: %w", w.enc.path, err))
		}
	}
	if err := w.bw.Flush(); err != nil && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("zeeklog: %s: flush: %w", w.enc.path, err))
	}
	if w.closer != nil {
		if err := w.closer.Close(); err != nil {
			errs = append(errs, fmt.Errorf("zeeklog: %s: close: %w", w.enc.path, err))
		}
	}
	return errors.Join(errs...)
}
