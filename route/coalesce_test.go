package route

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"shoal/internal/memnet"
	"shoal/internal/wire"
)

// latencyNode is a router on nw whose Deliver records, per event, the
// virtual time since the event's TS.
type latencyNode struct {
	r   *Router
	mu  sync.Mutex
	lat []time.Duration
}

func newLatencyNode(t *testing.T, nw *memnet.Network, name, pool, ip string) *latencyNode {
	t.Helper()
	ln, err := nw.Listen(ip + ":7000")
	if err != nil {
		t.Fatal(err)
	}
	n := &latencyNode{}
	n.r, err = New(Config{
		Name: name, Pool: pool, BootID: 1, Listener: ln, Dial: nw.DialFunc(ip),
		Deliver: func(_ Sender, _ wire.Type, payload []byte) Outcome {
			var ev wire.HostSeen
			if err := ev.DecodeWire(payload); err != nil {
				t.Error(err)
				return OK
			}
			n.mu.Lock()
			n.lat = append(n.lat, time.Since(time.Unix(0, ev.TS)))
			n.mu.Unlock()
			return OK
		},
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.r.Start(context.Background())
	return n
}

// take returns and forgets the latencies recorded so far.
func (n *latencyNode) take() []time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.lat
	n.lat = nil
	return out
}

// TestCoalescing runs the writer's batching on virtual time: an event
// after a quiet period, and events at a low rate (50 and 500 per second),
// are written at once; at
// 20,000 events per second to one peer, writes carry about FlushDelay's
// worth of events (200) and no event waits longer than FlushDelay.
func TestCoalescing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(1)
		w := newLatencyNode(t, nw, "worker-1", "worker", "10.0.0.1")
		dn := newLatencyNode(t, nw, "datanode-1", "datanode", "10.0.1.1")
		v := []Peer{{Name: "worker-1", Pool: "worker", DataAddr: "10.0.0.1:7000", BootID: 1},
			{Name: "datanode-1", Pool: "datanode", DataAddr: "10.0.1.1:7000", BootID: 1}}
		w.r.SetMembers(v)
		dn.r.SetMembers(v)
		ctx := context.Background()
		send := func(i int) {
			if err := w.r.Send(ctx, "datanode-1", wire.HostSeen{TS: time.Now().UnixNano(), Host: hostKey(i)}); err != nil {
				t.Fatal(err)
			}
		}
		send(0)
		if err := w.r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		dn.take()

		// Idle and low rate (50 per second): written at once.
		for i := range 20 {
			time.Sleep(20 * time.Millisecond)
			send(i)
			synctest.Wait()
			if lat := dn.take(); len(lat) != 1 || lat[0] != 0 {
				t.Fatalf("event %d at 50/s: delivered %v later (%d events), want at once", i, lat, len(lat))
			}
		}

		// 500 per second: FlushDelay would gather 5 events; not worth
		// waiting for, so written at once too.
		for i := range 200 {
			time.Sleep(2 * time.Millisecond)
			send(i)
			synctest.Wait()
			if lat := dn.take(); len(lat) != 1 || lat[0] != 0 {
				t.Fatalf("event %d at 500/s: delivered %v later (%d events), want at once", i, lat, len(lat))
			}
		}

		// Load: 20,000 per second for half a second.
		before := w.r.Stats()
		const n = 10000
		for i := range n {
			send(i)
			time.Sleep(50 * time.Microsecond)
		}
		if err := w.r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		s := w.r.Stats()
		perWrite := float64(n) / float64(s.Writes-before.Writes)
		var worst time.Duration
		for _, d := range dn.take() {
			worst = max(worst, d)
		}
		t.Logf("20000 events/s: %.0f events per write, worst latency %v (FlushDelay %v)", perWrite, worst, DefaultFlushDelay)
		if want := 20000 * DefaultFlushDelay.Seconds(); perWrite < 0.7*want || perWrite > 1.3*want {
			t.Fatalf("%.0f events per write at 20000/s, want about %v worth (%.0f)", perWrite, DefaultFlushDelay, want)
		}
		if worst > DefaultFlushDelay+time.Millisecond {
			t.Fatalf("an event waited %v, FlushDelay %v", worst, DefaultFlushDelay)
		}
		_ = w.r.Close()
		_ = dn.r.Close()
	})
}
