package route

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shoal/internal/wire"
)

// cluster starts one worker and three datanodes sharing one view.
func cluster(t *testing.T, opts ...nodeOpt) (w *tnode, dns []*tnode) {
	t.Helper()
	w = newNode(t, "worker-1", "worker", 1, "", opts...)
	for i := 1; i <= 3; i++ {
		dns = append(dns, newNode(t, fmt.Sprintf("datanode-%d", i), "datanode", uint64(100+i), "", opts...))
	}
	setAll(append([]*tnode{w}, dns...)...)
	return w, dns
}

func TestHashedSendArrivesAtOwner(t *testing.T) {
	w, dns := cluster(t)
	const n = 3000
	sendHashed(t, w.r, 0, n)
	drain(t, w.r, 10*time.Second)

	ring, err := NewRing(DefaultRingConfig(), []string{"datanode-1", "datanode-2", "datanode-3"})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, dn := range dns {
		for _, g := range dn.events() {
			k := g.ev.Host.As4()
			if owner, _ := ring.Owner(k[:]); owner != dn.name {
				t.Errorf("%v arrived at %s, owner is %s", g.ev.Host, dn.name, owner)
			}
			if g.from != "worker-1" {
				t.Errorf("from = %q", g.from)
			}
			total++
		}
		if len(dn.events()) == 0 {
			t.Errorf("%s got nothing", dn.name)
		}
	}
	if total != n {
		t.Fatalf("delivered %d events, want %d", total, n)
	}
	s := w.r.Stats()
	for _, err := range []error{countErr("sent", s.Sent, n), countErr("acked", s.Acked, n), countErr("dropped", s.Dropped, 0)} {
		if err != nil {
			t.Error(err)
		}
	}
	if s.Batches == 0 || s.Writes == 0 || s.Batches > n/2 {
		t.Errorf("batches %d writes %d for %d events: not batched", s.Batches, s.Writes, n)
	}
	// Every node sees the same ring.
	want := w.r.Rings()["datanode"]
	if want.Checksum != ring.Checksum() || want.Version == 0 {
		t.Errorf("worker ring %+v, want checksum %d", want, ring.Checksum())
	}
	for _, dn := range dns {
		if got := dn.r.Rings()["datanode"]; got.Checksum != want.Checksum {
			t.Errorf("%s ring checksum %d, worker has %d", dn.name, got.Checksum, want.Checksum)
		}
	}
	for _, p := range w.r.Peers() {
		if !p.Connected && p.Pool == "datanode" || p.Suspect || p.Queued != 0 || p.Unacked != 0 {
			t.Errorf("peer status %+v", p)
		}
	}
}

func TestOrderPerPeer(t *testing.T) {
	w, dns := cluster(t, func(c *Config) { c.MaxBatchBytes = 512 })
	const n = 5000
	for i := range n {
		if err := w.r.Send(context.Background(), "datanode-2", wire.HostSeen{TS: int64(i), Host: hostKey(i)}); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, w.r, 10*time.Second)
	evs := dns[1].events()
	if len(evs) != n {
		t.Fatalf("got %d events, want %d", len(evs), n)
	}
	for i, g := range evs {
		if g.ev.TS != int64(i) {
			t.Fatalf("event %d has ts %d: out of order", i, g.ev.TS)
		}
	}
	if s := w.r.Stats(); s.Batches < n*8/512 {
		t.Errorf("%d batches: MaxBatchBytes not applied", s.Batches)
	}
}

