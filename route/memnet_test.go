package route

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"shoal/internal/memnet"
	"shoal/internal/wire"
)

// memNode is a router on an in-memory network, counting deliveries by host.
type memNode struct {
	name, pool, ip string
	r              *Router
	mu             sync.Mutex
	seen           map[netip.Addr]int
	answer         atomic.Pointer[Outcome] // when set, every event is answered so and not counted
	answered       atomic.Int64
}

func newMemNode(t *testing.T, nw *memnet.Network, name, pool, ip string, onChange func()) *memNode {
	t.Helper()
	ln, err := nw.Listen(ip + ":7000")
	if err != nil {
		t.Fatal(err)
	}
	n := &memNode{name: name, pool: pool, ip: ip, seen: make(map[netip.Addr]int)}
	r, err := New(Config{
		Name: name, Pool: pool, BootID: 1, Listener: ln,
		Dial: nw.DialFunc(ip),
		Deliver: func(from Sender, typ wire.Type, payload []byte) Outcome {
			if o := n.answer.Load(); o != nil {
				n.answered.Add(1)
				return *o
			}
			var ev wire.HostSeen
			if err := ev.DecodeWire(payload); err != nil {
				t.Errorf("%s: %v", name, err)
				return OK
			}
			n.mu.Lock()
			n.seen[ev.Host]++
			n.mu.Unlock()
			return OK
		},
		AckTimeout:        time.Second,
		ReconnectInterval: 100 * time.Millisecond,
		OnChange:          onChange,
		Logger:            zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.r = r
	r.Start(context.Background())
	return n
}

func (n *memNode) count(h netip.Addr) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.seen[h]
}

// TestFailoverOnMemnet runs a partition and its healing on virtual time:
// detection is immediate, re-routed events reach the new owners, the
// suspect is retried with backoff and put back when the network heals.
func TestFailoverOnMemnet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(1)
		var changes atomic.Int32
		w := newMemNode(t, nw, "worker-1", "worker", "10.0.0.1", func() { changes.Add(1) })
		var dns []*memNode
		for i := 1; i <= 3; i++ {
			dns = append(dns, newMemNode(t, nw, fmt.Sprintf("datanode-%d", i), "datanode", fmt.Sprintf("10.0.1.%d", i), nil))
		}
		all := append([]*memNode{w}, dns...)
		var v []Peer
		for _, n := range all {
			v = append(v, Peer{Name: n.name, Pool: n.pool, DataAddr: n.ip + ":7000", BootID: 1})
		}
		for _, n := range all {
			n.r.SetMembers(v)
		}
		ctx := context.Background()
		send := func(from, to int) {
			for i := from; i < to; i++ {
				h := hostKey(i)
				k := h.As4()
				if err := w.r.SendHashed(ctx, "datanode", k[:], wire.HostSeen{TS: int64(i), Host: h}); err != nil {
					t.Fatal(err)
				}
			}
		}
		send(0, 1000)
		if err := w.r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		before := w.r.Rings()["datanode"]

		// Cut datanode-1 off with events queued for it.
		send(1000, 2000)
		cut := time.Now()
		nw.Partition([]string{"10.0.1.1"}, []string{"*"})
		synctest.Wait()
		if err := w.r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		fos := w.r.Failovers()
		if len(fos) != 1 || fos[0].Peer != "datanode-1" {
			t.Fatalf("failovers %+v", fos)
		}
		if d := fos[0].DetectedAt.Sub(cut); d != 0 {
			t.Fatalf("detected %v after the cut, want at once on virtual time", d)
		}
		if fos[0].FirstAckAt.IsZero() {
			t.Fatalf("no first ack from a new owner: %+v", fos[0])
		}
		during := w.r.Rings()["datanode"]
		if len(during.Members) != 2 || during.Version != before.Version+1 {
			t.Fatalf("ring during partition %+v (before %+v)", during, before)
		}
		send(2000, 3000)
		if err := w.r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range 3000 {
			n := 0
			for _, dn := range dns {
				n += dn.count(hostKey(i))
			}
			if n == 0 {
				t.Fatalf("event %d lost", i)
			}
		}

		// Reconnects back off while the partition lasts: 100ms doubling
		// to 1.6s gives about 8 attempts in 5s.
		time.Sleep(5 * time.Second)
		if s := w.r.Stats(); s.Reconnects != 0 || s.Suspected != 1 {
			t.Fatalf("stats during partition %+v", s)
		}
		nw.Heal()
		time.Sleep(2 * time.Second) // the next attempt succeeds
		synctest.Wait()
		after := w.r.Rings()["datanode"]
		if len(after.Members) != 3 || after.Checksum != before.Checksum {
			t.Fatalf("ring after heal %+v, before %+v", after, before)
		}
		if s := w.r.Stats(); s.Reconnects != 1 {
			t.Fatalf("stats after heal %+v", s)
		}
		if got := changes.Load(); got != 2 {
			t.Fatalf("OnChange called %d times, want 2 (suspect, recover)", got)
		}
		send(3000, 4000)
		if err := w.r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		back := 0
		for i := 3000; i < 4000; i++ {
			back += dns[0].count(hostKey(i))
		}
		if back == 0 {
			t.Fatal("healed datanode-1 gets nothing")
		}
		for _, n := range all {
			if err := n.r.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// memCluster starts a worker and three datanodes on nw sharing one view.
func memCluster(t *testing.T, nw *memnet.Network) (w *memNode, dns []*memNode) {
	t.Helper()
	w = newMemNode(t, nw, "worker-1", "worker", "10.0.0.1", nil)
	for i := 1; i <= 3; i++ {
		dns = append(dns, newMemNode(t, nw, fmt.Sprintf("datanode-%d", i), "datanode", fmt.Sprintf("10.0.1.%d", i), nil))
	}
	memView(append([]*memNode{w}, dns...), append([]*memNode{w}, dns...)...)
	return w, dns
}

// memView gives every node in to the view of the nodes in members.
func memView(to []*memNode, members ...*memNode) {
	var v []Peer
	for _, n := range members {
		v = append(v, Peer{Name: n.name, Pool: n.pool, DataAddr: n.ip + ":7000", BootID: 1})
	}
	for _, n := range to {
		n.r.SetMembers(v)
	}
}

// ownedBy returns n keys (host indexes) that ring places on owner.
func ownedBy(t *testing.T, owner string, n int) []int {
	t.Helper()
	ring, err := NewRing(DefaultRingConfig(), []string{"datanode-1", "datanode-2", "datanode-3"})
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for i := 0; len(out) < n; i++ {
		k := hostKey(i).As4()
		if o, _ := ring.Owner(k[:]); o == owner {
			out = append(out, i)
		}
	}
	return out
}

// TestNotOwnerWaitsForRing runs not-owner answers on virtual time: while
// the sender's ring still gives the partitions to the refuser, the events
// are tried again with a doubling backoff (not in a loop); the moment the
// ring moves they go to the new owners, without waiting for the backoff.
func TestNotOwnerWaitsForRing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(1)
		w, dns := memCluster(t, nw)
		no := NotOwner
		dns[0].answer.Store(&no)
		ctx := context.Background()
		keys := ownedBy(t, "datanode-1", 100)
		rec := newTrackRec()
		for j, i := range keys {
			h := hostKey(i)
			k := h.As4()
			if err := w.r.SendHashedTracked(ctx, "datanode", k[:], wire.HostSeen{TS: int64(i), Host: h}, rec.tracker(j)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		// 20, 40, 80, ... 640ms, then 1s: 7 answers within 3s.
		if got := dns[0].answered.Load(); got < 100*5 || got > 100*8 {
			t.Fatalf("%d not-owner answers for 100 events in 3s", got)
		}
		if got := w.r.parkedLen(); got != 100 {
			t.Fatalf("%d events parked, want 100", got)
		}
		memView([]*memNode{w}, w, dns[1], dns[2]) // the sender's ring moves
		synctest.Wait()                           // no time passes
		if got := w.r.parkedLen(); got != 0 {
			t.Fatalf("%d events still parked after the ring moved", got)
		}
		if err := w.r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		for _, i := range keys {
			if dns[1].count(hostKey(i))+dns[2].count(hostKey(i)) != 1 {
				t.Fatalf("host %d not taken exactly once by a new owner", i)
			}
		}
		rec.check(t, 100, func(_ int, err error) error { return err })
		for _, n := range append(dns, w) {
			_ = n.r.Close()
		}
	})
}

// TestNotOwnerBounded: a refuser whose answer never changes (and a ring
// that never moves) gets each event a bounded number of times; then it is
// given up, counted, reported to its tracker, and Drain returns.
func TestNotOwnerBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(1)
		w, dns := memCluster(t, nw)
		no := NotOwner
		dns[0].answer.Store(&no)
		ctx := context.Background()
		keys := ownedBy(t, "datanode-1", 10)
		rec := newTrackRec()
		for j, i := range keys {
			h := hostKey(i)
			k := h.As4()
			if err := w.r.SendHashedTracked(ctx, "datanode", k[:], wire.HostSeen{TS: int64(i), Host: h}, rec.tracker(j)); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		if err := w.r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 5*time.Second || d > 15*time.Second {
			t.Fatalf("given up after %v", d)
		}
		if got := dns[0].answered.Load(); got != 10*maxTries {
			t.Fatalf("%d answers, want %d", got, 10*maxTries)
		}
		rec.check(t, 10, func(i int, err error) error {
			if !errors.Is(err, ErrNotOwner) {
				return fmt.Errorf("event %d: %v", i, err)
			}
			return nil
		})
		if s := w.r.Stats(); s.DroppedNotOwner != 10 || s.NotOwner != 10*maxTries {
			t.Fatalf("stats %+v", s)
		}
		for _, n := range append(dns, w) {
			_ = n.r.Close()
		}
	})
}
