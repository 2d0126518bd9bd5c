package scan

import (
	"errors"
	"flag"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"shoal/notice"
	"slices"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed for the randomised merge tests (0: a fixed set of seeds)")

// shape is a State with the dark hosts reduced to their number: which darknet
// victims are remembered once DarkHostThreshold is reached depends on the
// order of arrival, and only their number matters to the decisions.
type shapeEntry struct {
	Scanner         netip.Addr
	FirstSeen       time.Time
	LastSeen        time.Time
	Attempts        []Target
	Dark            int
	SuppressedUntil time.Time
}

func shape(st State) []shapeEntry {
	out := make([]shapeEntry, 0, len(st.Scanners))
	for _, s := range st.Scanners {
		out = append(out, shapeEntry{s.Scanner, s.FirstSeen, s.LastSeen, s.Attempts, len(s.DarkHosts), s.SuppressedUntil})
	}
	return out
}

func mergeConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.ScanThreshold = 14
	cfg.LocalScanThreshold = 18
	cfg.ScanThresholdWithDarknetHits = 9
	cfg.LocalScanThresholdWithDarknetHits = 11
	cfg.KnockKnockThreshold = 7
	cfg.KnockKnockThresholdWithDarknetHits = 4
	cfg.LocalNets = nets(t, "10.0.0.0/8")
	cfg.Darknets = nets(t, "10.66.0.0/16, 2001:db8:dead::/48")
	return cfg
}

var (
	mergeScanners = []netip.Addr{addr("1.2.3.4"), addr("10.9.9.9"), addr("2001:db8::5"), addr("5.6.7.8")}
	mergeVictims  = []netip.Addr{
		addr("10.0.0.1"), addr("10.0.0.2"), addr("10.0.0.3"), addr("10.0.0.4"), addr("10.0.0.5"), addr("10.0.0.6"),
		addr("10.66.0.1"), addr("10.66.0.2"), addr("10.66.0.3"), addr("10.66.0.4"),
		addr("2001:db8:dead::1"), addr("2001:db8::77"),
	}
	mergePorts = []uint16{22, 23, 80, 443, 445, 3389, 8080, 53}
)

// randomStream returns n attempts starting at start, a few seconds apart.
func randomStream(r *rand.Rand, n int, start time.Time) []Attempt {
	out := make([]Attempt, n)
	ts := start
	for i := range out {
		ts = ts.Add(time.Duration(r.IntN(4000)) * time.Millisecond)
		out[i] = Attempt{
			TS:      ts,
			Scanner: mergeScanners[r.IntN(len(mergeScanners))],
			Victim:  mergeVictims[r.IntN(len(mergeVictims))],
			Port:    mergePorts[r.IntN(len(mergePorts))],
			Proto:   6,
		}
	}
	return out
}

func observeAll(d *Detector, as []Attempt) []notice.Notice {
	var out []notice.Notice
	for _, a := range as {
		if n, ok := d.Observe(a, a.TS); ok {
			out = append(out, n)
		}
	}
	return out
}

