package sumstats

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// Binary encodings of the mergeable states, so that they can be shipped
// between datanodes. Every encoding starts with a format version byte;
// integers are uvarints, floats are 8 little-endian bytes, strings are a
// uvarint length and the bytes, times are a varint of Unix seconds and a
// uvarint of nanoseconds. Encodings are canonical: equal states encode to
// equal bytes (sets and sketches are written in a fixed order).
//
// Every type has AppendBinary (encoding.BinaryAppender), MarshalBinary,
// DecodeBinary (decode from the front of b, return the rest) and
// UnmarshalBinary (decode all of b). Decoders never panic and reject
// inconsistent states with an error wrapping ErrDecode.

const codecVersion = 1

// dec decodes fields in order; the first error sticks and later reads
// return zero values, so callers check err once.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrDecode, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

func (d *dec) u8(what string) uint8 {
	if len(d.b) < 1 {
		d.fail("%s: short", what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("%s: bad uvarint", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("%s: bad varint", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must fit in the remaining input, each element
// taking at least minSize bytes.
func (d *dec) count(what string, minSize int) int {
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.fail("%s: count %d exceeds input", what, n)
		return 0
	}
	return int(n)
}

// small reads a uvarint that must be at most limit.
func (d *dec) small(what string, limit uint64) int {
	n := d.uvarint(what)
	if d.err == nil && n > limit {
		d.fail("%s: %d exceeds %d", what, n, limit)
		return 0
	}
	return int(n)
}

func (d *dec) f64(what string) float64 {
	if len(d.b) < 8 {
		d.fail("%s: short", what)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *dec) str(what string) string {
	n := d.count(what, 1)
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dec) time(what string) time.Time {
	s := d.varint(what)
	ns := d.uvarint(what)
	if d.err == nil && ns >= 1e9 {
		d.fail("%s: nanoseconds %d out of range", what, ns)
	}
	if d.err != nil {
		return time.Time{}
	}
	return time.Unix(s, int64(ns)).UTC()
}

func (d *dec) version(what string) {
	if v := d.u8(what); d.err == nil && v != codecVersion {
		d.fail("%s: unknown format version %d", what, v)
	}
}

func (d *dec) obs(what string) Observation {
	k := Kind(d.u8(what))
	switch k {
	case KindNone:
		return Observation{}
	case KindNum:
		return Num(d.uvarint(what))
	case KindDbl:
		return Dbl(d.f64(what))
	case KindStr:
		return Str(d.str(what))
	}
	d.fail("%s: bad kind %d", what, k)
	return Observation{}
}

func appendF64(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendElem(b []byte, e elem) []byte {
	b = append(b, byte(e.kind))
	switch e.kind {
	case KindNum:
		b = binary.AppendUvarint(b, e.bits)
	case KindDbl:
		b = binary.LittleEndian.AppendUint64(b, e.bits)
	case KindStr:
		b = appendStr(b, e.str)
	}
	return b
}

func appendObs(b []byte, o Observation) []byte { return appendElem(b, o.elem()) }

// unmarshal runs decode on all of b and rejects trailing bytes.
func unmarshal(b []byte, decode func([]byte) ([]byte, error)) error {
	rest, err := decode(b)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrDecode, len(rest))
	}
	return nil
}

// --- Key ---

// AppendBinary appends the encoding of k: a byte 0 (no host), 4 or 16
// (the host's length) with the address bytes, then the string.
func (k Key) AppendBinary(b []byte) ([]byte, error) {
	switch {
	case !k.Host.IsValid():
		b = append(b, 0)
	case k.Host.Is4():
		a := k.Host.As4()
		b = append(append(b, 4), a[:]...)
	default:
		a := k.Host.As16()
		b = append(append(b, 16), a[:]...)
	}
	return appendStr(b, k.Str), nil
}

// DecodeBinary decodes a Key from the front of b into k and returns the
// rest of b.
func (k *Key) DecodeBinary(b []byte) ([]byte, error) {
	d := &dec{b: b}
	var out Key
	switch n := d.u8("key host"); n {
	case 0:
	case 4, 16:
		if len(d.b) < int(n) {
			d.fail("key host: short")
			break
		}
		if n == 4 {
			out.Host = netip.AddrFrom4([4]byte(d.b[:4]))
		} else {
			out.Host = netip.AddrFrom16([16]byte(d.b[:16]))
		}
		d.b = d.b[n:]
	default:
		d.fail("key host: bad length %d", n)
	}
	out.Str = d.str("key str")
	if d.err != nil {
		return nil, d.err
	}
	*k = out
	return d.b, nil
}

// --- UniqueSet ---

// AppendBinary appends the set: cap, then the elements in canonical order.
func (u *UniqueSet) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(u.max))
	es := u.sorted()
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		b = appendElem(b, e)
	}
	return b, nil
}

// MarshalBinary returns the encoding of u.
func (u *UniqueSet) MarshalBinary() ([]byte, error) { return u.AppendBinary(nil) }

// DecodeBinary decodes a UniqueSet from the front of b into u and returns
// the rest of b.
func (u *UniqueSet) DecodeBinary(b []byte) ([]byte, error) {
	d := &dec{b: b}
	d.version("unique")
	max := d.small("unique max", math.MaxInt32)
	n := d.count("unique values", 1)
	if d.err == nil && max > 0 && n > max+1 {
		d.fail("unique: %d values exceed the cap %d+1", n, max)
	}
	out := &UniqueSet{max: max, vals: make(map[elem]struct{}, n)}
	for i := 0; i < n && d.err == nil; i++ {
		e := d.obs("unique value").elem()
		if _, dup := out.vals[e]; dup && d.err == nil {
			d.fail("unique: duplicate value")
		}
		out.vals[e] = struct{}{}
	}
	if d.err != nil {
		return nil, d.err
	}
	*u = *out
	return d.b, nil
}

// UnmarshalBinary decodes all of b into u.
func (u *UniqueSet) UnmarshalBinary(b []byte) error { return unmarshal(b, u.DecodeBinary) }

// --- HLL ---

const (
	hllSparseForm = 0
	hllDenseForm  = 1
)

// AppendBinary appends the counter: precision, then either the non-zero
// registers as (index delta, rank) pairs, when at most M/16 are non-zero,
// or all M registers.
func (h *HLL) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, codecVersion, h.p)
	nz := h.nonZero()
	if nz > h.sparseLimit() {
		b = append(b, hllDenseForm)
		if h.dense != nil {
			return append(b, h.dense...), nil
		}
		for i := range h.M() {
			b = append(b, h.Register(i))
		}
		return b, nil
	}
	b = append(b, hllSparseForm)
	b = binary.AppendUvarint(b, uint64(nz))
	prev := -1
	emit := func(i int, r uint8) {
		b = binary.AppendUvarint(b, uint64(i-prev-1))
		b = append(b, r)
		prev = i
	}
	if h.dense != nil {
		for i, r := range h.dense {
			if r != 0 {
				emit(i, r)
			}
		}
	} else {
		for _, e := range h.sparse {
			emit(int(e>>8), uint8(e))
		}
	}
	return b, nil
}

