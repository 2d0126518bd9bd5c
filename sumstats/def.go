package sumstats

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Sentinel errors. Errors returned by this package wrap one of them.
var (
	ErrInvalidDef    = errors.New("sumstats: invalid sumstat definition")
	ErrUnknownCalc   = errors.New("sumstats: unknown calculation")
	ErrBadParam      = errors.New("sumstats: bad reducer parameter")
	ErrDuplicateDef  = errors.New("sumstats: sumstat already defined")
	ErrUnknownDef    = errors.New("sumstats: unknown sumstat")
	ErrNotManual     = errors.New("sumstats: sumstat does not use manual epochs")
	ErrUnknownStream = errors.New("sumstats: stream has no reducer in sumstat")
	ErrIncompatible  = errors.New("sumstats: incompatible states")
	ErrDecode        = errors.New("sumstats: malformed encoding")
)

// Reducer attaches calculations to an observation stream (Zeek's
// SumStats::Reducer plus the plugins' parameters).
type Reducer struct {
	// Stream is the observation stream the reducer reads.
	Stream string
	// Apply lists the calculations. Dependencies are added as in Zeek
	// (VARIANCE adds AVERAGE, STD_DEV adds VARIANCE and AVERAGE).
	Apply []Calc
	// UniqueMax caps UNIQUE (Zeek's unique_max); 0 means unlimited.
	UniqueMax int
	// TopKSize is the number of counters of TOPK (Zeek's topk_size);
	// 0 means DefaultTopKSize (500).
	TopKSize int
	// SampleSize is the reservoir size of SAMPLE (Zeek's num_samples,
	// default 0: SAMPLE keeps nothing but counts elements).
	SampleSize int
	// LastN is the number of observations LAST keeps (Zeek's
	// num_last_elements, default 0: nothing kept).
	LastN int
	// HLLErrorMargin and HLLConfidence size HLL_UNIQUE (Zeek's
	// hll_error_margin and hll_confidence); 0 means Zeek's defaults 0.01
	// and 0.95, which give 2^16 one-byte registers per key.
	HLLErrorMargin, HLLConfidence float64
	// Pred, if set, decides per (normalised) key and observation whether
	// the reducer takes the observation. Called synchronously by Observe;
	// it must not call back into the Engine.
	Pred func(Key, Observation) bool
	// NormalizeKey, if set, maps the observed key to the key the result
	// is collected under. Called synchronously by Observe; it must not
	// call back into the Engine.
	NormalizeKey func(Key) Key
}

// Def defines a sumstat (Zeek's SumStats::SumStat). The callbacks of Zeek's
// record (threshold_crossed, epoch_result, epoch_finished) are replaced by
// the Outputs that Engine methods return.
type Def struct {
	// Name identifies the sumstat; unique within an Engine.
	Name string
	// Epoch is the length of a collection interval in network time;
	// 0 means manual epochs, ended only by Engine.EndEpoch.
	Epoch time.Duration
	// AlignEpochs makes epochs fixed windows [t.Truncate(Epoch),
	// t.Truncate(Epoch)+Epoch), so that engines on different nodes end
	// the same epochs at the same boundaries. Without it (Zeek's
	// behaviour) an epoch ends at the first network time >= its scheduled
	// end, and the next one is scheduled Epoch after that time.
	AlignEpochs bool
	// Reducers lists the reducers; their streams must be distinct.
	Reducers []Reducer
	// ThresholdVal computes the value compared with Threshold and
	// ThresholdSeries, from the key's current Result. Streams without
	// observations yet are present with empty ResultVals (Num 0), as in
	// Zeek. Required when a threshold is set. Called synchronously after
	// each observation the sumstat takes; it must not keep or modify the
	// Result, nor call back into the Engine.
	ThresholdVal func(Key, Result) float64
	// Threshold, if set, crosses once per key and epoch, when
	// ThresholdVal >= *Threshold.
	Threshold *float64
	// ThresholdSeries is a list of ascending thresholds. Each key keeps an
	// index into it; after an observation only the next step is tested, so
	// a value that jumps past several steps crosses once and advances one
	// step. Each step crosses at most once per key and epoch.
	ThresholdSeries []float64
	// ThresholdOnly is a Zeek sumstat without epoch_result: no
	// EpochResult outputs, and a key that crossed its Threshold (or the
	// last step of its ThresholdSeries) takes no further observations
	// until the epoch ends. EpochFinished is still reported.
	ThresholdOnly bool
}

