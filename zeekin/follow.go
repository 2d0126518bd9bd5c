package zeekin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// DefaultPollInterval is how often Follow looks for new data by default.
const DefaultPollInterval = 250 * time.Millisecond

// headLen is how many leading bytes of a followed file are remembered to
// notice that it was rewritten in place (Zeek's header carries the #open
// time, a JSON log's first row its ts).
const headLen = 256

// FollowConfig configures Follow. The zero value is valid and means the
// defaults below. It is plain data.
type FollowConfig struct {
	// PollInterval is how often the directory is checked for new data,
	// rotation and truncation. Zero means DefaultPollInterval. It must be
	// shorter than Zeek's rotation interval: a file rotated and replaced
	// twice between two polls loses the middle one.
	PollInterval time.Duration
	// Tick, if set, replaces the timer: Follow polls once per value
	// received. Tests use it to step Follow deterministically.
	Tick <-chan time.Time
	// AfterPoll, if set, is called from Follow's goroutine after every poll
	// (the first one happens at once) with the totals so far. Everything
	// written to the logs before the poll began has then been delivered.
	// It must not block for long.
	AfterPoll func(Stats)
	// Files are the log names followed in the directory, polled in this
	// order. Default: x509.log, ssl.log, conn.log (x509 first, so that a
	// certificate is usually known when its ssl row comes).
	Files []string
	// MaxCerts and MaxPending bound the certificate join (zero means
	// DefaultMaxCerts and DefaultMaxPending).
	MaxCerts, MaxPending int
	// Logger receives errors (rate-limited, at Warn) when Handler.Error is
	// nil, and rotations at Debug. The zero value logs nothing.
	Logger zerolog.Logger
}

// DefaultFollowConfig returns the defaults spelled out.
func DefaultFollowConfig() FollowConfig {
	return FollowConfig{
		PollInterval: DefaultPollInterval,
		Files:        []string{"x509.log", "ssl.log", "conn.log"},
		MaxCerts:     DefaultMaxCerts,
		MaxPending:   DefaultMaxPending,
	}
}

// Validate reports every invalid field, each in an error wrapping ErrConfig.
func (c FollowConfig) Validate() error {
	var errs []error
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("%w: PollInterval %v is negative", ErrConfig, c.PollInterval))
	}
	if c.MaxCerts < 0 || c.MaxPending < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxCerts %d and MaxPending %d must not be negative", ErrConfig, c.MaxCerts, c.MaxPending))
	}
	seen := make(map[string]bool, len(c.Files))
	for _, f := range c.Files {
		if f == "" || f == "." || f == ".." || strings.ContainsRune(f, filepath.Separator) || seen[f] {
			errs = append(errs, fmt.Errorf("%w: Files entry %q is not a distinct plain file name", ErrConfig, f))
		}
		seen[f] = true
	}
	return errors.Join(errs...)
}

func (c FollowConfig) withDefaults() FollowConfig {
	d := DefaultFollowConfig()
	if c.PollInterval == 0 {
		c.PollInterval = d.PollInterval
	}
	if len(c.Files) == 0 {
		c.Files = d.Files
	}
	if c.MaxCerts == 0 {
		c.MaxCerts = d.MaxCerts
	}
	if c.MaxPending == 0 {
		c.MaxPending = d.MaxPending
	}
	return c
}

