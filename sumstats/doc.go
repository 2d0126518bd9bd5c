// Package sumstats owns shoal's SumStats: Zeek's summary-statistics
// framework (zeek: scripts/base/frameworks/sumstats/, rules in
// ../shared/zeek/SEMANTICS.md §6) as a pure state machine whose state is
// mergeable and serialisable, so that each key can live on the datanode that
// owns it and move between datanodes.
//
// Observations (Num, Dbl or Str values) arrive on named streams under a Key
// {Host, Str}. A Def (Zeek's SumStat) attaches Reducers to streams; each
// reducer applies calculations: sum, min, max, average, variance and std_dev
// (Welford), unique (capped), hll_unique (HyperLogLog), topk (Space-Saving),
// sample (reservoir) and last (the N most recent). Epochs are fixed
// intervals of network time, or manual. Thresholds, threshold series and
// a threshold value computed from the Result report crossings.
//
// The Engine takes time as an argument and returns Outputs instead of
// calling Zeek's callbacks, so its owner (a datanode) ships them to a
// manager:
//
//	e := sumstats.New(sumstats.Config{})
//	limit := 100.0
//	err := e.Add(sumstats.Def{
//		Name:     "conns",
//		Epoch:    time.Minute,
//		Reducers: []sumstats.Reducer{{Stream: "conn", Apply: []sumstats.Calc{sumstats.CalcSum, sumstats.CalcHLLUnique}}},
//		ThresholdVal: func(k sumstats.Key, r sumstats.Result) float64 {
//			return r.Get("conn").Sum
//		},
//		Threshold: &limit,
//	}, firstPacketTime)
//	outs := e.Observe("conn", sumstats.Key{Host: src}, sumstats.Num(1), packetTime)
//	outs = append(outs, e.Tick(networkTime)...) // epoch ends
//	for _, o := range outs {
//		switch o.Kind {
//		case sumstats.ThresholdCrossed: // o.Key, o.Result, o.Threshold
//		case sumstats.EpochResult: // o.Key, o.Result, o.Start, o.End
//		case sumstats.EpochFinished: // o.Start, o.End
//		}
//	}
//
// Every state (ResultVal and its sketches UniqueSet, HLL, TopK, Reservoir,
// Last; a whole Result; a Key) merges (ResultVal.Merge, MergeResults,
// Engine.Merge) and encodes to bytes (AppendBinary, DecodeBinary). Merging
// the states of the parts of a stream equals observing the whole stream:
// exactly for sum, min, max, unique, hll_unique registers and last; within
// floating-point rounding for average, variance and std_dev; within the
// Space-Saving bounds documented on TopK; and as a valid reservoir for
// sample.
//
// Where shoal departs from Zeek, on purpose and documented at the type:
// merged UNIQUE sets stop at unique_max+1 like observed ones (Zeek's merge
// stops at unique_max); LAST merges by observation time (Zeek appends one
// queue to the other); SAMPLE merges draw with probability
// othercount/total (Zeek's draw is one in total too likely); a sumstat
// without epoch results (ThresholdOnly) reports EpochFinished and is reset
// every epoch (as Zeek's cluster mode and v2.5–7.0 do).
//
// The package is pure: no I/O, no goroutines, no clock. Nothing in it is
// safe for concurrent use; an Engine and the states it hands out are owned
// by one goroutine at a time.
package sumstats
