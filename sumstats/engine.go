package sumstats

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"
)

// OutputKind tags an Output.
type OutputKind uint8

// The kinds of Output.
const (
	// ThresholdCrossed: Key's value crossed a threshold (Zeek's
	// threshold_crossed). Result is a copy of the key's result at that
	// moment, with empty ResultVals for streams without observations;
	// Threshold is the step index (0 for a plain threshold); Value is
	// what ThresholdVal returned; Start is the epoch start and End the
	// network time of the crossing.
	ThresholdCrossed OutputKind = iota + 1
	// EpochResult: the result of one key at the end of an epoch (Zeek's
	// epoch_result), with the epoch's Start and End.
	EpochResult
	// EpochFinished: the epoch ended (Zeek's epoch_finished), reported
	// after every EpochResult of that epoch, also for an epoch without
	// observations.
	EpochFinished
)

// String returns "threshold_crossed", "epoch_result" or "epoch_finished".
func (k OutputKind) String() string {
	switch k {
	case ThresholdCrossed:
		return "threshold_crossed"
	case EpochResult:
		return "epoch_result"
	case EpochFinished:
		return "epoch_finished"
	}
	return fmt.Sprintf("output(%d)", uint8(k))
}

// Output is something a sumstat reports, tagged by Kind; the fields that do
// not apply to a Kind are zero. The receiver owns Result.
type Output struct {
	Kind      OutputKind
	Def       string  // sumstat name
	Key       Key     // ThresholdCrossed, EpochResult
	Result    Result  // ThresholdCrossed, EpochResult
	Threshold int     // ThresholdCrossed: index of the step crossed (0 for Threshold)
	Value     float64 // ThresholdCrossed: what ThresholdVal returned
	// Start and End bound the epoch (EpochResult, EpochFinished). For a
	// manual or Zeek-style epoch End is the network time at which it
	// ended; with AlignEpochs it is the window boundary. For
	// ThresholdCrossed, End is the network time of the crossing.
	Start, End time.Time
}

// Config configures an Engine.
type Config struct {
	// Rand seeds the random source of each SAMPLE reservoir. nil means
	// math/rand/v2's global source; tests pass a seeded one.
	Rand *rand.Rand
}

// Engine runs sumstats over observations: the pure core of a datanode's
// SumStats. It does no I/O, starts no goroutines and reads no clock: network
// time comes in as the now argument and never runs backwards inside the
// Engine (an earlier now counts as the latest one seen). Methods return the
// Outputs to ship; nothing is called back except the Def and Reducer
// functions.
//
// An Engine is not safe for concurrent use: one goroutine owns it.
type Engine struct {
	rng    *rand.Rand
	now    time.Time
	defs   []*defState
	byName map[string]*defState
	// byStream lists the reducers reading each stream, in Def order.
	byStream map[string][]streamRef
}

type streamRef struct {
	def  *defState
	spec *reducerSpec
}

type defState struct {
	def      Def
	specs    []*reducerSpec
	keys     map[Key]*keyState
	start    time.Time // start of the current epoch
	due      time.Time // scheduled end (Epoch > 0)
	order    int
	hasThold bool
}

type keyState struct {
	vals    []*ResultVal // one slot per reducer, nil until it observes
	one     [1]*ResultVal
	crossed int // Zeek's threshold_tracker: 0 = not crossed / next series step
}

// New returns an Engine with no sumstats.
func New(cfg Config) *Engine {
	return &Engine{
		rng:      cfg.Rand,
		byName:   make(map[string]*defState),
		byStream: make(map[string][]streamRef),
	}
}

// Now returns the Engine's network time: the latest now it was given.
func (e *Engine) Now() time.Time { return e.now }

func (e *Engine) advance(now time.Time) time.Time {
	if now.After(e.now) {
		e.now = now
	}
	return e.now
}

func (e *Engine) seed() uint64 {
	if e.rng != nil {
		return e.rng.Uint64()
	}
	return rand.Uint64()
}