func TestNoMembers(t *testing.T) {
	w, _ := cluster(t)
	ctx := context.Background()
	ev := wire.HostSeen{TS: 1, Host: hostKey(1)}
	tests := map[string]func() error{
		"hashed":      func() error { return w.r.SendHashed(ctx, "manager", []byte("k"), ev) },
		"round robin": func() error { return w.r.SendRoundRobin(ctx, "manager", ev) },
		"broadcast":   func() error { return w.r.Broadcast(ctx, "manager", ev) },
	}
	for name, send := range tests {
		t.Run(name, func(t *testing.T) {
			before := w.r.Stats().NoMembers
			err := send()
			if !errors.Is(err, ErrNoMembers) || !strings.Contains(err.Error(), "manager") {
				t.Fatalf("err = %v, want ErrNoMembers naming the pool", err)
			}
			if got := w.r.Stats().NoMembers; got != before+1 {
				t.Fatalf("NoMembers = %d, want %d", got, before+1)
			}
		})
	}
	if err := w.r.Send(ctx, "nobody", ev); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("Send to unknown node: %v", err)
	}
	if w.r.Stats().UnknownNode != 1 {
		t.Fatal("unknown node not counted")
	}
}

func TestSelfDelivery(t *testing.T) {
	w, dns := cluster(t)
	dn := dns[0]
	ctx := context.Background()
	// Hashed within its own pool: the keys it owns are delivered in the
	// call, the others go out.
	sendHashed(t, dn.r, 0, 300)
	ring, _ := NewRing(DefaultRingConfig(), []string{"datanode-1", "datanode-2", "datanode-3"})
	own := 0
	for i := range 300 {
		k := hostKey(i).As4()
		if o, _ := ring.Owner(k[:]); o == dn.name {
			own++
		}
	}
	if got := len(dn.events()); got != own {
		t.Fatalf("self-delivered %d synchronously, owns %d", got, own)
	}
	if err := dn.r.Send(ctx, dn.name, wire.HostSeen{TS: -1, Host: hostKey(-1)}); err != nil {
		t.Fatal(err)
	}
	evs := dn.events()
	if last := evs[len(evs)-1]; last.ev.TS != -1 || last.from != dn.name {
		t.Fatalf("direct self send not delivered synchronously: %+v", last)
	}
	drain(t, dn.r, 5*time.Second)
	s := dn.r.Stats()
	if s.SelfDelivered != uint64(own+1) || s.Sent != 301 || s.Acked != uint64(300-own) {
		t.Fatalf("stats %+v, own %d", s, own)
	}
	// Broadcast reaches every member, self included.
	if err := w.r.Broadcast(ctx, "datanode", wire.HostSeen{TS: -2, Host: hostKey(-2)}); err != nil {
		t.Fatal(err)
	}
	drain(t, w.r, 5*time.Second)
	for _, d := range dns {
		if d.hosts()[hostKey(-2)] != 1 {
			t.Errorf("%s missed the broadcast", d.name)
		}
	}
	// Round robin spreads over the members.
	for i := range 30 {
		if err := w.r.SendRoundRobin(ctx, "datanode", wire.HostSeen{TS: int64(i), Host: hostKey(1000)}); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, w.r, 5*time.Second)
	for _, d := range dns {
		if got := d.hosts()[hostKey(1000)]; got != 10 {
			t.Errorf("%s got %d of 30 round-robin events, want 10", d.name, got)
		}
	}
}

func TestFullDrop(t *testing.T) {
	w, dns := cluster(t, func(c *Config) { c.QueueLimit = 100; c.AckTimeout = 10 * time.Second })
	dn := dns[0]
	dn.blockDeliver()
	ctx := context.Background()
	accepted, refused := 0, 0
	for i := range 1000 {
		err := w.r.Send(ctx, dn.name, wire.HostSeen{TS: int64(i), Host: hostKey(i)})
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, ErrQueueFull):
			refused++
		default:
			t.Fatal(err)
		}
	}
	if accepted > 100 || refused < 900 {
		t.Fatalf("accepted %d refused %d with QueueLimit 100", accepted, refused)
	}
	s := w.r.Stats()
	if s.DroppedFull != uint64(refused) || s.Dropped != uint64(refused) {
		t.Fatalf("DroppedFull %d Dropped %d, refused %d", s.DroppedFull, s.Dropped, refused)
	}
	dn.unblock()
	drain(t, w.r, 10*time.Second)
	if got := len(dn.events()); got != accepted {
		t.Fatalf("delivered %d, accepted %d", got, accepted)
	}
	// Room again.
	if err := w.r.Send(ctx, dn.name, wire.HostSeen{TS: 1, Host: hostKey(1)}); err != nil {
		t.Fatal(err)
	}
}

