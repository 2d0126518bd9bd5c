package pki

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shoal/internal/wire"
	"shoal/route"
)

// tnode is a router over a TLS transport.
type tnode struct {
	name, pool string
	boot       uint64
	r          *route.Router
	tr         *Transport
	mu         sync.Mutex
	got        int
}

func (n *tnode) peer() route.Peer {
	return route.Peer{Name: n.name, Pool: n.pool, DataAddr: n.r.Addr(), BootID: n.boot}
}

func (n *tnode) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.got
}

// startTLS starts a router named name in pool whose certificate, issued by
// ca, is cert (usually shoal://pool/name); member, if set, is the gossip
// check.
func startTLS(t *testing.T, ca *CA, name, pool string, cert Identity, boot uint64, member func(context.Context, route.Peer) error) *tnode {
	t.Helper()
	f, err := Load(writeNode(t, ca, t.TempDir(), cert.Role, cert.Name), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTransport(TransportConfig{Files: f, Listener: ln, Member: member})
	if err != nil {
		t.Fatal(err)
	}
	n := &tnode{name: name, pool: pool, boot: boot, tr: tr}
	n.r, err = route.New(route.Config{Name: name, BootID: boot, Pool: pool, Transport: tr,
		Deliver: func(route.Sender, wire.Type, []byte) route.Outcome {
			n.mu.Lock()
			n.got++
			n.mu.Unlock()
			return route.OK
		},
		AckTimeout: 2 * time.Second, ReconnectInterval: 50 * time.Millisecond,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	n.r.Start(context.Background())
	t.Cleanup(func() { n.r.Close() })
	return n
}

func waitUntil(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func send(t *testing.T, from, to *tnode, n int) {
	t.Helper()
	from.r.SetMembers([]route.Peer{from.peer(), to.peer()})
	for i := range n {
		if err := from.r.Send(context.Background(), to.name, wire.HostSeen{TS: int64(i), Host: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})}); err != nil {
			t.Fatal(err)
		}
	}
}

// Events cross a mutual-TLS connection between two certificate holders.
func TestTransportCarriesEvents(t *testing.T) {
	ca := mustCA(t)
	w := startTLS(t, ca, "w-1", "worker", Identity{"worker", "w-1"}, 1, nil)
	dn := startTLS(t, ca, "dn-1", "datanode", Identity{"datanode", "dn-1"}, 2, nil)
	send(t, w, dn, 50)
	waitUntil(t, 10*time.Second, func() error {
		if got := dn.count(); got != 50 {
			return fmt.Errorf("delivered %d of 50", got)
		}
		return nil
	})
	if s := dn.tr.Stats(); s != (TransportStats{}) {
		t.Fatalf("refusals on a good connection: %+v", s)
	}
}

// A datanode certificate presenting another node's name in the hello is
// refused by the receiver and counted; nothing is delivered.
func TestTransportRefusesNameNotInCertificate(t *testing.T) {
	ca := mustCA(t)
	m := startTLS(t, ca, "mgr-1", "manager", Identity{"manager", "mgr-1"}, 1, nil)
	liar := startTLS(t, ca, "dn-1", "datanode", Identity{"datanode", "dn-2"}, 2, nil) // dn-2's certificate, hello as dn-1
	send(t, liar, m, 5)
	waitUntil(t, 10*time.Second, func() error {
		if m.tr.Stats().Identity == 0 {
			return errors.New("not refused yet")
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond)
	if got := m.count(); got != 0 {
		t.Fatalf("%d events delivered from a node lying about its name", got)
	}
	// And the role: a worker certificate claiming the manager pool.
	w := startTLS(t, ca, "w-9", "manager", Identity{"worker", "w-9"}, 3, nil)
	send(t, w, m, 5)
	waitUntil(t, 10*time.Second, func() error {
		if m.tr.Stats().Identity < 2 {
			return errors.New("role claim not refused yet")
		}
		return nil
	})
}

func mustFiles(t *testing.T, ca *CA, role, name string) *Files {
	t.Helper()
	f, err := Load(writeNode(t, ca, t.TempDir(), role, name), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The gossip identity must match too: a hello from a certificate holder
// gossip does not know is refused and counted.
func TestTransportChecksMembership(t *testing.T) {
	ca := mustCA(t)
	deny := func(_ context.Context, p route.Peer) error {
		if p.Name == "w-2" {
			return errors.New("not a live member")
		}
		return nil
	}
	dn := startTLS(t, ca, "dn-1", "datanode", Identity{"datanode", "dn-1"}, 1, deny)
	w1 := startTLS(t, ca, "w-1", "worker", Identity{"worker", "w-1"}, 2, nil)
	w2 := startTLS(t, ca, "w-2", "worker", Identity{"worker", "w-2"}, 3, nil)
	send(t, w1, dn, 3)
	send(t, w2, dn, 3)
	waitUntil(t, 10*time.Second, func() error {
		if got, s := dn.count(), dn.tr.Stats(); got != 3 || s.Membership == 0 {
			return fmt.Errorf("delivered %d (want 3 from w-1 only), stats %+v", got, s)
		}
		return nil
	})
}

// Raw TCP without TLS, TLS without a client certificate and a certificate
// from another CA fail the handshake, are counted, and never reach the
// router's hello.
func TestTransportRefusesStrangers(t *testing.T) {
	ca := mustCA(t)
	dn := startTLS(t, ca, "dn-1", "datanode", Identity{"datanode", "dn-1"}, 1, nil)
	addr := dn.r.Addr()

	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	raw.Write(wire.AppendHello(nil, wire.Hello{Name: "dn-1", Pool: "datanode", BootID: 1, Proto: wire.Proto}))
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := raw.Read(make([]byte, 64)); n > 0 {
		t.Fatalf("a raw TCP client got %d bytes back", n)
	}
	raw.Close()

	noCert, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err == nil {
		noCert.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = noCert.Read(make([]byte, 1))
		noCert.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was served")
	}

	other, _ := NewCA(CARequest{Name: "other"}, time.Now())
	of := mustFiles(t, other, "worker", "w-1")
	c, err := tls.Dial("tcp", addr, of.ClientConfig("", ""))
	if err == nil {
		c.Close()
		t.Fatal("a certificate from another CA completed the handshake")
	}
	waitUntil(t, 5*time.Second, func() error {
		if s := dn.tr.Stats(); s.Handshakes < 2 {
			return fmt.Errorf("handshake failures %+v, want at least 2", s)
		}
		return nil
	})
	if dn.count() != 0 {
		t.Fatal("an event was delivered")
	}
}
