package flow

import (
	"net/netip"
	"strings"
	"time"

	"shoal/packet"
)

// Analyzer is a payload analyzer attached to one connection (Config's
// Handler.NewConn sets Conn.Analyzer). The Tracker calls it from the
// goroutine that calls Tracker.Packet, never concurrently; it must not call
// back into the Tracker.
type Analyzer interface {
	// Packet is called for every packet of the connection after the
	// connection's state was updated. fromOrig tells whether the sender is
	// the originator (after any direction flip this packet caused).
	// p.Payload is valid only during the call.
	Packet(c *Conn, fromOrig bool, p *packet.Packet)
	// Done is called once when the connection is removed, before its
	// Removed record is built, so the analyzer can still add services.
	Done(c *Conn)
}

// MaxServices is how many service names a connection can carry.
const MaxServices = 4

// Services is the set of service names identified on a connection (the
// service column of conn.log, which Zeek lower-cases and joins with ",").
// It is a fixed-size value: copying it does not allocate.
type Services struct {
	n     uint8
	names [MaxServices]string
}

// Add adds name unless it is empty, already present or the set is full, and
// reports whether it was added.
func (s *Services) Add(name string) bool {
	if name == "" || s.Has(name) || int(s.n) == len(s.names) {
		return false
	}
	s.names[s.n] = name
	s.n++
	return true
}

// Has reports whether name is in the set.
func (s *Services) Has(name string) bool {
	for _, n := range s.names[:s.n] {
		if n == name {
			return true
		}
	}
	return false
}

// Len returns the number of names.
func (s Services) Len() int { return int(s.n) }

// At returns the i-th name, in the order they were added.
func (s Services) At(i int) string { return s.names[:s.n][i] }

// String joins the names with "," in the order they were added ("" when
// empty). It allocates.
func (s Services) String() string { return strings.Join(s.names[:s.n], ",") }

// endpoint is one side of a connection: Zeek's TCP_Endpoint for TCP (state
// and sequence-space tracking), the request/reply length for UDP and ICMP,
// and the ConnSize counters for all.
type endpoint struct {
	addr      netip.Addr
	port      uint16
	state     State
	prevState State
	didClose  bool
	active    bool   // UDP/ICMP: a packet was seen (UDP_ACTIVE / ICMP_ACTIVE)
	size      uint64 // UDP/ICMP: payload bytes

	startSeq, lastSeq, ackSeq uint32
	seqWraps, ackWraps        uint32
	finCnt                    uint32

	histLastSYN, histLastFIN, histLastRST uint64
	rxmtCnt, rxmtThresh                   uint32
	win0Cnt, win0Thresh                   uint32
	chkCnt, chkThresh                     uint32 // bad checksums ('C')
	finSeq                                uint64 // relative sequence number after the FIN (FIN_seq)
	reasm                                 reasm  // content gaps

	pkts, ipBytes uint64 // ConnSize analyzer
}

func newEndpoint(addr netip.Addr, port uint16) endpoint {
	return endpoint{addr: addr, port: port, rxmtThresh: 1, win0Thresh: 1, chkThresh: 1}
}

