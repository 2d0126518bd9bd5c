package sumstats

import (
	"fmt"
	"math"
	"time"
)

// ResultVal is the result of one reducer (one stream) for one key, Zeek's
// SumStats::ResultVal. Begin and End are the network times of the first and
// last observation, Num the number of observations. The other fields are
// meaningful only for the calculations in Calcs (dependencies included:
// VARIANCE implies AVERAGE, STD_DEV implies VARIANCE) and, for Min, Max,
// Average and Variance, only when Num > 0 (Zeek leaves them unset).
//
// A ResultVal handed out by the Engine (in an Output or by Lookup) is owned
// by the receiver; the Engine never touches it again. A ResultVal is not
// safe for concurrent use.
type ResultVal struct {
	Stream     string
	Begin, End time.Time
	Num        uint64
	Calcs      CalcSet

	Sum      float64 // SUM
	Min      float64 // MIN
	Max      float64 // MAX
	Average  float64 // AVERAGE
	Variance float64 // VARIANCE: sample variance, var_s/(Num-1), 0 when Num <= 1
	StdDev   float64 // STD_DEV: sqrt(Variance)

	Unique    uint64 // UNIQUE: size of UniqueVals
	HLLUnique uint64 // HLL_UNIQUE: rounded estimate of HLL

	UniqueVals *UniqueSet // UNIQUE (nil before the first observation)
	HLL        *HLL       // HLL_UNIQUE (nil before the first observation)
	TopK       *TopK      // TOPK (never nil when TOPK is applied)
	Sample     *Reservoir // SAMPLE (never nil when SAMPLE is applied)
	Last       *Last      // LAST (nil while nothing was kept)

	// Welford state for VARIANCE (Zeek's var_s and prev_avg).
	varS    float64
	prevAvg float64

	// Reducer parameters needed by lazily created state.
	uniqueMax int
	hllP      uint8
	lastN     int
}

// newResultVal is Zeek's init_resultval: empty, Begin = End = now, with the
// state that Zeek's init hooks create eagerly (TOPK, SAMPLE).
func newResultVal(r *reducerSpec, now time.Time, seed1, seed2 uint64) *ResultVal {
	v := &ResultVal{
		Stream:    r.stream,
		Begin:     now,
		End:       now,
		Calcs:     r.calcs,
		uniqueMax: r.uniqueMax,
		hllP:      r.hllP,
		lastN:     r.lastN,
	}
	if r.calcs.Has(CalcTopK) {
		v.TopK = NewTopK(r.topkSize)
	}
	if r.calcs.Has(CalcSample) {
		v.Sample = NewReservoir(r.sampleSize, seed1, seed2)
	}
	return v
}

// add records one observation made at network time now: Zeek's observe
// (num += 1, end = now) and then each calculation, dependencies first.
func (v *ResultVal) add(o Observation, now time.Time) {
	v.Num++
	v.End = now
	x := o.Value()
	c := v.Calcs
	if c.Has(CalcSum) {
		v.Sum += x
	}
	if c.Has(CalcMin) && (v.Num == 1 || x < v.Min) {
		v.Min = x
	}
	if c.Has(CalcMax) && (v.Num == 1 || x > v.Max) {
		v.Max = x
	}
	if c.Has(CalcAverage) {
		if v.Num == 1 {
			v.Average = x
		} else {
			v.Average += (x - v.Average) / float64(v.Num)
		}
	}
	if c.Has(CalcVariance) {
		if v.Num > 1 {
			v.varS += (x - v.prevAvg) * (x - v.Average)
		}
		v.calcVariance()
		v.prevAvg = v.Average
	}
	if c.Has(CalcStdDev) {
		v.StdDev = math.Sqrt(v.Variance)
	}
	if c.Has(CalcUnique) {
		if v.UniqueVals == nil {
			v.UniqueVals = NewUniqueSet(v.uniqueMax)
		}
		v.UniqueVals.Add(o)
		v.Unique = v.UniqueVals.Count()
	}
	if c.Has(CalcHLLUnique) {
		if v.HLL == nil {
			p := int(v.hllP)
			if p == 0 {
				p, _ = HLLPrecision(DefaultHLLErrorMargin, DefaultHLLConfidence)
				v.hllP = uint8(p)
			}
			v.HLL = newHLLPrecision(p)
		}
		v.HLL.AddObservation(o)
		v.HLLUnique = v.HLL.Count()
	}
	if c.Has(CalcTopK) {
		if v.TopK == nil {
			v.TopK = NewTopK(0)
		}
		v.TopK.Add(o)
	}
	if c.Has(CalcSample) {
		if v.Sample == nil {
			v.Sample = NewReservoir(0, 0, 0)
		}
		v.Sample.Add(o)
	}
	if c.Has(CalcLast) && v.lastN > 0 {
		if v.Last == nil {
			v.Last = NewLast(v.lastN)
		}
		v.Last.Add(o, now)
	}
}

