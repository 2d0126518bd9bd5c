package memnet

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"strconv"
	"sync"
	"time"
)

// Sentinel errors. Dial and stream errors are returned wrapped in *net.OpError.
var (
	// ErrRefused is returned when dialling an address nobody listens on, or
	// whose accept queue is full.
	ErrRefused = errors.New("memnet: connection refused")
	// ErrUnreachable is returned when dialling across a partition.
	ErrUnreachable = errors.New("memnet: network unreachable")
	// ErrReset is returned by reads and writes on a connection that a
	// partition or a transport shutdown has cut.
	ErrReset = errors.New("memnet: connection reset")
	// ErrAddrInUse is returned when an address is already bound.
	ErrAddrInUse = errors.New("memnet: address already in use")
	// ErrBadAddr is returned for an address that is not "ip:port".
	ErrBadAddr = errors.New("memnet: bad address")
	// ErrClosed is returned by operations on a shut down transport.
	ErrClosed = errors.New("memnet: transport closed")
)

// Default queue sizes.
const (
	// DefaultPacketQueueLen is the capacity of a transport's packet queue;
	// packets beyond it are dropped and counted (Stats.Overflow).
	DefaultPacketQueueLen = 1024
	// DefaultAcceptQueueLen is the capacity of an accept queue; dials beyond
	// it are refused.
	DefaultAcceptQueueLen = 128
	// connChunks is the number of written chunks a connection buffers in
	// each direction before Write blocks.
	connChunks = 64
)

// Addr is a memnet endpoint address ("ip:port"). It implements net.Addr.
type Addr string

// Network returns "memnet".
func (a Addr) Network() string { return "memnet" }

// String returns the address.
func (a Addr) String() string { return string(a) }

// Stats counts what happened to packets. All counts are cumulative.
type Stats struct {
	Delivered   uint64 // packets put on a receiver's queue
	Unroutable  uint64 // no live transport at the destination
	Partitioned uint64 // cut by a partition
	Lost        uint64 // dropped by a Drop rule
	Overflow    uint64 // receiver queue full
}

type dropRule struct {
	from, to string
	p        float64
}

type partition struct{ a, b []string }

// Network is an in-memory network of transports and listeners. It is safe for
// concurrent use. Create it inside the synctest bubble that uses it.
type Network struct {
	mu             sync.Mutex
	rng            *rand.Rand
	transports     map[string]*Transport
	listeners      map[string]*Listener
	drops          []dropRule
	partitions     []partition
	delay          time.Duration
	conns          map[*connPair]struct{}
	stats          Stats
	packetQueueLen int
	nextPort       int
}

// New returns an empty network. seed drives the random packet loss of Drop,
// so a run can be repeated.
func New(seed int64) *Network {
	return &Network{
		rng:            rand.New(rand.NewSource(seed)),
		transports:     make(map[string]*Transport),
		listeners:      make(map[string]*Listener),
		conns:          make(map[*connPair]struct{}),
		packetQueueLen: DefaultPacketQueueLen,
		nextPort:       40000,
	}
}

// SetPacketQueueLen sets the packet queue capacity of transports created
// afterwards (n >= 1).
func (n *Network) SetPacketQueueLen(size int) {
	if size < 1 {
		size = 1
	}
	n.mu.Lock()
	n.packetQueueLen = size
	n.mu.Unlock()
}

// Drop makes packets from an address matching from to an address matching to
// be lost with probability p (0 removes the rule). Patterns: "ip:port", "ip"
// or "*". Streams are reliable and not affected.
func (n *Network) Drop(from, to string, p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, r := range n.drops {
		if r.from == from && r.to == to {
			n.drops = append(n.drops[:i], n.drops[i+1:]...)
			break
		}
	}
	if p > 0 {
		n.drops = append(n.drops, dropRule{from: from, to: to, p: p})
	}
}

// Partition cuts all traffic between the addresses matching a and those
// matching b, in both directions: packets are dropped, dials fail with
// ErrUnreachable and established connections between the two sides are reset.
// Partitions accumulate until Heal.
func (n *Network) Partition(a, b []string) {
	n.mu.Lock()
	n.partitions = append(n.partitions, partition{a: append([]string(nil), a...), b: append([]string(nil), b...)})
	var cut []*connPair
	for p := range n.conns {
		if n.blockedLocked(string(p.a.local), string(p.a.remote)) {
			cut = append(cut, p)
			delete(n.conns, p)
		}
	}
	n.mu.Unlock()
	for _, p := range cut {
		p.reset()
	}
}