func seeds() []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	out := make([]uint64, 300)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// TestMergeProperty: merging the states of any split of an attempt stream
// (in any order) gives the state of one Detector that observed the whole
// stream, and from then on the same notices. Samples in which some detector
// already raised a notice during the split part are skipped: whether and
// when a notice fires there depends on the order of the attempts.
func TestMergeProperty(t *testing.T) {
	cfg := mergeConfig(t)
	used, compared := 0, 0
	for _, seed := range seeds() {
		r := rand.New(rand.NewPCG(seed, 0x5ca9))
		prefix := randomStream(r, r.IntN(60), t0)
		parts := 1 + r.IntN(4)
		split := make([][]Attempt, parts)
		for _, a := range prefix {
			i := r.IntN(parts)
			split[i] = append(split[i], a)
		}
		whole := newDetector(t, cfg)
		fired := len(observeAll(whole, prefix)) > 0
		exports := make([]State, parts)
		for i, as := range split {
			d := newDetector(t, cfg)
			fired = fired || len(observeAll(d, as)) > 0
			exports[i] = d.Export(nil)
		}
		if fired {
			continue
		}
		used++
		merged := newDetector(t, cfg)
		for _, i := range r.Perm(parts) {
			merged.Merge(exports[i])
		}
		if got, want := shape(merged.Export(nil)), shape(whole.Export(nil)); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: merged state\n%+v\nwant\n%+v", seed, got, want)
		}
		start := t0
		if len(prefix) > 0 {
			start = prefix[len(prefix)-1].TS
		}
		rest := randomStream(r, 80, start)
		nw, nm := observeAll(whole, rest), observeAll(merged, rest)
		compared += len(nw)
		if !reflect.DeepEqual(nw, nm) {
			t.Fatalf("seed %d: notices after the merge differ:\n%+v\nwant\n%+v", seed, nm, nw)
		}
		if got, want := shape(merged.Export(nil)), shape(whole.Export(nil)); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: state after the continuation differs", seed)
		}
	}
	if *seedFlag == 0 && (used < len(seeds())/3 || compared < used) {
		t.Fatalf("only %d of %d samples usable, %d notices compared; adjust the generator", used, len(seeds()), compared)
	}
	t.Logf("%d of %d samples compared, %d notices after the merge", used, len(seeds()), compared)
}

func TestMergeRules(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ScanThreshold = 3
	s := addr("1.2.3.4")
	cases := map[string]struct {
		a, b   []obs
		check  func(t *testing.T, d *Detector)
		merged int // scanners with state after merging a then b
	}{
		"suppression wins over older attack state": {
			a: sweepPorts("1.2.3.4", "10.0.0.1", 1, 3, 0, 1), // reported at 2
			b: sweepPorts("1.2.3.4", "10.0.0.1", 10, 2, 0, 1),
			check: func(t *testing.T, d *Detector) {
				if !d.Suppressed(s, at(3)) {
					t.Error("merged scanner not suppressed")
				}
			},
		},
		"union of attempts then a notice at the next new one": {
			a:      sweepPorts("1.2.3.4", "10.0.0.1", 1, 2, 0, 1),
			b:      sweepPorts("1.2.3.4", "10.0.0.1", 10, 2, 5, 1),
			merged: 1,
			check: func(t *testing.T, d *Detector) {
				if _, ok := d.Observe(Attempt{Scanner: s, Victim: addr("10.0.0.1"), Port: 1}, at(7)); ok {
					t.Error("a repeated attempt must not fire")
				}
				n, ok := d.Observe(Attempt{Scanner: s, Victim: addr("10.0.0.1"), Port: 99}, at(7))
				if !ok || n.Msg != "1.2.3.4 scanned at least 5 unique ports on host 10.0.0.1 in 0m7s" {
					t.Errorf("notice %v %q", ok, n.Msg)
				}
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			da, db := newDetector(t, cfg), newDetector(t, cfg)
			run(da, tc.a)
			run(db, tc.b)
			for _, order := range [][2]*Detector{{da, db}, {db, da}} {
				m := newDetector(t, cfg)
				m.Merge(order[0].Export(nil))
				m.Merge(order[1].Export(nil))
				if m.Len() != tc.merged {
					t.Fatalf("merged %d scanners, want %d", m.Len(), tc.merged)
				}
				tc.check(t, m)
			}
		})
	}
}

func TestMergeSkipsExpired(t *testing.T) {
	cfg := DefaultConfig()
	src := newDetector(t, cfg)
	run(src, []obs{{"1.1.1.1", "10.0.0.1", 1, 0}, {"2.2.2.2", "10.0.0.1", 1, 100}})
	src.Suppress(addr("3.3.3.3"), at(0))
	dst := newDetector(t, cfg)
	dst.Expire(at(950)) // network time 950: 1.1.1.1 (last 0) is expired, 2.2.2.2 (last 100) not
	dst.Merge(src.Export(nil))
	got := dst.Export(nil)
	if len(got.Scanners) != 2 || got.Scanners[0].Scanner != addr("2.2.2.2") || got.Scanners[1].Scanner != addr("3.3.3.3") {
		t.Errorf("merged %+v", got)
	}
	dst.Expire(at(3600))
	if dst.Stats().Suppressed != 0 {
		t.Error("a merged suppression must expire at its deadline")
	}
}