// MarshalBinary returns the encoding of h.
func (h *HLL) MarshalBinary() ([]byte, error) { return h.AppendBinary(nil) }

// DecodeBinary decodes an HLL from the front of b into h and returns the
// rest of b.
func (h *HLL) DecodeBinary(b []byte) ([]byte, error) {
	d := &dec{b: b}
	d.version("hll")
	p := int(d.u8("hll precision"))
	if d.err == nil && (p < minHLLPrecision || p > maxHLLPrecision) {
		d.fail("hll: precision %d out of range", p)
	}
	if d.err != nil {
		return nil, d.err
	}
	out := newHLLPrecision(p)
	maxRank := uint8(64 - p + 1)
	m := out.M()
	switch form := d.u8("hll form"); form {
	case hllDenseForm:
		if len(d.b) < m {
			d.fail("hll registers: short")
			break
		}
		out.dense = make([]uint8, m)
		copy(out.dense, d.b[:m])
		d.b = d.b[m:]
		nz := 0
		for _, r := range out.dense {
			if r > maxRank {
				d.fail("hll: rank %d exceeds %d", r, maxRank)
				break
			}
			if r != 0 {
				nz++
			}
		}
		if d.err == nil && nz <= out.sparseLimit() {
			d.fail("hll: dense form for a sparse counter")
		}
	case hllSparseForm:
		n := d.count("hll entries", 2)
		if d.err == nil && n > out.sparseLimit() {
			d.fail("hll: %d sparse entries exceed %d", n, out.sparseLimit())
		}
		idx := -1
		out.sparse = make([]uint32, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			delta := d.uvarint("hll index")
			r := d.u8("hll rank")
			if d.err != nil {
				break
			}
			if delta >= uint64(m) || idx+1+int(delta) >= m {
				d.fail("hll: index out of range")
				break
			}
			idx += 1 + int(delta)
			if r == 0 || r > maxRank {
				d.fail("hll: rank %d out of range", r)
				break
			}
			out.sparse = append(out.sparse, uint32(idx)<<8|uint32(r))
		}
	default:
		if d.err == nil {
			d.fail("hll: unknown form %d", form)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	out.recount()
	*h = *out
	return d.b, nil
}

// UnmarshalBinary decodes all of b into h.
func (h *HLL) UnmarshalBinary(b []byte) error { return unmarshal(b, h.DecodeBinary) }

// --- TopK ---

// AppendBinary appends the summary: size, then its buckets from the lowest
// count, each with its elements in order (epsilon and value).
func (t *TopK) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(t.size))
	nb := 0
	for bk := t.low; bk != nil; bk = bk.next {
		nb++
	}
	b = binary.AppendUvarint(b, uint64(nb))
	for bk := t.low; bk != nil; bk = bk.next {
		b = binary.AppendUvarint(b, bk.count)
		ne := 0
		for e := bk.head; e != nil; e = e.next {
			ne++
		}
		b = binary.AppendUvarint(b, uint64(ne))
		for e := bk.head; e != nil; e = e.next {
			b = binary.AppendUvarint(b, e.eps)
			b = appendElem(b, e.e)
		}
	}
	return b, nil
}