// Heal removes every partition. Connections reset by a partition stay reset.
func (n *Network) Heal() {
	n.mu.Lock()
	n.partitions = nil
	n.mu.Unlock()
}

// Delay delays every packet delivery and every dial by d (0 disables).
func (n *Network) Delay(d time.Duration) {
	n.mu.Lock()
	n.delay = d
	n.mu.Unlock()
}

// Stats returns a snapshot of the packet counters.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

func match(pattern, addr string) bool {
	if pattern == "*" || pattern == addr {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	return err == nil && host == pattern
}

func matchAny(patterns []string, addr string) bool {
	for _, p := range patterns {
		if match(p, addr) {
			return true
		}
	}
	return false
}

// blockedLocked reports whether a partition separates x and y.
func (n *Network) blockedLocked(x, y string) bool {
	for _, p := range n.partitions {
		if (matchAny(p.a, x) && matchAny(p.b, y)) || (matchAny(p.b, x) && matchAny(p.a, y)) {
			return true
		}
	}
	return false
}

// lostLocked rolls the seeded dice for every Drop rule matching from->to.
func (n *Network) lostLocked(from, to string) bool {
	for _, r := range n.drops {
		if match(r.from, from) && match(r.to, to) && n.rng.Float64() < r.p {
			return true
		}
	}
	return false
}

func checkAddr(addr string) (net.IP, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %q: %v", ErrBadAddr, addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, 0, fmt.Errorf("%w: %q: host is not an IP", ErrBadAddr, addr)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return nil, 0, fmt.Errorf("%w: %q: bad port", ErrBadAddr, addr)
	}
	if ip4 := ip.To4(); ip4 != nil {
		ip = ip4
	}
	return ip, port, nil
}

// sendPacket copies b and delivers it from -> to, or drops it. It never
// blocks and never fails.
func (n *Network) sendPacket(from, to string, b []byte) time.Time {
	now := time.Now()
	buf := append([]byte(nil), b...)
	n.mu.Lock()
	delay := n.delay
	if delay == 0 {
		n.deliverLocked(from, to, buf, now)
		n.mu.Unlock()
		return now
	}
	n.mu.Unlock()
	time.AfterFunc(delay, func() {
		n.mu.Lock()
		n.deliverLocked(from, to, buf, time.Now())
		n.mu.Unlock()
	})
	return now
}

func (n *Network) deliverLocked(from, to string, buf []byte, ts time.Time) {
	dst := n.transports[to]
	switch {
	case dst == nil:
		n.stats.Unroutable++
	case n.blockedLocked(from, to):
		n.stats.Partitioned++
	case n.lostLocked(from, to):
		n.stats.Lost++
	default:
		if dst.enqueue(buf, Addr(from), ts) {
			n.stats.Delivered++
		} else {
			n.stats.Overflow++
		}
	}
}

// waitDelay blocks for the configured delay, or until ctx is done.
func (n *Network) waitDelay(ctx context.Context) error {
	n.mu.Lock()
	d := n.delay
	n.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// connectLocked creates a connection pair between from and to and registers it.
func (n *Network) connectLocked(from, to Addr) (client, server *Conn) {
	p := newConnPair(n, from, to)
	n.conns[p] = struct{}{}
	return p.a, p.b
}

func (n *Network) forget(p *connPair) {
	n.mu.Lock()
	delete(n.conns, p)
	n.mu.Unlock()
}

// resetConnsOf resets every connection with an endpoint at addr.
func (n *Network) resetConnsOf(addr Addr) {
	n.mu.Lock()
	var cut []*connPair
	for p := range n.conns {
		if p.a.local == addr || p.a.remote == addr {
			cut = append(cut, p)
			delete(n.conns, p)
		}
	}
	n.mu.Unlock()
	for _, p := range cut {
		p.reset()
	}
}

func opErr(op string, src, dst net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "memnet", Source: src, Addr: dst, Err: err}
}

type sourceKey struct{}