// Conn is one tracked connection. A *Conn is handed to Handler.NewConn and
// to Analyzer methods; it is only valid until the connection is removed
// (Conns are recycled), and only on the goroutine that drives the Tracker.
type Conn struct {
	// Analyzer, when set (by Handler.NewConn), sees every packet of the
	// connection and is told when the connection ends.
	Analyzer Analyzer

	key        key
	hash       uint64 // key's hash in Tracker.flows
	id         uint64
	proto      uint8
	orig, resp endpoint
	startTS    time.Time // timestamp of the first packet
	start      int64     // same, ns
	last       int64     // timestamp of the last packet (TCP: while not both closed), ns
	inactivity int64     // current inactivity timeout, ns
	// wantInactivity is a timeout an analyzer asked for during its Packet
	// call (SetInactivityTimeout); the tracker applies it afterwards.
	wantInactivity int64
	histSeen       uint32
	hist           History
	services       Services
	timerSeq       [numTimers]uint64 // seq of the pending timer of each kind, 0 for none
	prev, next     *Conn             // activity list, least recent first
	// tun is the tunnel state of a connection seen inside a tunnel (nil
	// otherwise); violated has bit 1<<TunnelType set for each tunnel
	// analyzer that found a protocol violation on this (outer) connection;
	// tunnelHook is set when the connection is a registered tunnel whose
	// removal logs Tunnel::CLOSE.
	tun        *connTunnel
	violated   uint16
	tunnelHook bool
	// partial is Zeek's TCPSessionAdapter::is_partial (the first packet of
	// a side was not what a handshake sends); firstSeen has bit 1 (orig)
	// and 2 (resp) once a side's first packet was seen; missed counts the
	// bytes of content gaps; ooo holds data received beyond a hole.
	partial   bool
	firstSeen uint8
	missed    uint64
	ooo       *ooo
}

// conn is the name the package uses internally.
type conn = Conn

// ID returns the connection's number: 1 for the first connection a Tracker
// created, then counting up (IP tunnels take numbers too). Its uid
// (Record.UID) is derived from it.
func (c *Conn) ID() uint64 { return c.id }

// Orig returns the originator's address and port (for ICMP the port is the
// message type).
func (c *Conn) Orig() (netip.Addr, uint16) { return c.orig.addr, c.orig.port }

// Resp returns the responder's address and port (for ICMP the port is the
// counterpart type, or the code of a one-way message).
func (c *Conn) Resp() (netip.Addr, uint16) { return c.resp.addr, c.resp.port }

// Proto returns the IP protocol: packet.ProtoTCP, ProtoUDP, ProtoICMP or
// ProtoICMPv6.
func (c *Conn) Proto() uint8 { return c.proto }

// Start returns the timestamp of the connection's first packet.
func (c *Conn) Start() time.Time { return c.startTS }

// History returns a copy of the history so far.
func (c *Conn) History() History { return c.hist }

// TCPState returns the TCP state of the originator (orig true) or the
// responder; StateInactive for other protocols.
func (c *Conn) TCPState(orig bool) State {
	if orig {
		return c.orig.state
	}
	return c.resp.state
}

// Active reports whether the originator (orig true) or the responder has
// sent anything: for TCP a state other than TCP_INACTIVE, for UDP and ICMP
// Zeek's UDP_ACTIVE / ICMP_ACTIVE.
func (c *Conn) Active(orig bool) bool {
	e := &c.resp
	if orig {
		e = &c.orig
	}
	if c.proto == packet.ProtoTCP {
		return e.state != StateInactive
	}
	return e.active
}

// SetInactivityTimeout asks for a different inactivity timeout for this
// connection, as a protocol analyzer does in Zeek (the DNS analyzer sets
// dns_session_timeout). Call it from Analyzer.Packet; the tracker applies
// it when the call returns. d must be positive.
func (c *Conn) SetInactivityTimeout(d time.Duration) {
	if d > 0 {
		c.wantInactivity = int64(d)
	}
}

// AddService adds a service name (see Services.Add) and reports whether it
// was new.
func (c *Conn) AddService(name string) bool { return c.services.Add(name) }

// Services returns a copy of the service names so far.
func (c *Conn) Services() Services { return c.services }

func (c *Conn) closed() bool { return c.orig.didClose || c.resp.didClose }

// badChecksum is a packet of c with a bad transport checksum, which Zeek
// does not analyze further: 'C' (originator) or 'c' in the history at the
// 1st, 10th, 100th ... occurrence.
func (c *Conn) badChecksum(isOrig bool) {
	e := &c.resp
	if isOrig {
		e = &c.orig
	}
	c.scaledHistory(isOrig, 'C', &e.chkCnt, &e.chkThresh)
}

// flipRoles swaps originator and responder (Connection::FlipRoles).
func (c *Conn) flipRoles() {
	c.orig, c.resp = c.resp, c.orig
	c.hist.add('^')
}
