package route

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shoal/internal/wire"
)

// sendDirect sends events from..to-1 to node, in order.
func sendDirect(t *testing.T, r *Router, node string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := r.Send(context.Background(), node, wire.HostSeen{TS: int64(i), Host: hostKey(i)}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
}

// checkInOrder checks that node took events from..to-1 exactly once each,
// in order.
func checkInOrder(t *testing.T, n *tnode, from, to int) {
	t.Helper()
	evs := n.events()
	if len(evs) != to-from {
		t.Fatalf("%s took %d events, want %d", n.name, len(evs), to-from)
	}
	for i, g := range evs {
		if g.ev.TS != int64(from+i) {
			t.Fatalf("%s: event %d has ts %d: out of order or repeated", n.name, i, g.ev.TS)
		}
	}
}

// checkOnce checks that node took events from..to-1 exactly once each. A
// busy answer may reorder: events already sent behind a busy one can be
// taken before it is sent again.
func checkOnce(t *testing.T, n *tnode, from, to int) {
	t.Helper()
	evs := n.events()
	seen := make(map[int64]int)
	for _, g := range evs {
		seen[g.ev.TS]++
	}
	for i := from; i < to; i++ {
		if seen[int64(i)] != 1 {
			t.Fatalf("%s took event %d %d times", n.name, i, seen[int64(i)])
		}
	}
	if len(evs) != to-from {
		t.Fatalf("%s took %d events, want %d", n.name, len(evs), to-from)
	}
}

// TestBusyNeverSuspects: a peer that answers busy for several ack timeouts
// is backed off from, never suspected; its events are sent again in order
// and taken once it has room.
func TestBusyNeverSuspects(t *testing.T) {
	w, dns := cluster(t, func(c *Config) {
		c.AckTimeout = 300 * time.Millisecond
		c.BusyBackoff = 5 * time.Millisecond
		c.MaxBusyBackoff = 40 * time.Millisecond
	})
	dn := dns[0]
	until := time.Now().Add(1500 * time.Millisecond)
	dn.answerWith(func(Sender, wire.HostSeen) Outcome {
		if time.Now().Before(until) {
			return Busy
		}
		return OK
	})
	start := time.Now()
	sendDirect(t, w.r, dn.name, 0, 500)
	drain(t, w.r, 10*time.Second)
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Fatalf("drained after %v, before the peer stopped answering busy", d)
	}
	checkOnce(t, dn, 0, 500)
	s, ds := w.r.Stats(), dn.r.Stats()
	if s.Suspected != 0 || len(w.r.Failovers()) != 0 {
		t.Fatalf("busy peer suspected: %+v, failovers %+v", s, w.r.Failovers())
	}
	if s.Busy == 0 || ds.AnsweredBusy != s.Busy || s.Dropped != 0 || s.Acked != 500 || ds.Received != 500 {
		t.Fatalf("sender %+v\nreceiver %+v", s, ds)
	}
	// Doubling from 5ms to 40ms over 1.5s: far fewer busy rounds than a
	// resend without backoff would make.
	if rounds := s.Busy / 500; rounds < 2 || rounds > 60 {
		t.Fatalf("%d busy rounds in 1.5s with a 5-40ms backoff", rounds)
	}
}

// TestBusyRetriedInOrder: events answered busy go out again in their
// order, ahead of newer ones, even when the peer takes the others.
func TestBusyRetriedInOrder(t *testing.T) {
	w, dns := cluster(t, func(c *Config) { c.MaxBatchBytes = 256 })
	dn := dns[1]
	var mu sync.Mutex
	refused := make(map[int64]bool)
	dn.answerWith(func(_ Sender, ev wire.HostSeen) Outcome {
		mu.Lock()
		defer mu.Unlock()
		if ev.TS%3 == 0 && !refused[ev.TS] {
			refused[ev.TS] = true
			return Busy
		}
		return OK
	})
	sendDirect(t, w.r, dn.name, 0, 3000)
	drain(t, w.r, 10*time.Second)
	evs := dn.events()
	if len(evs) != 3000 {
		t.Fatalf("took %d of 3000", len(evs))
	}
	seen := make(map[int64]bool)
	last := int64(-1)
	for _, g := range evs {
		if seen[g.ev.TS] {
			t.Fatalf("ts %d taken twice", g.ev.TS)
		}
		seen[g.ev.TS] = true
		if g.ev.TS%3 == 0 { // the retried ones keep their order
			if g.ev.TS < last {
				t.Fatalf("retried ts %d after %d", g.ev.TS, last)
			}
			last = g.ev.TS
		}
	}
	if s := w.r.Stats(); s.Busy != 1000 || s.Acked != 3000 {
		t.Fatalf("stats %+v", s)
	}
}

