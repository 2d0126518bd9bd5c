package scan

import (
	"net/netip"
	"testing"
	"time"
)

// benchAttempt returns the i-th attempt of a synthetic stream in which each
// scanner makes perScanner attempts, a fresh victim and port each, before
// the next scanner starts; network time advances 100 µs per attempt.
func benchAttempt(i, perScanner int) Attempt {
	s := uint32(i / perScanner)
	k := uint32(i % perScanner)
	return Attempt{
		TS:      t0.Add(time.Duration(i) * 100 * time.Microsecond),
		Scanner: netip.AddrFrom4([4]byte{byte(1 + s>>24%200), byte(s >> 16), byte(s >> 8), byte(s)}),
		Victim:  netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}),
		Port:    uint16(k%7 + 20),
		Proto:   6,
	}
}

func BenchmarkObserve(b *testing.B) {
	cases := map[string]int{
		"below threshold (20 per scanner)":    20,
		"reported at 25 (40 per scanner)":     40,
		"single attempt scanners":             1,
		"local scanner, 250 unique then more": 300,
	}
	for name, per := range cases {
		b.Run(name, func(b *testing.B) {
			cfg := DefaultConfig()
			if per == 300 {
				cfg.LocalNets = nets(b, "0.0.0.0/0")
			}
			d := newDetector(b, cfg)
			notices := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				a := benchAttempt(i, per)
				if _, ok := d.Observe(a, a.TS); ok {
					notices++
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
			_ = notices
		})
	}
}

func BenchmarkWorkerAllow(b *testing.B) {
	f := newWorker(b, DefaultConfig())
	b.ReportAllocs()
	for i := range b.N {
		a := benchAttempt(i/2, 40) // every attempt twice: half are recent repeats
		f.Allow(a, a.TS)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
}

func BenchmarkStateEncodeDecode(b *testing.B) {
	d := newDetector(b, DefaultConfig())
	for i := range 10000 * 10 { // 10000 scanners with 10 attempts each
		a := benchAttempt(i, 10)
		d.Observe(a, a.TS)
	}
	st := d.Export(nil)
	buf, _ := st.AppendBinary(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		buf, _ = st.AppendBinary(buf[:0])
		var out State
		if err := out.DecodeBinary(buf); err != nil {
			b.Fatal(err)
		}
	}
}
