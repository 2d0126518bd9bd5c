package zeeklog

import (
	"io"
	"net/netip"
	"testing"
	"time"
)

var benchFields = []Field{{"ts", "time"}, {"host", "addr"}}

func newBenchWriter(tb testing.TB, format Format) *Writer {
	tb.Helper()
	w, err := New(io.Discard, "known_hosts", benchFields, format, testNow)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// TestWriteTSVZeroAllocs makes the benchmark's 0 allocs/op a checked
// property: a steady-state TSV Write of a 2-field record does not allocate.
func TestWriteTSVZeroAllocs(t *testing.T) {
	w := newBenchWriter(t, FormatTSV)
	ts := time.UnixMicro(1300475168783842)
	host := netip.MustParseAddr("141.142.220.118")
	host6 := netip.MustParseAddr("2001:db8::1")
	for name, write := range map[string]func() error{
		"ts+ipv4": func() error { return w.Write(Time(ts), Addr(host)) },
		"ts+ipv6": func() error { return w.Write(Time(ts), Addr(host6)) },
		"unset":   func() error { return w.Write(Unset(), Unset()) },
	} {
		if err := write(); err != nil { // warm the scratch buffer
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(200, func() {
			if err := write(); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocs per Write, want 0", name, n)
		}
	}
}

func BenchmarkWriteTSV(b *testing.B) {
	w := newBenchWriter(b, FormatTSV)
	ts := time.UnixMicro(1300475168783842)
	host := netip.MustParseAddr("141.142.220.118")
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(Time(ts), Addr(host)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteJSON(b *testing.B) {
	w := newBenchWriter(b, FormatJSON)
	ts := time.UnixMicro(1300475168783842)
	host := netip.MustParseAddr("141.142.220.118")
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(Time(ts), Addr(host)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileCommit is raw zeeklog writing as a manager does it: rows
// written through a File (encoding, row hash, window) and committed to a
// real file in batches of 256. The manager benchmark in node compares its
// records per second with this.
func BenchmarkFileCommit(b *testing.B) {
	f, _, err := OpenFile(FileConfig{Dir: b.TempDir(), Path: "known_hosts", Fields: benchFields, Format: FormatTSV}, testNow)
	if err != nil {
		b.Fatal(err)
	}
	base := netip.MustParseAddr("10.0.0.0").As4()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a := base
		a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
		if _, err := f.Write(Time(time.UnixMicro(1300475168783842+int64(i))), Addr(netip.AddrFrom4(a))); err != nil {
			b.Fatal(err)
		}
		if i++; i%256 == 0 {
			if err := f.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := f.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