func TestFullBlock(t *testing.T) {
	w, dns := cluster(t, func(c *Config) { c.QueueLimit = 10; c.Full = FullBlock; c.AckTimeout = 10 * time.Second })
	dn := dns[0]
	dn.blockDeliver()
	ctx := context.Background()
	for i := range 10 {
		if err := w.r.Send(ctx, dn.name, wire.HostSeen{TS: int64(i), Host: hostKey(i)}); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := w.r.Send(short, dn.name, wire.HostSeen{TS: 10, Host: hostKey(10)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked send: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- w.r.Send(ctx, dn.name, wire.HostSeen{TS: 11, Host: hostKey(11)}) }()
	select {
	case err := <-done:
		t.Fatalf("send did not block: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	dn.unblock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	drain(t, w.r, 10*time.Second)
	if got := len(dn.events()); got != 11 {
		t.Fatalf("delivered %d, want 11", got)
	}
	if w.r.Stats().DroppedFull != 0 {
		t.Fatal("FullBlock dropped")
	}
}

func TestReceiverKilledFailover(t *testing.T) {
	var changes atomic.Int32
	w, dns := cluster(t, func(c *Config) {
		c.OnChange = func() { changes.Add(1) }
	})
	victim := dns[0]
	// The victim stalls on its first event: everything after it stays
	// queued or unacknowledged at the worker.
	victim.blockDeliver()
	sendHashed(t, w.r, 0, 3000)
	waitFor(t, 5*time.Second, func() error {
		if victim.n.Load() == 0 {
			return errors.New("victim got nothing yet")
		}
		return nil
	})
	victim.kill()
	waitFor(t, 5*time.Second, func() error {
		if len(w.r.Failovers()) == 0 {
			return errors.New("no failover yet")
		}
		return nil
	})
	sendHashed(t, w.r, 3000, 6000) // after the failover: new owners only
	drain(t, w.r, 10*time.Second)

	var seen []map[netip.Addr]int
	for _, dn := range dns {
		seen = append(seen, dn.hosts())
	}
	for i := range 6000 {
		h := hostKey(i)
		n := 0
		for _, s := range seen {
			n += s[h]
		}
		if n == 0 {
			t.Fatalf("event %d (%v) lost", i, h)
		}
	}
	s := w.r.Stats()
	if s.Rerouted == 0 || s.Suspected != 1 {
		t.Fatalf("stats %+v", s)
	}
	fo := w.r.Failovers()[0]
	if fo.Peer != victim.name || fo.DetectedAt.IsZero() || fo.FirstAckAt.IsZero() || fo.FirstAckAt.Before(fo.DetectedAt) || fo.Rerouted == 0 {
		t.Fatalf("failover %+v", fo)
	}
	if changes.Load() == 0 {
		t.Fatal("OnChange not called")
	}
	ring := w.r.Rings()["datanode"]
	if len(ring.Members) != 2 || ring.Owned[victim.name] != 0 {
		t.Fatalf("ring after failover %+v", ring)
	}
	for _, p := range w.r.Peers() {
		if p.Name == victim.name && !p.Suspect {
			t.Fatalf("victim not suspect: %+v", p)
		}
	}
	// Gossip confirms: the view without the victim changes nothing more.
	setAll(w, dns[1], dns[2])
	if got := w.r.Rings()["datanode"]; got.Checksum != ring.Checksum {
		t.Fatal("confirmed view gives another ring")
	}
}

// stubPeer answers the hello handshake of the first connection and then
// never reads or acknowledges anything (a stopped process); later
// connections are refused by closing them.
func stubPeer(t *testing.T, name string, boot uint64) (addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var first net.Conn
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		if first != nil {
			_ = first.Close()
		}
	})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if i > 0 {
				_ = c.Close()
				continue
			}
			first = c
			fr := newFrameReader(c, 1<<20)
			if _, err := fr.next(); err != nil {
				t.Errorf("stub hello: %v", err)
				return
			}
			if _, err := c.Write(wire.AppendHello(nil, wire.Hello{Name: name, Pool: "datanode", BootID: boot, Proto: wire.Proto})); err != nil {
				t.Errorf("stub hello: %v", err)
				return
			}
		}
	}()
	return ln.Addr().String()
}