// Follow tails the Zeek logs in dir (conn.log, ssl.log and x509.log by
// default) as Zeek writes them, and hands every conn row and every joined
// certificate to h, each exactly once and, per file, in order. It copes with
// what happens to a live log directory:
//
//   - a file that does not exist yet is picked up when it appears;
//   - an unterminated last line waits for its newline;
//   - rotation (Zeek renames the file and opens a new one with a new
//     header): the renamed file is read to its end, then the new one from
//     its start;
//   - truncation, or the file rewritten in place, is read again from its
//     start with the new header.
//
// A file present when Follow starts is read from its beginning. Bad lines
// and unknown layouts are counted and passed to h.Error (or logged when it
// is nil) and processing continues. Follow polls every cfg.PollInterval (or
// on cfg.Tick), blocks the calling goroutine, from which the handlers are
// called, and returns the totals when ctx is done, with a nil error. It
// fails at once only for an invalid cfg or a dir that is not a readable
// directory.
func Follow(ctx context.Context, dir string, cfg FollowConfig, h Handler) (Stats, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	cfg = cfg.withDefaults()
	fi, err := os.Stat(dir)
	if err != nil {
		return Stats{}, fmt.Errorf("zeekin: follow: %w", err)
	}
	if !fi.IsDir() {
		return Stats{}, fmt.Errorf("zeekin: follow %s: %w", dir, fs.ErrInvalid)
	}
	log := cfg.Logger.With().Str("component", "zeekin").Str("dir", dir).Logger()
	if h.Error == nil {
		lim := &warnLimiter{log: log}
		h.Error = lim.warn
	}
	d := newDispatcher(h, cfg.MaxCerts, cfg.MaxPending)
	tailers := make([]*tailer, len(cfg.Files))
	for i, name := range cfg.Files {
		tailers[i] = &tailer{path: filepath.Join(dir, name), hint: kindFromName(name), log: log}
	}
	defer func() {
		for _, t := range tailers {
			t.shutdown()
		}
	}()
	tick := cfg.Tick
	if tick == nil {
		ticker := time.NewTicker(cfg.PollInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		for _, t := range tailers {
			if ctx.Err() != nil {
				break
			}
			t.poll(ctx, d)
		}
		if cfg.AfterPoll != nil {
			cfg.AfterPoll(d.stats)
		}
		select {
		case <-ctx.Done():
			for _, t := range tailers {
				t.shutdown()
			}
			d.stats.Unjoined += uint64(d.j.drop())
			return d.stats, nil
		case <-tick:
		}
	}
}

// tailer follows one log path across rotations. Owned by Follow's goroutine.
type tailer struct {
	path string
	hint Kind
	log  zerolog.Logger

	file    *File       // nil until the path exists
	fi      os.FileInfo // identity of file
	head    []byte      // its first bytes as first seen
	lastErr string      // last open/stat error reported, to report changes only
}

// poll delivers what was appended since the last poll, handling rotation
// and truncation first.
func (t *tailer) poll(ctx context.Context, d *dispatcher) {
	st, statErr := os.Stat(t.path)
	if t.file != nil {
		switch {
		case statErr != nil || !os.SameFile(st, t.fi):
			// Renamed away (rotation), removed, or replaced by a new file:
			// read what was written before, then let go of it.
			t.drain(ctx, d)
			t.log.Debug().Str("file", t.path).Msg("log rotated")
			d.stats.Rotations++
			t.close(d)
		case t.rewritten():
			if err := t.file.finish(); err != nil {
				d.fail(err)
			}
			if err := t.file.rewind(); err != nil {
				d.fail(fmt.Errorf("zeekin: follow %s: rewind: %w", t.path, err))
				t.close(d)
				return
			}
			t.log.Debug().Str("file", t.path).Msg("log truncated or rewritten")
			d.stats.Rotations++
			d.stats.Files++
			t.head = t.readHead(nil)
		}
	}
	if t.file == nil {
		if statErr != nil {
			if !errors.Is(statErr, fs.ErrNotExist) {
				t.report(d, fmt.Errorf("zeekin: follow: %w", statErr))
			}
			return
		}
		if !t.open(d) {
			return
		}
	}
	t.drain(ctx, d)
}

func (t *tailer) open(d *dispatcher) bool {
	f, err := openFollowed(t.path, t.hint)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			t.report(d, fmt.Errorf("zeekin: follow: %w", err))
		}
		return false
	}
	fi, err := f.f.Stat()
	if err != nil {
		f.Close()
		t.report(d, fmt.Errorf("zeekin: follow: %w", err))
		return false
	}
	t.lastErr = ""
	t.file, t.fi = f, fi
	t.head = t.readHead(nil)
	return true
}

// report passes err on unless it repeats the previous open/stat error.
func (t *tailer) report(d *dispatcher, err error) {
	if s := err.Error(); s != t.lastErr {
		t.lastErr = s
		d.fail(err)
	}
}

// readHead returns up to headLen leading bytes of the open file, reusing buf.
func (t *tailer) readHead(buf []byte) []byte {
	if cap(buf) < headLen {
		buf = make([]byte, headLen)
	}
	buf = buf[:headLen]
	n, _ := t.file.f.ReadAt(buf, 0)
	return buf[:n]
}

// rewritten reports whether the open file (still at the same path) shrank
// below what was read, or its first bytes changed: truncated or rewritten
// in place. It extends the remembered head while the file grows.
func (t *tailer) rewritten() bool {
	fi, err := t.file.f.Stat()
	if err != nil {
		return false
	}
	pos, err := t.file.f.Seek(0, io.SeekCurrent)
	if err == nil && fi.Size() < pos {
		return true
	}
	cur := t.readHead(nil)
	if len(cur) < len(t.head) || !bytes.Equal(cur[:len(t.head)], t.head) {
		return true
	}
	t.head = cur
	return false
}

// drain delivers every complete line available now.
func (t *tailer) drain(ctx context.Context, d *dispatcher) {
	f := t.file
	defer func() { d.stats.add(f.takeStats()) }()
	for n := 1; ; n++ {
		if n%ctxCheckLines == 0 && ctx.Err() != nil {
			return
		}
		rec, err := f.Next()
		switch {
		case err == nil:
			d.record(rec)
		case errors.Is(err, io.EOF):
			return
		case errors.Is(err, ErrMalformed) || errors.Is(err, ErrLayout):
			d.fail(err)
		default: // I/O error: start over with whatever the path holds next poll
			d.fail(err)
			t.close(d)
			return
		}
	}
}

// close lets go of the open file (if any), reporting an unterminated line.
func (t *tailer) close(d *dispatcher) {
	if t.file == nil {
		return
	}
	if err := t.file.finish(); err != nil {
		d.fail(err)
	}
	d.stats.add(t.file.takeStats())
	t.file.Close()
	t.file, t.fi, t.head = nil, nil, nil
}

// shutdown closes the open file (if any) when Follow returns. An
// unterminated line is not an error here: Zeek may still complete it.
func (t *tailer) shutdown() {
	if t.file != nil {
		t.file.Close()
		t.file, t.fi, t.head = nil, nil, nil
	}
}

// warnLimiter logs errors at Warn, at most one a second, counting the rest.
type warnLimiter struct {
	log        zerolog.Logger
	last       time.Time
	suppressed int
}

func (w *warnLimiter) warn(err error) {
	now := time.Now()
	if !w.last.IsZero() && now.Sub(w.last) < time.Second {
		w.suppressed++
		return
	}
	w.log.Warn().Err(err).Int("suppressed", w.suppressed).Msg("zeek log input error")
	w.last, w.suppressed = now, 0
}
