package flow

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"shoal/packet"
)

// Defaults, from Zeek's scripts/base/init-bare.zeek.
const (
	DefaultTCPInactivity  = 5 * time.Minute // tcp_inactivity_timeout
	DefaultUDPInactivity  = time.Minute     // udp_inactivity_timeout
	DefaultICMPInactivity = time.Minute     // icmp_inactivity_timeout
	DefaultAttemptDelay   = 5 * time.Second // tcp_attempt_delay
	DefaultCloseDelay     = 5 * time.Second // tcp_close_delay
	DefaultMaxFlows       = 1 << 20
)

// ErrBadConfig is wrapped by Config.Validate.
var ErrBadConfig = errors.New("flow: bad config")

// Handler receives the Tracker's events. Each func is optional and is called
// synchronously, on the goroutine that called Packet, Expire, Flush or
// Finish; it must not block and must not call back into the Tracker. The
// pointers it gets are valid only during the call: copy the value to keep
// it (copying does not allocate).
type Handler struct {
	// NewConn is called for a new connection before its first packet is
	// processed. It may set c.Analyzer.
	NewConn func(c *Conn)
	// Established is Zeek's connection_established with both endpoints
	// ESTABLISHED (also returned by Packet).
	Established func(ev *Established)
	// Attempt is connection_attempt (from the attempt timer) or
	// connection_rejected (at the RST), see AttemptKind.
	Attempt func(ev *Attempt)
	// Removed is connection_state_remove: the connection's conn.log record.
	Removed func(r *Record)
	// Tunnel is a tunnel.log row: a tunnel discovered, closed or expired.
	Tunnel func(ev *TunnelEvent)
}

// Config configures a Tracker. Zero fields take the defaults.
type Config struct {
	// TCPInactivity removes a TCP connection with no packet for this long,
	// once an endpoint has left the handshake states (Zeek's
	// tcp_inactivity_timeout). Default 5 min.
	TCPInactivity time.Duration
	// TCPInitialInactivity is the inactivity timeout of a TCP connection
	// before that (Zeek's TCP analyzer starts connections with
	// udp_inactivity_timeout). Default: the smaller of UDPInactivity and
	// TCPInactivity.
	TCPInitialInactivity time.Duration
	// UDPInactivity and ICMPInactivity remove a UDP or ICMP flow with no
	// packet for this long (udp_inactivity_timeout, icmp_inactivity_timeout).
	// Default 1 min each.
	UDPInactivity  time.Duration
	ICMPInactivity time.Duration
	// AttemptDelay is how long after the originator's SYN a connection whose
	// responder stayed silent is reported (Handler.Attempt) and removed
	// (tcp_attempt_delay). Default 5 s.
	AttemptDelay time.Duration
	// CloseDelay is how long after a complete close (FIN from both sides, a
	// RST, or a FIN with a silent peer) a connection is removed
	// (tcp_close_delay). Default 5 s.
	CloseDelay time.Duration
	// MaxFlows caps the tracked connections; creating one more evicts the
	// least recently active connection (counted in Stats.Evicted, reported
	// through Handler.Removed). Each flow costs about 550 bytes. Default 1<<20.
	MaxFlows int
	// ServerPorts are the TCP ports Zeek considers likely server ports
	// (those of the loaded protocol analyzers). They only decide the
	// direction of a connection whose first packet is not a pure SYN. nil
	// means DefaultTCPServerPorts (Zeek with its default scripts); an empty
	// non-nil slice means none (Zeek with only the known-hosts policy).
	ServerPorts []uint16
	// UDPServerPorts are the UDP likely server ports: a flow whose first
	// datagram comes from one of them to a port that is not one is
	// reversed. nil means DefaultUDPServerPorts; empty non-nil means none.
	UDPServerPorts []uint16
	// Tunnel configures decapsulation (Zeek's defaults when zero).
	Tunnel TunnelConfig
	// Checksums makes the Tracker validate checksums as Zeek does without
	// -C: a packet with a bad IPv4 header checksum is dropped, one with a
	// bad TCP or UDP checksum only marks its connection's history with
	// 'C' or 'c', one with a bad ICMP checksum is ignored. Off by default
	// (Zeek's -C), since captures of a host's own traffic carry checksums
	// the NIC fills in later.
	Checksums bool
	// UIDSeed seeds the connections' uids; 0 picks a random seed.
	UIDSeed uint64
	// Handler receives the events.
	Handler Handler
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		TCPInactivity:        DefaultTCPInactivity,
		TCPInitialInactivity: min(DefaultUDPInactivity, DefaultTCPInactivity),
		UDPInactivity:        DefaultUDPInactivity,
		ICMPInactivity:       DefaultICMPInactivity,
		AttemptDelay:         DefaultAttemptDelay,
		CloseDelay:           DefaultCloseDelay,
		MaxFlows:             DefaultMaxFlows,
		ServerPorts:          DefaultTCPServerPorts(),
		UDPServerPorts:       DefaultUDPServerPorts(),
	}
}

