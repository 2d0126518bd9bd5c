package flow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"shoal/packet"
)

// Defaults, from Zeek's scripts/base/init-bare.zeek.
const (
	DefaultTCPInactivity = 5 * time.Minute // tcp_inactivity_timeout
	DefaultAttemptDelay  = 5 * time.Second // tcp_attempt_delay
	DefaultCloseDelay    = 5 * time.Second // tcp_close_delay
	DefaultMaxFlows      = 1 << 20
)

// ErrBadConfig is wrapped by Config.Validate.
var ErrBadConfig = errors.New("flow: bad config")

// Config configures a Tracker. Zero fields take the defaults.
type Config struct {
	// TCPInactivity removes a connection with no packet for this long
	// (Zeek's tcp_inactivity_timeout). Default 5 min.
	TCPInactivity time.Duration
	// AttemptDelay is how long after the originator's SYN a connection whose
	// responder stayed silent is removed (tcp_attempt_delay). Default 5 s.
	AttemptDelay time.Duration
	// CloseDelay is how long after a complete close (FIN from both sides, a
	// RST, or a FIN with a silent peer) a connection is removed
	// (tcp_close_delay). Default 5 s.
	CloseDelay time.Duration
	// MaxFlows caps the tracked connections; creating one more evicts the
	// least recently active connection (counted in Stats.Evicted). Each flow
	// costs about 250 bytes. Default 1<<20.
	MaxFlows int
	// ServerPorts are the TCP ports Zeek would consider likely server ports
	// (those of the loaded protocol analyzers). They only decide the
	// direction of a connection whose first packet is not a pure SYN. Empty
	// means none, as with only the known-hosts policy loaded.
	ServerPorts []uint16
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		TCPInactivity: DefaultTCPInactivity,
		AttemptDelay:  DefaultAttemptDelay,
		CloseDelay:    DefaultCloseDelay,
		MaxFlows:      DefaultMaxFlows,
	}
}

// Validate reports negative durations or a negative MaxFlows.
func (c Config) Validate() error {
	var errs []error
	if c.TCPInactivity < 0 {
		errs = append(errs, fmt.Errorf("%w: TCPInactivity %v is negative", ErrBadConfig, c.TCPInactivity))
	}
	if c.AttemptDelay < 0 {
		errs = append(errs, fmt.Errorf("%w: AttemptDelay %v is negative", ErrBadConfig, c.AttemptDelay))
	}
	if c.CloseDelay < 0 {
		errs = append(errs, fmt.Errorf("%w: CloseDelay %v is negative", ErrBadConfig, c.CloseDelay))
	}
	if c.MaxFlows < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxFlows %d is negative", ErrBadConfig, c.MaxFlows))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.TCPInactivity > 0 {
		d.TCPInactivity = c.TCPInactivity
	}
	if c.AttemptDelay > 0 {
		d.AttemptDelay = c.AttemptDelay
	}
	if c.CloseDelay > 0 {
		d.CloseDelay = c.CloseDelay
	}
	if c.MaxFlows > 0 {
		d.MaxFlows = c.MaxFlows
	}
	d.ServerPorts = c.ServerPorts
	return d
}

// Established reports a completed TCP handshake: Zeek's
// connection_established with both endpoints in TCP_ESTABLISHED. TS is
// network time when the handshake completed (the SYN-ACK's timestamp unless
// the trace ran backwards).
type Established struct {
	TS                 time.Time
	Orig, Resp         netip.Addr
	OrigPort, RespPort uint16
}

// Stats are a Tracker's counters. Flows is a gauge; the rest only grow.
type Stats struct {
	Flows       int    // connections tracked now
	Created     uint64 // connections created
	Established uint64 // Established events returned
	Expired     uint64 // removed after TCPInactivity without packets
	Attempted   uint64 // removed by the attempt timer (unanswered SYN)
	Closed      uint64 // removed CloseDelay after closing
	Reused      uint64 // replaced by a new connection on the same 5-tuple (Zeek's IsReuse)
	Evicted     uint64 // removed to respect MaxFlows
	Packets     uint64 // TCP packets processed
	Ignored     uint64 // non-TCP packets (advance network time only)
}

// key identifies a connection in either direction: the (address, port)
// pairs in canonical order.
type key struct {
	a, b   [16]byte
	pa, pb uint16
	proto  uint8
}

func makeKey(p *packet.Packet) key {
	s, d := p.Src.As16(), p.Dst.As16()
	if less(d, p.DstPort, s, p.SrcPort) {
		return key{a: d, b: s, pa: p.DstPort, pb: p.SrcPort, proto: p.Proto}
	}
	return key{a: s, b: d, pa: p.SrcPort, pb: p.DstPort, proto: p.Proto}
}

func less(a [16]byte, pa uint16, b [16]byte, pb uint16) bool {
	if x, y := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8]); x != y {
		return x < y
	}
	if x, y := binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:]); x != y {
		return x < y
	}
	return pa < pb
}

// endpoint is one side of a connection (Zeek's TCP_Endpoint, reduced to what
// the state machine needs).
type endpoint struct {
	addr      netip.Addr
	port      uint16
	state     State
	prevState State
	startSeq  uint32
	didClose  bool
}

func (e *endpoint) setState(s State) { e.prevState, e.state = e.state, s }

// conn is one tracked connection. Flows are recycled through a free list, so
// a conn pointer is only meaningful while the flow is in the table.
type conn struct {
	key        key
	orig, resp endpoint
	start      int64 // network time at creation, ns
	last       int64 // timestamp of the last packet while not both closed, ns
	timer      [numTimers]int32
	prev, next *conn // activity list, least recent first
}

func (c *conn) closed() bool { return c.orig.didClose || c.resp.didClose }