func TestAckTimeoutSuspects(t *testing.T) {
	w := newNode(t, "worker-1", "worker", 1, "", func(c *Config) { c.AckTimeout = 200 * time.Millisecond })
	dn := newNode(t, "datanode-2", "datanode", 2, "")
	stub := Peer{Name: "datanode-1", Pool: "datanode", DataAddr: stubPeer(t, "datanode-1", 7), BootID: 7}
	v := append(view(w, dn), stub)
	w.r.SetMembers(v)
	dn.r.SetMembers(view(w, dn)) // the stub takes one connection: the worker's
	waitFor(t, 5*time.Second, func() error {
		for _, p := range w.r.Peers() {
			if !p.Connected {
				return fmt.Errorf("%s not connected", p.Name)
			}
		}
		return nil
	})
	sendHashed(t, w.r, 0, 1000)
	drain(t, w.r, 10*time.Second)
	if got := len(dn.hosts()); got != 1000 {
		t.Fatalf("datanode-2 got %d distinct hosts, want all 1000 after failover", got)
	}
	fos := w.r.Failovers()
	if len(fos) != 1 || fos[0].Peer != "datanode-1" || !strings.Contains(fos[0].Cause, "ack timeout") || fos[0].FirstAckAt.IsZero() {
		t.Fatalf("failovers %+v", fos)
	}
	if s := w.r.Stats(); s.Rerouted == 0 {
		t.Fatalf("nothing re-routed: %+v", s)
	}
}

func TestRestartWithNewBootID(t *testing.T) {
	w, dns := cluster(t)
	old := dns[0]
	addr := old.r.Addr()
	sendHashed(t, w.r, 0, 300)
	drain(t, w.r, 5*time.Second)
	old.kill()
	_ = old.r.Close()
	waitFor(t, 5*time.Second, func() error {
		if len(w.r.Failovers()) == 0 {
			return errors.New("restart not detected")
		}
		return nil
	})
	// Restarted on the same address with a new boot id, before gossip
	// told the worker: the worker's hello check refuses it.
	nw := newNode(t, old.name, "datanode", 999, addr)
	if err := w.r.Send(context.Background(), old.name, wire.HostSeen{TS: -7, Host: hostKey(-7)}); err != nil {
		t.Fatal(err) // queued for the suspect peer
	}
	refused := w.r.Stats().Refused
	waitFor(t, 5*time.Second, func() error {
		if w.r.Stats().Refused < refused+2 {
			return errors.New("no refused handshakes yet")
		}
		return nil
	})
	for _, p := range w.r.Peers() {
		if p.Name == old.name && (!p.Suspect || p.Connected) {
			t.Fatalf("peer with the old boot id accepted the new process: %+v", p)
		}
	}
	if nw.n.Load() != 0 {
		t.Fatal("events reached a process with another boot id")
	}
	// Gossip brings the new boot id: the direct event goes to the new
	// incarnation, and it owns its partitions again.
	setAll(w, nw, dns[1], dns[2])
	sendHashed(t, w.r, 300, 600)
	drain(t, w.r, 10*time.Second)
	if nw.hosts()[hostKey(-7)] != 1 {
		t.Fatal("direct event for the restarted peer not re-sent to the new incarnation")
	}
	if nw.n.Load() < 50 {
		t.Fatalf("restarted datanode got %d events", nw.n.Load())
	}
	if got := w.r.Rings()["datanode"]; len(got.Members) != 3 {
		t.Fatalf("ring %+v", got)
	}
}

