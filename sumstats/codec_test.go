package sumstats

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

// allCalcs is a reducer applying every calculation with small parameters.
func allCalcsDef() Def {
	return Def{Name: "all", Reducers: []Reducer{
		{Stream: "s", Apply: []Calc{CalcSum, CalcMin, CalcMax, CalcStdDev, CalcUnique, CalcHLLUnique, CalcTopK, CalcSample, CalcLast},
			UniqueMax: 20, TopKSize: 8, SampleSize: 4, LastN: 3, HLLErrorMargin: 0.05},
		{Stream: "t", Apply: []Calc{CalcAverage, CalcTopK}},
	}}
}

// sampleResults returns Results of various sizes built by an Engine.
func sampleResults(t testing.TB, seed uint64) []Result {
	t.Helper()
	rng := newRand(seed)
	var out []Result
	for _, n := range []int{1, 2, 5, 40, 300, 2000} {
		e := New(Config{Rand: newRand(rng.Uint64())})
		if err := e.Add(allCalcsDef(), caseT0); err != nil {
			t.Fatal(err)
		}
		for i, x := range genMixed(rng, n, 1+n/2) {
			stream := "s"
			if i%5 == 4 {
				stream = "t"
			}
			e.Observe(stream, propKey, x.o, x.at)
		}
		r, _ := e.Lookup("all", propKey)
		out = append(out, r)
	}
	return out
}

func mustEncode(t testing.TB, a interface{ AppendBinary([]byte) ([]byte, error) }) []byte {
	t.Helper()
	b, err := a.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCodecRoundTrip(t *testing.T) {
	for i, r := range sampleResults(t, testSeed(t)) {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			b := mustEncode(t, r)
			var got Result
			rest, err := got.DecodeBinary(append(b, 0xAA, 0xBB))
			if err != nil || !bytes.Equal(rest, []byte{0xAA, 0xBB}) {
				t.Fatalf("decode: rest %x, %v", rest, err)
			}
			if b2 := mustEncode(t, got); !bytes.Equal(b, b2) {
				t.Fatal("decode(encode(r)) encodes differently")
			}
			// Every proper prefix fails.
			for _, k := range []int{0, 1, len(b) / 3, len(b) / 2, len(b) - 1} {
				var x Result
				if err := x.UnmarshalBinary(b[:k]); !errors.Is(err, ErrDecode) {
					t.Fatalf("prefix %d/%d: %v", k, len(b), err)
				}
			}
			// The decoded state behaves like the original.
			v, w := r.Get("s"), got.Get("s")
			for range 50 {
				v.add(Num(7), caseT0)
				w.add(Num(7), caseT0)
			}
			if !bytes.Equal(mustEncode(t, v), mustEncode(t, w)) {
				t.Fatal("original and decoded state diverge after the same observations")
			}
			m1, err1 := MergeResults(r, r)
			m2, err2 := MergeResults(got, got)
			if err1 != nil || err2 != nil || !bytes.Equal(mustEncode(t, m1), mustEncode(t, m2)) {
				t.Fatalf("merges diverge: %v %v", err1, err2)
			}
		})
	}
}

