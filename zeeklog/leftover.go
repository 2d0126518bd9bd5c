package zeeklog

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// leftover is a log file found at start-up, after repair.
type leftover struct {
	size   int64     // after cutting a partial last line
	cut    int64     // bytes cut
	mtime  time.Time // its close time
	open   time.Time // its open time (see shadow.go)
	header bool      // TSV: this log's complete header
	closed bool      // TSV: it has a "#close"
}

// repair cuts a partial last line from the file name and reads it back,
// feeding its rows' hashes to tail.
func repair(name string, enc *encoder, tail *hashTail) (*leftover, error) {
	fd, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	lo := &leftover{mtime: st.ModTime()}
	if lo.size, err = cutPartialLine(fd, st.Size()); err != nil {
		return nil, fmt.Errorf("repair %s: %w", name, err)
	}
	lo.cut = st.Size() - lo.size
	s, err := scanLog(io.NewSectionReader(fd, 0, lo.size), enc, tail)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	lo.header, lo.closed = s.header, s.closed
	dir, path := filepath.Dir(name), strings.TrimSuffix(filepath.Base(name), ".log")
	var ok bool
	if lo.open, ok = readShadow(dir, path); !ok {
		lo.open = lo.mtime
		if t, err := time.ParseInLocation(openTimeFmt, s.openTime, time.Local); err == nil {
			lo.open = t
		}
	}
	return lo, nil
}

// appendFooter stamps a leftover TSV file of size bytes with "#close"; on
// failure it cuts the file back to size.
func appendFooter(name string, size int64, enc *encoder, close time.Time) error {
	fd, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err = fd.Write(enc.appendFooter(nil, close)); err != nil {
		err = errors.Join(err, fd.Truncate(size))
	}
	err = errors.Join(err, fd.Close())
	if err == nil {
		// Keep the modification time: it is the file's close time.
		err = os.Chtimes(name, close, close)
	}
	return err
}

// readArchive feeds the row hashes of an archived log (plain or gzip) to
// tail.
func readArchive(name string, enc *encoder, tail *hashTail) error {
	fd, err := os.Open(name)
	if err != nil {
		return err
	}
	defer fd.Close()
	var r io.Reader = fd
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(fd)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		defer zr.Close()
		r = zr
	}
	if _, err := scanLog(r, enc, tail); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}