func TestGoneMemberReroutesAndDrops(t *testing.T) {
	w, dns := cluster(t, func(c *Config) { c.AckTimeout = 10 * time.Second })
	gone := dns[2]
	gone.blockDeliver()
	sendHashed(t, w.r, 0, 1000)
	if err := w.r.Send(context.Background(), gone.name, wire.HostSeen{TS: -1, Host: hostKey(-1)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if gone.n.Load() == 0 {
			return errors.New("nothing delivered yet")
		}
		return nil
	})
	setAll(w, dns[0], dns[1]) // gossip: gone left
	drain(t, w.r, 10*time.Second)
	s := w.r.Stats()
	if s.Rerouted == 0 || s.DroppedNoRoute != 1 {
		t.Fatalf("stats %+v: want re-routed events and the direct one dropped", s)
	}
	s0, s1, s2 := dns[0].hosts(), dns[1].hosts(), gone.hosts()
	for i := range 1000 {
		if s0[hostKey(i)]+s1[hostKey(i)]+s2[hostKey(i)] == 0 {
			t.Fatalf("event %d lost", i)
		}
	}
	if err := w.r.Send(context.Background(), gone.name, wire.HostSeen{}); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("send to departed node: %v", err)
	}
	gone.unblock()
}

func TestBadFramesCountedAndClosed(t *testing.T) {
	w, dns := cluster(t, func(c *Config) { c.MaxFrameSize = 1 << 16; c.MaxBatchBytes = 1 << 15 })
	dn := dns[0]
	hello := wire.AppendHello(nil, wire.Hello{Name: "raw", BootID: 1, Proto: wire.Proto})
	badBatch := []byte{0, 0, 0, 10, wire.Version, byte(wire.KindBatch), 0, 0, 0, 0, 0, 0, 0, 1, 5, 1}
	tests := map[string][]byte{
		"garbage":           []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"wrong version":     {0, 0, 0, 0, 9, byte(wire.KindHello)},
		"oversize":          {0, 0x10, 0, 0, wire.Version, byte(wire.KindHello)},
		"bad hello":         {0, 0, 0, 2, wire.Version, byte(wire.KindHello), 1, 2},
		"wrong proto":       wire.AppendHello(nil, wire.Hello{Name: "raw", Proto: 99}),
		"ack first":         wire.AppendAck(nil, wire.Ack{First: 1, Last: 1}),
		"bad batch":         append(append([]byte{}, hello...), badBatch...),
		"ack after hello":   wire.AppendAck(append([]byte{}, hello...), wire.Ack{First: 3, Last: 3}),
		"garbage post-helo": append(append([]byte{}, hello...), 0xde, 0xad, 0xbe, 0xef, 0, 0),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			before := dn.r.Stats().BadFrames
			c, err := net.Dial("tcp", dn.r.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(in); err != nil {
				t.Fatal(err)
			}
			// The router closes the connection: reads end (after its
			// hello, when ours was valid).
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 1024)
			for {
				if _, err := c.Read(buf); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						t.Fatal("connection left open")
					}
					break
				}
			}
			waitFor(t, 5*time.Second, func() error { return countErr("bad frames", dn.r.Stats().BadFrames, before+1) })
		})
	}
	// The router still serves its peers.
	sendHashed(t, w.r, 0, 500)
	drain(t, w.r, 5*time.Second)
	total := 0
	for _, d := range dns {
		total += len(d.events())
	}
	if total != 500 {
		t.Fatalf("delivered %d of 500 after bad frames", total)
	}
}