// Add creates a sumstat (Zeek's SumStats::create) at network time now: the
// first epoch starts at now and, unless the epoch is manual, ends Epoch
// later. As in Zeek, a sumstat created before the first packet (now zero)
// ends an empty epoch at the first observation or Tick; pass the first
// packet's time to avoid it. The Def is copied; its functions are kept. It
// fails with ErrDuplicateDef or a validation error.
func (e *Engine) Add(def Def, now time.Time) error {
	specs, err := compileReducers(&def)
	if err != nil {
		return err
	}
	if _, dup := e.byName[def.Name]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateDef, def.Name)
	}
	now = e.advance(now)
	def.Reducers = slices.Clone(def.Reducers)
	def.ThresholdSeries = slices.Clone(def.ThresholdSeries)
	if def.Threshold != nil {
		t := *def.Threshold
		def.Threshold = &t
	}
	d := &defState{
		def:      def,
		specs:    specs,
		keys:     make(map[Key]*keyState),
		order:    len(e.defs),
		hasThold: def.HasThreshold(),
	}
	d.schedule(now)
	e.defs = append(e.defs, d)
	e.byName[def.Name] = d
	for _, s := range specs {
		e.byStream[s.stream] = append(e.byStream[s.stream], streamRef{def: d, spec: s})
	}
	return nil
}

// schedule starts an epoch at now.
func (d *defState) schedule(now time.Time) {
	d.start = now
	if d.def.Epoch <= 0 {
		d.due = time.Time{}
		return
	}
	if d.def.AlignEpochs {
		d.start = now.Truncate(d.def.Epoch)
	}
	d.due = d.start.Add(d.def.Epoch)
}

// Defs returns the names of the sumstats, in the order they were added.
func (e *Engine) Defs() []string {
	out := make([]string, len(e.defs))
	for i, d := range e.defs {
		out[i] = d.def.Name
	}
	return out
}

// NextDue returns the earliest scheduled epoch end, and false when every
// sumstat uses manual epochs (or there is none). A caller that drives time
// calls Tick once network time reaches it.
func (e *Engine) NextDue() (time.Time, bool) {
	var due time.Time
	ok := false
	for _, d := range e.defs {
		if d.def.Epoch > 0 && (!ok || d.due.Before(due)) {
			due, ok = d.due, true
		}
	}
	return due, ok
}

// Observe adds an observation made at network time now to every reducer of
// stream (Zeek's SumStats::observe). Epochs due at or before now end first
// (as Zeek fires due timers before processing a packet). For each reducer:
// the key is normalised, the predicate applied, the observation counted,
// and then the sumstat's thresholds checked. An unknown stream is ignored.
// It returns the Outputs in the order they happened (nil if none).
func (e *Engine) Observe(stream string, key Key, obs Observation, now time.Time) []Output {
	out := e.tick(now, nil)
	now = e.now
	for _, ref := range e.byStream[stream] {
		d, s := ref.def, ref.spec
		k := key
		if s.normalize != nil {
			k = s.normalize(k)
		}
		if s.pred != nil && !s.pred(k, obs) {
			continue
		}
		ks := d.keys[k]
		if ks != nil && d.def.ThresholdOnly && d.done(ks) {
			continue
		}
		if ks == nil {
			ks = &keyState{}
			if len(d.specs) == 1 {
				ks.vals = ks.one[:]
			} else {
				ks.vals = make([]*ResultVal, len(d.specs))
			}
			d.keys[k] = ks
		}
		v := ks.vals[s.index]
		if v == nil {
			v = e.newResultVal(s, now)
			ks.vals[s.index] = v
		}
		v.add(obs, now)
		if d.hasThold {
			out = d.checkThresholds(k, ks, now, out)
		}
	}
	return out
}

func (e *Engine) newResultVal(s *reducerSpec, now time.Time) *ResultVal {
	var s1, s2 uint64
	if s.calcs.Has(CalcSample) {
		s1, s2 = e.seed(), e.seed()
	}
	return newResultVal(s, now, s1, s2)
}

// done reports whether a ThresholdOnly key has nothing left to cross.
func (d *defState) done(ks *keyState) bool {
	return (d.def.Threshold != nil && ks.crossed != 0) ||
		(len(d.def.ThresholdSeries) > 0 && ks.crossed >= len(d.def.ThresholdSeries))
}

