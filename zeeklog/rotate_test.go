package zeeklog

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFileRotate: zeekctl's archive names, "#open" and "#close" stamps,
// rows pending at a rotation going to the next file, a rotation without a
// file moving the next open time, the counter for a taken name, the
// manager's suffix, and UTC names.
func TestFileRotate(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2016, 7, 13, 10, 0, 0, 0, time.Local)
	f, _ := openTest(t, FileConfig{Dir: dir}, t0)
	writeRows(t, f, 0, 5)
	commit(t, f)
	writeRows(t, f, 5, 8) // pending at the rotation
	t1 := t0.Add(time.Hour)
	name, err := f.Rotate(t1, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "2016-07-13", "x.10:00:00-11:00:00.log"); name != want {
		t.Fatalf("archived as %s, want %s", name, want)
	}
	ns, l := readLog(t, name, FormatTSV)
	if len(ns) != 5 || l.OpenTime != "2016-07-13-10-00-00" || l.CloseTime != "2016-07-13-11-00-00" {
		t.Fatalf("archive: rows %v open %q close %q", ns, l.OpenTime, l.CloseTime)
	}
	if exists(filepath.Join(dir, "x.log")) || exists(shadowName(dir, "x")) {
		t.Fatal("live file or shadow left after rotation")
	}
	commit(t, f) // the pending rows open the next file, stamped t1
	t2 := t1.Add(time.Hour)
	name, err = f.Rotate(t2, "mgr-1")
	if err != nil {
		t.Fatal(err)
	}
	ns, l = readLog(t, name, FormatTSV)
	if filepath.Base(name) != "x.11:00:00-12:00:00-mgr-1.log" || len(ns) != 3 || l.OpenTime != "2016-07-13-11-00-00" {
		t.Fatalf("second archive %s: rows %v open %q", name, ns, l.OpenTime)
	}
	// No file: nothing archived, and the next file opens at t3.
	t3 := t2.Add(time.Hour)
	if name, err := f.Rotate(t3, ""); err != nil || name != "" {
		t.Fatalf("rotation without a file: %q %v", name, err)
	}
	// Two rotations in the same second (SIGHUP and the interval).
	writeRows(t, f, 8, 9)
	commit(t, f)
	a, err := f.Rotate(t3, "")
	if err != nil {
		t.Fatal(err)
	}
	writeRows(t, f, 9, 10)
	commit(t, f)
	b, err := f.Rotate(t3, "")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(a) != "x.13:00:00-13:00:00.log" || filepath.Base(b) != "x.13:00:00-13:00:00.1.log" {
		t.Fatalf("same-second names %s and %s", a, b)
	}
	if s := f.Stats(); s.Rotations != 4 {
		t.Fatalf("stats %+v", s)
	}
	wantRange(t, allRows(t, dir, FormatTSV), 0, 10)
}

func TestArchiveNameUTC(t *testing.T) {
	open := time.Date(2024, 3, 1, 23, 30, 0, 0, time.FixedZone("X", -5*3600))
	close := open.Add(time.Hour)
	if got, want := archiveName("notice", open, close, "", 0, true), "2024-03-02/notice.04:30:00-05:30:00.log"; got != want {
		t.Fatalf("UTC name %s, want %s", got, want)
	}
	loc := open.In(time.Local)
	want := loc.Format("2006-01-02") + "/notice." + loc.Format("15:04:05") + "-" + close.In(time.Local).Format("15:04:05") + "-m.2.log"
	if got := archiveName("notice", open, close, "m", 2, false); got != want {
		t.Fatalf("local name %s, want %s", got, want)
	}
}

// TestFileJSONShadow: a JSON log's open time lives in its shadow file and
// names the archive of a leftover.
func TestFileJSONShadow(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2016, 7, 13, 10, 0, 0, 0, time.Local)
	f, _ := openTest(t, FileConfig{Dir: dir, Format: FormatJSON}, t0)
	writeRows(t, f, 0, 3)
	commit(t, f)
	if open, ok := readShadow(dir, "x"); !ok || !open.Equal(t0) {
		t.Fatalf("shadow open time %v %v", open, ok)
	}
	b, _ := os.ReadFile(shadowName(dir, "x"))
	if !strings.HasPrefix(string(b), ".log\n\n") {
		t.Fatalf("shadow file %q is not Zeek's layout", b)
	}
	mtime := t0.Add(25 * time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "x.log"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	// The process died; it starts again.
	_, rec := openTest(t, FileConfig{Dir: dir, Format: FormatJSON}, t0.Add(time.Hour))
	if want := filepath.Join(dir, "2016-07-13", "x.10:00:00-10:25:00.log"); rec.Archived != want {
		t.Fatalf("leftover archived as %s, want %s", rec.Archived, want)
	}
	if exists(shadowName(dir, "x")) {
		t.Fatal("shadow file of an archived leftover left behind")
	}
	wantRange(t, allRows(t, dir, FormatJSON), 0, 3)
}