func TestTooLargeEvent(t *testing.T) {
	w, dns := cluster(t, func(c *Config) { c.MaxFrameSize = 4096; c.MaxBatchBytes = 1024 })
	big := rawEv{t: 900, p: make([]byte, 5000)}
	if err := w.r.Send(context.Background(), dns[0].name, big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if err := w.r.Broadcast(context.Background(), "datanode", big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("broadcast err = %v", err)
	}
	// A large event that fits still goes through, alone in its frame.
	sendHashed(t, w.r, 0, 100)
	if err := w.r.Send(context.Background(), dns[0].name, wire.HostSeen{TS: 1, Host: netip.MustParseAddr("2001:db8::1")}); err != nil {
		t.Fatal(err)
	}
	drain(t, w.r, 5*time.Second)
}

type rawEv struct {
	t wire.Type
	p []byte
}

func (e rawEv) WireType() wire.Type        { return e.t }
func (e rawEv) AppendWire(b []byte) []byte { return append(b, e.p...) }

func TestClose(t *testing.T) {
	w, _ := cluster(t)
	if err := w.r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.r.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	ev := wire.HostSeen{}
	ctx := context.Background()
	for name, err := range map[string]error{
		"send":      w.r.Send(ctx, "datanode-1", ev),
		"hashed":    w.r.SendHashed(ctx, "datanode", []byte("k"), ev),
		"rr":        w.r.SendRoundRobin(ctx, "datanode", ev),
		"broadcast": w.r.Broadcast(ctx, "datanode", ev),
		"drain":     w.r.Drain(ctx),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}

func TestStartContextCancelCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Name: "a", Pool: "worker", Listener: ln, Deliver: func(Sender, wire.Type, []byte) Outcome { return OK }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	cancel()
	waitFor(t, 5*time.Second, func() error {
		if err := r.Send(context.Background(), "a", wire.HostSeen{}); !errors.Is(err, ErrClosed) {
			return fmt.Errorf("send: %v", err)
		}
		return nil
	})
}

func TestConfigValidate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ok := Config{Name: "n", Pool: "worker", Listener: ln, Deliver: func(Sender, wire.Type, []byte) Outcome { return OK }}
	tests := map[string]struct {
		mod  func(*Config)
		fail bool
	}{
		"defaults":          {mod: func(*Config) {}},
		"no name":           {mod: func(c *Config) { c.Name = "" }, fail: true},
		"long name":         {mod: func(c *Config) { c.Name = strings.Repeat("x", wire.MaxNameLen+1) }, fail: true},
		"no pool":           {mod: func(c *Config) { c.Pool = "" }, fail: true},
		"no listener":       {mod: func(c *Config) { c.Listener = nil }, fail: true},
		"no deliver":        {mod: func(c *Config) { c.Deliver = nil }, fail: true},
		"bad ring":          {mod: func(c *Config) { c.Ring = RingConfig{Partitions: 7, ReplicationFactor: 1, Load: 0.5} }, fail: true},
		"negative queue":    {mod: func(c *Config) { c.QueueLimit = -1 }, fail: true},
		"bad policy":        {mod: func(c *Config) { c.Full = 7 }, fail: true},
		"batch over frame":  {mod: func(c *Config) { c.MaxFrameSize = 4096; c.MaxBatchBytes = 4096 }, fail: true},
		"tiny frame":        {mod: func(c *Config) { c.MaxFrameSize = 10 }, fail: true},
		"negative delay":    {mod: func(c *Config) { c.FlushDelay = -1 }, fail: true},
		"negative ack":      {mod: func(c *Config) { c.AckTimeout = -1 }, fail: true},
		"negative interval": {mod: func(c *Config) { c.ReconnectInterval = -1 }, fail: true},
		"small but valid":   {mod: func(c *Config) { c.MaxFrameSize = 4096; c.MaxBatchBytes = 1024; c.QueueLimit = 1 }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if (err != nil) != tc.fail {
				t.Fatalf("Validate() = %v, want failure %v", err, tc.fail)
			}
			if tc.fail && !errors.Is(err, ErrConfig) && !errors.Is(err, ErrRingConfig) {
				t.Fatalf("error %v wraps neither ErrConfig nor ErrRingConfig", err)
			}
			if _, err := New(c); (err != nil) != tc.fail {
				t.Fatalf("New() = %v", err)
			}
		})
	}
}
