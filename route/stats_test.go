package route

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"shoal/internal/wire"
)

// slowWriteConn returns from Write only when released: the bytes are on
// the wire (the peer reads and acknowledges them) while the writer is
// still inside the call, as a preempted writer after write(2) would be.
type slowWriteConn struct {
	net.Conn
	hold    chan struct{} // nil: writes return at once
	entered chan struct{}
}

func (c *slowWriteConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if c.hold != nil {
		select {
		case c.entered <- struct{}{}:
		default:
		}
		<-c.hold
	}
	return n, err
}

// TestWriteCountedBeforeAck checks the counter ordering behind issue 12's
// "no writes": an event acknowledged (Drain returned) must already be
// counted in Writes and Batches, however late the writer's Write returns.
func TestWriteCountedBeforeAck(t *testing.T) {
	var mu sync.Mutex
	var conns []*slowWriteConn
	hold := make(chan struct{})
	entered := make(chan struct{}, 1)
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		sc := &slowWriteConn{Conn: c, entered: entered}
		mu.Lock()
		conns = append(conns, sc)
		mu.Unlock()
		return sc, nil
	}
	w := newNode(t, "worker-1", "worker", 1, "", func(c *Config) { c.Dial = dial })
	dn := newNode(t, "datanode-1", "datanode", 2, "")
	setAll(w, dn)
	waitFor(t, 5*time.Second, func() error { return connectedErr(w.r, 1) })
	mu.Lock()
	for _, c := range conns {
		c.hold = hold // the handshake is done: hold the batch writes
	}
	mu.Unlock()
	defer close(hold)

	for round := range 3 {
		if err := w.r.Send(context.Background(), dn.name, wire.HostSeen{TS: int64(round), Host: hostKey(round)}); err != nil {
			t.Fatal(err)
		}
		<-entered // the writer is inside Write, after the bytes left
		drain(t, w.r, 5*time.Second)
		s := w.r.Stats()
		if s.Writes != uint64(round+1) || s.Batches != uint64(round+1) || s.Acked != uint64(round+1) {
			t.Fatalf("round %d: acked %d with writes %d batches %d: a write was acknowledged before it was counted",
				round, s.Acked, s.Writes, s.Batches)
		}
		hold <- struct{}{} // let this write return
	}
}

// connectedErr reports whether r has n connected peers.
func connectedErr(r *Router, n int) error {
	got := 0
	for _, p := range r.Peers() {
		if p.Connected {
			got++
		}
	}
	return countErr("connected peers", uint64(got), uint64(n))
}