// Validate reports negative durations or a negative MaxFlows.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"TCPInactivity", c.TCPInactivity}, {"TCPInitialInactivity", c.TCPInitialInactivity},
		{"UDPInactivity", c.UDPInactivity}, {"ICMPInactivity", c.ICMPInactivity},
		{"AttemptDelay", c.AttemptDelay}, {"CloseDelay", c.CloseDelay},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%w: %s %v is negative", ErrBadConfig, d.name, d.v))
		}
	}
	if c.MaxFlows < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxFlows %d is negative", ErrBadConfig, c.MaxFlows))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	d.TCPInactivity = pick(c.TCPInactivity, d.TCPInactivity)
	d.UDPInactivity = pick(c.UDPInactivity, d.UDPInactivity)
	d.ICMPInactivity = pick(c.ICMPInactivity, d.ICMPInactivity)
	d.TCPInitialInactivity = pick(c.TCPInitialInactivity, min(d.UDPInactivity, d.TCPInactivity))
	d.AttemptDelay = pick(c.AttemptDelay, d.AttemptDelay)
	d.CloseDelay = pick(c.CloseDelay, d.CloseDelay)
	if c.MaxFlows > 0 {
		d.MaxFlows = c.MaxFlows
	}
	if c.ServerPorts != nil {
		d.ServerPorts = c.ServerPorts
	}
	if c.UDPServerPorts != nil {
		d.UDPServerPorts = c.UDPServerPorts
	}
	d.Handler = c.Handler
	d.Tunnel = c.Tunnel.withDefaults()
	d.Checksums = c.Checksums
	d.UIDSeed = c.UIDSeed
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

// ProtoStats are the counters of one protocol other than TCP.
type ProtoStats struct {
	Flows   int    // flows tracked now
	Created uint64 // flows created
	Expired uint64 // removed by the inactivity timeout
	Packets uint64 // packets processed
}

// Stats are a Tracker's counters. The top-level connection counters are for
// TCP; UDP and ICMP (ICMPv6 included) have their own. Flows are gauges; the
// rest only grow.
type Stats struct {
	Flows       int    // TCP connections tracked now
	Created     uint64 // TCP connections created
	Established uint64 // Established events
	Expired     uint64 // TCP connections removed by the inactivity timeout
	Attempted   uint64 // removed by the attempt timer (unanswered SYN)
	Rejected    uint64 // connection_rejected events
	Closed      uint64 // removed CloseDelay after closing
	Reused      uint64 // replaced by a new connection on the same 5-tuple (Zeek's IsReuse)
	Evicted     uint64 // flows of any protocol removed to respect MaxFlows
	Finished    uint64 // flows of any protocol removed by Finish
	Packets     uint64 // TCP packets processed
	Ignored     uint64 // packets other than TCP (UDP and ICMP ones are tracked and counted below too)
	Other       uint64 // packets of IP protocols other than TCP, UDP, ICMP and ICMPv6 (time only)
	UDP, ICMP   ProtoStats
	// BadChecksums counts packets dropped for a bad IPv4 header checksum
	// and packets not analyzed for a bad transport checksum (Config.Checksums).
	BadChecksums uint64
	// ExpectedDropped counts expectations (Expect) refused because the
	// table was full.
	ExpectedDropped uint64
	Tunnels         TunnelStats
	// Timers are the timer entries queued now, stale ones (of cancelled
	// timers and removed connections) included; at most twice the pending
	// timers plus 4096. TimerCompactions counts the times the stale ones
	// were dropped at once to keep that bound.
	Timers           int
	TimerCompactions uint64
}