// HasThreshold reports whether the sumstat has a threshold or a series.
func (d *Def) HasThreshold() bool { return d.Threshold != nil || len(d.ThresholdSeries) > 0 }

// Validate checks the definition and returns an error wrapping
// ErrInvalidDef (or ErrUnknownCalc, ErrBadParam) that names the field.
func (d *Def) Validate() error {
	_, err := compileReducers(d)
	return err
}

// reducerSpec is a validated Reducer with its defaults applied.
type reducerSpec struct {
	stream     string
	calcs      CalcSet
	uniqueMax  int
	topkSize   int
	sampleSize int
	lastN      int
	hllP       uint8
	pred       func(Key, Observation) bool
	normalize  func(Key) Key
	index      int // slot in the key state of the owning sumstat
}

func invalid(d *Def, format string, args ...any) error {
	return fmt.Errorf("%w: sumstat %q: %s", ErrInvalidDef, d.Name, fmt.Sprintf(format, args...))
}

func compileReducers(d *Def) ([]*reducerSpec, error) {
	if d.Name == "" {
		return nil, fmt.Errorf("%w: empty name", ErrInvalidDef)
	}
	if d.Epoch < 0 {
		return nil, invalid(d, "negative epoch %v", d.Epoch)
	}
	if len(d.Reducers) == 0 {
		return nil, invalid(d, "no reducers")
	}
	if d.HasThreshold() && d.ThresholdVal == nil {
		return nil, invalid(d, "a threshold needs a threshold_val function")
	}
	if d.Threshold != nil && math.IsNaN(*d.Threshold) {
		return nil, invalid(d, "threshold is NaN")
	}
	for i, t := range d.ThresholdSeries {
		if math.IsNaN(t) {
			return nil, invalid(d, "threshold_series[%d] is NaN", i)
		}
		if i > 0 && t < d.ThresholdSeries[i-1] {
			return nil, invalid(d, "threshold_series is not ascending at index %d (%v < %v)", i, t, d.ThresholdSeries[i-1])
		}
	}
	specs := make([]*reducerSpec, 0, len(d.Reducers))
	for i, r := range d.Reducers {
		if r.Stream == "" {
			return nil, invalid(d, "reducer %d: empty stream", i)
		}
		if slices.ContainsFunc(specs, func(s *reducerSpec) bool { return s.stream == r.Stream }) {
			return nil, invalid(d, "reducer %d: stream %q already has a reducer", i, r.Stream)
		}
		if len(r.Apply) == 0 {
			return nil, invalid(d, "reducer %d (%s): no calculations", i, r.Stream)
		}
		var calcs CalcSet
		for _, c := range r.Apply {
			if !c.Valid() {
				return nil, fmt.Errorf("%w: sumstat %q reducer %d (%s): %v", ErrUnknownCalc, d.Name, i, r.Stream, c)
			}
			calcs = calcs.With(c)
		}
		if r.UniqueMax < 0 || r.TopKSize < 0 || r.SampleSize < 0 || r.LastN < 0 {
			return nil, fmt.Errorf("%w: sumstat %q reducer %d (%s): negative unique_max, topk_size, num_samples or num_last_elements",
				ErrBadParam, d.Name, i, r.Stream)
		}
		s := &reducerSpec{
			stream:     r.Stream,
			calcs:      calcs.expand(),
			uniqueMax:  r.UniqueMax,
			topkSize:   r.TopKSize,
			sampleSize: r.SampleSize,
			lastN:      r.LastN,
			pred:       r.Pred,
			normalize:  r.NormalizeKey,
			index:      i,
		}
		if s.topkSize == 0 {
			s.topkSize = DefaultTopKSize
		}
		if s.calcs.Has(CalcHLLUnique) {
			em, conf := r.HLLErrorMargin, r.HLLConfidence
			if em == 0 {
				em = DefaultHLLErrorMargin
			}
			if conf == 0 {
				conf = DefaultHLLConfidence
			}
			p, err := HLLPrecision(em, conf)
			if err != nil {
				return nil, fmt.Errorf("sumstat %q reducer %d (%s): %w", d.Name, i, r.Stream, err)
			}
			s.hllP = uint8(p)
		}
		specs = append(specs, s)
	}
	return specs, nil
}
