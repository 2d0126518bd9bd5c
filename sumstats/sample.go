package sumstats

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// Reservoir is Zeek's SAMPLE state (sample.zeek): a reservoir of at most Size
// observations drawn uniformly from the Elements observations seen.
//
// Each Reservoir carries its own PCG random source, seeded when it is
// created and serialised with it, so adds and merges are deterministic given
// the state: a replica that replays the same operations holds the same
// sample. A Reservoir is not safe for concurrent use.
type Reservoir struct {
	size     int
	elements uint64
	samples  []Observation
	rng      rand.PCG
}

// NewReservoir returns an empty reservoir of size slots whose random source
// is seeded with (seed1, seed2).
func NewReservoir(size int, seed1, seed2 uint64) *Reservoir {
	if size < 0 {
		size = 0
	}
	r := &Reservoir{size: size}
	r.rng.Seed(seed1, seed2)
	return r
}

// Size returns the number of slots (Zeek's num_samples).
func (r *Reservoir) Size() int { return r.size }

// Elements returns the number of observations the sample was drawn from
// (Zeek's sample_elements).
func (r *Reservoir) Elements() uint64 { return r.elements }

// Samples returns the sampled observations (Zeek's samples). The slice is
// the reservoir's own: copy it if you keep it past the next Add or Merge.
func (r *Reservoir) Samples() []Observation { return r.samples }

// draw returns a uniform number in [0, n) (n > 0) from the reservoir's
// source, by Lemire's multiply-and-reject method.
func (r *Reservoir) draw(n uint64) uint64 {
	if n&(n-1) == 0 {
		return r.rng.Uint64() & (n - 1)
	}
	hi, lo := bits.Mul64(r.rng.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.rng.Uint64(), n)
		}
	}
	return hi
}

// Add offers o to the reservoir (Zeek's sample_add_sample): the first Size
// observations fill it; the i-th after that replaces a random slot with
// probability Size/i.
func (r *Reservoir) Add(o Observation) {
	r.elements++
	if len(r.samples) < r.size {
		r.samples = append(r.samples, o)
		return
	}
	if r.size == 0 {
		return
	}
	if ra := r.draw(r.elements); ra < uint64(r.size) {
		r.samples[ra] = o
	}
}

// Merge folds o into r (Zeek's compose hook for SAMPLE). If neither side is
// full, o's samples are offered to r one by one (both sides then hold every
// element they saw, so the result is exact). Otherwise the side that saw more
// elements is kept and each of the other side's samples replaces the slot of
// the same index with probability othercount/total. Zeek draws
// rand(total) <= othercount, one in total too often; shoal uses <. Elements
// adds up exactly. Reservoirs of different sizes cannot be merged
// (ErrIncompatible; r is unchanged).
func (r *Reservoir) Merge(o *Reservoir) error {
	if o == nil {
		return nil
	}
	if r.size != o.size {
		return fmt.Errorf("%w: samples of size %d and %d", ErrIncompatible, r.size, o.size)
	}
	if len(r.samples) < r.size && len(o.samples) < o.size {
		// A side that is not full holds every element it saw.
		for _, s := range o.samples {
			r.Add(s)
		}
		return nil
	}
	total := r.elements + o.elements
	var other []Observation
	var othercount uint64
	if r.elements > o.elements {
		other, othercount = o.samples, o.elements
	} else {
		other, othercount = slices.Clone(r.samples), r.elements
		r.samples = append(r.samples[:0], o.samples...)
	}
	r.elements = total
	for i, s := range other {
		if i < len(r.samples) && r.draw(total) < othercount {
			r.samples[i] = s
		}
	}
	return nil
}

// Clone returns an independent copy, random source included.
func (r *Reservoir) Clone() *Reservoir {
	c := *r
	c.samples = slices.Clone(r.samples)
	return &c
}