// key identifies a connection in either direction: the (address, port)
// pairs in canonical order (one-way ICMP messages: in sending order).
// It has no padding, so it compares as plain memory.
type key struct {
	a, b  [16]byte
	ports uint32 // port of a << 16 | port of b
	proto uint32
}

func makeKey(src netip.Addr, sport uint16, dst netip.Addr, dport uint16, proto uint8, oneWay bool) key {
	s, d := src.As16(), dst.As16()
	if !oneWay && less(d, dport, s, sport) {
		return key{a: d, b: s, ports: uint32(dport)<<16 | uint32(sport), proto: uint32(proto)}
	}
	return key{a: s, b: d, ports: uint32(sport)<<16 | uint32(dport), proto: uint32(proto)}
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

// Tracker tracks TCP, UDP and ICMP connections over one packet stream, as
// Zeek's session manager does. It is not safe for concurrent use.
type Tracker struct {
	cfg         Config
	serverPorts portSet // TCP
	udpPorts    portSet

	flows  flowTable
	free   []*Conn
	head   *Conn // least recently active
	tail   *Conn // most recently active
	timers timerHeap
	nextID uint64

	now   time.Time // network time
	nowNs int64
	stats Stats

	// Event values handed to the Handler, reused so events do not allocate.
	established Established
	attempt     Attempt
	record      Record

	finishScratch []timer // attempt timers sorted by Finish, reused
	lastConn      *Conn   // the connection of the previous lookup

	seed   uint64 // of the uids
	tun    tunnelState
	expect map[expectKey]expected // Expect
	estSet bool                   // the current packet completed a handshake (t.established)
}

// NewTracker returns an empty Tracker. Zero Config fields take their defaults
// and negative ones too (see Config.Validate to reject them).
func NewTracker(cfg Config) *Tracker {
	cfg = cfg.withDefaults()
	t := &Tracker{cfg: cfg, flows: newFlowTable(min(cfg.MaxFlows, 1<<12)), nowNs: math.MinInt64,
		seed: cfg.UIDSeed, tun: tunnelState{cfg: cfg.Tunnel}}
	if t.seed == 0 {
		t.seed = rand.Uint64() | 1
	}
	t.serverPorts.add(cfg.ServerPorts)
	t.udpPorts.add(cfg.UDPServerPorts)
	return t
}

// Now returns network time: the latest packet timestamp seen, or the latest
// time given to Flush (zero before either).
func (t *Tracker) Now() time.Time { return t.now }

// Stats returns a copy of the counters.
func (t *Tracker) Stats() Stats {
	st := t.stats
	st.Tunnels.Active, st.Tunnels.IPTunnels = len(t.tun.active), len(t.tun.ip)
	st.Timers, st.TimerCompactions = t.timers.entries, t.timers.compactions
	return st
}

// advance moves network time forward to ts (never backwards).
func (t *Tracker) advance(ts time.Time) {
	if ns := ts.UnixNano(); ns > t.nowNs {
		t.now, t.nowNs = ts, ns
	}
}

// Packet processes one decoded packet. It first advances network time to
// max(network time, p.TS) and fires the timers due by then, then updates
// the packet's connection (TCP, UDP, ICMP and ICMPv6; other protocols only
// move time) and decapsulates what the packet tunnels (IP-in-IP, GRE,
// and the UDP tunnels of TunnelConfig), processing each inner packet the
// same way. It returns an Established event, and true, when p (or a packet
// it carries) completes a TCP handshake. p is not retained; p.Payload is
// passed to the connections' Analyzers only during the call.
func (t *Tracker) Packet(p *packet.Packet) (Established, bool) {
	t.advance(p.TS)
	t.fire(t.nowNs)
	t.estSet = false
	t.process(p)
	if !t.estSet {
		return Established{}, false
	}
	return t.established, true
}

// lookup finds the connection of k and returns it (nil if none) and k's
// hash in t.flows. Packets of one connection tend to come in bursts, so the
// last connection found is checked before the table.
func (t *Tracker) lookup(k *key) (*Conn, uint64) {
	if c := t.lastConn; c != nil && c.key == *k {
		return c, c.hash
	}
	h := t.flows.hash(k)
	c := t.flows.get(k, h)
	if c != nil {
		t.lastConn = c
	}
	return c, h
}

// analyze hands the packet to the connection's analyzer, if any.
func (t *Tracker) analyze(c *Conn, fromOrig bool, p *packet.Packet) {
	if c.Analyzer != nil {
		c.Analyzer.Packet(c, fromOrig, p)
		if d := c.wantInactivity; d != 0 {
			c.wantInactivity = 0
			t.setInactivityTimeout(c, d)
		}
	}
}

// isBroadcast is IPAddr::IsBroadcast: 255.255.255.255.
func isBroadcast(a netip.Addr) bool {
	return a.Is4() && a.As4() == [4]byte{255, 255, 255, 255}
}

// Expire fires every timer due at or before now and returns how many
// connections were removed. It does not move network time: events it raises
// carry the current network time.
func (t *Tracker) Expire(now time.Time) int {
	return t.fire(now.UnixNano())
}

// Flush advances network time to now (never backwards) and fires the timers
// due by then, as the arrival of a packet at now would. Use it to let time
// pass on an idle live input. It returns how many connections were removed.
func (t *Tracker) Flush(now time.Time) int {
	t.advance(now)
	return t.fire(t.nowNs)
}

// Finish ends the input as Zeek does at termination: the pending timers are
// dispatched in due order without moving network time (of them only the
// attempt timer acts: an unanswered SYN is reported through
// Handler.Attempt), then every remaining connection is removed, least
// recently active first, each reported through Handler.Removed. It returns
// how many connections were removed. The Tracker can be used again
// afterwards.
func (t *Tracker) Finish() int {
	// Only attempt timers act at termination: take them out in due order and
	// drop the rest of the heap at once instead of popping it entry by entry.
	due := t.finishScratch[:0]
	t.timers.each(timerAttempt, func(e *timer) { due = append(due, *e) })
	t.timers.clear()
	slices.SortFunc(due, func(a, b timer) int {
		if a.due != b.due {
			return cmp.Compare(a.due, b.due)
		}
		return cmp.Compare(a.seq, b.seq)
	})
	removed := 0
	for i := range due {
		if t.attemptTimer(due[i].c) {
			removed++
		}
		due[i] = timer{}
	}
	t.finishScratch = due[:0]
	// Every connection goes: release them without deleting each from the
	// map, then empty the map at once (which also drops its tombstones).
	for t.head != nil {
		t.stats.Finished++
		t.release(t.head, RemovedFinished)
		removed++
	}
	t.flows.clear()
	clear(t.tun.active) // Zeek does not expire its tables at termination
	clear(t.tun.ip)
	clear(t.expect)
	return removed
}

// fire runs the timers due at or before ns and returns how many connections
// they removed; idle tunnels expire too.
func (t *Tracker) fire(ns int64) int {
	t.sweepTunnels(ns)
	removed := 0
	for e := t.timers.next(ns); e != nil; e = t.timers.next(ns) {
		c, kind := t.timers.pop(e)
		switch kind {
		case timerInactivity:
			if due := c.last + c.inactivity; due <= ns {
				t.remove(c, RemovedInactive)
				removed++
			} else {
				t.timers.schedule(c, timerInactivity, due)
			}
		case timerAttempt:
			if t.attemptTimer(c) {
				removed++
			}
		case timerClose:
			t.remove(c, RemovedClosed)
			removed++
		}
	}
	return removed
}

// attemptTimer is TCPSessionAdapter::AttemptTimer: a connection whose
// responder is still silent is reported and removed. It reports whether c
// was removed.
func (t *Tracker) attemptTimer(c *Conn) bool {
	if (c.orig.state != StateSynSent && c.orig.state != StateSynAckSent) || c.resp.state != StateInactive {
		return false
	}
	t.stats.Attempted++
	if h := t.cfg.Handler.Attempt; h != nil {
		c.fillAttempt(&t.attempt, AttemptUnanswered, t.now)
		h(&t.attempt)
	}
	t.remove(c, RemovedAttempt)
	return true
}

// setInactivityTimeout is Connection::SetInactivityTimeout.
func (t *Tracker) setInactivityTimeout(c *Conn, timeout int64) {
	if timeout == c.inactivity {
		return
	}
	if timeout > c.inactivity && c.inactivity > 0 && t.timers.pending(c, timerInactivity) {
		// A longer timeout: the pending timer fires early, finds the
		// connection not yet idle long enough and reschedules itself at
		// last + timeout, which removes it at the same time Zeek would.
		c.inactivity = timeout
		return
	}
	if timeout > 0 {
		t.timers.schedule(c, timerInactivity, c.last+timeout) // replaces a pending one
	} else {
		t.timers.cancel(c, timerInactivity)
	}
	c.inactivity = timeout
}

// create makes a connection for p with the given ports (sender first),
// reversed when flip is set; k hashes to h.
func (t *Tracker) create(k key, h uint64, p *packet.Packet, sport, dport uint16, flip bool, inactivity int64) *Conn {
	if t.flows.len() >= t.cfg.MaxFlows && t.head != nil {
		t.stats.Evicted++
		t.remove(t.head, RemovedEvicted)
	}
	var c *Conn
	if n := len(t.free); n > 0 {
		c, t.free = t.free[n-1], t.free[:n-1]
	} else {
		c = new(Conn)
	}
	t.nextID++
	*c = Conn{key: k, hash: h, id: t.nextID, proto: p.Proto}
	c.orig = newEndpoint(p.Src, sport)
	c.resp = newEndpoint(p.Dst, dport)
	if flip {
		c.flipRoles()
	}
	t.applyExpected(c)
	c.startTS = p.TS
	c.start = p.TS.UnixNano()
	c.last = c.start
	t.flows.put(c, c.hash)
	t.protoStats(c.proto, 1)
	t.pushBack(c)
	t.setInactivityTimeout(c, inactivity)
	t.newConnEncap(c)
	if h := t.cfg.Handler.NewConn; h != nil {
		h(c)
	}
	return c
}

// protoStats counts a flow created (delta 1) or removed (delta -1).
func (t *Tracker) protoStats(proto uint8, delta int) {
	switch proto {
	case packet.ProtoTCP:
		t.stats.Flows += delta
		if delta > 0 {
			t.stats.Created++
		}
	case packet.ProtoUDP:
		t.stats.UDP.Flows += delta
		if delta > 0 {
			t.stats.UDP.Created++
		}
	default:
		t.stats.ICMP.Flows += delta
		if delta > 0 {
			t.stats.ICMP.Created++
		}
	}
}

// remove ends c: its analyzer is told, its record reported, its timers
// cancelled, and the Conn recycled.
func (t *Tracker) remove(c *Conn, reason RemoveReason) {
	t.flows.del(c, c.hash)
	t.release(c, reason)
}

// release is remove without deleting c from t.flows.
func (t *Tracker) release(c *Conn, reason RemoveReason) {
	switch reason {
	case RemovedInactive:
		switch c.proto {
		case packet.ProtoTCP:
			t.stats.Expired++
		case packet.ProtoUDP:
			t.stats.UDP.Expired++
		default:
			t.stats.ICMP.Expired++
		}
	case RemovedClosed:
		t.stats.Closed++
	case RemovedReused:
		t.stats.Reused++
	}
	if c.Analyzer != nil {
		c.Analyzer.Done(c)
	}
	if h := t.cfg.Handler.Removed; h != nil {
		c.fillRecord(&t.record, reason)
		t.record.UID = t.uid(c)
		h(&t.record)
	}
	if c.tunnelHook {
		t.closeTunnel(c)
	}
	if c.tun != nil {
		t.releaseConnTunnel(c.tun)
	}
	t.timers.cancelAll(c)
	t.unlink(c)
	if t.lastConn == c {
		t.lastConn = nil
	}
	t.protoStats(c.proto, -1)
	c.Analyzer, c.services, c.tun = nil, Services{}, nil // create overwrites the rest
	t.free = append(t.free, c)
}

func (t *Tracker) pushBack(c *Conn) {
	c.prev, c.next = t.tail, nil
	if t.tail != nil {
		t.tail.next = c
	} else {
		t.head = c
	}
	t.tail = c
}

func (t *Tracker) unlink(c *Conn) {
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
func (t *Tracker) touch(c *Conn) {
	if t.tail == c {
		return
	}
	t.unlink(c)
	t.pushBack(c)
}
