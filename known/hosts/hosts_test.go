package hosts

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"shoal/analysis"
	"shoal/analysis/analysistest"
	"shoal/analysis/lawtest"
	"shoal/internal/wire"
	"shoal/known"
	"shoal/site"
	"shoal/traffic"
)

const parts = 7

var t0 = time.Unix(1300475168, 0)

func attach(t *testing.T, cfg Config, role analysis.Role, s analysis.Sender) analysis.Parts {
	t.Helper()
	p, err := New(cfg).Attach(analysis.Env{Node: "n", Role: role, Partitions: parts, Send: s})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func host(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }

func seen(i int, at time.Time) (wire.Type, []byte) {
	return TypeSeen, Seen{TS: at.UnixNano(), Host: host(i)}.AppendWire(nil)
}

func subject(t *testing.T) lawtest.Subject {
	return lawtest.Subject{
		New:        func() analysis.Owner { return attach(t, Config{}, analysis.RoleDatanode, nil).Owner },
		Partitions: parts,
		Event: func(r *rand.Rand) (wire.Type, []byte) {
			return seen(r.IntN(30), t0.Add(time.Duration(r.IntN(3600))*time.Second))
		},
	}
}

func TestOwnerLaws(t *testing.T) { lawtest.Check(t, subject(t)) }

// TestMergeReference: merging the states of owners that applied random
// streams gives, per partition, the union of their hosts with the earliest
// insertion time, each owner inserting a host at its partition's network
// time (the latest Seen so far) when it first sees it.
func TestMergeReference(t *testing.T) {
	s := subject(t)
	r := rand.New(rand.NewPCG(7, 7))
	for range 100 {
		type ref struct {
			clock int64
			set   map[netip.Addr]int64
		}
		var states [2][parts][]byte
		var refs [2][parts]ref
		for i := range 2 {
			o := s.New()
			for p := range parts {
				refs[i][p] = ref{set: map[netip.Addr]int64{}}
			}
			for range r.IntN(50) {
				typ, payload := s.Event(r)
				var ev Seen
				if err := ev.DecodeWire(payload); err != nil {
					t.Fatal(err)
				}
				part, _ := o.Partition(typ, payload)
				rf := &refs[i][part]
				rf.clock = max(rf.clock, ev.TS)
				if _, ok := rf.set[ev.Host]; !ok {
					rf.set[ev.Host] = rf.clock
				}
				if err := o.Apply(part, typ, payload, t0, &analysis.Out{}); err != nil {
					t.Fatal(err)
				}
			}
			for p := range parts {
				states[i][p], _ = o.Export(p)
			}
		}
		for p := range parts {
			want := known.NewSet[netip.Addr](known.DefaultExpiry)
			for _, rf := range []ref{refs[0][p], refs[1][p]} {
				for h, at := range rf.set {
					one := known.NewSet[netip.Addr](known.DefaultExpiry)
					one.Observe(h, time.Unix(0, at))
					want.Merge(one)
				}
			}
			wantB := binaryState(max(refs[0][p].clock, refs[1][p].clock), want)
			if got := s.Merged(t, p, states[0][p], states[1][p]); !bytes.Equal(got, wantB) {
				t.Fatalf("partition %d: merged %x, want %x", p, got, wantB)
			}
		}
	}
}

func binaryState(clock int64, s *known.Set[netip.Addr]) []byte {
	b := appendVarint([]byte{stateVersion}, clock)
	return known.AppendSet(b, s, wire.AppendAddr, netip.Addr.Compare)
}

func TestImportRejectsGarbage(t *testing.T) {
	o := attach(t, Config{}, analysis.RoleDatanode, nil).Owner
	for _, b := range [][]byte{nil, {9}, {stateVersion}, {stateVersion, 0, 5}} {
		if err := o.Import(0, b); err == nil {
			t.Errorf("Import(%x) = nil", b)
		}
	}
}

// TestWorkerMoved: a ring change drops exactly the moved partitions'
// entries, so re-offering every host sends exactly the hosts whose
// partition moved.
func TestWorkerMoved(t *testing.T) {
	var s analysistest.Sender
	w := attach(t, Config{Tracking: site.AllHosts}, analysis.RoleWorker, &s).Worker
	est := w.(traffic.EstablishedHook)
	ctx := context.Background()
	offerAll := func() []netip.Addr {
		for i := range 100 {
			est.Established(ctx, &traffic.Established{TS: t0, Orig: host(i), Resp: host(i)})
		}
		var got []netip.Addr
		for _, e := range s.Take() {
			got = append(got, e.Event.(Seen).Host)
		}
		slices.SortFunc(got, netip.Addr.Compare)
		return got
	}
	if got := offerAll(); len(got) != 100 {
		t.Fatalf("first pass sent %d hosts, want 100", len(got))
	}
	if got := offerAll(); len(got) != 0 {
		t.Fatalf("second pass sent %d hosts, want 0", len(got))
	}
	moved := []bool{false, true, false, false, true, false, false}
	var want []netip.Addr
	for i := range 100 {
		k := host(i).As16()
		if moved[analysis.Partition(k[:], parts)] {
			want = append(want, host(i))
		}
	}
	if n := w.Moved(moved); n != len(want) {
		t.Errorf("Moved dropped %d entries, want %d", n, len(want))
	}
	if got := offerAll(); !slices.Equal(got, want) {
		t.Fatalf("after the move sent %v, want %v", got, want)
	}
}

func TestWorkerTrackingAndFailedSend(t *testing.T) {
	var s analysistest.Sender
	w := attach(t, Config{}, analysis.RoleWorker, &s).Worker // local: private nets
	est := w.(traffic.EstablishedHook)
	ctx := context.Background()
	remote := netip.MustParseAddr("198.51.100.1")
	s.Fail = analysis.ErrUnknownEvent
	est.Established(ctx, &traffic.Established{TS: t0, Orig: host(1), Resp: remote})
	s.Fail = nil
	est.Established(ctx, &traffic.Established{TS: t0, Orig: host(1), Resp: remote})
	sent := s.Take()
	if len(sent) != 1 || sent[0].Event.(Seen).Host != host(1) {
		t.Fatalf("sent %+v: want host 1 once (a failed send is not cached, a remote host not tracked)", sent)
	}
}

func TestOwnerRecordsAndUnsent(t *testing.T) {
	o := attach(t, Config{}, analysis.RoleDatanode, nil).Owner
	apply := func(i int, at time.Time) []analysis.Record {
		typ, payload := seen(i, at)
		part, err := o.Partition(typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		var out analysis.Out
		if err := o.Apply(part, typ, payload, t0, &out); err != nil {
			t.Fatal(err)
		}
		return out.Records
	}
	recs := apply(1, t0)
	if len(recs) != 1 || recs[0].Event.(Record) != (Record{TS: t0.UnixNano(), Host: host(1)}) {
		t.Fatalf("records %+v", recs)
	}
	if got := apply(1, t0.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("a known host made records %+v", got)
	}
	o.Unsent(recs[0])
	if got := apply(1, t0.Add(2*time.Minute)); len(got) != 1 {
		t.Fatalf("a host whose record was not sent is not new again: %+v", got)
	}
	if got := apply(1, t0.Add(25*time.Hour)); len(got) != 1 {
		t.Fatal("a host did not expire after 24 h")
	}
	m := attach(t, Config{}, analysis.RoleManager, nil).Manager
	var rows []analysis.Row
	if err := m.Rows("dn", TypeRecord, Record{TS: t0.UnixNano(), Host: host(1)}.AppendWire(nil), t0, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Path != Path || len(rows[0].Values) != len(Fields) {
		t.Fatalf("rows %+v", rows)
	}
}

func TestSettingsHashCoversEveryField(t *testing.T) {
	analysistest.CheckSettingsHash(t, New(Config{}).Settings())
}

// The owner applies the tracking mode itself: a candidate outside it (a
// worker's mistake, or a forged event) makes no record and is counted.
func TestOwnerAppliesTracking(t *testing.T) {
	o := attach(t, Config{}, analysis.RoleDatanode, nil).Owner // local: the private ranges
	remote := Seen{TS: t0.UnixNano(), Host: netip.MustParseAddr("8.8.8.8")}.AppendWire(nil)
	part, err := o.Partition(TypeSeen, remote)
	if err != nil {
		t.Fatal(err)
	}
	var out analysis.Out
	if err := o.Apply(part, TypeSeen, remote, t0, &out); err != nil || len(out.Records) != 0 {
		t.Fatalf("a remote host under local tracking: records %+v, err %v", out.Records, err)
	}
	for _, c := range o.Counters() {
		if c.Name == "hosts_untracked" && c.Value != 1 {
			t.Fatalf("hosts_untracked = %d, want 1", c.Value)
		}
	}
}
