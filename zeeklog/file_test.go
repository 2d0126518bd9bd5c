package zeeklog

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var fileFields = []Field{{"n", "count"}, {"s", "string"}}

func openTest(t *testing.T, cfg FileConfig, now time.Time) (*File, Recovery) {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = "x"
	}
	if cfg.Fields == nil {
		cfg.Fields = fileFields
	}
	if cfg.Format == "" {
		cfg.Format = FormatTSV
	}
	f, rec, err := OpenFile(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	return f, rec
}

// row is the test row n.
func row(n int) []Value { return []Value{Count(uint64(n)), String("row " + strconv.Itoa(n))} }

// writeRows writes rows from..to-1 and returns how many were new.
func writeRows(t *testing.T, f *File, from, to int) int {
	t.Helper()
	added := 0
	for i := from; i < to; i++ {
		ok, err := f.Write(row(i)...)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			added++
		}
	}
	return added
}

func commit(t *testing.T, f *File) {
	t.Helper()
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
}

// readLog reads a TSV or JSON log file, plain or gzip, and returns its
// first column and whether it is closed (TSV). It fails on a partial line.
func readLog(t *testing.T, name string, format Format) ([]string, *Log) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s ends with a partial line: %q", name, b[max(0, len(b)-40):])
	}
	var l *Log
	if format == FormatJSON {
		l, err = ReadJSON(bytes.NewReader(b), []string{"n", "s"})
	} else {
		l, err = ReadTSV(bytes.NewReader(b))
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var ns []string
	for _, r := range l.Rows {
		ns = append(ns, r[0])
	}
	return ns, l
}

