package zeeklog

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestDir(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(DirConfig{Dir: dir, Format: FormatTSV})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDir(DirConfig{Dir: dir, Format: FormatTSV}); !errors.Is(err, ErrDirBusy) {
		t.Fatalf("second OpenDir of a locked directory: %v", err)
	}
	for _, p := range []string{"x", "y"} {
		if _, err := d.Open(p, fileFields, testNow); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Open("x", fileFields, testNow); err == nil {
		t.Fatal("a log opened twice")
	}
	if _, err := d.Write("z", row(1)...); !errors.Is(err, ErrUnknownPath) {
		t.Fatalf("Write to an unknown log: %v", err)
	}
	for i := range 10 {
		for _, p := range []string{"x", "y", "x"} {
			if _, err := d.Write(p, row(i)...); err != nil {
				t.Fatal(err)
			}
		}
	}
	if d.Pending() != 20 {
		t.Fatalf("pending %d, want 20", d.Pending())
	}
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	names, err := d.Rotate(testNow.Add(time.Hour), "m")
	if err != nil || len(names) != 2 {
		t.Fatalf("Rotate = %v, %v", names, err)
	}
	if _, err := d.Write("y", row(10)...); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	if st["x"].Rows != 10 || st["x"].Duplicates != 10 || st["y"].Rows != 11 || st["y"].Rotations != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := d.Close(testNow.Add(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(testNow); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if ns, l := readLog(t, filepath.Join(dir, "y.log"), FormatTSV); len(ns) != 1 || !l.Closed {
		t.Fatalf("y.log after Close: %v closed %v", ns, l.Closed)
	}
	d2, err := OpenDir(DirConfig{Dir: dir, Format: FormatTSV})
	if err != nil {
		t.Fatalf("OpenDir after Close: %v", err)
	}
	rec, err := d2.Open("y", fileFields, testNow)
	if err != nil || rec.WindowRows != 11 || rec.Archived == "" {
		t.Fatalf("reopened y: %+v %v", rec, err)
	}
	if ok, err := d2.Write("y", row(3)...); ok || err != nil {
		t.Fatalf("a row from before the restart was accepted again: %v %v", ok, err)
	}
	if err := d2.Close(testNow); err != nil {
		t.Fatal(err)
	}
}