func TestStateRoundTrip(t *testing.T) {
	cfg := mergeConfig(t)
	for _, seed := range seeds()[:50] {
		r := rand.New(rand.NewPCG(seed, 7))
		d := newDetector(t, cfg)
		observeAll(d, randomStream(r, r.IntN(120), t0))
		want := d.Export(nil)
		b, err := want.AppendBinary([]byte("prefix"))
		if err != nil {
			t.Fatal(err)
		}
		var got State
		if err := got.DecodeBinary(b[len("prefix"):]); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if len(want.Scanners) == 0 {
			want.Scanners = []ScannerState{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: round trip\n%+v\nwant\n%+v", seed, got, want)
		}
		// Whole detector: encode, restore into a new one.
		db, _ := d.AppendBinary(nil)
		restored := newDetector(t, cfg)
		if err := restored.DecodeBinary(db); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(restored.Export(nil), d.Export(nil)) {
			t.Fatalf("seed %d: restored detector differs", seed)
		}
		// Every strict prefix of a non-trivial encoding is an error.
		for k := range len(db) - 1 {
			var st State
			if err := st.DecodeBinary(db[:k]); !errors.Is(err, ErrBadState) {
				t.Fatalf("seed %d: prefix %d of %d decoded: %v", seed, k, len(db), err)
			}
		}
	}
}

func TestStateCanonical(t *testing.T) {
	ts := at(0)
	messy := State{Scanners: []ScannerState{
		{Scanner: addr("::ffff:5.5.5.5"), FirstSeen: ts, LastSeen: ts.Add(-time.Second), // last before first
			Attempts:  []Target{{Victim: addr("10.0.0.2"), Port: 2}, {Victim: addr("10.0.0.1"), Port: 1, Proto: 6}, {Victim: addr("10.0.0.2"), Port: 2, Proto: 6}},
			DarkHosts: []netip.Addr{addr("10.0.0.2"), addr("::ffff:10.0.0.1"), addr("10.0.0.2")}},
		{Scanner: addr("1.1.1.1"), SuppressedUntil: ts},
		{Scanner: addr("2.2.2.2")},                                                 // nothing: dropped
		{Scanner: netip.Addr{}, SuppressedUntil: ts},                               // no address: dropped
		{Scanner: addr("1.1.1.1"), SuppressedUntil: ts.Add(time.Hour)},             // duplicate: first wins
		{Scanner: addr("3.3.3.3"), Attempts: []Target{{Victim: addr("10.0.0.1")}}}, // no times: dropped
	}}
	want := State{Scanners: []ScannerState{
		{Scanner: addr("1.1.1.1"), SuppressedUntil: fromNanos(nanos(ts))},
		{Scanner: addr("5.5.5.5"), FirstSeen: fromNanos(nanos(ts)), LastSeen: fromNanos(nanos(ts)),
			Attempts:  []Target{{Victim: addr("10.0.0.1"), Port: 1, Proto: 6}, {Victim: addr("10.0.0.2"), Port: 2, Proto: 6}},
			DarkHosts: []netip.Addr{addr("10.0.0.1"), addr("10.0.0.2")}},
	}}
	b, _ := messy.AppendBinary(nil)
	var got State
	if err := got.DecodeBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("canonical form\n%+v\nwant\n%+v", got, want)
	}
	b2, _ := want.AppendBinary(nil)
	if !slices.Equal(b, b2) {
		t.Error("equal states must encode to equal bytes")
	}
}

