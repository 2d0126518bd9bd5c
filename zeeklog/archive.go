package zeeklog

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Archive naming follows zeekctl's make-archive-name: a log opened at open
// and closed at close is archived as
//
//	<dir>/YYYY-MM-DD/<path>.HH:MM:SS-HH:MM:SS[-<suffix>][.<n>].log[.gz]
//
// with the day and both times in local time (UTC with utc), the day being
// the open time's. suffix plays the part of Zeek's log_suffix with several
// loggers (shoal: several managers). n > 0 only when the name without it is
// taken (a rotation in the same second as the one before).

var dayDirRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// archiveName returns the name relative to the log directory.
func archiveName(path string, open, close time.Time, suffix string, n int, utc bool) string {
	loc := time.Local
	if utc {
		loc = time.UTC
	}
	open, close = open.In(loc), close.In(loc)
	var b strings.Builder
	b.WriteString(open.Format("2006-01-02"))
	b.WriteByte('/')
	b.WriteString(path)
	b.WriteByte('.')
	b.WriteString(open.Format("15:04:05"))
	b.WriteByte('-')
	b.WriteString(close.Format("15:04:05"))
	if suffix != "" {
		b.WriteByte('-')
		b.WriteString(suffix)
	}
	if n > 0 {
		b.WriteByte('.')
		b.WriteString(strconv.Itoa(n))
	}
	b.WriteString(".log")
	return b.String()
}

// archive moves the file src (the log path of dir) to its archive name and
// returns that name. It never replaces an existing file, compressed or not:
// a taken name gets the next counter.
func archive(dir, src, path string, open, close time.Time, suffix string, utc bool) (string, error) {
	for n := 0; n < 1000; n++ {
		dst := filepath.Join(dir, archiveName(path, open, close, suffix, n, utc))
		if n == 0 {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return "", fmt.Errorf("zeeklog: archive %s: %w", src, err)
			}
		}
		if exists(dst) || exists(dst+".gz") {
			continue
		}
		if err := os.Rename(src, dst); err != nil {
			return "", fmt.Errorf("zeeklog: archive %s: %w", src, err)
		}
		return dst, nil
	}
	return "", fmt.Errorf("zeeklog: archive %s: 1000 names taken", src)
}

func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

// Compress gzips the archived log name into name+".gz" and removes name,
// keeping its modification time. The output is written to name+".gz.tmp"
// and renamed when complete, so a crash leaves either the plain file or a
// complete .gz (if both exist, the .gz is complete and name is removed).
// It returns the new name. Safe for concurrent use on different files.
func Compress(name string) (string, error) {
	gz := name + ".gz"
	if exists(gz) {
		return gz, os.Remove(name)
	}
	st, err := os.Stat(name)
	if err != nil {
		return "", fmt.Errorf("zeeklog: compress: %w", err)
	}
	tmp := gz + ".tmp"
	if err := gzipFile(name, tmp); err != nil {
		return "", errors.Join(fmt.Errorf("zeeklog: compress %s: %w", name, err), removeIfExists(tmp))
	}
	if err := os.Chtimes(tmp, st.ModTime(), st.ModTime()); err != nil {
		return "", errors.Join(fmt.Errorf("zeeklog: compress %s: %w", name, err), removeIfExists(tmp))
	}
	if err := os.Rename(tmp, gz); err != nil {
		return "", errors.Join(fmt.Errorf("zeeklog: compress %s: %w", name, err), removeIfExists(tmp))
	}
	if err := os.Remove(name); err != nil {
		return gz, fmt.Errorf("zeeklog: compress %s: %w", name, err)
	}
	return gz, nil
}

func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	err = errors.Join(err, zw.Close())
	if err == nil {
		err = out.Sync() // the rename must not publish an incomplete file
	}
	return errors.Join(err, out.Close())
}

func removeIfExists(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Uncompressed returns the archived logs under dir (in its YYYY-MM-DD
// directories) that are not compressed yet, oldest day first: what a
// rotation with compression left when the process stopped before Compress
// finished. Stale ".gz.tmp" files of an interrupted Compress are removed.
func Uncompressed(dir string) ([]string, error) {
	days, err := dayDirs(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, day := range days {
		entries, err := os.ReadDir(filepath.Join(dir, day))
		if err != nil {
			return nil, fmt.Errorf("zeeklog: %w", err)
		}
		for _, e := range entries {
			name := filepath.Join(dir, day, e.Name())
			switch {
			case !e.Type().IsRegular():
			case strings.HasSuffix(e.Name(), ".log.gz.tmp"):
				if err := os.Remove(name); err != nil {
					return nil, fmt.Errorf("zeeklog: %w", err)
				}
			case strings.HasSuffix(e.Name(), ".log"):
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// dayDirs lists the YYYY-MM-DD directories of dir, oldest first.
func dayDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("zeeklog: %w", err)
	}
	var days []string
	for _, e := range entries {
		if e.IsDir() && dayDirRE.MatchString(e.Name()) {
			days = append(days, e.Name())
		}
	}
	slices.Sort(days)
	return days, nil
}

// archives returns the archived files of the log path under dir, with
// any suffix, newest first (by day directory, then modification time,
// which is the close time).
func archives(dir, path string) ([]string, error) {
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(path) +
		`\.[0-9]{2}:[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}:[0-9]{2}(-.+?)?(\.[0-9]+)?\.log(\.gz)?$`)
	days, err := dayDirs(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for i := len(days) - 1; i >= 0; i-- {
		entries, err := os.ReadDir(filepath.Join(dir, days[i]))
		if err != nil {
			return nil, fmt.Errorf("zeeklog: %w", err)
		}
		type file struct {
			name  string
			mtime time.Time
		}
		var files []file
		for _, e := range entries {
			if !e.Type().IsRegular() || !re.MatchString(e.Name()) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			files = append(files, file{filepath.Join(dir, days[i], e.Name()), info.ModTime()})
		}
		slices.SortFunc(files, func(a, b file) int {
			if c := b.mtime.Compare(a.mtime); c != 0 {
				return c
			}
			return strings.Compare(b.name, a.name)
		})
		for _, f := range files {
			out = append(out, f.name)
		}
	}
	return out, nil
}
