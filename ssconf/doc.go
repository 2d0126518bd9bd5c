// Package ssconf owns the two text inputs of shoal's SumStats: the
// definitions file (YAML) that turns into sumstats.Defs, and the
// observation feed (JSON lines) that turns into observations. It parses and
// validates; it runs nothing. Every error names the input and the line,
// "defs.yaml:12: unknown reducer "medain" (want one of sum, min, ...)", so
// an operator can fix the file without reading code.
//
// # Definitions file
//
// One YAML document with a single top-level key, sumstats, listing the
// definitions (Zeek's SumStats::SumStat; reducer parameters as in Zeek's
// plugins):
//
//	sumstats:
//	  - name: test                 # required, unique in the file
//	    epoch: 3s                  # required: a Go duration (30s, 5m, 1h30m);
//	                               # 0 or "manual" = manual epochs
//	    reducers:                  # required, one per stream
//	      - stream: test.metric    # required, distinct within the sumstat
//	        apply: [sum, variance, average, max, min, std_dev, unique, hll_unique]
//	                               # required: Zeek's calculation names, any case
//	                               # (SUM ok): sum, min, max, average, variance,
//	                               # std_dev, unique, hll_unique, topk, sample, last
//	        unique_max: 10         # optional, >= 1, needs unique (absent: unlimited)
//	        hll_error_margin: 0.01 # optional, in (0,1), needs hll_unique (default 0.01)
//	        hll_confidence: 0.95   # optional, in (0,1), needs hll_unique (default 0.95)
//	      - stream: test.words
//	        apply: [topk, sample, last]
//	        topk_size: 500         # optional, >= 1, needs topk (default 500)
//	        num_samples: 5         # optional, >= 0, needs sample (default 0)
//	        num_last_elements: 3   # optional, >= 0, needs last (default 0)
//	    threshold: 5               # optional: crosses once per key and epoch
//	    threshold_series: [3, 6, 800]   # optional, ascending: one step per observation
//	    threshold_val: {stream: test.metric, calc: sum}
//	                               # required with a threshold (forbidden without):
//	                               # the value compared with it. Or a ratio:
//	                               # {ratio: [{stream: a, calc: sum}, {stream: b, calc: sum}]}
//	                               # = a/b when both have a value and b > 0, else 0.
//	                               # The calc must be applied to that stream
//	                               # (std_dev implies variance and average).
//	    threshold_only: false      # optional, needs a threshold: Zeek's sumstat
//	                               # without epoch_result (see sumstats.Def)
//	    notice: Test::Threshold_Crossed
//	                               # optional, needs a threshold: the manager
//	                               # raises a notice with this note on each crossing
//
// Unknown keys, duplicate keys or names, wrong types (a quoted "5" is a
// string, not a number), negative or out-of-range values, missing stream or
// apply, a threshold without threshold_val, and anything sumstats.Def.Validate
// rejects are errors. Anchors and aliases are followed; merge keys (<<) are
// not supported. Every Def with a fixed epoch gets AlignEpochs, so that all
// datanodes end the same windows. Hash (over Canonical) is a settings hash
// that nodes compare to check that they loaded the same definitions.
//
// # Observation feed
//
// JSON lines, one observation per line; blank lines are skipped:
//
//	{"stream":"test.metric","key":{"host":"1.2.3.4","str":"x"},"value":{"num":5},"ts":1300000000.25}
//	{"stream":"test.metric","key":{"host":"6.5.4.3"},"value":{"dbl":2.5},"repeat":3}
//	{"stream":"words","key":{"str":"example.com"},"value":{"str":"abc"}}
//
// The fields of a line:
//
//   - stream: a non-empty string.
//   - key: an object with host (an IPv4 or IPv6 address; IPv4-mapped IPv6
//     is taken as IPv4) and/or a non-empty str; no other fields.
//   - value: an object with exactly one of num (an unsigned 64-bit
//     integer), dbl (any JSON number) or str (a string). As in Zeek, the
//     numeric calculations see num, dbl, or 1.0 for a string; unique, topk
//     and friends see the whole value, so num 5 and dbl 5 differ.
//   - ts: optional epoch seconds (a number, microseconds kept); absent or
//     null means "now", as the reader of the feed decides.
//   - repeat: optional integer in [1, MaxRepeat], default 1: the
//     observation is made that many times in a row.
//   - other top-level fields (such as "node") are ignored.
//
// A malformed line is reported as "name:line: reason" (wrapping
// ErrMalformed) and skipped; the lines around it are not affected.
//
// # Concurrency
//
// The package has no state: Parse, ParseFile, ParseObservation, Hash and
// Canonical are safe for concurrent use, and ReadObservations runs its
// callbacks on the calling goroutine. Parsed Definitions are immutable.
package ssconf
