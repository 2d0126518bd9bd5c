package zeeklog

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Shadow files are Zeek's (LogAscii::enable_leftover_log_rotation): beside
// every live log <path>.log a file .shadow.<path>.log exists while it is
// live. Zeek writes the log's extension and post-processor on two lines;
// shoal adds a third with the open time in seconds since the epoch, which
// JSON logs have nowhere else. A leftover log's open time comes from that
// line (else its "#open" header, else the shadow file's ctime, as Zeek
// does); its close time is the log's modification time.

func shadowName(dir, path string) string { return filepath.Join(dir, ".shadow."+path+".log") }

// writeShadow writes the shadow file through a temporary file and a
// rename, as Zeek does, so it is complete or absent.
func writeShadow(dir, path string, open time.Time, sync bool) error {
	name := shadowName(dir, path)
	tmp := filepath.Join(dir, ".tmp"+filepath.Base(name))
	b := []byte(".log\n\n")
	b = appendMicros(b, open.UnixMicro())
	b = append(b, '\n')
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		return errors.Join(err, removeIfExists(tmp))
	}
	return nil
}

// readShadow returns the open time the shadow file of path records, or
// its ctime for a shadow file without one; ok is false without a shadow
// file.
func readShadow(dir, path string) (open time.Time, ok bool) {
	name := shadowName(dir, path)
	b, err := os.ReadFile(name)
	if err != nil {
		return time.Time{}, false
	}
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) >= 3 {
		if m, ok := parseMicros(string(lines[2])); ok {
			return time.UnixMicro(m), true
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(name, &st); err != nil {
		return time.Time{}, false
	}
	return time.Unix(st.Ctim.Sec, st.Ctim.Nsec), true
}

func removeShadow(dir, path string) error {
	if err := os.Remove(shadowName(dir, path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// parseMicros reads a non-negative time written by appendMicros
// ("1700000000.123456") exactly.
func parseMicros(s string) (int64, bool) {
	sec, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 6 {
		return 0, false
	}
	a, err1 := strconv.ParseInt(sec, 10, 64)
	b, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || a < 0 || b < 0 {
		return 0, false
	}
	return a*1e6 + b, true
}