// TestSlowReceiverNotSuspected: a receiver whose Deliver is slow but that
// keeps answering (in parts of a long burst) is not suspected, although
// the oldest batch waits longer than the ack timeout.
func TestSlowReceiverNotSuspected(t *testing.T) {
	w, dns := cluster(t, func(c *Config) { c.AckTimeout = 300 * time.Millisecond; c.MaxBatchBytes = 128 })
	dn := dns[2]
	dn.answerWith(func(Sender, wire.HostSeen) Outcome {
		time.Sleep(2 * time.Millisecond)
		return OK
	})
	start := time.Now()
	sendDirect(t, w.r, dn.name, 0, 600)
	drain(t, w.r, 20*time.Second)
	if d := time.Since(start); d < 3*300*time.Millisecond {
		t.Fatalf("600 events at 2ms each took %v: not slow enough to test", d)
	}
	checkInOrder(t, dn, 0, 600)
	if s := w.r.Stats(); s.Suspected != 0 {
		t.Fatalf("slow but answering receiver suspected: %+v %+v", s, w.r.Failovers())
	}
	if acks := dn.r.Stats().AcksSent; acks < 4 {
		t.Fatalf("%d acks for a 1.2s burst: not answered in parts", acks)
	}
}

// TestNotOwnerReroutes: events a datanode answers not-owner are routed
// again once the sender's ring has caught up, and taken by the new owners
// exactly once.
func TestNotOwnerReroutes(t *testing.T) {
	w, dns := cluster(t)
	victim := dns[0]
	victim.answerWith(func(Sender, wire.HostSeen) Outcome { return NotOwner })
	sendHashed(t, w.r, 0, 3000)
	waitFor(t, 5*time.Second, func() error {
		if w.r.Stats().NotOwner == 0 {
			return errors.New("no not-owner answer yet")
		}
		return nil
	})
	setAll(w, dns[1], dns[2]) // gossip: the victim left the pool
	drain(t, w.r, 10*time.Second)
	total := make(map[int64]int)
	for _, dn := range dns {
		for _, g := range dn.events() {
			total[g.ev.TS]++
		}
	}
	for i := range 3000 {
		if total[int64(i)] != 1 {
			t.Fatalf("event %d taken %d times", i, total[int64(i)])
		}
	}
	s := w.r.Stats()
	if s.NotOwner == 0 || s.Dropped != 0 || s.Rerouted < s.NotOwner || victim.r.Stats().AnsweredNotOwner < s.NotOwner {
		t.Fatalf("worker %+v, victim %+v", s, victim.r.Stats())
	}
}

// TestNotOwnerDirectGivenUp: a direct event names its peer: a not-owner
// answer gives it up at once, counted and reported to its tracker.
func TestNotOwnerDirectGivenUp(t *testing.T) {
	w, dns := cluster(t)
	dn := dns[0]
	dn.answerWith(func(Sender, wire.HostSeen) Outcome { return NotOwner })
	tr := newTrackRec()
	for i := range 10 {
		if err := w.r.SendTracked(context.Background(), dn.name, wire.HostSeen{TS: int64(i), Host: hostKey(i)}, tr.tracker(i)); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, w.r, 5*time.Second)
	tr.check(t, 10, func(i int, err error) error {
		if !errors.Is(err, ErrNotOwner) {
			return fmt.Errorf("event %d: %v, want ErrNotOwner", i, err)
		}
		return nil
	})
	if s := w.r.Stats(); s.DroppedNotOwner != 10 || s.Dropped != 10 {
		t.Fatalf("stats %+v", s)
	}
}

// TestCommitFailureAnswersBusy: when the receiver's commit hook fails,
// the events of that burst are answered busy and sent again, so every
// event is committed exactly once.
func TestCommitFailureAnswersBusy(t *testing.T) {
	w, dns := cluster(t, func(c *Config) { c.MaxBatchBytes = 512 })
	dn := dns[0]
	dn.failCommits.Store(3)
	sendDirect(t, w.r, dn.name, 0, 2000)
	drain(t, w.r, 10*time.Second)
	checkOnce(t, dn, 0, 2000)
	ds, s := dn.r.Stats(), w.r.Stats()
	if ds.CommitFailed != 3 || ds.AnsweredBusy == 0 || s.Busy != ds.AnsweredBusy || ds.Received != 2000 || s.Acked != 2000 {
		t.Fatalf("receiver %+v\nsender %+v", ds, s)
	}
}

// trackRec records every tracker callback by event index.
type trackRec struct {
	mu   sync.Mutex
	n    map[int]int
	errs map[int]error
}

func newTrackRec() *trackRec { return &trackRec{n: make(map[int]int), errs: make(map[int]error)} }

type trackOne struct {
	rec *trackRec
	i   int
}

func (tr trackOne) Done(err error) {
	tr.rec.mu.Lock()
	defer tr.rec.mu.Unlock()
	tr.rec.n[tr.i]++
	tr.rec.errs[tr.i] = err
}

func (rec *trackRec) tracker(i int) Tracker { return trackOne{rec: rec, i: i} }

