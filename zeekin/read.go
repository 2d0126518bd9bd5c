package zeekin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Handler receives what a reader decodes. Nil fields are skipped. The
// callbacks are called from the reader's goroutine, one at a time, never
// concurrently; they should return promptly (a slow handler slows the
// reader, nothing is dropped). Records are fresh: the handler may keep them.
type Handler struct {
	// Conn receives each conn.log row.
	Conn func(*Conn)
	// Cert receives each ssl.log row that carries a server certificate,
	// joined with the x509.log row of its leaf certificate.
	Cert func(*Cert)
	// Error, if set, receives every non-fatal problem as it happens: a
	// *LineError wrapping ErrMalformed or ErrLayout, or a file that cannot
	// be opened or read. Processing continues after it.
	Error func(error)
}

// maxReportedErrors bounds the errors ReadFiles returns; the rest are
// counted in one summary error (and were all passed to Handler.Error).
const maxReportedErrors = 20

// ctxCheckLines is how often (in lines) the readers look at their context.
const ctxCheckLines = 1024

// errorList keeps the first errors of a run and counts the rest.
type errorList struct {
	errs []error
	more int
}

func (l *errorList) add(err error) {
	if len(l.errs) < maxReportedErrors {
		l.errs = append(l.errs, err)
		return
	}
	l.more++
}

func (l *errorList) err() error {
	errs := l.errs
	if l.more > 0 {
		errs = append(slices.Clip(errs), fmt.Errorf("zeekin: %d more errors not shown", l.more))
	}
	return errors.Join(errs...)
}

// dispatcher routes decoded records to a Handler through the certificate
// join and keeps the totals. It is owned by one goroutine.
type dispatcher struct {
	h     Handler
	j     *joiner
	stats Stats
	errs  errorList
}

func newDispatcher(h Handler, maxCerts, maxPending int) *dispatcher {
	return &dispatcher{h: h, j: newJoiner(maxCerts, maxPending)}
}

func (d *dispatcher) record(rec Record) {
	switch rec.Kind {
	case KindConn:
		d.stats.Conns++
		if d.h.Conn != nil {
			d.h.Conn(rec.Conn)
		}
	case KindSSL:
		d.stats.Unjoined += uint64(d.j.addSSL(rec.SSL, d.cert))
	case KindX509:
		d.j.addX509(rec.X509, d.cert)
	}
}

func (d *dispatcher) cert(c *Cert) {
	d.stats.Certs++
	if d.h.Cert != nil {
		d.h.Cert(c)
	}
}

func (d *dispatcher) fail(err error) {
	d.errs.add(err)
	if d.h.Error != nil {
		d.h.Error(err)
	}
}

// ReadFiles reads the given Zeek logs (conn.log, ssl.log, x509.log, TSV or
// JSON, optionally gzip-compressed) to their ends and hands every conn row
// and every joined certificate to h. ssl and x509 logs given together are
// joined whatever their order on the command line: x509 logs are read
// first, and ssl rows whose x509 row has not been seen wait in a bounded
// buffer (DefaultMaxPending; x509 rows are kept up to DefaultMaxCerts).
// Other files are read in the order given.
//
// Bad lines and unknown layouts do not stop the run: each is passed to
// h.Error, counted in Stats, and returned at the end (the first 20, then a
// count) joined in the error, together with files that could not be read.
// ReadFiles returns early only when ctx is done, with ctx's error. It blocks
// the calling goroutine, from which the handlers are called.
func ReadFiles(ctx context.Context, paths []string, h Handler) (Stats, error) {
	d := newDispatcher(h, DefaultMaxCerts, DefaultMaxPending)
	for _, p := range joinOrder(paths) {
		if err := d.readFile(ctx, p); err != nil {
			d.stats.Unjoined += uint64(d.j.drop())
			return d.stats, err
		}
	}
	d.stats.Unjoined += uint64(d.j.drop())
	return d.stats, d.errs.err()
}

// readFile reads one file through d. It returns only ctx's error; every
// other problem goes to d.fail.
func (d *dispatcher) readFile(ctx context.Context, path string) error {
	f, err := OpenFile(path)
	if err != nil {
		d.fail(err)
		return nil
	}
	defer func() {
		d.stats.add(f.Stats())
		if err := f.Close(); err != nil {
			d.fail(err)
		}
	}()
	for n := 0; ; n++ {
		if n%ctxCheckLines == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := f.Next()
		switch {
		case err == nil:
			d.record(rec)
		case errors.Is(err, io.EOF):
			return nil
		default:
			d.fail(err)
		}
	}
}

// joinOrder returns paths with the x509 logs first, then the ssl logs, then
// the rest, each group in the order given. The kind of each file is read
// from its content (header or first record); a file that cannot be opened
// keeps its place among the rest, where reading it reports the error.
func joinOrder(paths []string) []string {
	var x509s, ssls, rest []string
	for _, p := range paths {
		switch sniffKind(p) {
		case KindX509:
			x509s = append(x509s, p)
		case KindSSL:
			ssls = append(ssls, p)
		default:
			rest = append(rest, p)
		}
	}
	return slices.Concat(x509s, ssls, rest)
}

// sniffLines bounds how many lines sniffKind reads to find a file's kind.
const sniffLines = 64

func sniffKind(path string) Kind {
	f, err := OpenFile(path)
	if err != nil {
		return KindUnknown
	}
	defer f.Close()
	for range sniffLines {
		if k := f.Kind(); k != KindUnknown {
			return k
		}
		if _, err := f.Next(); err != nil && (errors.Is(err, io.EOF) || !errors.Is(err, ErrMalformed)) {
			break
		}
	}
	return f.Kind()
}
