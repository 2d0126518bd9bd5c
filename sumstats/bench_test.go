package sumstats

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// BenchmarkObserve measures Engine.Observe per reducer: one sumstat with a
// single calculation, 1,000 host keys, counts from a domain of 10,000
// values. obs/s is observations per second on one core.
func BenchmarkObserve(b *testing.B) {
	benches := []struct {
		name string
		red  Reducer
	}{
		{"sum", Reducer{Apply: []Calc{CalcSum}}},
		{"min", Reducer{Apply: []Calc{CalcMin}}},
		{"max", Reducer{Apply: []Calc{CalcMax}}},
		{"average", Reducer{Apply: []Calc{CalcAverage}}},
		{"variance", Reducer{Apply: []Calc{CalcVariance}}},
		{"std_dev", Reducer{Apply: []Calc{CalcStdDev}}},
		{"unique", Reducer{Apply: []Calc{CalcUnique}}},
		{"unique_max_10", Reducer{Apply: []Calc{CalcUnique}, UniqueMax: 10}},
		{"hll_unique", Reducer{Apply: []Calc{CalcHLLUnique}}},
		{"topk", Reducer{Apply: []Calc{CalcTopK}}},
		{"topk_10", Reducer{Apply: []Calc{CalcTopK}, TopKSize: 10}},
		{"sample", Reducer{Apply: []Calc{CalcSample}, SampleSize: 10}},
		{"last", Reducer{Apply: []Calc{CalcLast}, LastN: 10}},
		{"all", Reducer{Apply: []Calc{CalcSum, CalcMin, CalcMax, CalcStdDev, CalcUnique, CalcHLLUnique, CalcTopK, CalcSample, CalcLast},
			SampleSize: 10, LastN: 10}},
	}
	const nKeys, nVals = 1000, 10000
	keys := make([]Key, nKeys)
	for i := range keys {
		keys[i] = Key{Host: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})}
	}
	rng := newRand(1)
	vals := make([]Observation, 1<<16)
	for i := range vals {
		vals[i] = Num(rng.Uint64N(nVals))
	}
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			e := New(Config{Rand: newRand(2)})
			red := bc.red
			red.Stream = "s"
			if err := e.Add(Def{Name: "b", Reducers: []Reducer{red}}, caseT0); err != nil {
				b.Fatal(err)
			}
			now := caseT0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i&1023 == 0 {
					now = now.Add(time.Millisecond)
				}
				e.Observe("s", keys[i%nKeys], vals[i&(len(vals)-1)], now)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
		})
	}
}

// BenchmarkObserveThreshold adds a threshold check after every observation.
func BenchmarkObserveThreshold(b *testing.B) {
	e := New(Config{})
	limit := 1e18
	d := Def{Name: "t", Reducers: []Reducer{{Stream: "s", Apply: []Calc{CalcSum}}},
		ThresholdVal: sumOf("s"), Threshold: &limit}
	if err := e.Add(d, caseT0); err != nil {
		b.Fatal(err)
	}
	keys := make([]Key, 1000)
	for i := range keys {
		keys[i] = Key{Str: fmt.Sprint(i)}
	}
	b.ReportAllocs()
	for i := range b.N {
		e.Observe("s", keys[i%len(keys)], Num(1), caseT0)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
}

// BenchmarkResultCodec measures encoding and decoding the Result of a key
// with every calculation (HLL at 2^11 registers).
func BenchmarkResultCodec(b *testing.B) {
	r := sampleResults(b, 5)[4]
	enc := mustEncode(b, r)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, len(enc))
		for range b.N {
			buf, _ = r.AppendBinary(buf[:0])
		}
		b.SetBytes(int64(len(enc)))
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var x Result
			if err := x.UnmarshalBinary(enc); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(enc)))
	})
}

// BenchmarkKeyMemory reports the heap held per key (B/key) for a sum
// reducer and for sum+unique+hll_unique after one observation per key. The
// measurement runs once, whatever b.N is (run it with -benchtime=1x).
func BenchmarkKeyMemory(b *testing.B) {
	for _, bc := range []struct {
		name  string
		calcs []Calc
	}{
		{"sum", []Calc{CalcSum}},
		{"std_dev", []Calc{CalcStdDev}},
		{"sum_unique_hll", []Calc{CalcSum, CalcUnique, CalcHLLUnique}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const nKeys = 100_000
			var perKey float64
			for i := range b.N {
				if i > 0 {
					continue // measured once
				}
				e := New(Config{})
				if err := e.Add(Def{Name: "m", Reducers: []Reducer{{Stream: "s", Apply: bc.calcs}}}, caseT0); err != nil {
					b.Fatal(err)
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				for i := range nKeys {
					k := Key{Host: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})}
					e.Observe("s", k, Num(uint64(i)), caseT0)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perKey = float64(after.HeapAlloc-before.HeapAlloc) / nKeys
				runtime.KeepAlive(e)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}