func TestCompress(t *testing.T) {
	dir := t.TempDir()
	f, _ := openTest(t, FileConfig{Dir: dir}, testNow)
	writeRows(t, f, 0, 50)
	commit(t, f)
	name, err := f.Rotate(testNow.Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(name)
	plain, _ := os.ReadFile(name)
	// A crash left a stale temporary file: Uncompressed lists the
	// archive and removes the stale file.
	if err := os.WriteFile(name+".gz.tmp", []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	todo, err := Uncompressed(dir)
	if err != nil || !slices.Equal(todo, []string{name}) || exists(name+".gz.tmp") {
		t.Fatalf("Uncompressed = %v, %v", todo, err)
	}
	gz, err := Compress(name)
	if err != nil {
		t.Fatal(err)
	}
	if exists(name) || gz != name+".gz" {
		t.Fatalf("Compress = %s; plain file left: %v", gz, exists(name))
	}
	gst, _ := os.Stat(gz)
	if !gst.ModTime().Equal(st.ModTime()) {
		t.Fatalf("mtime %v, want %v", gst.ModTime(), st.ModTime())
	}
	ns, l := readLog(t, gz, FormatTSV)
	if len(ns) != 50 || !l.Closed {
		t.Fatalf("decompressed: %d rows, closed %v", len(ns), l.Closed)
	}
	// A crash after the rename and before the removal: both exist.
	if err := os.WriteFile(name, plain, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Compress(name); err != nil || got != gz || exists(name) {
		t.Fatalf("second Compress = %s, %v", got, err)
	}
	if todo, err := Uncompressed(dir); err != nil || len(todo) != 0 {
		t.Fatalf("Uncompressed after = %v, %v", todo, err)
	}
}

func TestNextRotation(t *testing.T) {
	for _, utc := range []bool{true, false} {
		loc := time.Local
		if utc {
			loc = time.UTC
		}
		at := func(h, m, s, ns int) time.Time { return time.Date(2024, 5, 6, h, m, s, ns, loc) }
		tests := map[string]struct {
			now      time.Time
			interval time.Duration
			want     time.Time
		}{
			"hourly":          {at(10, 17, 3, 0), time.Hour, at(11, 0, 0, 0)},
			"on the hour":     {at(11, 0, 0, 0), time.Hour, at(12, 0, 0, 0)},
			"two seconds":     {at(10, 0, 1, 500e6), 2 * time.Second, at(10, 0, 2, 0)},
			"even second":     {at(10, 0, 2, 0), 2 * time.Second, at(10, 0, 4, 0)},
			"7h caps at 0:00": {at(22, 0, 0, 0), 7 * time.Hour, at(24, 0, 0, 0)},
			"7h":              {at(8, 0, 0, 0), 7 * time.Hour, at(14, 0, 0, 0)},
			"15m":             {at(23, 59, 0, 0), 15 * time.Minute, at(24, 0, 0, 0)},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				// now is given in another zone: only the instant counts.
				now := tc.now.In(time.FixedZone("other", 5*3600+1800))
				if got := NextRotation(now, tc.interval, utc); !got.Equal(tc.want) {
					t.Fatalf("utc=%v: NextRotation(%v) = %v, want %v", utc, tc.now, got, tc.want)
				}
			})
		}
	}
}

// TestWindowMatchesReference checks the window against a plain list of the
// last max distinct hashes under random adds.
func TestWindowMatchesReference(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		r := rand.New(rand.NewPCG(seed, 0))
		max := 1 + r.IntN(50)
		w := newWindow(max)
		var ref []uint64
		for range 5000 {
			h := uint64(r.IntN(120))
			added := w.add(h)
			if slices.Contains(ref, h) == added {
				t.Fatalf("seed %d: add(%d) = %v with reference %v", seed, h, added, ref)
			}
			if added {
				ref = append(ref, h)
				if len(ref) > max {
					ref = ref[1:]
				}
			}
			if w.len() != len(ref) {
				t.Fatalf("seed %d: len %d, reference %d", seed, w.len(), len(ref))
			}
			for _, x := range ref {
				if !w.contains(x) {
					t.Fatalf("seed %d: lost %d", seed, x)
				}
			}
		}
	}
}