func (v *ResultVal) calcVariance() {
	if v.Num > 1 {
		v.Variance = v.varS / float64(v.Num-1)
	} else {
		v.Variance = 0
	}
}

// Value returns the number a calculation produced, for threshold functions
// and reports: Sum, Min, Max, Average, Variance, StdDev, Unique, HLLUnique as
// a float64, and for TOPK/SAMPLE/LAST the number of tracked elements. ok is
// false when c is not applied or (Min, Max, Average, Variance) Num is 0.
func (v *ResultVal) Value(c Calc) (x float64, ok bool) {
	if v == nil || !v.Calcs.Has(c) {
		return 0, false
	}
	switch c {
	case CalcSum:
		return v.Sum, true
	case CalcMin:
		return v.Min, v.Num > 0
	case CalcMax:
		return v.Max, v.Num > 0
	case CalcAverage:
		return v.Average, v.Num > 0
	case CalcVariance:
		return v.Variance, v.Num > 0
	case CalcStdDev:
		return v.StdDev, true
	case CalcUnique:
		return float64(v.Unique), true
	case CalcHLLUnique:
		return float64(v.HLLUnique), true
	case CalcTopK:
		if v.TopK == nil {
			return 0, true
		}
		return float64(v.TopK.Len()), true
	case CalcSample:
		if v.Sample == nil {
			return 0, true
		}
		return float64(len(v.Sample.Samples())), true
	case CalcLast:
		if v.Last == nil {
			return 0, true
		}
		return float64(len(v.Last.Items())), true
	}
	return 0, false
}

// Clone returns a deep copy.
func (v *ResultVal) Clone() *ResultVal {
	c := *v
	if v.UniqueVals != nil {
		c.UniqueVals = v.UniqueVals.Clone()
	}
	if v.HLL != nil {
		c.HLL = v.HLL.Clone()
	}
	if v.TopK != nil {
		c.TopK = v.TopK.Clone()
	}
	if v.Sample != nil {
		c.Sample = v.Sample.Clone()
	}
	if v.Last != nil {
		c.Last = v.Last.Clone()
	}
	return &c
}

