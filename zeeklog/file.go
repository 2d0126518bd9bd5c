package zeeklog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cespare/xxhash/v2"
)

// FileConfig describes one durable log file. It is plain data.
type FileConfig struct {
	Dir    string  // the log directory; created if needed
	Path   string  // the log's path, e.g. "known_hosts": the file is <Dir>/<Path>.log
	Fields []Field // its columns
	Format Format  // FormatTSV or FormatJSON

	// Window is the number of recent rows whose hashes are kept to drop a
	// row written again (DefaultWindow if 0). See DefaultWindow.
	Window int
	// KeepLeftover appends to a file left by an earlier run, when it can
	// be appended to, instead of archiving it (for a manager that does not
	// rotate; Zeek rotates leftovers only when rotation is on).
	KeepLeftover bool
	// UTC names archives in UTC instead of local time.
	UTC bool
	// Suffix goes into the archive name of a leftover (see Rotate).
	Suffix string
	// Sync calls fsync after every commit and before a rotation.
	Sync bool
}

// Recovery reports what OpenFile found and did. It is plain data.
type Recovery struct {
	CutBytes   int64  // bytes of a partial last line cut from the leftover
	Leftover   bool   // a file from an earlier run was found
	Appended   bool   // ... and is appended to
	Archived   string // ... or was archived under this name ("" if not)
	Removed    bool   // ... or was removed because nothing of it was left
	WindowRows int    // row hashes read back into the window
	Sources    int    // files they were read from
}

// FileStats are a File's counters since OpenFile. Plain data.
type FileStats struct {
	Rows         uint64 // rows committed to the file
	Bytes        uint64 // bytes committed, headers and footers included
	Duplicates   uint64 // rows dropped because the window held them
	CommitErrors uint64 // commits that failed and were rolled back
	RolledBack   uint64 // rows discarded by failed commits (their senders retry)
	Rotations    uint64 // files archived by Rotate
}

// File is one live Zeek log file with exactly-once rows (PLAN.md D3).
//
// Write encodes a row into a pending buffer unless the row is a repeat: a
// row's identity is the hash of its path and encoded line, and File keeps
// the hashes of the last Window committed rows (rebuilt from the files at
// OpenFile), plus those pending. Commit writes the pending rows with one
// write(2); if that fails (ENOSPC), the file is cut back to its last
// complete row, the pending rows are discarded and the error returned:
// nothing of them is in the file, so the caller answers their senders busy
// and they are written when sent again. A file never holds a partial line
// except during a write, and a partial line left by a crash is cut when
// the file is next opened.
//
// The file is created (with its shadow file, and for TSV its header) by
// the first Commit with rows after OpenFile or Rotate, so a log with no
// rows has no file, as in Zeek. Rotate archives it.
//
// A File is not safe for concurrent use: one goroutine owns it.
type File struct {
	cfg      FileConfig
	enc      *encoder
	name     string   // <dir>/<path>.log
	f        *os.File // nil until the first commit after OpenFile or Rotate
	size     int64    // bytes of complete lines in f
	broken   bool     // a failed write could not be cut back yet
	openTime time.Time
	win      *window
	digest   *xxhash.Digest
	buf      []byte   // pending rows
	pending  []uint64 // their hashes
	pendSet  map[uint64]struct{}
	out      []byte // scratch for header + rows
	stats    FileStats
	closed   bool
}

// OpenFile opens the log cfg.Path in cfg.Dir. A file left there by an
// earlier run is repaired (a partial last line is cut), its last rows and,
// if they are fewer than the window, those of the newest archives are read
// into the window, and then it is archived under zeekctl's name (see
// Rotate) — or, with KeepLeftover, appended to if it can be: a JSON file,
// or a TSV file with this log's complete header and no "#close". A TSV
// leftover with a complete header gets a "#close" stamped with its
// modification time before it is archived. Nothing is ever truncated
// except a partial last line. now is the open time of the next file.
func OpenFile(cfg FileConfig, now time.Time) (*File, Recovery, error) {
	enc, err := newEncoder(cfg.Path, cfg.Fields, cfg.Format)
	if err != nil {
		return nil, Recovery{}, err
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, Recovery{}, fmt.Errorf("zeeklog: %s: %w", cfg.Path, err)
	}
	f := &File{
		cfg:      cfg,
		enc:      enc,
		name:     filepath.Join(cfg.Dir, cfg.Path+".log"),
		openTime: now,
		win:      newWindow(cfg.Window),
		digest:   xxhash.New(),
		pendSet:  make(map[uint64]struct{}),
	}
	rec, err := f.recover()
	if err != nil {
		if f.f != nil {
			err = errors.Join(err, f.f.Close())
		}
		return nil, rec, fmt.Errorf("zeeklog: %s: %w", cfg.Path, err)
	}
	return f, rec, nil
}