// check asserts that each of events 0..n-1 was reported exactly once and
// that ok accepts its result.
func (rec *trackRec) check(t *testing.T, n int, ok func(i int, err error) error) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.n) != n {
		t.Fatalf("%d events reported, want %d", len(rec.n), n)
	}
	for i := range n {
		if rec.n[i] != 1 {
			t.Fatalf("event %d reported %d times", i, rec.n[i])
		}
		if err := ok(i, rec.errs[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTrackedExactlyOnce: every tracked event learns its fate exactly
// once, through a crash and failover, not-owner re-routes and busy
// answers; an event acknowledged OK was taken by a datanode.
func TestTrackedExactlyOnce(t *testing.T) {
	w, dns := cluster(t, func(c *Config) { c.BusyBackoff = time.Millisecond })
	victim := dns[0]
	victim.blockDeliver()
	var answered sync.Map // ts -> answered once already
	dns[1].answerWith(func(_ Sender, ev wire.HostSeen) Outcome {
		if _, again := answered.LoadOrStore(ev.TS, true); !again {
			if ev.TS%2 == 0 {
				return Busy
			}
			return NotOwner
		}
		return OK
	})
	rec := newTrackRec()
	const n = 3000
	ctx := context.Background()
	for i := range n {
		h := hostKey(i)
		k := h.As4()
		ev := wire.HostSeen{TS: int64(i), Host: h}
		var err error
		if i%2 == 0 {
			err = w.r.SendHashedTracked(ctx, "datanode", k[:], ev, rec.tracker(i))
		} else {
			ring, _ := w.r.Ring("datanode")
			err = w.r.SendPartitionTracked(ctx, "datanode", ring.Partition(k[:]), ev, rec.tracker(i))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, func() error {
		if victim.n.Load() == 0 {
			return errors.New("victim got nothing yet")
		}
		return nil
	})
	victim.kill()
	drain(t, w.r, 15*time.Second)
	taken := make(map[int64]bool)
	for _, dn := range dns[1:] {
		for _, g := range dn.events() {
			taken[g.ev.TS] = true
		}
	}
	rec.check(t, n, func(i int, err error) error {
		if err != nil || !taken[int64(i)] {
			return fmt.Errorf("event %d: err %v, taken by a live datanode %v", i, err, taken[int64(i)])
		}
		return nil
	})
	s := w.r.Stats()
	if s.Rerouted == 0 || s.Busy == 0 || s.NotOwner == 0 || s.Dropped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestTrackedClosed: Close gives up every tracked event still queued or
// unacknowledged, each exactly once, with ErrClosed; sends after Close are
// refused without a callback.
func TestTrackedClosed(t *testing.T) {
	w, dns := cluster(t)
	dns[0].blockDeliver()
	rec := newTrackRec()
	for i := range 100 {
		if err := w.r.SendTracked(context.Background(), dns[0].name, wire.HostSeen{TS: int64(i), Host: hostKey(i)}, rec.tracker(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, func() error {
		if dns[0].n.Load() == 0 {
			return errors.New("nothing delivered yet")
		}
		return nil
	})
	if err := w.r.Close(); err != nil {
		t.Fatal(err)
	}
	rec.check(t, 100, func(i int, err error) error {
		if !errors.Is(err, ErrClosed) {
			return fmt.Errorf("event %d: %v, want ErrClosed", i, err)
		}
		return nil
	})
	if err := w.r.SendTracked(context.Background(), dns[0].name, wire.HostSeen{}, rec.tracker(100)); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.n[100] != 0 {
		t.Fatal("refused send reported to its tracker")
	}
}

// TestSelfBusy: an event this node sends itself and answers busy is
// refused with ErrBusy under FullDrop, and sent again until taken under
// FullBlock; a tracked one learns OK synchronously.
func TestSelfBusy(t *testing.T) {
	for _, full := range []FullPolicy{FullDrop, FullBlock} {
		t.Run(full.String(), func(t *testing.T) {
			dn := newNode(t, "datanode-1", "datanode", 1, "", func(c *Config) { c.Full = full; c.BusyBackoff = time.Millisecond })
			dn.r.SetMembers(view(dn))
			var busy atomic.Int32
			busy.Store(3)
			dn.answerWith(func(Sender, wire.HostSeen) Outcome {
				if busy.Add(-1) >= 0 {
					return Busy
				}
				return OK
			})
			rec := newTrackRec()
			err := dn.r.SendTracked(context.Background(), dn.name, wire.HostSeen{TS: 1, Host: hostKey(1)}, rec.tracker(0))
			s := dn.r.Stats()
			if full == FullDrop {
				if !errors.Is(err, ErrBusy) || s.DroppedBusy != 1 || len(rec.n) != 0 {
					t.Fatalf("err %v, stats %+v, tracked %v", err, s, rec.n)
				}
				return
			}
			if err != nil || s.Busy != 3 || s.SelfDelivered != 1 {
				t.Fatalf("err %v, stats %+v", err, s)
			}
			rec.check(t, 1, func(_ int, err error) error { return err })
		})
	}
}