// MarshalBinary returns the encoding of t.
func (t *TopK) MarshalBinary() ([]byte, error) { return t.AppendBinary(nil) }

// DecodeBinary decodes a TopK from the front of b into t and returns the
// rest of b.
func (t *TopK) DecodeBinary(b []byte) ([]byte, error) {
	d := &dec{b: b}
	d.version("topk")
	size := d.small("topk size", math.MaxInt32)
	if d.err == nil && size == 0 {
		d.fail("topk: size 0")
	}
	nb := d.count("topk buckets", 3)
	out := NewTopK(size)
	var prev uint64
	for i := 0; i < nb && d.err == nil; i++ {
		count := d.uvarint("topk count")
		ne := d.count("topk elements", 2)
		if d.err != nil {
			break
		}
		if count <= prev || ne == 0 {
			d.fail("topk: bucket %d: count %d after %d with %d elements", i, count, prev, ne)
			break
		}
		prev = count
		bk := out.insertBucketBefore(nil, count)
		for j := 0; j < ne && d.err == nil; j++ {
			eps := d.uvarint("topk epsilon")
			e := d.obs("topk value").elem()
			if d.err != nil {
				break
			}
			if eps > count {
				d.fail("topk: epsilon %d exceeds count %d", eps, count)
				break
			}
			if out.elems[e] != nil {
				d.fail("topk: duplicate element")
				break
			}
			te := &tkElem{e: e, eps: eps}
			bk.push(te)
			out.elems[e] = te
			out.n++
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	*t = *out
	return d.b, nil
}

// UnmarshalBinary decodes all of b into t.
func (t *TopK) UnmarshalBinary(b []byte) error { return unmarshal(b, t.DecodeBinary) }

// --- Reservoir ---

// AppendBinary appends the reservoir: size, elements, samples and the
// state of its random source.
func (r *Reservoir) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(r.size))
	b = binary.AppendUvarint(b, r.elements)
	b = binary.AppendUvarint(b, uint64(len(r.samples)))
	for _, s := range r.samples {
		b = appendObs(b, s)
	}
	return r.rng.AppendBinary(b)
}

// MarshalBinary returns the encoding of r.
func (r *Reservoir) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// pcgLen is the length of rand.PCG's binary encoding.
const pcgLen = 20

