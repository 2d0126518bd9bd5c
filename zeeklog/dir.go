package zeeklog

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"
)

// ErrDirBusy reports a log directory another process has open.
var ErrDirBusy = errors.New("zeeklog: log directory in use by another process")

// ErrUnknownPath reports a Write to a log the Dir has not opened.
var ErrUnknownPath = errors.New("zeeklog: unknown log path")

// DirConfig configures the logs of one directory. Plain data.
type DirConfig struct {
	Dir    string // created if needed
	Format Format
	// Window, KeepLeftover, UTC, Suffix and Sync are those of FileConfig,
	// for every log.
	Window       int
	KeepLeftover bool
	UTC          bool
	Suffix       string
	Sync         bool
}

// Dir is the set of logs one process writes in one directory: a File per
// log, opened (and recovered) by Open, committed, rotated and closed
// together. OpenDir takes an exclusive lock (flock) on the directory, so a
// second process writing the same logs is refused instead of corrupting
// them. A Dir is not safe for concurrent use: one goroutine at a time.
type Dir struct {
	cfg   DirConfig
	lock  *os.File
	files map[string]*File
	paths []string // sorted
}

// OpenDir creates the directory if needed and locks it. It returns
// ErrDirBusy when another process holds the lock.
func OpenDir(cfg DirConfig) (*Dir, error) {
	if cfg.Format != FormatTSV && cfg.Format != FormatJSON {
		return nil, fmt.Errorf("zeeklog: format %q: %w", string(cfg.Format), ErrFormat)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("zeeklog: %w", err)
	}
	lock, err := os.Open(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("zeeklog: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrDirBusy, cfg.Dir)
		}
		return nil, fmt.Errorf("zeeklog: lock %s: %w", cfg.Dir, err)
	}
	return &Dir{cfg: cfg, lock: lock, files: make(map[string]*File)}, nil
}

// Open opens the log path with its fields (see OpenFile: its leftover is
// repaired and rotated away or appended to, and its window rebuilt) and
// returns what recovery found. Opening a path twice is an error.
func (d *Dir) Open(path string, fields []Field, now time.Time) (Recovery, error) {
	if _, ok := d.files[path]; ok {
		return Recovery{}, fmt.Errorf("zeeklog: %s opened twice: %w", path, ErrPath)
	}
	f, rec, err := OpenFile(FileConfig{
		Dir: d.cfg.Dir, Path: path, Fields: fields, Format: d.cfg.Format, Window: d.cfg.Window,
		KeepLeftover: d.cfg.KeepLeftover, UTC: d.cfg.UTC, Suffix: d.cfg.Suffix, Sync: d.cfg.Sync,
	}, now)
	if err != nil {
		return rec, err
	}
	d.files[path] = f
	d.paths = append(d.paths, path)
	slices.Sort(d.paths)
	return rec, nil
}

// Write writes one row to the log path (see File.Write): false when the
// row is a repeat, ErrUnknownPath for a log not opened.
func (d *Dir) Write(path string, vals ...Value) (bool, error) {
	f, ok := d.files[path]
	if !ok {
		return false, fmt.Errorf("zeeklog: %q: %w", path, ErrUnknownPath)
	}
	return f.Write(vals...)
}

// Pending returns the number of rows written and not committed, over all
// logs.
func (d *Dir) Pending() int {
	n := 0
	for _, f := range d.files {
		n += f.Pending()
	}
	return n
}

// Commit commits every log with pending rows (see File.Commit). A log whose
// commit fails does not stop the others; the errors are joined. Rows of
// logs that committed are in their files even when another failed, and
// their window recognises them when they are sent again.
func (d *Dir) Commit() error {
	var errs []error
	for _, p := range d.paths {
		errs = append(errs, d.files[p].Commit())
	}
	return errors.Join(errs...)
}

// Rotate rotates every log (see File.Rotate) and returns the names of the
// archives made. A log that fails to rotate stays live and does not stop
// the others; the errors are joined.
func (d *Dir) Rotate(now time.Time, suffix string) ([]string, error) {
	var names []string
	var errs []error
	for _, p := range d.paths {
		name, err := d.files[p].Rotate(now, suffix)
		if name != "" {
			names = append(names, name)
		}
		errs = append(errs, err)
	}
	return names, errors.Join(errs...)
}

// Stats returns each log's counters by path.
func (d *Dir) Stats() map[string]FileStats {
	m := make(map[string]FileStats, len(d.files))
	for p, f := range d.files {
		m[p] = f.Stats()
	}
	return m
}

// Close closes every log (see File.Close) and releases the directory's
// lock. Idempotent.
func (d *Dir) Close(now time.Time) error {
	if d.lock == nil {
		return nil
	}
	var errs []error
	for _, p := range d.paths {
		errs = append(errs, d.files[p].Close(now))
	}
	errs = append(errs, d.lock.Close()) // closing the descriptor releases the flock
	d.lock = nil
	return errors.Join(errs...)
}
