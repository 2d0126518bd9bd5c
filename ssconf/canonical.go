package ssconf

import (
	"slices"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
	"shoal/sumstats"
)

// String renders the definition canonically on one line: every setting
// that changes results (name, epoch, alignment, reducers with their
// calculations as a set and their parameters, thresholds, threshold_val,
// threshold_only, notice) and nothing else (not the line, comments or key
// order). Two definitions with equal strings behave the same.
func (d Definition) String() string {
	var b strings.Builder
	def := &d.Def
	b.WriteString("name=")
	b.WriteString(strconv.Quote(def.Name))
	b.WriteString(" epoch=")
	b.WriteString(def.Epoch.String())
	b.WriteString(" align=")
	b.WriteString(strconv.FormatBool(def.AlignEpochs))
	for _, r := range def.Reducers {
		var set sumstats.CalcSet
		for _, c := range r.Apply {
			set = set.With(c)
		}
		b.WriteString(" reducer{stream=")
		b.WriteString(strconv.Quote(r.Stream))
		b.WriteString(" apply=")
		b.WriteString(set.String())
		for _, kv := range []struct {
			k string
			v int
		}{{"unique_max", r.UniqueMax}, {"topk_size", r.TopKSize}, {"num_samples", r.SampleSize}, {"num_last_elements", r.LastN}} {
			b.WriteString(" " + kv.k + "=" + strconv.Itoa(kv.v))
		}
		b.WriteString(" hll_error_margin=" + fmtFloat(r.HLLErrorMargin))
		b.WriteString(" hll_confidence=" + fmtFloat(r.HLLConfidence))
		b.WriteString("}")
	}
	if def.Threshold != nil {
		b.WriteString(" threshold=" + fmtFloat(*def.Threshold))
	}
	if len(def.ThresholdSeries) > 0 {
		b.WriteString(" threshold_series=[")
		for i, t := range def.ThresholdSeries {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(fmtFloat(t))
		}
		b.WriteByte(']')
	}
	if d.val != nil {
		b.WriteString(" threshold_val=" + d.val.String())
	} else if def.ThresholdVal != nil {
		b.WriteString(" threshold_val=func") // built by hand, not parsed
	}
	if def.ThresholdOnly {
		b.WriteString(" threshold_only=true")
	}
	if d.Notice != "" {
		b.WriteString(" notice=" + strconv.Quote(d.Notice))
	}
	return b.String()
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Canonical renders a set of definitions canonically: their Strings sorted
// by name, one per line. Nodes that loaded equivalent files have equal
// Canonical strings, whatever the order of the definitions in the file.
func Canonical(defs []Definition) string {
	sorted := slices.Clone(defs)
	slices.SortStableFunc(sorted, func(a, b Definition) int { return strings.Compare(a.Def.Name, b.Def.Name) })
	var b strings.Builder
	for _, d := range sorted {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Hash is the xxhash of Canonical(defs): a settings hash that nodes compare
// to check that they all loaded the same definitions.
func Hash(defs []Definition) uint64 { return xxhash.Sum64String(Canonical(defs)) }