// DecodeBinary decodes a Reservoir from the front of b into r and returns
// the rest of b.
func (r *Reservoir) DecodeBinary(b []byte) ([]byte, error) {
	d := &dec{b: b}
	d.version("sample")
	size := d.small("sample size", math.MaxInt32)
	elements := d.uvarint("sample elements")
	n := d.count("samples", 1)
	if d.err == nil && (n > size || elements < uint64(n) || (n < size && elements != uint64(n))) {
		d.fail("sample: %d samples of %d elements in %d slots", n, elements, size)
	}
	out := &Reservoir{size: size, elements: elements}
	if n > 0 {
		out.samples = make([]Observation, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		out.samples = append(out.samples, d.obs("sample"))
	}
	if d.err == nil {
		if len(d.b) < pcgLen {
			d.fail("sample random state: short")
		} else if err := out.rng.UnmarshalBinary(d.b[:pcgLen]); err != nil {
			d.fail("sample random state: %v", err)
		} else {
			d.b = d.b[pcgLen:]
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	*r = *out
	return d.b, nil
}

// UnmarshalBinary decodes all of b into r.
func (r *Reservoir) UnmarshalBinary(b []byte) error { return unmarshal(b, r.DecodeBinary) }

// --- Last ---

// AppendBinary appends the queue: N, then its items oldest first.
func (l *Last) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(l.n))
	b = binary.AppendUvarint(b, uint64(len(l.items)))
	for _, it := range l.items {
		b = appendTime(b, it.At)
		b = appendObs(b, it.Value)
	}
	return b, nil
}

// MarshalBinary returns the encoding of l.
func (l *Last) MarshalBinary() ([]byte, error) { return l.AppendBinary(nil) }

// DecodeBinary decodes a Last from the front of b into l and returns the
// rest of b.
func (l *Last) DecodeBinary(b []byte) ([]byte, error) {
	d := &dec{b: b}
	d.version("last")
	n := d.small("last n", math.MaxInt32)
	k := d.count("last items", 3)
	if d.err == nil && k > n {
		d.fail("last: %d items exceed %d", k, n)
	}
	out := &Last{n: n}
	for i := 0; i < k && d.err == nil; i++ {
		at := d.time("last time")
		v := d.obs("last value")
		if d.err == nil && i > 0 && at.Before(out.items[i-1].At) {
			d.fail("last: items out of time order")
		}
		out.items = append(out.items, LastItem{Value: v, At: at})
	}
	if d.err != nil {
		return nil, d.err
	}
	*l = *out
	return d.b, nil
}

// UnmarshalBinary decodes all of b into l.
func (l *Last) UnmarshalBinary(b []byte) error { return unmarshal(b, l.DecodeBinary) }

// --- ResultVal and Result ---

const (
	hasUnique = 1 << iota
	hasHLL
	hasTopK
	hasSample
	hasLast
)

// AppendBinary appends the ResultVal: stream, times, count, calculations,
// the scalar results and Welford state, the reducer parameters, and the
// present sketches.
func (v *ResultVal) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, codecVersion)
	b = appendStr(b, v.Stream)
	b = appendTime(b, v.Begin)
	b = appendTime(b, v.End)
	b = binary.AppendUvarint(b, v.Num)
	b = binary.AppendUvarint(b, uint64(v.Calcs))
	for _, f := range [...]float64{v.Sum, v.Min, v.Max, v.Average, v.Variance, v.StdDev, v.varS, v.prevAvg} {
		b = appendF64(b, f)
	}
	b = binary.AppendUvarint(b, v.Unique)
	b = binary.AppendUvarint(b, v.HLLUnique)
	b = binary.AppendUvarint(b, uint64(v.uniqueMax))
	b = append(b, v.hllP)
	b = binary.AppendUvarint(b, uint64(v.lastN))
	var flags byte
	if v.UniqueVals != nil {
		flags |= hasUnique
	}
	if v.HLL != nil {
		flags |= hasHLL
	}
	if v.TopK != nil {
		flags |= hasTopK
	}
	if v.Sample != nil {
		flags |= hasSample
	}
	if v.Last != nil {
		flags |= hasLast
	}
	b = append(b, flags)
	var err error
	if v.UniqueVals != nil {
		if b, err = v.UniqueVals.AppendBinary(b); err != nil {
			return nil, err
		}
	}
	if v.HLL != nil {
		if b, err = v.HLL.AppendBinary(b); err != nil {
			return nil, err
		}
	}
	if v.TopK != nil {
		if b, err = v.TopK.AppendBinary(b); err != nil {
			return nil, err
		}
	}
	if v.Sample != nil {
		if b, err = v.Sample.AppendBinary(b); err != nil {
			return nil, err
		}
	}
	if v.Last != nil {
		if b, err = v.Last.AppendBinary(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// MarshalBinary returns the encoding of v.
func (v *ResultVal) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// DecodeBinary decodes a ResultVal from the front of b into v and returns
// the rest of b.
func (v *ResultVal) DecodeBinary(b []byte) ([]byte, error) {
	d := &dec{b: b}
	d.version("result")
	out := &ResultVal{}
	out.Stream = d.str("stream")
	out.Begin = d.time("begin")
	out.End = d.time("end")
	out.Num = d.uvarint("num")
	calcs := d.uvarint("calcs")
	if d.err == nil && calcs&^uint64(validCalcSet) != 0 {
		d.fail("result: unknown calculations %#x", calcs)
	}
	out.Calcs = CalcSet(calcs)
	fs := [...]*float64{&out.Sum, &out.Min, &out.Max, &out.Average, &out.Variance, &out.StdDev, &out.varS, &out.prevAvg}
	for _, f := range fs {
		*f = d.f64("result value")
	}
	out.Unique = d.uvarint("unique")
	out.HLLUnique = d.uvarint("hll_unique")
	out.uniqueMax = d.small("unique max", math.MaxInt32)
	out.hllP = d.u8("hll precision")
	out.lastN = d.small("last n", math.MaxInt32)
	flags := d.u8("result sketches")
	if d.err != nil {
		return nil, d.err
	}
	if flags&^(hasUnique|hasHLL|hasTopK|hasSample|hasLast) != 0 {
		return nil, fmt.Errorf("%w: result: unknown sketch flags %#x", ErrDecode, flags)
	}
	for _, n := range [...]struct {
		flag byte
		calc Calc
	}{{hasUnique, CalcUnique}, {hasHLL, CalcHLLUnique}, {hasTopK, CalcTopK}, {hasSample, CalcSample}, {hasLast, CalcLast}} {
		if flags&n.flag != 0 && !out.Calcs.Has(n.calc) {
			return nil, fmt.Errorf("%w: result: %s state without the calculation", ErrDecode, n.calc)
		}
	}
	var err error
	rest := d.b
	if flags&hasUnique != 0 {
		out.UniqueVals = &UniqueSet{}
		if rest, err = out.UniqueVals.DecodeBinary(rest); err != nil {
			return nil, err
		}
	}
	if flags&hasHLL != 0 {
		out.HLL = &HLL{}
		if rest, err = out.HLL.DecodeBinary(rest); err != nil {
			return nil, err
		}
		if out.HLL.p != out.hllP {
			return nil, fmt.Errorf("%w: result: hll precision %d, reducer %d", ErrDecode, out.HLL.p, out.hllP)
		}
	}
	if flags&hasTopK != 0 {
		out.TopK = &TopK{}
		if rest, err = out.TopK.DecodeBinary(rest); err != nil {
			return nil, err
		}
	}
	if flags&hasSample != 0 {
		out.Sample = &Reservoir{}
		if rest, err = out.Sample.DecodeBinary(rest); err != nil {
			return nil, err
		}
	}
	if flags&hasLast != 0 {
		out.Last = &Last{}
		if rest, err = out.Last.DecodeBinary(rest); err != nil {
			return nil, err
		}
	}
	*v = *out
	return rest, nil
}

// UnmarshalBinary decodes all of b into v.
func (v *ResultVal) UnmarshalBinary(b []byte) error { return unmarshal(b, v.DecodeBinary) }

// AppendBinary appends the Result: its ResultVals in order.
func (r Result) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, codecVersion)
	n := 0
	for _, v := range r {
		if v != nil {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	var err error
	for _, v := range r {
		if v == nil {
			continue
		}
		if b, err = v.AppendBinary(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// MarshalBinary returns the encoding of r.
func (r Result) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// DecodeBinary decodes a Result from the front of b into r and returns the
// rest of b. Streams must be distinct.
func (r *Result) DecodeBinary(b []byte) ([]byte, error) {
	d := &dec{b: b}
	d.version("result set")
	n := d.count("results", 16)
	if d.err != nil {
		return nil, d.err
	}
	out := make(Result, 0, n)
	rest := d.b
	for range n {
		v := &ResultVal{}
		var err error
		if rest, err = v.DecodeBinary(rest); err != nil {
			return nil, err
		}
		if out.Get(v.Stream) != nil {
			return nil, fmt.Errorf("%w: result set: duplicate stream %q", ErrDecode, v.Stream)
		}
		out = append(out, v)
	}
	*r = out
	return rest, nil
}

// UnmarshalBinary decodes all of b into r.
func (r *Result) UnmarshalBinary(b []byte) error { return unmarshal(b, r.DecodeBinary) }
