package sumstats

import (
	"fmt"
	"strconv"
	"strings"
)

// Calc is one of Zeek's SumStats calculations (SumStats::Calculation).
type Calc uint8

// The calculations. The zero Calc is invalid.
const (
	CalcSum       Calc = iota + 1 // SUM: sum of the values
	CalcMin                       // MIN: smallest value
	CalcMax                       // MAX: largest value
	CalcAverage                   // AVERAGE: running mean
	CalcVariance                  // VARIANCE: sample variance (Welford); implies AVERAGE
	CalcStdDev                    // STD_DEV: sqrt(variance); implies VARIANCE
	CalcUnique                    // UNIQUE: distinct observations, capped by Reducer.UniqueMax
	CalcHLLUnique                 // HLL_UNIQUE: HyperLogLog estimate of distinct observations
	CalcTopK                      // TOPK: Space-Saving top-k of observations
	CalcSample                    // SAMPLE: reservoir sample of observations
	CalcLast                      // LAST: the most recent observations
	numCalcs
)

var calcNames = [numCalcs]string{
	CalcSum:       "sum",
	CalcMin:       "min",
	CalcMax:       "max",
	CalcAverage:   "average",
	CalcVariance:  "variance",
	CalcStdDev:    "std_dev",
	CalcUnique:    "unique",
	CalcHLLUnique: "hll_unique",
	CalcTopK:      "topk",
	CalcSample:    "sample",
	CalcLast:      "last",
}

// String returns the calculation's Zeek name in lower case ("sum",
// "std_dev", "hll_unique", "topk", ...).
func (c Calc) String() string {
	if c > 0 && c < numCalcs {
		return calcNames[c]
	}
	return "calc(" + strconv.Itoa(int(c)) + ")"
}

// Valid reports whether c is one of the defined calculations.
func (c Calc) Valid() bool { return c > 0 && c < numCalcs }

// ParseCalc parses a calculation name, case-insensitively, as Zeek spells it
// ("SUM", "std_dev", "HLL_UNIQUE", "TOPK"). "stddev", "avg", "var" and "top_k"
// are accepted as aliases. An unknown name yields an error wrapping
// ErrUnknownCalc.
func ParseCalc(s string) (Calc, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	switch n {
	case "stddev":
		return CalcStdDev, nil
	case "avg":
		return CalcAverage, nil
	case "var":
		return CalcVariance, nil
	case "top_k":
		return CalcTopK, nil
	}
	for c := CalcSum; c < numCalcs; c++ {
		if calcNames[c] == n {
			return c, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownCalc, s)
}

// CalcSet is a set of calculations, one bit per Calc.
type CalcSet uint16

// Has reports whether c is in the set.
func (s CalcSet) Has(c Calc) bool { return s&(1<<c) != 0 }

// With returns the set with c added.
func (s CalcSet) With(c Calc) CalcSet { return s | 1<<c }

// Calcs returns the members in Calc order.
func (s CalcSet) Calcs() []Calc {
	var out []Calc
	for c := CalcSum; c < numCalcs; c++ {
		if s.Has(c) {
			out = append(out, c)
		}
	}
	return out
}

// String renders the set as a comma-separated list of names.
func (s CalcSet) String() string {
	var names []string
	for _, c := range s.Calcs() {
		names = append(names, c.String())
	}
	return strings.Join(names, ",")
}

// validCalcSet masks every bit that is a defined calculation.
const validCalcSet CalcSet = (1<<numCalcs - 1) &^ 1

// expand returns the set with the dependencies Zeek adds (VARIANCE needs
// AVERAGE, STD_DEV needs VARIANCE).
func (s CalcSet) expand() CalcSet {
	if s.Has(CalcStdDev) {
		s = s.With(CalcVariance)
	}
	if s.Has(CalcVariance) {
		s = s.With(CalcAverage)
	}
	return s
}