// allRows reads the live log x and every archive of it under dir, and
// returns the row numbers found, sorted.
func allRows(t *testing.T, dir string, format Format) []int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*", "x.*.log*"))
	if err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(dir, "x.log")) {
		names = append(names, filepath.Join(dir, "x.log"))
	}
	var out []int
	for _, name := range names {
		ns, _ := readLog(t, name, format)
		for _, s := range ns {
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("%s: row %q", name, s)
			}
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// wantRange fails unless rows is exactly from..to-1, each once.
func wantRange(t *testing.T, rows []int, from, to int) {
	t.Helper()
	if len(rows) != to-from {
		t.Fatalf("%d rows, want %d (%d..%d): %v", len(rows), to-from, from, to-1, rows)
	}
	for i, n := range rows {
		if n != from+i {
			t.Fatalf("row %d is %d, want %d (missing or repeated rows)", i, n, from+i)
		}
	}
}

func TestFileDropsRepeats(t *testing.T) {
	for _, format := range []Format{FormatTSV, FormatJSON} {
		t.Run(string(format), func(t *testing.T) {
			dir := t.TempDir()
			f, _ := openTest(t, FileConfig{Dir: dir, Format: format}, testNow)
			if exists(filepath.Join(dir, "x.log")) {
				t.Fatal("a log without rows has a file")
			}
			if n := writeRows(t, f, 0, 10) + writeRows(t, f, 3, 4); n != 10 {
				t.Fatalf("%d rows accepted, want 10 (a pending repeat was kept)", n)
			}
			if f.Pending() != 10 {
				t.Fatalf("pending %d", f.Pending())
			}
			commit(t, f)
			if n := writeRows(t, f, 5, 12); n != 2 {
				t.Fatalf("%d rows accepted, want 2 (committed repeats kept)", n)
			}
			commit(t, f)
			if err := f.Close(testNow); err != nil {
				t.Fatal(err)
			}
			wantRange(t, allRows(t, dir, format), 0, 12)
			if s := f.Stats(); s.Rows != 12 || s.Duplicates != 6 || s.CommitErrors != 0 {
				t.Fatalf("stats %+v", s)
			}
			if _, err := f.Write(row(99)...); err != ErrClosed {
				t.Fatalf("Write after Close: %v", err)
			}
		})
	}
}

// TestFileRestart: a process dies after committing rows and in the middle
// of a write (a partial last line). The next OpenFile cuts the partial
// line, recognises every committed row, and either appends to the file or
// archives it (with "#close" for TSV); rows re-sent after the restart are
// written once.
func TestFileRestart(t *testing.T) {
	for _, format := range []Format{FormatTSV, FormatJSON} {
		for _, keep := range []bool{false, true} {
			t.Run(string(format)+"/keep="+strconv.FormatBool(keep), func(t *testing.T) {
				dir := t.TempDir()
				cfg := FileConfig{Dir: dir, Format: format, KeepLeftover: keep}
				f, _ := openTest(t, cfg, testNow)
				writeRows(t, f, 0, 100)
				commit(t, f)
				// The process dies in the middle of its next write.
				partial := []byte("100\trow 1")
				if format == FormatJSON {
					partial = []byte(`{"n":100,"s":"ro`)
				}
				if _, err := f.f.Write(partial); err != nil {
					t.Fatal(err)
				}
				f2, rec := openTest(t, cfg, testNow.Add(time.Hour))
				if !rec.Leftover || rec.CutBytes != int64(len(partial)) || rec.WindowRows != 100 {
					t.Fatalf("recovery %+v", rec)
				}
				if rec.Appended != keep || (rec.Archived != "") == keep {
					t.Fatalf("recovery %+v, keep %v", rec, keep)
				}
				if !keep {
					ns, l := readLog(t, rec.Archived, format)
					if len(ns) != 100 || (format == FormatTSV && !l.Closed) {
						t.Fatalf("archived leftover: %d rows, closed %v", len(ns), l.Closed)
					}
				}
				if n := writeRows(t, f2, 50, 150); n != 50 {
					t.Fatalf("%d rows accepted after restart, want 50", n)
				}
				commit(t, f2)
				if err := f2.Close(testNow); err != nil {
					t.Fatal(err)
				}
				wantRange(t, allRows(t, dir, format), 0, 150)
				if format == FormatTSV {
					_, l := readLog(t, filepath.Join(dir, "x.log"), format)
					if !l.Closed || l.Path != "x" {
						t.Fatalf("live log after restart: %+v", l)
					}
				}
			})
		}
	}
}

// TestFileWindowBound: the window holds the hashes of the last Window rows,
// no more, in memory and when rebuilt from the files.
func TestFileWindowBound(t *testing.T) {
	dir := t.TempDir()
	cfg := FileConfig{Dir: dir, Window: 10}
	f, _ := openTest(t, cfg, testNow)
	writeRows(t, f, 0, 30)
	commit(t, f)
	if n := writeRows(t, f, 19, 21); n != 1 {
		t.Fatalf("%d rows accepted, want 1 (row 19 left the window, row 20 is in it)", n)
	}
	f.buf, f.pending = f.buf[:0], f.pending[:0]
	clear(f.pendSet)
	f2, rec := openTest(t, cfg, testNow)
	if rec.WindowRows != 10 {
		t.Fatalf("window rebuilt with %d rows, want 10", rec.WindowRows)
	}
	if n := writeRows(t, f2, 15, 30); n != 5 {
		t.Fatalf("%d rows accepted, want 5 (15..19)", n)
	}
}

// TestFileWindowFromArchives: when the live file holds fewer rows than the
// window, the newest archives (compressed or not) fill it.
func TestFileWindowFromArchives(t *testing.T) {
	dir := t.TempDir()
	cfg := FileConfig{Dir: dir, Window: 70, Suffix: "mgr-1"}
	f, _ := openTest(t, cfg, testNow)
	writeRows(t, f, 0, 30)
	commit(t, f)
	if _, err := f.Rotate(testNow.Add(time.Minute), ""); err != nil {
		t.Fatal(err)
	}
	writeRows(t, f, 30, 60)
	commit(t, f)
	name, err := f.Rotate(testNow.Add(2*time.Minute), "mgr-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compress(name); err != nil {
		t.Fatal(err)
	}
	writeRows(t, f, 60, 80)
	commit(t, f) // and the process dies
	f2, rec := openTest(t, cfg, testNow.Add(time.Hour))
	if rec.WindowRows != 70 || rec.Sources != 3 {
		t.Fatalf("recovery %+v, want 70 rows from 3 files", rec)
	}
	if n := writeRows(t, f2, 0, 80); n != 10 {
		t.Fatalf("%d rows accepted, want 10 (rows 0..9 are older than the window)", n)
	}
}

func TestFileLeftoverKinds(t *testing.T) {
	hdr := string(mustEncoder(t).appendHeader(nil, testNow))
	tests := map[string]struct {
		content  string
		keep     bool
		appended bool
		removed  bool
		cut      int64
	}{
		"complete, kept":          {hdr + "1\ta\n", true, true, false, 0},
		"complete, rotated":       {hdr + "1\ta\n", false, false, false, 0},
		"closed":                  {hdr + "1\ta\n#close\t2016-07-13-17-00-00\n", true, false, false, 0},
		"header cut":              {hdr[:40] + "\n", true, false, false, 0},
		"header partial line":     {hdr[:45], true, false, false, 45 - int64(strings.LastIndexByte(hdr[:45], '\n')+1)},
		"other fields":            {strings.Replace(hdr, "\ts\n", "\tt\n", 1) + "1\ta\n", true, false, false, 0},
		"other path":              {strings.Replace(hdr, "#path\tx", "#path\ty", 1), true, false, false, 0},
		"only a partial row":      {"1\tab", true, false, true, 4},
		"row before header":       {"1\ta\n" + hdr, true, false, false, 0},
		"complete, partial tail":  {hdr + "1\ta\n2\t", true, true, false, 2},
		"empty":                   {"", true, false, true, 0},
		"header without row kept": {hdr, true, true, false, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			live := filepath.Join(dir, "x.log")
			if err := os.WriteFile(live, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			f, rec := openTest(t, FileConfig{Dir: dir, KeepLeftover: tc.keep}, testNow)
			if rec.Appended != tc.appended || rec.Removed != tc.removed || rec.CutBytes != tc.cut {
				t.Fatalf("recovery %+v", rec)
			}
			if !tc.appended && !tc.removed {
				b, err := os.ReadFile(rec.Archived)
				if err != nil {
					t.Fatal(err)
				}
				if want := tc.content[:len(tc.content)-int(tc.cut)]; !strings.HasPrefix(string(b), want) {
					t.Fatalf("archive %q does not keep %q", b, want)
				}
			}
			writeRows(t, f, 7, 8)
			commit(t, f)
			if err := f.Close(testNow); err != nil {
				t.Fatal(err)
			}
			ns, l := readLog(t, live, FormatTSV)
			if want := 1 + btoi(tc.appended && strings.Contains(tc.content, "1\ta\n")); len(ns) != want || !l.Closed {
				t.Fatalf("live log rows %v closed %v, want %d rows", ns, l.Closed, want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustEncoder(t *testing.T) *encoder {
	t.Helper()
	e, err := newEncoder("x", fileFields, FormatTSV)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