// view returns the key's Result as ThresholdVal sees it: every reducer
// present, empty ones filled in (Zeek's check_thresholds).
func (d *defState) view(ks *keyState, now time.Time) Result {
	if !slices.Contains(ks.vals, nil) {
		return Result(ks.vals)
	}
	r := make(Result, len(ks.vals))
	for i, v := range ks.vals {
		if v == nil {
			v = newResultVal(d.specs[i], now, 0, 0)
		}
		r[i] = v
	}
	return r
}

// checkThresholds is Zeek's check_thresholds followed by threshold_crossed.
func (d *defState) checkThresholds(k Key, ks *keyState, now time.Time, out []Output) []Output {
	r := d.view(ks, now)
	watch := d.def.ThresholdVal(k, r)
	t := ks.crossed
	crossed := (d.def.Threshold != nil && t == 0 && watch >= *d.def.Threshold) ||
		(t < len(d.def.ThresholdSeries) && watch >= d.def.ThresholdSeries[t])
	if !crossed {
		return out
	}
	ks.crossed++
	return append(out, Output{
		Kind:      ThresholdCrossed,
		Def:       d.def.Name,
		Key:       k,
		Result:    r.Clone(),
		Threshold: t,
		Value:     watch,
		Start:     d.start,
		End:       now,
	})
}

// Tick advances network time to now and ends the epochs due at or before
// it, earliest first. It returns their Outputs (nil if none).
func (e *Engine) Tick(now time.Time) []Output { return e.tick(now, nil) }

func (e *Engine) tick(now time.Time, out []Output) []Output {
	now = e.advance(now)
	for {
		var next *defState
		for _, d := range e.defs {
			if d.def.Epoch > 0 && !now.Before(d.due) && (next == nil || d.due.Before(next.due)) {
				next = d
			}
		}
		if next == nil {
			return out
		}
		end := now
		if next.def.AlignEpochs {
			end = next.due
		}
		out = next.finish(end, out)
		next.schedule(now)
	}
}

// finish reports the epoch ending at end and resets the sumstat's keys
// and threshold state.
func (d *defState) finish(end time.Time, out []Output) []Output {
	if !d.def.ThresholdOnly && len(d.keys) > 0 {
		keys := slices.SortedFunc(maps.Keys(d.keys), Key.Compare)
		for _, k := range keys {
			out = append(out, Output{
				Kind:   EpochResult,
				Def:    d.def.Name,
				Key:    k,
				Result: compact(d.keys[k].vals),
				Start:  d.start,
				End:    end,
			})
		}
	}
	out = append(out, Output{Kind: EpochFinished, Def: d.def.Name, Start: d.start, End: end})
	d.keys = make(map[Key]*keyState)
	return out
}

// compact returns the non-nil ResultVals, reusing vals when it has no nil.
func compact(vals []*ResultVal) Result {
	if !slices.Contains(vals, nil) {
		return Result(vals)
	}
	r := make(Result, 0, len(vals))
	for _, v := range vals {
		if v != nil {
			r = append(r, v)
		}
	}
	return r
}

// EndEpoch ends the current epoch of a manual sumstat (Zeek's
// SumStats::next_epoch) at network time now, after ending the epochs of
// other sumstats that are due. An epoch without observations still reports
// EpochFinished. It fails with ErrUnknownDef, or ErrNotManual when the
// sumstat has a fixed epoch.
func (e *Engine) EndEpoch(name string, now time.Time) ([]Output, error) {
	d := e.byName[name]
	if d == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownDef, name)
	}
	if d.def.Epoch != 0 {
		return nil, fmt.Errorf("%w: %q", ErrNotManual, name)
	}
	out := e.tick(now, nil)
	now = e.now
	out = d.finish(now, out)
	d.schedule(now)
	return out, nil
}

// Flush ends the current epoch of every sumstat with a fixed epoch once, at
// network time now, whether due or not: Zeek's behaviour at shutdown, where
// every pending epoch timer fires with the final network time. Manual
// sumstats are left alone.
func (e *Engine) Flush(now time.Time) []Output {
	now = e.advance(now)
	var out []Output
	for _, d := range e.defs {
		if d.def.Epoch > 0 {
			out = d.finish(now, out)
			d.schedule(now)
		}
	}
	return out
}

