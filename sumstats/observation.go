package sumstats

import (
	"cmp"
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Key is what a SumStats result is collected for (Zeek's SumStats::Key):
// a host, a string, or both. The zero netip.Addr means "no host" and the
// empty string means "no str". Key is comparable and is a map key.
type Key struct {
	Host netip.Addr
	Str  string
}

// String renders k like Zeek's SumStats::key2str:
// sumstats_key(host=1.2.3.4), sumstats_key(str=x) or
// sumstats_key(host=1.2.3.4, str=x).
func (k Key) String() string {
	var b strings.Builder
	b.WriteString("sumstats_key(")
	if k.Host.IsValid() {
		b.WriteString("host=")
		b.WriteString(k.Host.String())
	}
	if k.Str != "" {
		if k.Host.IsValid() {
			b.WriteString(", ")
		}
		b.WriteString("str=")
		b.WriteString(k.Str)
	}
	b.WriteByte(')')
	return b.String()
}

// Compare orders keys by host (invalid first, then netip order) and then by
// string. Epoch results are reported in this order.
func (k Key) Compare(o Key) int {
	if c := k.Host.Compare(o.Host); c != 0 {
		return c
	}
	return cmp.Compare(k.Str, o.Str)
}

// Kind tags the value held by an Observation.
type Kind uint8

// The kinds of Observation values. KindNone is Zeek's empty Observation
// record: it counts as 1.0 and is a (single) distinct element of its own.
const (
	KindNone Kind = iota
	KindNum       // Zeek's $num (count)
	KindDbl       // Zeek's $dbl (double)
	KindStr       // Zeek's $str (string)
)

// String returns "none", "num", "dbl" or "str".
func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindNum:
		return "num"
	case KindDbl:
		return "dbl"
	case KindStr:
		return "str"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Observation is one data point (Zeek's SumStats::Observation). Exactly one
// of Num, Dbl and Str is meaningful, chosen by Kind; build one with Num, Dbl
// or Str. The value fed to the numeric calculations is Value: num, else dbl,
// else 1.0. The set-like calculations (unique, hll_unique, topk, sample,
// last) use the whole Observation, so Num(5) and Dbl(5) are different
// elements.
type Observation struct {
	Kind Kind
	Num  uint64
	Dbl  float64
	Str  string
}

// Num returns an Observation holding the count n.
func Num(n uint64) Observation { return Observation{Kind: KindNum, Num: n} }

// Dbl returns an Observation holding the double f.
func Dbl(f float64) Observation { return Observation{Kind: KindDbl, Dbl: f} }

// Str returns an Observation holding the string s.
func Str(s string) Observation { return Observation{Kind: KindStr, Str: s} }

// Value is the number the numeric calculations use: Num for KindNum, Dbl
// for KindDbl, and 1.0 otherwise (Zeek's observe()).
func (o Observation) Value() float64 {
	switch o.Kind {
	case KindNum:
		return float64(o.Num)
	case KindDbl:
		return o.Dbl
	}
	return 1.0
}

// String renders the value alone: 5, 5.5, "x" or "-" for KindNone.
func (o Observation) String() string {
	switch o.Kind {
	case KindNum:
		return strconv.FormatUint(o.Num, 10)
	case KindDbl:
		return strconv.FormatFloat(o.Dbl, 'g', -1, 64)
	case KindStr:
		return strconv.Quote(o.Str)
	}
	return "-"
}

// elem is the identity of an Observation as a set element: its kind and its
// value bits. Doubles compare by bit pattern, so NaN is one element (not a
// new one each time) and 0.0 and -0.0 are two.
type elem struct {
	kind Kind
	bits uint64
	str  string
}

func (o Observation) elem() elem {
	e := elem{kind: o.Kind}
	switch o.Kind {
	case KindNum:
		e.bits = o.Num
	case KindDbl:
		e.bits = math.Float64bits(o.Dbl)
	case KindStr:
		e.str = o.Str
	}
	return e
}

func (e elem) observation() Observation {
	o := Observation{Kind: e.kind}
	switch e.kind {
	case KindNum:
		o.Num = e.bits
	case KindDbl:
		o.Dbl = math.Float64frombits(e.bits)
	case KindStr:
		o.Str = e.str
	}
	return o
}

// compareElem orders elements by kind, then bits, then string: the canonical
// order used by encoders so that equal states encode to equal bytes.
func compareElem(a, b elem) int {
	if c := cmp.Compare(a.kind, b.kind); c != 0 {
		return c
	}
	if c := cmp.Compare(a.bits, b.bits); c != 0 {
		return c
	}
	return cmp.Compare(a.str, b.str)
}

// hash is the 64-bit hash HyperLogLog uses for an element.
func (e elem) hash() uint64 {
	if e.kind == KindStr {
		var d xxhash.Digest
		d.ResetWithSeed(uint64(KindStr))
		_, _ = d.WriteString(e.str)
		return d.Sum64()
	}
	var buf [9]byte
	buf[0] = byte(e.kind)
	binary.LittleEndian.PutUint64(buf[1:], e.bits)
	return xxhash.Sum64(buf[:])
}