// Tracker tracks TCP connections over one packet stream. It is not safe for
// concurrent use.
type Tracker struct {
	cfg         Config
	serverPorts [65536 / 64]uint64 // bitset of Config.ServerPorts

	flows  map[key]*conn
	free   []*conn
	head   *conn // least recently active
	tail   *conn // most recently active
	timers timerHeap

	now   time.Time // network time
	nowNs int64
	stats Stats
}

// NewTracker returns an empty Tracker. Zero Config fields take their defaults
// and negative ones too (see Config.Validate to reject them).
func NewTracker(cfg Config) *Tracker {
	cfg = cfg.withDefaults()
	t := &Tracker{cfg: cfg, flows: make(map[key]*conn), nowNs: math.MinInt64}
	for _, p := range cfg.ServerPorts {
		t.serverPorts[p/64] |= 1 << (p % 64)
	}
	return t
}

// Now returns network time: the latest packet timestamp seen (zero before
// the first packet).
func (t *Tracker) Now() time.Time { return t.now }

// Stats returns a copy of the counters.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.Flows = len(t.flows)
	return s
}

func (t *Tracker) likelyServerPort(p uint16) bool { return t.serverPorts[p/64]&(1<<(p%64)) != 0 }

// Packet processes one decoded packet. It first advances network time to
// max(network time, p.TS) and fires the timers due by then; a non-TCP packet
// stops there. It returns an Established event, and true, when p completes a
// handshake. p is not retained.
func (t *Tracker) Packet(p *packet.Packet) (Established, bool) {
	ts := p.TS.UnixNano()
	if ts > t.nowNs {
		t.now, t.nowNs = p.TS, ts
	}
	t.fire(t.nowNs)
	if p.Proto != packet.ProtoTCP {
		t.stats.Ignored++
		return Established{}, false
	}
	t.stats.Packets++

	k := makeKey(p)
	c := t.flows[k]
	if c != nil && c.isReuse(p) {
		t.stats.Reused++
		t.remove(c)
		c = nil
	}
	if c == nil {
		c = t.create(k, p)
	} else {
		t.touch(c)
	}
	isOrig := p.Src == c.orig.addr && p.SrcPort == c.orig.port
	if established := t.process(c, isOrig, p, ts); established {
		t.stats.Established++
		return Established{
			TS:   t.now,
			Orig: c.orig.addr, OrigPort: c.orig.port,
			Resp: c.resp.addr, RespPort: c.resp.port,
		}, true
	}
	return Established{}, false
}

// Expire fires every timer due at or before now and returns how many
// connections were removed. It does not move network time; use it while no
// packets arrive, and with a far-future now at the end of input (Zeek fires
// all pending timers at termination).
func (t *Tracker) Expire(now time.Time) int {
	return t.fire(now.UnixNano())
}

// fire runs the timers due at or before ns and returns how many connections
// they removed.
func (t *Tracker) fire(ns int64) int {
	removed := 0
	for t.timers.len() > 0 && t.timers.peek().due <= ns {
		c, kind := t.timers.pop()
		switch kind {
		case timerInactivity:
			if c.last+int64(t.cfg.TCPInactivity) <= ns {
				t.stats.Expired++
				t.remove(c)
				removed++
			} else {
				t.timers.schedule(c, timerInactivity, c.last+int64(t.cfg.TCPInactivity))
			}
		case timerAttempt:
			if (c.orig.state == StateSynSent || c.orig.state == StateSynAckSent) && c.resp.state == StateInactive {
				t.stats.Attempted++
				t.remove(c)
				removed++
			}
		case timerClose:
			t.stats.Closed++
			t.remove(c)
			removed++
		}
	}
	return removed
}

// create makes a connection for p's 5-tuple, choosing its direction the way
// Zeek's TCPAnalyzer::WantConnection does.
func (t *Tracker) create(k key, p *packet.Packet) *conn {
	if len(t.flows) >= t.cfg.MaxFlows && t.head != nil {
		t.stats.Evicted++
		t.remove(t.head)
	}
	var c *conn
	if n := len(t.free); n > 0 {
		c, t.free = t.free[n-1], t.free[:n-1]
	} else {
		c = new(conn)
	}
	*c = conn{key: k, timer: [numTimers]int32{noTimer, noTimer, noTimer}}
	c.orig = endpoint{addr: p.Src, port: p.SrcPort}
	c.resp = endpoint{addr: p.Dst, port: p.DstPort}
	syn, ack := p.Flags&packet.FlagSYN != 0, p.Flags&packet.FlagACK != 0
	if (!syn || ack) && t.likelyServerPort(p.SrcPort) {
		flip := true
		if t.likelyServerPort(p.DstPort) {
			flip = !syn && p.SrcPort < p.DstPort
		}
		if flip {
			c.orig, c.resp = c.resp, c.orig
		}
	}
	c.start, c.last = t.nowNs, p.TS.UnixNano()
	t.flows[k] = c
	t.stats.Created++
	t.pushBack(c)
	t.timers.schedule(c, timerInactivity, t.nowNs+int64(t.cfg.TCPInactivity))
	return c
}

// remove forgets c, cancels its timers and recycles it.
func (t *Tracker) remove(c *conn) {
	t.timers.cancelAll(c)
	t.unlink(c)
	delete(t.flows, c.key)
	*c = conn{}
	t.free = append(t.free, c)
}

func (t *Tracker) pushBack(c *conn) {
	c.prev, c.next = t.tail, nil
	if t.tail != nil {
		t.tail.next = c
	} else {
		t.head = c
	}
	t.tail = c
}

func (t *Tracker) unlink(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		t.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		t.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

// touch marks c as the most recently active connection.
func (t *Tracker) touch(c *conn) {
	if t.tail == c {
		return
	}
	t.unlink(c)
	t.pushBack(c)
}
