package zeeklog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tmpfs mounts a tmpfs of the given size on a new temporary directory and
// unmounts it when the test ends (lazily: a failed test may leave a file
// open).
func tmpfs(t *testing.T, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes the file name until the file system is full, then gives
// back free bytes (rounded to pages by tmpfs).
func fill(t *testing.T, name string, free int64) {
	t.Helper()
	fd, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := fd.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	st, _ := fd.Stat()
	if err := fd.Truncate(max(st.Size()-free, 0)); err != nil {
		t.Fatal(err)
	}
}

// TestFileDiskFull runs a log on a real, small tmpfs: a commit that hits
// ENOSPC leaves the file at its last complete row, reports the error and
// rolls its rows back, so that they are accepted (not taken for repeats)
// when sent again after space is freed. Nothing is lost, nothing repeated,
// no partial line, also when the disk is full before the file exists and
// when a rotation meets a full disk.
func TestFileDiskFull(t *testing.T) {
	for _, format := range []Format{FormatTSV, FormatJSON} {
		t.Run(string(format), func(t *testing.T) {
			dir := tmpfs(t, "size=256k")
			filler := filepath.Join(dir, "filler")
			fill(t, filler, 0)
			f, _ := openTest(t, FileConfig{Dir: dir, Format: format}, testNow)
			writeRows(t, f, 0, 20)
			if err := f.Commit(); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("commit on a full disk: %v", err)
			}
			if exists(filepath.Join(dir, "x.log")) || exists(shadowName(dir, "x")) {
				t.Fatal("files created on a full disk")
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			fill(t, filler, 8192)
			next, batch := 0, 20
			var failed error
			for failed == nil && next < 100000 {
				if n := writeRows(t, f, next, next+batch); n != batch {
					t.Fatalf("rows %d..%d: %d accepted, want %d", next, next+batch, n, batch)
				}
				if failed = f.Commit(); failed == nil {
					next += batch
				}
			}
			if !errors.Is(failed, syscall.ENOSPC) {
				t.Fatalf("commit error %v, want ENOSPC", failed)
			}
			live := filepath.Join(dir, "x.log")
			ns, _ := readLog(t, live, format) // fails on a partial line
			if len(ns) != next {
				t.Fatalf("%d rows in the file, %d committed", len(ns), next)
			}
			s := f.Stats()
			if s.CommitErrors != 2 || s.RolledBack != 2*uint64(batch) {
				t.Fatalf("stats %+v", s)
			}
			// Space is freed; the sender retries the batch and more.
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			if n := writeRows(t, f, 0, next+2*batch); n != 2*batch {
				t.Fatalf("%d rows accepted after the disk was freed, want %d", n, 2*batch)
			}
			commit(t, f)
			if _, err := f.Rotate(testNow.Add(2*time.Hour), ""); err != nil {
				t.Fatal(err)
			}
			wantRange(t, allRows(t, dir, format), 0, next+2*batch)
			names, _ := filepath.Glob(filepath.Join(dir, "*", "x.*"))
			for _, name := range names {
				if b, _ := os.ReadFile(name); format == FormatTSV && strings.Count(string(b), "#close") != 1 {
					t.Fatalf("%s has %d #close lines", name, strings.Count(string(b), "#close"))
				}
			}
		})
	}
}

// TestFileRotateFails: a rotation that cannot archive the file (here the
// file system has no inode left for the day directory) leaves the live file
// as it was, without its "#close", and rows keep going to it.
func TestFileRotateFails(t *testing.T) {
	dir := tmpfs(t, "size=256k,nr_inodes=3") // the root, the shadow file and the log
	f, _ := openTest(t, FileConfig{Dir: dir}, testNow)
	writeRows(t, f, 0, 10)
	commit(t, f)
	if _, err := f.Rotate(testNow.Add(time.Hour), ""); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("rotation without a free inode: %v", err)
	}
	writeRows(t, f, 10, 20)
	commit(t, f)
	live := filepath.Join(dir, "x.log")
	if ns, l := readLog(t, live, FormatTSV); len(ns) != 20 || l.Closed {
		t.Fatalf("after a failed rotation: %d rows, closed %v", len(ns), l.Closed)
	}
	if err := f.Close(testNow); err != nil {
		t.Fatal(err)
	}
	if ns, l := readLog(t, live, FormatTSV); len(ns) != 20 || !l.Closed {
		t.Fatalf("after Close: %d rows, closed %v", len(ns), l.Closed)
	}
}
