package zeekin

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// joinEvent is an ssl row (leaf key, connection uid) or an x509 row (key).
type joinEvent struct {
	x509 bool
	key  string
	uid  string
}

func runJoin(j *joiner, byFileID bool, events []joinEvent) (got []string, dropped int) {
	emit := func(c *Cert) { got = append(got, c.UID+"="+c.Serial) }
	for _, e := range events {
		if e.x509 {
			x := &X509{Serial: "s-" + e.key}
			if byFileID {
				x.FileID = e.key
			} else {
				x.Fingerprint = e.key
			}
			j.addX509(x, emit)
			continue
		}
		s := &SSL{UID: e.uid, Resp: netip.MustParseAddrPort("192.0.2.1:443"), Chain: []string{e.key, "other"}, ByFileID: byFileID}
		dropped += j.addSSL(s, emit)
	}
	return got, dropped
}

func ssl(key, uid string) joinEvent { return joinEvent{key: key, uid: uid} }
func x509(key string) joinEvent     { return joinEvent{x509: true, key: key} }

func TestJoiner(t *testing.T) {
	cases := map[string]struct {
		maxCerts, maxPending int
		byFileID             bool
		events               []joinEvent
		want                 string // emitted uid=serial, in order
		dropped, waiting     int
	}{
		"x509 first, reused by fingerprint": {
			events: []joinEvent{x509("a"), ssl("a", "C1"), ssl("a", "C2")},
			want:   "C1=s-a,C2=s-a",
		},
		"ssl first waits": {
			events: []joinEvent{ssl("a", "C1"), ssl("b", "C2"), ssl("a", "C3"), x509("a"), x509("b")},
			want:   "C1=s-a,C3=s-a,C2=s-b",
		},
		"no x509 row": {
			events:  []joinEvent{ssl("a", "C1")},
			waiting: 1,
		},
		"v3 file id used once": {
			byFileID: true,
			events:   []joinEvent{x509("F1"), ssl("F1", "C1"), ssl("F1", "C2")},
			want:     "C1=s-F1", waiting: 1,
		},
		"v3 ssl first": {
			byFileID: true,
			events:   []joinEvent{ssl("F1", "C1"), x509("F1"), ssl("F1", "C2")},
			want:     "C1=s-F1", waiting: 1,
		},
		"pending bound drops the oldest": {
			maxPending: 2,
			events:     []joinEvent{ssl("a", "C1"), ssl("b", "C2"), ssl("a", "C3"), x509("a"), x509("b")},
			want:       "C3=s-a,C2=s-b", dropped: 1,
		},
		"cert bound evicts least recently used": {
			maxCerts: 2,
			events:   []joinEvent{x509("a"), x509("b"), ssl("a", "C1"), x509("c"), ssl("a", "C2"), ssl("b", "C3")},
			want:     "C1=s-a,C2=s-a", waiting: 1,
		},
		"newer x509 row replaces": {
			events: []joinEvent{x509("a"), x509("a"), ssl("a", "C1")},
			want:   "C1=s-a",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			j := newJoiner(tc.maxCerts, tc.maxPending)
			got, dropped := runJoin(j, tc.byFileID, tc.events)
			if s := strings.Join(got, ","); s != tc.want {
				t.Errorf("emitted %q, want %q", s, tc.want)
			}
			if dropped != tc.dropped || j.waiting() != tc.waiting {
				t.Errorf("dropped %d waiting %d, want %d and %d", dropped, j.waiting(), tc.dropped, tc.waiting)
			}
			if n := j.drop(); n != tc.waiting || j.waiting() != 0 || len(j.pending) != 0 {
				t.Errorf("drop() = %d, then waiting %d", n, j.waiting())
			}
		})
	}
}

// TestJoinerOrderIndependent checks the join against a reference: with
// bounds large enough, every ssl row whose leaf has an x509 row anywhere in
// the stream is emitted exactly once, whatever the interleaving.
func TestJoinerOrderIndependent(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 1))
	for iter := range 200 {
		var events []joinEvent
		have := map[string]bool{}
		n := rng.IntN(40)
		for i := range n {
			key := fmt.Sprintf("k%d", rng.IntN(6))
			if rng.IntN(3) == 0 {
				events = append(events, x509(key))
				have[key] = true
			} else {
				events = append(events, ssl(key, fmt.Sprintf("C%d", i)))
			}
		}
		want := map[string]bool{}
		for _, e := range events {
			if !e.x509 && have[e.key] {
				want[e.uid+"=s-"+e.key] = true
			}
		}
		j := newJoiner(0, 0)
		got, dropped := runJoin(j, false, events)
		seen := map[string]bool{}
		for _, g := range got {
			if seen[g] || !want[g] {
				t.Fatalf("seed %d iter %d: unexpected or repeated %s (events %v)", seed, iter, g, events)
			}
			seen[g] = true
		}
		if len(seen) != len(want) || dropped != 0 {
			t.Fatalf("seed %d iter %d: emitted %d, want %d, dropped %d", seed, iter, len(seen), len(want), dropped)
		}
	}
}
