package sumstats

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// Zeek's HLL_UNIQUE defaults (hll_unique.zeek): error margin and confidence.
const (
	DefaultHLLErrorMargin = 0.01
	DefaultHLLConfidence  = 0.95
)

// HLL register-count bounds: Zeek accepts m = 16, 32, 64 or any power of two
// from 128 up; shoal also caps m at 2^maxHLLPrecision registers (1 MiB).
const (
	minHLLPrecision = 4
	maxHLLPrecision = 20
)

// HLLPrecision returns log2 of the number of registers Zeek's
// CardinalityCounter::OptimalB picks for an error margin and a confidence:
// the smallest b above floor(2*(ln 1.04 - ln err)/ln 2) whose standard error
// 1.04/sqrt(2^b) is within err with the given confidence. For Zeek's defaults
// (0.01, 0.95) it is 16 (65,536 registers). It fails, wrapping ErrBadParam,
// when the parameters are outside (0, 1) or need fewer than 16 or more than
// 2^20 registers.
func HLLPrecision(errorMargin, confidence float64) (int, error) {
	if !(errorMargin > 0 && errorMargin < 1) || !(confidence > 0 && confidence < 1) {
		return 0, fmt.Errorf("%w: hll error margin %v and confidence %v must be in (0, 1)",
			ErrBadParam, errorMargin, confidence)
	}
	initial := 2 * (math.Log(1.04) - math.Log(errorMargin)) / math.Log(2)
	b := int(math.Floor(initial))
	for {
		b++
		k := math.Pow(2, (float64(b)-initial)/2)
		if math.Erf(k/math.Sqrt2) >= confidence || b > maxHLLPrecision {
			break
		}
	}
	if b < minHLLPrecision || b > maxHLLPrecision {
		return 0, fmt.Errorf("%w: hll error margin %v and confidence %v need 2^%d registers (allowed 2^%d..2^%d)",
			ErrBadParam, errorMargin, confidence, b, minHLLPrecision, maxHLLPrecision)
	}
	return b, nil
}

// HLL is Zeek's HyperLogLog cardinality counter (CardinalityCounter): m = 2^p
// one-byte registers, register index = hash mod m, rank = leading zeros of the
// remaining bits + 1, and Zeek's estimator (linear counting below 2.5m, the
// raw estimate above, the large-range correction near 2^64). Merging takes the
// register-wise maximum, so merging the counters of the parts of a stream
// yields exactly the counter of the whole stream.
//
// Small counters are kept sparse (a sorted list of the non-zero registers)
// and switch to the dense array when that list would exceed m/16 entries;
// the two forms estimate identically. An HLL is not safe for concurrent use.
type HLL struct {
	p      uint8
	sparse []uint32 // index<<8 | rank, sorted by index; used while dense == nil
	dense  []uint8  // m registers, or nil
	// zeros counts the zero registers and sumHi:sumLo is the exact sum of
	// 2^(64-r) over all registers r (a 128-bit fixed-point sum of 2^-r),
	// kept up to date so that Estimate is O(1).
	zeros        int
	sumHi, sumLo uint64
}

// NewHLL returns an empty counter sized like Zeek's for the given error
// margin and confidence (see HLLPrecision).
func NewHLL(errorMargin, confidence float64) (*HLL, error) {
	p, err := HLLPrecision(errorMargin, confidence)
	if err != nil {
		return nil, err
	}
	return newHLLPrecision(p), nil
}

func newHLLPrecision(p int) *HLL {
	return &HLL{p: uint8(p), zeros: 1 << p, sumHi: 1 << p}
}

// account replaces register value old by new in the running sums.
func (h *HLL) account(old, new uint8) {
	if old == 0 {
		h.zeros--
	}
	oh, ol := hllTerm(old)
	nh, nl := hllTerm(new)
	var borrow, carry uint64
	h.sumLo, borrow = bits.Sub64(h.sumLo, ol, 0)
	h.sumHi, _ = bits.Sub64(h.sumHi, oh, borrow)
	h.sumLo, carry = bits.Add64(h.sumLo, nl, 0)
	h.sumHi, _ = bits.Add64(h.sumHi, nh, carry)
}

// hllTerm returns 2^(64-r) as a 128-bit number.
func hllTerm(r uint8) (hi, lo uint64) {
	if r == 0 {
		return 1, 0
	}
	return 0, 1 << (64 - uint(r))
}

// recount recomputes the running sums from the registers.
func (h *HLL) recount() {
	h.zeros, h.sumHi, h.sumLo = h.M(), uint64(h.M()), 0
	if h.dense != nil {
		for _, r := range h.dense {
			if r != 0 {
				h.account(0, r)
			}
		}
		return
	}
	for _, e := range h.sparse {
		h.account(0, uint8(e))
	}
}