// Lookup returns a copy of the current result of key in sumstat name
// (Zeek's request_key), and false when the sumstat is unknown or has no
// result for the key in the current epoch.
func (e *Engine) Lookup(name string, key Key) (Result, bool) {
	d := e.byName[name]
	if d == nil {
		return nil, false
	}
	ks := d.keys[key]
	if ks == nil {
		return nil, false
	}
	return compact(ks.vals).Clone(), true
}

// Keys returns the keys with a result in the current epoch of sumstat
// name, in Key order.
func (e *Engine) Keys(name string) []Key {
	d := e.byName[name]
	if d == nil {
		return nil
	}
	return slices.SortedFunc(maps.Keys(d.keys), Key.Compare)
}

// Len returns the number of keys with a result in the current epoch of
// sumstat name.
func (e *Engine) Len(name string) int {
	if d := e.byName[name]; d != nil {
		return len(d.keys)
	}
	return 0
}

// ThresholdIndex returns the threshold state of key in sumstat name: 0 when
// nothing crossed yet in this epoch, otherwise the number of crossings
// (the next series step).
func (e *Engine) ThresholdIndex(name string, key Key) int {
	if d := e.byName[name]; d != nil {
		if ks := d.keys[key]; ks != nil {
			return ks.crossed
		}
	}
	return 0
}

// Merge folds a Result for key, collected elsewhere in the current epoch
// (another partition, a previous owner, a replica), into sumstat name at
// network time now, and raises the key's threshold state to at least
// thresholdIndex (so a crossing reported elsewhere is not reported again).
// Thresholds are then checked on the merged result, as Zeek's manager does
// after merging. r is not modified. It fails with ErrUnknownDef,
// ErrUnknownStream or ErrIncompatible, leaving the key unchanged.
func (e *Engine) Merge(name string, key Key, r Result, thresholdIndex int, now time.Time) ([]Output, error) {
	d := e.byName[name]
	if d == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownDef, name)
	}
	out := e.tick(now, nil)
	now = e.now
	ks := d.keys[key]
	var merged []*ResultVal
	if ks != nil {
		merged = slices.Clone(ks.vals)
	} else {
		merged = make([]*ResultVal, len(d.specs))
	}
	for _, v := range r {
		if v == nil {
			continue
		}
		i := slices.IndexFunc(d.specs, func(s *reducerSpec) bool { return s.stream == v.Stream })
		if i < 0 {
			return out, fmt.Errorf("%w: %q in %q", ErrUnknownStream, v.Stream, name)
		}
		if v.Calcs != d.specs[i].calcs {
			return out, fmt.Errorf("%w: sumstat %q stream %q: calculations %v, reducer has %v",
				ErrIncompatible, name, v.Stream, v.Calcs, d.specs[i].calcs)
		}
		var base *ResultVal
		if merged[i] != nil {
			base = merged[i].Clone()
		} else {
			base = e.newResultVal(d.specs[i], now)
		}
		if err := base.Merge(v); err != nil {
			return out, fmt.Errorf("sumstat %q stream %q: %w", name, v.Stream, err)
		}
		merged[i] = base
	}
	if !slices.ContainsFunc(merged, func(v *ResultVal) bool { return v != nil }) {
		return out, nil // nothing to merge into an absent key
	}
	if ks == nil {
		ks = &keyState{}
		d.keys[key] = ks
	}
	ks.vals = merged
	if thresholdIndex > ks.crossed {
		ks.crossed = thresholdIndex
	}
	if d.hasThold {
		out = d.checkThresholds(key, ks, now, out)
	}
	return out, nil
}

// Delete forgets key in sumstat name (after its ownership moved away) and
// reports whether it was there.
func (e *Engine) Delete(name string, key Key) bool {
	d := e.byName[name]
	if d == nil {
		return false
	}
	if _, ok := d.keys[key]; !ok {
		return false
	}
	delete(d.keys, key)
	return true
}