// recover handles a leftover file and rebuilds the window.
func (f *File) recover() (Recovery, error) {
	var rec Recovery
	tail := newHashTail(f.cfg.Window)
	var lo *leftover
	st, err := os.Lstat(f.name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := removeShadow(f.cfg.Dir, f.cfg.Path); err != nil {
			return rec, err
		}
	case err != nil:
		return rec, err
	case !st.Mode().IsRegular():
		return rec, fmt.Errorf("%s is not a regular file", f.name)
	default:
		rec.Leftover = true
		if lo, err = repair(f.name, f.enc, tail); err != nil {
			return rec, err
		}
		rec.CutBytes = lo.cut
		rec.Sources++
	}
	older, n, err := f.readArchives(f.cfg.Window - len(tail.hashes()))
	if err != nil {
		return rec, err
	}
	rec.Sources += n
	for i := len(older) - 1; i >= 0; i-- {
		for _, h := range older[i] {
			f.win.add(h)
		}
	}
	for _, h := range tail.hashes() {
		f.win.add(h)
	}
	rec.WindowRows = f.win.len()
	if lo != nil {
		err = f.settle(lo, &rec)
	}
	return rec, err
}

// readArchives reads the hashes of up to need rows from the newest
// archives of this log, newest file first.
func (f *File) readArchives(need int) ([][]uint64, int, error) {
	if need <= 0 {
		return nil, 0, nil
	}
	names, err := archives(f.cfg.Dir, f.cfg.Path)
	if err != nil {
		return nil, 0, err
	}
	var out [][]uint64
	for _, name := range names {
		t := newHashTail(need)
		if err := readArchive(name, f.enc, t); err != nil {
			return nil, 0, err
		}
		out = append(out, t.hashes())
		if need -= len(t.hashes()); need <= 0 {
			break
		}
	}
	return out, len(out), nil
}

