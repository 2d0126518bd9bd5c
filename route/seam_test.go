package route

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"shoal/internal/wire"
)

// recordingTransport is TCP that records what it was asked and refuses
// hellos from the names in deny, as a TLS transport refuses a name its
// certificate does not bind.
type recordingTransport struct {
	Transport
	deny     map[string]bool
	mu       sync.Mutex
	dialed   []Peer
	verified []Peer
}

func (t *recordingTransport) Dial(ctx context.Context, to Peer) (net.Conn, error) {
	t.mu.Lock()
	t.dialed = append(t.dialed, to)
	t.mu.Unlock()
	return t.Transport.Dial(ctx, to)
}

func (t *recordingTransport) Verify(c net.Conn, from Peer) error {
	t.mu.Lock()
	t.verified = append(t.verified, from)
	t.mu.Unlock()
	if t.deny[from.Name] {
		return errors.New("not in the certificate")
	}
	return nil
}

func (t *recordingTransport) seen() (dialed, verified []Peer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Peer(nil), t.dialed...), append([]Peer(nil), t.verified...)
}

func withTransport(t *testing.T, deny ...string) (*recordingTransport, nodeOpt) {
	rt := &recordingTransport{deny: make(map[string]bool)}
	for _, d := range deny {
		rt.deny[d] = true
	}
	return rt, func(c *Config) {
		rt.Transport = NewTCP(c.Listener, c.Dial)
		c.Transport = rt
		c.Listener = nil
	}
}

// TestTransportSeam checks that the router dials through its transport
// with the peer's name and pool, that both ends verify the other's hello
// (name, pool, boot id), and that a refused hello is counted and carries
// no event.
func TestTransportSeam(t *testing.T) {
	wt, wopt := withTransport(t)
	dt, dopt := withTransport(t, "intruder")
	w := newNode(t, "worker-1", "worker", 1, "", wopt)
	dn := newNode(t, "datanode-1", "datanode", 2, "", dopt)
	setAll(w, dn)
	sendHashed(t, w.r, 0, 100)
	drain(t, w.r, 5*time.Second)
	if got := len(dn.events()); got != 100 {
		t.Fatalf("delivered %d of 100", got)
	}
	// Each end verifies the other twice: the answer to its own dial and
	// the hello of the other's dial (which may still be under way).
	waitFor(t, 5*time.Second, func() error {
		_, wv := wt.seen()
		_, dv := dt.seen()
		return errors.Join(countErr("worker verifies", uint64(len(wv)), 2), countErr("datanode verifies", uint64(len(dv)), 2))
	})
	dialed, verified := wt.seen()
	want := Peer{Name: "datanode-1", Pool: "datanode", DataAddr: dn.r.Addr(), BootID: 2}
	if len(dialed) != 1 || dialed[0] != want {
		t.Fatalf("worker dialed %+v, want [%+v]", dialed, want)
	}
	onlyAnd2 := func(got []Peer, want Peer) bool {
		return len(got) == 2 && got[0] == want && got[1] == want
	}
	if !onlyAnd2(verified, Peer{Name: "datanode-1", Pool: "datanode", BootID: 2}) {
		t.Fatalf("worker verified %+v", verified)
	}
	if _, v := dt.seen(); !onlyAnd2(v, Peer{Name: "worker-1", Pool: "worker", BootID: 1}) {
		t.Fatalf("datanode verified %+v", v)
	}

	in := newNode(t, "intruder", "worker", 3, "")
	in.r.SetMembers(view(in, dn))
	if err := in.r.Send(context.Background(), dn.name, wire.HostSeen{TS: 1, Host: hostKey(99999)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if dn.r.Stats().Refused == 0 {
			return errors.New("intruder not refused yet")
		}
		if in.r.Stats().Suspected == 0 {
			return errors.New("intruder does not suspect the refusing datanode yet")
		}
		return nil
	})
	if dn.hosts()[hostKey(99999)] != 0 {
		t.Fatal("an event crossed a refused connection")
	}
	if w.r.Stats().Refused != 0 {
		t.Fatalf("legitimate worker refused: %+v", w.r.Stats())
	}
}