// WithSource returns a context that makes Network.Dial dial from the address
// src, so that partitions and connection resets apply to the connection.
func WithSource(ctx context.Context, src string) context.Context {
	return context.WithValue(ctx, sourceKey{}, src)
}

// Listen binds a stream listener at addr ("ip:port"). Safe for concurrent use.
func (n *Network) Listen(addr string) (net.Listener, error) {
	if _, _, err := checkAddr(addr); err != nil {
		return nil, opErr("listen", nil, Addr(addr), err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.listeners[addr] != nil || n.transports[addr] != nil {
		return nil, opErr("listen", nil, Addr(addr), ErrAddrInUse)
	}
	l := &Listener{
		net:      n,
		addr:     Addr(addr),
		acceptCh: make(chan *Conn, DefaultAcceptQueueLen),
		done:     make(chan struct{}),
	}
	n.listeners[addr] = l
	return l, nil
}

// Dial connects to the listener at addr. The source address is taken from ctx
// (see WithSource); without one the connection is not subject to partitions.
// Safe for concurrent use.
func (n *Network) Dial(ctx context.Context, addr string) (net.Conn, error) {
	src, _ := ctx.Value(sourceKey{}).(string)
	return n.DialFrom(ctx, src, addr)
}

// DialFunc returns a dial function bound to the source address src, suitable
// for injecting into a component that takes func(ctx, addr) (net.Conn, error).
func (n *Network) DialFunc(src string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return n.DialFrom(ctx, src, addr)
	}
}

// DialFrom connects from src (may be empty) to the listener at addr. It fails
// at once with ErrRefused or ErrUnreachable; a Delay is waited for first.
func (n *Network) DialFrom(ctx context.Context, src, addr string) (net.Conn, error) {
	local := Addr(src)
	if src == "" {
		n.mu.Lock()
		n.nextPort++
		local = Addr("0.0.0.0:" + strconv.Itoa(n.nextPort))
		n.mu.Unlock()
	} else if _, _, err := net.SplitHostPort(src); err != nil {
		n.mu.Lock()
		n.nextPort++
		local = Addr(net.JoinHostPort(src, strconv.Itoa(n.nextPort)))
		n.mu.Unlock()
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr("dial", local, Addr(addr), err)
	}
	if err := n.waitDelay(ctx); err != nil {
		return nil, opErr("dial", local, Addr(addr), err)
	}
	n.mu.Lock()
	l := n.listeners[addr]
	if l == nil {
		n.mu.Unlock()
		return nil, opErr("dial", local, Addr(addr), ErrRefused)
	}
	if src != "" && n.blockedLocked(string(local), addr) {
		n.mu.Unlock()
		return nil, opErr("dial", local, Addr(addr), ErrUnreachable)
	}
	client, server := n.connectLocked(local, Addr(addr))
	select {
	case l.acceptCh <- server:
		n.mu.Unlock()
		return client, nil
	default:
		delete(n.conns, client.pair)
		n.mu.Unlock()
		return nil, opErr("dial", local, Addr(addr), ErrRefused)
	}
}

// Listener is a memnet stream listener. It implements net.Listener and is
// safe for concurrent use.
type Listener struct {
	net      *Network
	addr     Addr
	acceptCh chan *Conn
	done     chan struct{}
	once     sync.Once
}

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, opErr("accept", nil, l.addr, net.ErrClosed)
	default:
	}
	select {
	case c := <-l.acceptCh:
		return c, nil
	case <-l.done:
		return nil, opErr("accept", nil, l.addr, net.ErrClosed)
	}
}

// Close unbinds the listener; queued, not yet accepted connections are reset.
func (l *Listener) Close() error {
	first := false
	l.once.Do(func() {
		first = true
		close(l.done)
		l.net.mu.Lock()
		if l.net.listeners[string(l.addr)] == l {
			delete(l.net.listeners, string(l.addr))
		}
		l.net.mu.Unlock()
		for {
			select {
			case c := <-l.acceptCh:
				l.net.forget(c.pair)
				c.pair.reset()
			default:
				return
			}
		}
	})
	if !first {
		return opErr("close", nil, l.addr, net.ErrClosed)
	}
	return nil
}

// Addr returns the listener's address.
func (l *Listener) Addr() net.Addr { return l.addr }