// settle appends to the repaired leftover, or archives or removes it.
func (f *File) settle(lo *leftover, rec *Recovery) error {
	if lo.size == 0 {
		rec.Removed = true
		return errors.Join(os.Remove(f.name), removeShadow(f.cfg.Dir, f.cfg.Path))
	}
	if f.cfg.KeepLeftover && (f.enc.format == FormatJSON || (lo.header && !lo.closed)) {
		fd, err := os.OpenFile(f.name, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		f.f, f.size, f.openTime = fd, lo.size, lo.open
		rec.Appended = true
		if !exists(shadowName(f.cfg.Dir, f.cfg.Path)) {
			return writeShadow(f.cfg.Dir, f.cfg.Path, lo.open, f.cfg.Sync)
		}
		return nil
	}
	if f.enc.format == FormatTSV && lo.header && !lo.closed {
		// Best effort: a leftover without its footer is archived all
		// the same.
		_ = appendFooter(f.name, lo.size, f.enc, lo.mtime)
	}
	dst, err := archive(f.cfg.Dir, f.name, f.cfg.Path, lo.open, lo.mtime, f.cfg.Suffix, f.cfg.UTC)
	if err != nil {
		return err
	}
	rec.Archived = dst
	return removeShadow(f.cfg.Dir, f.cfg.Path)
}

// Path returns the log's path, e.g. "known_hosts".
func (f *File) Path() string { return f.cfg.Path }

// Stats returns the counters.
func (f *File) Stats() FileStats { return f.stats }

// Pending returns the number of rows written and not yet committed.
func (f *File) Pending() int { return len(f.pending) }

// Write encodes one row (one value per field, in field order) into the
// pending buffer. It returns false, writing nothing, when the row is a
// repeat of a committed or pending row. It returns ErrValueCount or
// ErrType for a bad row and ErrClosed after Close. Write does not retain
// vals.
func (f *File) Write(vals ...Value) (bool, error) {
	if f.closed {
		return false, ErrClosed
	}
	start := len(f.buf)
	b, err := f.enc.appendRow(f.buf, vals)
	if err != nil {
		return false, err
	}
	h := rowHash(f.digest, f.cfg.Path, b[start:len(b)-1])
	_, pend := f.pendSet[h]
	if pend || f.win.contains(h) {
		f.buf = b[:start]
		f.stats.Duplicates++
		return false, nil
	}
	f.buf = b
	f.pending = append(f.pending, h)
	f.pendSet[h] = struct{}{}
	return true, nil
}

// Commit writes the pending rows to the file with one write(2) (and
// fsync with cfg.Sync), creating the file first if needed. On error the
// file is cut back to its last complete row and the pending rows are
// discarded: none of them is in the file, and the caller must not
// acknowledge them. The error wraps the system error (errors.Is(err,
// syscall.ENOSPC) for a full disk).
func (f *File) Commit() error {
	if f.closed {
		return ErrClosed
	}
	if len(f.pending) == 0 {
		return nil
	}
	err := f.commit()
	if err != nil {
		f.stats.CommitErrors++
		f.stats.RolledBack += uint64(len(f.pending))
	} else {
		f.stats.Rows += uint64(len(f.pending))
		for _, h := range f.pending {
			f.win.add(h)
		}
	}
	f.buf = f.buf[:0]
	f.pending = f.pending[:0]
	clear(f.pendSet)
	if err != nil {
		return fmt.Errorf("zeeklog: %s: commit: %w", f.cfg.Path, err)
	}
	return nil
}

func (f *File) commit() error {
	if err := f.ensureOpen(); err != nil {
		return err
	}
	out := f.buf
	if f.size == 0 && f.enc.format == FormatTSV {
		f.out = append(f.enc.appendHeader(f.out[:0], f.openTime), f.buf...)
		out = f.out
	}
	return f.append(out)
}

// ensureOpen creates the live file if there is none and cuts back a
// failed write that could not be cut before.
func (f *File) ensureOpen() error {
	if f.f == nil {
		if err := writeShadow(f.cfg.Dir, f.cfg.Path, f.openTime, f.cfg.Sync); err != nil {
			return err
		}
		fd, err := os.OpenFile(f.name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		st, err := fd.Stat()
		if err != nil {
			return errors.Join(err, fd.Close())
		}
		f.f, f.size = fd, st.Size()
	}
	if f.broken {
		if err := f.f.Truncate(f.size); err != nil {
			return err
		}
		f.broken = false
	}
	return nil
}

// append writes b at the end of the file, or cuts the file back to its
// previous size and returns the error.
func (f *File) append(b []byte) error {
	n, err := f.f.Write(b)
	if err == nil && f.cfg.Sync {
		err = f.f.Sync()
	}
	if err != nil {
		if n > 0 || f.cfg.Sync {
			if terr := f.f.Truncate(f.size); terr != nil {
				f.broken = true
				return errors.Join(err, terr)
			}
		}
		return err
	}
	f.size += int64(n)
	f.stats.Bytes += uint64(n)
	return nil
}

// Rotate archives the live file, if there is one, as
// <dir>/YYYY-MM-DD/<path>.HH:MM:SS-HH:MM:SS[-suffix][.n].log (zeekctl's
// layout; see the package doc), with the open time of the file and now as
// its close time, after stamping a TSV file's "#close" with now. Rows
// still pending stay pending and go to the next file, so a rotation never
// splits or loses a row. now becomes the open time of the next file. It
// returns the archive's name, "" if there was no file. On error the live
// file stays as it was.
func (f *File) Rotate(now time.Time, suffix string) (string, error) {
	if f.closed {
		return "", ErrClosed
	}
	if f.f == nil {
		f.openTime = now
		return "", nil
	}
	if err := f.ensureOpen(); err != nil {
		return "", fmt.Errorf("zeeklog: %s: rotate: %w", f.cfg.Path, err)
	}
	before := f.size
	if err := f.append(f.enc.appendFooter(f.out[:0], now)); err != nil {
		return "", fmt.Errorf("zeeklog: %s: rotate: %w", f.cfg.Path, err)
	}
	dst, err := archive(f.cfg.Dir, f.name, f.cfg.Path, f.openTime, now, suffix, f.cfg.UTC)
	if err != nil {
		// The file stays live: take its footer back.
		f.size = before
		f.broken = true
		return "", err
	}
	f.stats.Rotations++
	err = f.f.Close()
	f.f, f.size, f.broken, f.openTime = nil, 0, false, now
	if serr := removeShadow(f.cfg.Dir, f.cfg.Path); serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return dst, fmt.Errorf("zeeklog: %s: rotate: %w", f.cfg.Path, err)
	}
	return dst, nil
}

// Close discards pending rows (they were never committed), stamps a TSV
// file's "#close" with now and closes it; the file stays where it is, as
// a leftover for the next OpenFile. Idempotent.
func (f *File) Close(now time.Time) error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.buf, f.pending = nil, nil
	if f.f == nil {
		return nil
	}
	var errs []error
	if err := f.ensureOpen(); err != nil {
		errs = append(errs, err)
	} else if err := f.append(f.enc.appendFooter(f.out[:0], now)); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, f.f.Close())
	f.f = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("zeeklog: %s: close: %w", f.cfg.Path, err)
	}
	return nil
}