func TestStateDecodeErrors(t *testing.T) {
	valid := func() []byte {
		st := State{Scanners: []ScannerState{
			{Scanner: addr("1.1.1.1"), FirstSeen: at(0), LastSeen: at(1), Attempts: []Target{{Victim: addr("10.0.0.1"), Port: 1, Proto: 6}}},
		}}
		b, _ := st.AppendBinary(nil)
		return b
	}
	cases := map[string][]byte{
		"empty":          {},
		"bad version":    {2, 0},
		"trailing bytes": append(valid(), 0),
		"huge count":     {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"zero flags":     {1, 1, 4, 1, 1, 1, 1, 0},
		"unknown flags":  {1, 1, 4, 1, 1, 1, 1, 4},
		"bad addr len":   {1, 1, 5, 1, 1, 1, 1, 1},
		"mapped addr":    append([]byte{1, 1, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 1, 1, 1, 2}, 2),
		"unsorted scanners": {1, 2,
			4, 2, 2, 2, 2, 2, 2,
			4, 1, 1, 1, 1, 2, 2},
		"duplicate scanners": {1, 2,
			4, 2, 2, 2, 2, 2, 2,
			4, 2, 2, 2, 2, 2, 2},
		"attack without attempts": {1, 1, 4, 1, 1, 1, 1, 1, 2, 0, 0, 0},
		"protocol 0":              {1, 1, 4, 1, 1, 1, 1, 1, 2, 0, 1, 4, 10, 0, 0, 1, 0, 1, 0},
		"duplicate attempts":      {1, 1, 4, 1, 1, 1, 1, 1, 2, 0, 2, 4, 10, 0, 0, 1, 0, 1, 6, 4, 10, 0, 0, 1, 0, 1, 6, 0},
		"unsorted dark hosts":     {1, 1, 4, 1, 1, 1, 1, 1, 2, 0, 1, 4, 10, 0, 0, 1, 0, 1, 6, 2, 4, 10, 0, 0, 2, 4, 10, 0, 0, 1},
		"span overflow":           {1, 1, 4, 1, 1, 1, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 4, 10, 0, 0, 1, 0, 1, 6, 0},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			st := State{Scanners: []ScannerState{{Scanner: addr("9.9.9.9")}}}
			if err := st.DecodeBinary(b); !errors.Is(err, ErrBadState) {
				t.Fatalf("DecodeBinary = %v, want ErrBadState", err)
			}
			if len(st.Scanners) != 1 || st.Scanners[0].Scanner != addr("9.9.9.9") {
				t.Error("a failed decode must leave the State unchanged")
			}
			d := newDetector(t, DefaultConfig())
			if err := d.DecodeBinary(b); !errors.Is(err, ErrBadState) || d.Len() != 0 {
				t.Errorf("Detector.DecodeBinary = %v", err)
			}
		})
	}
	var st State
	if err := st.DecodeBinary(valid()); err != nil {
		t.Fatalf("valid encoding rejected: %v", err)
	}
}

func FuzzDecodeState(f *testing.F) {
	cfg := mergeConfig(f)
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		r := rand.New(rand.NewPCG(seed, 9))
		d := newDetector(f, cfg)
		observeAll(d, randomStream(r, 10*int(seed), t0))
		d.Suppress(addr("7.7.7.7"), at(1))
		b, _ := d.AppendBinary(nil)
		f.Add(b, uint(seed))
	}
	f.Add([]byte{1, 0}, uint(0))
	f.Fuzz(func(t *testing.T, b []byte, cut uint) {
		var st State
		if err := st.DecodeBinary(b); err != nil {
			if !errors.Is(err, ErrBadState) {
				t.Fatalf("error %v does not wrap ErrBadState", err)
			}
		} else {
			enc, err := st.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			var again State
			if err := again.DecodeBinary(enc); err != nil {
				t.Fatalf("re-encoding does not decode: %v", err)
			}
			if !reflect.DeepEqual(again, st) {
				t.Fatalf("decode(encode(decode(b))) != decode(b)")
			}
			d := newDetector(t, cfg)
			d.Merge(st) // must not panic on any decodable state
		}
		if len(b) > 0 { // split input: the head alone must not panic
			var head State
			_ = head.DecodeBinary(b[:int(cut%uint(len(b)))])
		}
	})
}