func TestKeyCodec(t *testing.T) {
	for _, k := range []Key{{}, {Str: "x"}, {Host: netip.MustParseAddr("1.2.3.4")},
		{Host: netip.MustParseAddr("2001:db8::1"), Str: "y"}} {
		b := mustEncode(t, k)
		var got Key
		rest, err := got.DecodeBinary(b)
		if err != nil || len(rest) != 0 || got != k {
			t.Errorf("%v: got %v rest %x err %v", k, got, rest, err)
		}
	}
	var k Key
	if _, err := k.DecodeBinary([]byte{7}); !errors.Is(err, ErrDecode) {
		t.Errorf("bad host length: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	hll, _ := NewHLL(0.05, 0.95)
	hll.Add(12345)
	hb := mustEncode(t, hll)
	tk := NewTopK(3)
	tk.Add(Num(1))
	tb := mustEncode(t, tk)
	tests := map[string]struct {
		b   []byte
		dec func([]byte) error
	}{
		"empty":              {nil, func(b []byte) error { var r Result; return r.UnmarshalBinary(b) }},
		"bad version":        {[]byte{9, 0}, func(b []byte) error { var r Result; return r.UnmarshalBinary(b) }},
		"huge count":         {[]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}, func(b []byte) error { var r Result; return r.UnmarshalBinary(b) }},
		"trailing byte":      {append(hb[:len(hb):len(hb)], 0), func(b []byte) error { var h HLL; return h.UnmarshalBinary(b) }},
		"hll precision":      {append([]byte{1, 30}, hb[2:]...), func(b []byte) error { var h HLL; return h.UnmarshalBinary(b) }},
		"hll form":           {append([]byte{1, hb[1], 7}, hb[3:]...), func(b []byte) error { var h HLL; return h.UnmarshalBinary(b) }},
		"topk size zero":     {append([]byte{1, 0}, tb[2:]...), func(b []byte) error { var x TopK; return x.UnmarshalBinary(b) }},
		"unique over cap":    {[]byte{1, 1, 3, 1, 1, 1, 2, 1, 3}, func(b []byte) error { var u UniqueSet; return u.UnmarshalBinary(b) }},
		"unique duplicate":   {[]byte{1, 0, 2, 1, 1, 1, 1}, func(b []byte) error { var u UniqueSet; return u.UnmarshalBinary(b) }},
		"sample too many":    {[]byte{1, 1, 2, 2, 1, 1, 1, 2}, func(b []byte) error { var r Reservoir; return r.UnmarshalBinary(b) }},
		"last over capacity": {[]byte{1, 0, 1, 0, 0, 0}, func(b []byte) error { var l Last; return l.UnmarshalBinary(b) }},
		"observation kind":   {[]byte{1, 0, 1, 9}, func(b []byte) error { var u UniqueSet; return u.UnmarshalBinary(b) }},
	}
	for name, tc := range tests {
		if err := tc.dec(tc.b); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// fuzzDecoder is the body shared by the decoder fuzz targets: decoding
// never panics; a successful decode re-encodes to bytes that decode to the
// same encoding; every proper prefix of the consumed input fails.
func fuzzDecoder[T interface{ AppendBinary([]byte) ([]byte, error) }](t *testing.T, b []byte,
	decode func([]byte) (T, []byte, error), use func(T)) {
	v, rest, err := decode(b)
	if err != nil {
		if !errors.Is(err, ErrDecode) {
			t.Fatalf("error %v does not wrap ErrDecode", err)
		}
		return
	}
	n := len(b) - len(rest)
	for _, k := range []int{n - 1, n / 2} {
		if k >= 0 && k < n {
			if _, _, err := decode(b[:k]); err == nil {
				t.Fatalf("prefix %d of %d decoded", k, n)
			}
		}
	}
	e1, err := v.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	v2, rest2, err := decode(e1)
	if err != nil || len(rest2) != 0 {
		t.Fatalf("re-decode: %v (rest %d)", err, len(rest2))
	}
	e2, _ := v2.AppendBinary(nil)
	if !bytes.Equal(e1, e2) {
		t.Fatal("encoding is not stable")
	}
	use(v)
}

func decodeResult(b []byte) (Result, []byte, error) {
	var r Result
	rest, err := r.DecodeBinary(b)
	return r, rest, err
}

func FuzzDecodeResult(f *testing.F) {
	for _, r := range sampleResults(f, 1) {
		f.Add(mustEncode(f, r))
	}
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecoder(t, b, decodeResult, func(r Result) {
			// A decoded state can be used and merged without panicking.
			for _, v := range r {
				_, _ = v.Value(CalcSum)
				if v.TopK != nil {
					v.TopK.Top(3)
				}
				if v.HLL != nil {
					v.HLL.Estimate()
				}
			}
			_, _ = MergeResults(r, r)
			e := New(Config{Rand: newRand(1)})
			if err := e.Add(allCalcsDef(), caseT0); err != nil {
				t.Fatal(err)
			}
			_, _ = e.Merge("all", propKey, r, 0, caseT0)
			e.Observe("s", propKey, Num(1), caseT0)
			e.Observe("t", propKey, Str("x"), caseT0)
		})
	})
}

func FuzzDecodeHLL(f *testing.F) {
	rng := newRand(2)
	for _, n := range []int{0, 1, 50, 3000} {
		h, _ := NewHLL(0.05, 0.95)
		for range n {
			h.Add(rng.Uint64())
		}
		f.Add(mustEncode(f, h))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecoder(t, b, func(b []byte) (*HLL, []byte, error) {
			h := &HLL{}
			rest, err := h.DecodeBinary(b)
			return h, rest, err
		}, func(h *HLL) {
			h.Estimate()
			h.Add(42)
			_ = h.Merge(h.Clone())
		})
	})
}

func FuzzDecodeTopK(f *testing.F) {
	for _, r := range sampleResults(f, 3) {
		f.Add(mustEncode(f, r.Get("s").TopK))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecoder(t, b, func(b []byte) (*TopK, []byte, error) {
			x := &TopK{}
			rest, err := x.DecodeBinary(b)
			return x, rest, err
		}, func(x *TopK) {
			x.Top(5)
			x.Add(Num(1))
			x.Merge(x.Clone())
			if x.Sum() < uint64(x.Len()) {
				t.Fatal("sum below the number of elements")
			}
		})
	})
}

func FuzzDecodeSketches(f *testing.F) {
	// One target for the small states: the first byte picks the type.
	for _, r := range sampleResults(f, 4) {
		v := r.Get("s")
		f.Add(append([]byte{0}, mustEncode(f, v.UniqueVals)...))
		f.Add(append([]byte{1}, mustEncode(f, v.Sample)...))
		f.Add(append([]byte{2}, mustEncode(f, v.Last)...))
		f.Add(append([]byte{3}, mustEncode(f, propKey)...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		switch b[0] % 4 {
		case 0:
			fuzzDecoder(t, b[1:], func(b []byte) (*UniqueSet, []byte, error) {
				u := &UniqueSet{}
				rest, err := u.DecodeBinary(b)
				return u, rest, err
			}, func(u *UniqueSet) { u.Add(Num(1)); u.Merge(u.Clone()) })
		case 1:
			fuzzDecoder(t, b[1:], func(b []byte) (*Reservoir, []byte, error) {
				r := &Reservoir{}
				rest, err := r.DecodeBinary(b)
				return r, rest, err
			}, func(r *Reservoir) { r.Add(Num(1)); _ = r.Merge(r.Clone()) })
		case 2:
			fuzzDecoder(t, b[1:], func(b []byte) (*Last, []byte, error) {
				l := &Last{}
				rest, err := l.DecodeBinary(b)
				return l, rest, err
			}, func(l *Last) { l.Add(Num(1), caseT0); l.Merge(l.Clone()) })
		case 3:
			fuzzDecoder(t, b[1:], func(b []byte) (Key, []byte, error) {
				var k Key
				rest, err := k.DecodeBinary(b)
				return k, rest, err
			}, func(Key) {})
		}
	})
}
