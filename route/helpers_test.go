package route

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shoal/internal/wire"
)

// killListener wraps a listener and remembers accepted connections so a
// test can cut everything abruptly, as a crashed process would.
type killListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *killListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *killListener) kill() {
	_ = l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, like a killed process
		}
		_ = c.Close()
	}
}

// got is one delivered event.
type got struct {
	from, pool string
	ev         wire.HostSeen
}

// tnode is a router with a recording Deliver.
type tnode struct {
	t      *testing.T
	name   string
	pool   string
	boot   uint64
	r      *Router
	ln     *killListener
	killed atomic.Bool
	block  atomic.Pointer[chan struct{}] // Deliver waits on it when set
	answer atomic.Pointer[func(from Sender, ev wire.HostSeen) Outcome]

	mu   sync.Mutex
	evs  []got
	seen map[netip.Addr]int
	n    atomic.Int64
	// Commit: failCommits > 0 makes the next calls fail, undoing what
	// was delivered since the last successful one (committed events).
	failCommits atomic.Int32
	commits     atomic.Int32
	committed   int
}

type nodeOpt func(*Config)

// newNode starts a router named name in pool on 127.0.0.1:0 (or addr).
func newNode(t *testing.T, name, pool string, boot uint64, addr string, opts ...nodeOpt) *tnode {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	n := &tnode{t: t, name: name, pool: pool, boot: boot, ln: &killListener{Listener: ln}, seen: make(map[netip.Addr]int)}
	cfg := Config{
		Name: name, BootID: boot, Pool: pool,
		Listener:          n.ln,
		Deliver:           n.deliver,
		Commit:            n.commit,
		AckTimeout:        2 * time.Second,
		ReconnectInterval: 20 * time.Millisecond,
		Logger:            zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
	}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.r = r
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	t.Cleanup(func() {
		n.unblock()
		cancel()
		_ = r.Close()
	})
	return n
}

// deliver records the events it answers OK. A killed node takes nothing
// (busy: a dead process never acknowledges); answer, when set, decides
// the outcome of each event.
func (n *tnode) deliver(from Sender, typ wire.Type, payload []byte) Outcome {
	if n.killed.Load() {
		return Busy
	}
	if typ != wire.TypeHostSeen {
		n.t.Errorf("%s: unexpected type %d", n.name, typ)
		return OK
	}
	var ev wire.HostSeen
	if err := ev.DecodeWire(payload); err != nil {
		n.t.Errorf("%s: decode: %v", n.name, err)
		return OK
	}
	if f := n.answer.Load(); f != nil {
		if o := (*f)(from, ev); o != OK {
			return o
		}
	}
	n.mu.Lock()
	n.evs = append(n.evs, got{from: from.Name, pool: from.Pool, ev: ev})
	n.seen[ev.Host]++
	n.mu.Unlock()
	n.n.Add(1)
	if ch := n.block.Load(); ch != nil {
		<-*ch
	}
	return OK
}

// commit keeps what was delivered since the last commit, or, while
// failCommits is positive, forgets it, as a manager that could not write
// its rows.
func (n *tnode) commit(Sender) error {
	n.commits.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.failCommits.Load() > 0 {
		n.failCommits.Add(-1)
		for _, g := range n.evs[n.committed:] {
			n.seen[g.ev.Host]--
		}
		n.n.Add(-int64(len(n.evs) - n.committed))
		n.evs = n.evs[:n.committed]
		return fmt.Errorf("disk full")
	}
	n.committed = len(n.evs)
	return nil
}

// answerWith makes deliver answer each event with f (nil: always OK).
func (n *tnode) answerWith(f func(from Sender, ev wire.HostSeen) Outcome) {
	if f == nil {
		n.answer.Store(nil)
		return
	}
	n.answer.Store(&f)
}

func (n *tnode) blockDeliver() {
	ch := make(chan struct{})
	n.block.Store(&ch)
}

func (n *tnode) unblock() {
	if ch := n.block.Swap(nil); ch != nil {
		close(*ch)
	}
}

// kill cuts the node off like a crash: listener and connections closed
// with RST, nothing it receives from now on is recorded.
func (n *tnode) kill() {
	n.killed.Store(true)
	n.ln.kill()
	n.unblock()
}

func (n *tnode) peer() Peer {
	return Peer{Name: n.name, Pool: n.pool, DataAddr: n.r.Addr(), BootID: n.boot}
}

func (n *tnode) events() []got {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]got(nil), n.evs...)
}

func (n *tnode) hosts() map[netip.Addr]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[netip.Addr]int, len(n.seen))
	for k, v := range n.seen {
		out[k] = v
	}
	return out
}

// view gives every node the same live view.
func view(nodes ...*tnode) []Peer {
	ps := make([]Peer, len(nodes))
	for i, n := range nodes {
		ps[i] = n.peer()
	}
	return ps
}

func setAll(nodes ...*tnode) {
	v := view(nodes...)
	for _, n := range nodes {
		n.r.SetMembers(v)
	}
}

func hostKey(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func sendHashed(t *testing.T, r *Router, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		h := hostKey(i)
		k := h.As4()
		if err := r.SendHashed(context.Background(), "datanode", k[:], wire.HostSeen{TS: int64(i), Host: h}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
}

// waitFor polls cond until it returns nil or timeout passes (nats checkFor).
func waitFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func drain(t *testing.T, r *Router, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := r.Drain(ctx); err != nil {
		t.Fatalf("drain: %v (stats %+v, peers %+v)", err, r.Stats(), r.Peers())
	}
}

func countErr(what string, got, want uint64) error {
	if got != want {
		return fmt.Errorf("%s = %d, want %d", what, got, want)
	}
	return nil
}