// M returns the number of registers.
func (h *HLL) M() int { return 1 << h.p }

// sparseLimit is the largest sparse list before the switch to dense.
func (h *HLL) sparseLimit() int { return h.M() / 16 }

// Add counts an element given by its 64-bit hash.
func (h *HLL) Add(hash uint64) {
	m := uint64(1) << h.p
	idx := hash % m
	rank := uint8(64 - int(h.p) - bits.Len64((hash-idx)>>h.p) + 1)
	h.setMax(uint32(idx), rank)
}

// AddObservation counts an Observation (its kind and value).
func (h *HLL) AddObservation(o Observation) { h.Add(o.elem().hash()) }

func (h *HLL) setMax(idx uint32, rank uint8) {
	if h.dense != nil {
		if old := h.dense[idx]; rank > old {
			h.dense[idx] = rank
			h.account(old, rank)
		}
		return
	}
	i, found := slices.BinarySearchFunc(h.sparse, idx, func(e, t uint32) int {
		return cmpU32(e>>8, t)
	})
	if found {
		if old := uint8(h.sparse[i]); rank > old {
			h.sparse[i] = idx<<8 | uint32(rank)
			h.account(old, rank)
		}
		return
	}
	h.account(0, rank)
	if len(h.sparse) >= h.sparseLimit() {
		h.toDense()
		h.dense[idx] = rank
		return
	}
	h.sparse = slices.Insert(h.sparse, i, idx<<8|uint32(rank))
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (h *HLL) toDense() {
	d := make([]uint8, h.M())
	for _, e := range h.sparse {
		d[e>>8] = uint8(e)
	}
	h.dense, h.sparse = d, nil
}

// Register returns register i (0 <= i < M).
func (h *HLL) Register(i int) uint8 {
	if h.dense != nil {
		return h.dense[i]
	}
	j, found := slices.BinarySearchFunc(h.sparse, uint32(i), func(e, t uint32) int {
		return cmpU32(e>>8, t)
	})
	if !found {
		return 0
	}
	return uint8(h.sparse[j])
}

// Estimate returns Zeek's cardinality estimate (CardinalityCounter::Size).
// Where Zeek would take log(m/0) (no empty register left while the raw
// estimate is still below 2.5m, which needs a pathological hash), the raw
// estimate is returned instead of +Inf.
func (h *HLL) Estimate() float64 {
	m := float64(h.M())
	sum := float64(h.sumHi) + math.Ldexp(float64(h.sumLo), -64)
	alpha := hllAlpha(h.M())
	raw := alpha * m * m / sum
	two64 := math.Pow(2, 64)
	switch {
	case raw <= 5.0*float64(h.M()/2) && h.zeros > 0:
		return m * math.Log(m/float64(h.zeros))
	case raw <= two64/30:
		return raw
	default:
		return -two64 * math.Log(1-raw/two64)
	}
}

// Count returns the estimate as Zeek's hll_unique reports it
// (double_to_count: rounded to the nearest integer, ties to even).
func (h *HLL) Count() uint64 { return doubleToCount(h.Estimate()) }

func doubleToCount(d float64) uint64 {
	if !(d > 0) {
		return 0
	}
	if d >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(math.RoundToEven(d))
}

func hllAlpha(m int) float64 {
	switch m {
	case 16:
		return 0.673
	case 32:
		return 0.697
	case 64:
		return 0.709
	}
	return 0.7213 / (1 + 1.079/float64(m))
}

// Merge folds o into h (register-wise maximum). Both must have the same
// number of registers, otherwise it fails with ErrIncompatible and h is
// unchanged.
func (h *HLL) Merge(o *HLL) error {
	if o == nil {
		return nil
	}
	if h.p != o.p {
		return fmt.Errorf("%w: hll with %d and %d registers", ErrIncompatible, h.M(), o.M())
	}
	if o.dense != nil {
		if h.dense == nil {
			h.toDense()
		}
		for i, r := range o.dense {
			if old := h.dense[i]; r > old {
				h.dense[i] = r
				h.account(old, r)
			}
		}
		return nil
	}
	for _, e := range o.sparse {
		h.setMax(e>>8, uint8(e))
	}
	return nil
}

// Clone returns an independent copy.
func (h *HLL) Clone() *HLL {
	c := *h
	c.sparse, c.dense = slices.Clone(h.sparse), slices.Clone(h.dense)
	return &c
}

// nonZero returns the number of non-zero registers.
func (h *HLL) nonZero() int { return h.M() - h.zeros }