// Merge folds o into v, Zeek's compose_resultvals: Begin = min, End = max
// (of the sides with observations), Num adds up, and each calculation merges
// as in SEMANTICS.md §6: sums add, min/max, the weighted average, Zeek's
// variance formula var_s = n1*(var_s1/n1 + (avg1-avg)^2) +
// n2*(var_s2/n2 + (avg2-avg)^2) with avg the merged mean, std_dev recomputed,
// unique union (see UniqueSet), HLL register maxima, top-k summary merge,
// reservoir merge and last-N by time. Both must be for the same stream. An
// incompatible pair (different stream, HLL sizes or sample sizes) fails with
// an error wrapping ErrIncompatible, and v may then be partly merged: merge
// into a Clone when that matters. o is not modified.
func (v *ResultVal) Merge(o *ResultVal) error {
	if o == nil {
		return nil
	}
	if v.Stream != o.Stream {
		return fmt.Errorf("%w: streams %q and %q", ErrIncompatible, v.Stream, o.Stream)
	}
	if v.Calcs.Has(CalcHLLUnique) && o.Calcs.Has(CalcHLLUnique) && v.hllP != o.hllP && v.hllP != 0 && o.hllP != 0 {
		return fmt.Errorf("%w: hll_unique with 2^%d and 2^%d registers", ErrIncompatible, v.hllP, o.hllP)
	}
	if v.Sample != nil && o.Sample != nil && v.Sample.Size() != o.Sample.Size() {
		return fmt.Errorf("%w: samples of size %d and %d", ErrIncompatible, v.Sample.Size(), o.Sample.Size())
	}
	n1, n2 := float64(v.Num), float64(o.Num)
	has1 := func(c Calc) bool { return v.Calcs.Has(c) && v.Num > 0 }
	has2 := func(c Calc) bool { return o.Calcs.Has(c) && o.Num > 0 }

	switch {
	case v.Num == 0:
		v.Begin, v.End = o.Begin, o.End
	case o.Num == 0:
	default:
		if o.Begin.Before(v.Begin) {
			v.Begin = o.Begin
		}
		if o.End.After(v.End) {
			v.End = o.End
		}
	}

	// Scalars, computed from both sides before v is overwritten.
	var sum, mn, mx, avg, varS, prevAvg float64
	sum = v.Sum + o.Sum
	switch {
	case has1(CalcMin) && has2(CalcMin):
		mn = math.Min(v.Min, o.Min)
	case has2(CalcMin):
		mn = o.Min
	default:
		mn = v.Min
	}
	switch {
	case has1(CalcMax) && has2(CalcMax):
		mx = math.Max(v.Max, o.Max)
	case has2(CalcMax):
		mx = o.Max
	default:
		mx = v.Max
	}
	avgBoth := has1(CalcAverage) && has2(CalcAverage)
	switch {
	case avgBoth:
		avg = (v.Average*n1 + o.Average*n2) / (n1 + n2)
	case has2(CalcAverage):
		avg = o.Average
	default:
		avg = v.Average
	}
	switch {
	case has1(CalcVariance) && has2(CalcVariance):
		d1 := v.Average - avg
		d2 := o.Average - avg
		varS = n1*(v.varS/n1+d1*d1) + n2*(o.varS/n2+d2*d2)
		prevAvg = (v.prevAvg*n1 + o.prevAvg*n2) / (n1 + n2)
	case has2(CalcVariance):
		varS, prevAvg = o.varS, o.prevAvg
	default:
		varS, prevAvg = v.varS, v.prevAvg
	}

	v.Num += o.Num
	v.Calcs |= o.Calcs
	v.Sum, v.Min, v.Max, v.Average = sum, mn, mx, avg
	v.varS, v.prevAvg = varS, prevAvg
	if v.Calcs.Has(CalcVariance) {
		v.calcVariance()
	}
	if v.Calcs.Has(CalcStdDev) {
		v.StdDev = math.Sqrt(v.Variance)
	}
	if v.uniqueMax == 0 {
		v.uniqueMax = o.uniqueMax
	}
	if v.hllP == 0 {
		v.hllP = o.hllP
	}
	if v.lastN == 0 {
		v.lastN = o.lastN
	}

	if o.UniqueVals != nil {
		if v.UniqueVals == nil {
			v.UniqueVals = NewUniqueSet(v.uniqueMax)
		}
		v.UniqueVals.Merge(o.UniqueVals)
	}
	if v.UniqueVals != nil {
		v.Unique = v.UniqueVals.Count()
	}
	if o.HLL != nil {
		if v.HLL == nil {
			v.HLL = newHLLPrecision(int(o.HLL.p))
		}
		if err := v.HLL.Merge(o.HLL); err != nil {
			return err
		}
	}
	if v.HLL != nil {
		v.HLLUnique = v.HLL.Count()
	}
	if o.TopK != nil {
		if v.TopK == nil {
			v.TopK = NewTopK(o.TopK.Size())
		}
		v.TopK.Merge(o.TopK)
	}
	if o.Sample != nil {
		if v.Sample == nil {
			v.Sample = o.Sample.Clone()
		} else if err := v.Sample.Merge(o.Sample); err != nil {
			return err
		}
	}
	if o.Last != nil {
		if v.Last == nil {
			v.Last = NewLast(v.lastN)
		}
		v.Last.Merge(o.Last)
	}
	return nil
}

// Result is the result of one key across the reducers of a sumstat (Zeek's
// SumStats::Result, a table indexed by stream): one ResultVal per stream
// that saw an observation, in the order of the sumstat's reducers. Use Get
// to index it by stream.
type Result []*ResultVal

// Get returns the ResultVal of stream, or nil.
func (r Result) Get(stream string) *ResultVal {
	for _, v := range r {
		if v != nil && v.Stream == stream {
			return v
		}
	}
	return nil
}

// Clone returns a deep copy.
func (r Result) Clone() Result {
	if r == nil {
		return nil
	}
	c := make(Result, 0, len(r))
	for _, v := range r {
		if v != nil {
			c = append(c, v.Clone())
		}
	}
	return c
}

// MergeResults merges the Results of one key from several partitions
// (Zeek's compose_results, applied left to right): streams present on one
// side are copied, streams on both sides are merged with ResultVal.Merge.
// The inputs are not modified; the result shares nothing with them.
func MergeResults(rs ...Result) (Result, error) {
	var out Result
	for _, r := range rs {
		for _, v := range r {
			if v == nil {
				continue
			}
			if have := out.Get(v.Stream); have != nil {
				if err := have.Merge(v); err != nil {
					return nil, err
				}
				continue
			}
			out = append(out, v.Clone())
		}
	}
	return out, nil
}
