// Package lawtest checks, by random trials, the merge laws a module's owner
// side claims (analysis.Laws) and that its exported state survives a round
// trip. Modules call Check from their tests; their own reference tests add
// what the merged state must equal.
package lawtest

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"shoal/analysis"
	"shoal/internal/wire"
)

// Subject describes the owner side under test.
type Subject struct {
	// New returns a fresh owner side (same configuration every time).
	New func() analysis.Owner
	// Event returns a random event the owner applies.
	Event func(r *rand.Rand) (wire.Type, []byte)
	// Partitions is the owners' partition count.
	Partitions int
	// Now is the clock passed to Apply.
	Now time.Time
}

// Trials is how many random triples of owners Check builds.
const Trials = 200

// Run applies n random events to a fresh owner and returns it.
func (s Subject) Run(t testing.TB, r *rand.Rand, n int) analysis.Owner {
	t.Helper()
	o := s.New()
	var out analysis.Out
	for range n {
		typ, payload := s.Event(r)
		part, err := o.Partition(typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		out.Reset()
		if err := o.Apply(part, typ, payload, s.Now, &out); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// Check verifies, over Trials random owners, that every partition's state
// survives Export then Import, and exactly the laws the owner claims: with
// a Mergeable owner, merge(a, b) = merge(b, a) if Commutative,
// merge(merge(a, b), c) = merge(a, merge(b, c)) if Associative, and
// merge(a, a) = a if Idempotent (equality of exported bytes); without,
// Merge fails with analysis.ErrNotMergeable. The seed is logged.
func Check(t *testing.T, s Subject) {
	t.Helper()
	seed := rand.Uint64()
	t.Logf("lawtest seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	laws := s.New().Laws()
	for range Trials {
		a, b, c := s.Run(t, r, r.IntN(40)), s.Run(t, r, r.IntN(40)), s.Run(t, r, r.IntN(40))
		for p := range s.Partitions {
			ea, eb, ec := export(t, a, p), export(t, b, p), export(t, c, p)
			if got := s.merged(t, p, ea); !bytes.Equal(got, ea) {
				t.Fatalf("partition %d: Import(Export(a)) exports %x, want %x", p, got, ea)
			}
			if !laws.Mergeable {
				o := s.New()
				if err := o.Merge(p, ea); !errors.Is(err, analysis.ErrNotMergeable) {
					t.Fatalf("Merge on a state that is not mergeable: %v", err)
				}
				continue
			}
			ab := s.merged(t, p, ea, eb)
			if laws.Commutative && !bytes.Equal(ab, s.merged(t, p, eb, ea)) {
				t.Fatalf("partition %d: merge is not commutative", p)
			}
			if laws.Associative && !bytes.Equal(s.merged(t, p, ab, ec), s.merged(t, p, ea, s.merged(t, p, eb, ec))) {
				t.Fatalf("partition %d: merge is not associative", p)
			}
			if laws.Idempotent && !bytes.Equal(s.merged(t, p, ea, ea), ea) {
				t.Fatalf("partition %d: merge is not idempotent", p)
			}
		}
	}
}

func export(t testing.TB, o analysis.Owner, p int) []byte {
	t.Helper()
	b, err := o.Export(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// merged imports the first state into a fresh owner, merges the others
// and exports the result.
func (s Subject) merged(t testing.TB, p int, states ...[]byte) []byte {
	t.Helper()
	o := s.New()
	if err := o.Import(p, states[0]); err != nil {
		t.Fatal(err)
	}
	for _, st := range states[1:] {
		if err := o.Merge(p, st); err != nil {
			t.Fatal(err)
		}
	}
	return export(t, o, p)
}

// Merged is merged, for reference tests: the state of partition p after
// importing states[0] and merging the rest.
func (s Subject) Merged(t testing.TB, p int, states ...[]byte) []byte {
	return s.merged(t, p, states...)
}
