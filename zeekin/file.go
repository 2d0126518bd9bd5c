package zeekin

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

// File reads the records of one Zeek log file (conn.log, ssl.log or
// x509.log), TSV or JSON lines, optionally gzip-compressed, to its end. The
// format is detected from the first line: a "#" header (#separator) means
// TSV, anything else is read as JSON lines. Columns are located by the
// "#fields" header, in any order; extra columns are ignored. A File is used
// by one goroutine at a time.
type File struct {
	path  string
	f     *os.File
	gz    *gzip.Reader
	lr    *lineReader
	dec   *decoder
	line  int
	stats Stats
	done  bool
	// follow: the file is being written (see openFollowed). At its end
	// Next returns io.EOF but keeps an unterminated line for later, and an
	// unknown layout skips rows instead of ending the file.
	follow bool
}

// OpenFile opens the named log. Gzip input (.gz or not) is recognised by its
// magic bytes. The kind of log comes from the content (#path, #fields, JSON
// keys), with the file name ("conn.…", "ssl.…", "x509.…") as a fallback.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("zeekin: open %s: %w", path, err)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	var r io.Reader = br
	var gz *gzip.Reader
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		if gz, err = gzip.NewReader(br); err != nil {
			f.Close()
			return nil, fmt.Errorf("zeekin: open %s: gzip: %w", path, err)
		}
		r = gz
	}
	file := newFile(path, r, kindFromName(path))
	file.f, file.gz = f, gz
	return file, nil
}

// newFile reads a log from r; path names it in messages.
func newFile(path string, r io.Reader, hint Kind) *File {
	return &File{path: path, lr: newLineReader(r, MaxLine), dec: newDecoder(path, hint), stats: Stats{Files: 1}}
}

// Path returns the path the File was opened with.
func (f *File) Path() string { return f.path }

// Kind returns the kind of log, once the header (TSV) or the first record
// (JSON) has been read; KindUnknown before that or for a rejected file.
func (f *File) Kind() Kind { return f.dec.kind }

// Stats returns the counts so far. Records counts rows returned by Next.
func (f *File) Stats() Stats { return f.stats }

// Next returns the next record. At the end of the file it returns io.EOF.
// A bad line gives a *LineError wrapping ErrMalformed ("path:line: ..."),
// including a last line without its newline; call Next again to go on with
// the following lines. An unknown layout gives a *LineError wrapping
// ErrLayout, after which Next returns io.EOF: the file is not processed.
// Any other error is an I/O error and is final.
func (f *File) Next() (Record, error) {
	for {
		if f.done {
			return Record{}, io.EOF
		}
		b, err := f.lr.next()
		switch {
		case errors.Is(err, errTooLong):
			f.line++
			f.stats.Lines++
			f.stats.Malformed++
			return Record{}, malformed(f.path, f.line, "line longer than %d bytes", MaxLine)
		case err == io.EOF:
			if f.follow {
				return Record{}, io.EOF
			}
			f.done = true
			if p := f.lr.partial(); p != nil {
				f.line++
				f.stats.Lines++
				f.stats.Malformed++
				return Record{}, malformed(f.path, f.line, "truncated line: %d bytes without a newline at end of file", len(p))
			}
			return Record{}, io.EOF
		case err != nil:
			f.done = true
			return Record{}, fmt.Errorf("zeekin: read %s after line %d: %w", f.path, f.line, err)
		}
		f.line++
		f.stats.Lines++
		rec, out, lerr := f.dec.line(b, f.line)
		switch out {
		case outRecord:
			f.stats.Records++
			return rec, nil
		case outSkipped:
			f.stats.Skipped++
		case outError:
			if errors.Is(lerr, ErrLayout) {
				f.done = !f.follow
				f.stats.Rejected++
			} else {
				f.stats.Malformed++
			}
			return Record{}, lerr
		}
	}
}

// openFollowed opens a log that Zeek is still writing: plain text only,
// read straight from the file so that its position is known.
func openFollowed(path string, hint Kind) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &File{
		path:   path,
		f:      f,
		lr:     newLineReader(f, MaxLine),
		dec:    newDecoder(path, hint),
		stats:  Stats{Files: 1},
		follow: true,
	}, nil
}

// finish reports an unterminated last line, for a followed file that was
// rotated or truncated: nothing will complete it.
func (f *File) finish() error {
	p := f.lr.partial()
	if p == nil {
		return nil
	}
	f.line++
	f.stats.Lines++
	f.stats.Malformed++
	f.lr.reset(f.f)
	return malformed(f.path, f.line, "truncated line: %d bytes without a newline when the file was rotated or truncated", len(p))
}

// rewind starts reading a followed file again from its first byte with a
// fresh header state, after the file was truncated or rewritten in place.
func (f *File) rewind() error {
	if _, err := f.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	f.lr.reset(f.f)
	f.dec = newDecoder(f.path, f.dec.hint)
	f.line = 0
	return nil
}

// takeStats returns the counts since the last call and clears them.
func (f *File) takeStats() Stats {
	s := f.stats
	f.stats = Stats{}
	return s
}

// Close closes the file.
func (f *File) Close() error {
	if f.gz != nil {
		f.gz.Close()
	}
	if f.f == nil {
		return nil
	}
	if err := f.f.Close(); err != nil {
		return fmt.Errorf("zeekin: close %s: %w", f.path, err)
	}
	return nil
}
