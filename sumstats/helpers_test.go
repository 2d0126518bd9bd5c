package sumstats

import (
	"flag"
	"math/rand/v2"
	"testing"
)

var seedFlag = flag.Uint64("seed", 0, "seed for the randomised tests (0: a fixed default)")

// newRand returns a deterministic random source.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// testSeed returns the seed of the randomised tests and logs it, so that a
// failure can be rerun with -seed.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		s = 20240611
	}
	t.Logf("seed %d (rerun with -seed=%d)", s, s)
	return s
}
