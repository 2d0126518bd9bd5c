package flow

import (
	"errors"
	"time"

	"github.com/google/gopacket/layers"

	"shoal/packet"
)

// histLimit is the history mask of 'X' (Zeek's HIST_UNKNOWN_PKT): an
// analysis limit was reached (tunnel depth, tunnel changes).
const histLimit uint32 = 0x400

// Bounds of the tunnel tables, so a flood of distinct tunnels cannot grow
// them without limit; beyond them the least recently used entry goes.
const (
	maxIPTunnels     = 1 << 16
	maxActiveTunnels = 1 << 16
	tunnelSweepEvery = int64(10 * time.Second) // Zeek's table_expire_interval
)

// TunnelAction is tunnel.log's action column (Tunnel::Action).
type TunnelAction uint8

// The tunnel actions.
const (
	TunnelDiscover TunnelAction = iota // a tunnel was first seen carrying a connection
	TunnelClose                        // the tunnel's outer UDP connection was removed
	TunnelExpire                       // no new connection used the tunnel for TunnelConfig.Expiration
)

// String returns Zeek's name, e.g. "Tunnel::DISCOVER".
func (a TunnelAction) String() string {
	switch a {
	case TunnelDiscover:
		return "Tunnel::DISCOVER"
	case TunnelClose:
		return "Tunnel::CLOSE"
	}
	return "Tunnel::EXPIRE"
}

// TunnelEvent is one tunnel.log row: a tunnel discovered, closed or
// expired at network time TS.
type TunnelEvent struct {
	TS     time.Time
	Action TunnelAction
	EncapConn
}

// ipPair keys an IP tunnel by its addresses in canonical order.
type ipPair struct{ a, b [16]byte }

type ipTunnel struct {
	ec   EncapConn
	last int64 // network time of its last packet, ns
}

// cidKey is a tunnel's conn_id as tunnel.log's active table keys it.
type cidKey struct {
	orig, resp         [16]byte
	origPort, respPort uint16
	proto              uint8
}

func cidOf(ec *EncapConn) cidKey {
	return cidKey{orig: ec.Orig.As16(), resp: ec.Resp.As16(), origPort: ec.OrigPort, respPort: ec.RespPort,
		proto: ec.Proto}
}

type activeTunnel struct {
	ec   EncapConn
	used int64 // when it last carried a new connection, ns
}

// tunnelState is the Tracker's decapsulation and tunnel-tracking state.
type tunnelState struct {
	cfg       TunnelConfig
	encap     Encap // the encapsulation of the packet being processed
	ip        map[ipPair]*ipTunnel
	active    map[cidKey]*activeTunnel
	decs      [MaxTunnelDepth]*packet.Decoder // one per depth: an inner reassembly must not clobber an outer one
	pkts      [MaxTunnelDepth]packet.Packet
	nextSweep int64
	free      []*connTunnel
	event     TunnelEvent
}

// TunnelStats count decapsulation.
type TunnelStats struct {
	Decapsulated uint64 // inner packets processed
	Weird        uint64 // tunnel packets not forwarded (truncated, unknown protocol, ...)
	Violations   uint64 // tunnel analyzer violations
	TooDeep      uint64 // packets not decapsulated: Tunnel::max_depth reached
	InnerNotIP   uint64 // inner frames without IP
	InnerBad     uint64 // inner frames that failed to decode
	Active       int    // tunnels in tunnel.log's active table now
	IPTunnels    int    // IP and GRE tunnels tracked now
}

// udpTunnel is the tunnel analyzer for UDP port p, if any.
func (ts *tunnelState) udpTunnel(port uint16) packet.TunnelType {
	for _, tp := range ts.cfg.UDPPorts {
		if tp.Port == port {
			return tp.Type
		}
	}
	return packet.TunnelNone
}

// forwardUDP decapsulates the payload of a UDP datagram of c when c's
// responder port belongs to a tunnel analyzer (or the payload looks like
// AYIYA), as Zeek's UDP analyzer forwards it.
func (t *Tracker) forwardUDP(c *Conn, p *packet.Packet) {
	ts := &t.tun
	typ := ts.udpTunnel(c.resp.port)
	if typ == packet.TunnelNone && packet.LooksLikeAYIYA(p.Payload) {
		typ = packet.TunnelAYIYA
	}
	if typ == packet.TunnelNone || c.violated&(1<<typ) != 0 {
		return
	}
	if typ == packet.TunnelGRE { // GRE over UDP: an IP tunnel between the UDP endpoints' addresses
		t.ipTunnel(p, packet.TunnelGRE, packet.DecapGRE(p.Payload))
		return
	}
	var d packet.Decap
	switch typ {
	case packet.TunnelVXLAN, packet.TunnelGeneve, packet.TunnelAYIYA:
		if ts.encap.n >= ts.cfg.MaxDepth {
			c.checkHistory(histLimit, 'X')
			t.stats.Tunnels.TooDeep++
			return
		}
		switch typ {
		case packet.TunnelVXLAN:
			d = packet.DecapVXLAN(p.Payload)
		case packet.TunnelGeneve:
			d = packet.DecapGeneve(p.Payload)
		default:
			d = packet.DecapAYIYA(p.Payload)
		}
	case packet.TunnelGTPv1:
		if ts.encap.n >= ts.cfg.MaxDepth {
			t.stats.Tunnels.TooDeep++
			return
		}
		d = packet.DecapGTPv1(p.Payload, ts.encap.n > 0 && ts.encap.last().Type == packet.TunnelGTPv1)
	default:
		return
	}
	if d.Violation != "" {
		c.violated |= 1 << typ
		t.stats.Tunnels.Violations++
		return
	}
	if d.Confirm {
		c.AddService(typ.Service())
	}
	if d.Inner == nil {
		if d.Weird != "" {
			t.stats.Tunnels.Weird++
		}
		return
	}
	ts.encap.push(EncapConn{Type: typ, Orig: c.orig.addr, OrigPort: c.orig.port, Resp: c.resp.addr,
		RespPort: c.resp.port, Proto: packet.ProtoUDP, UID: t.uid(c)})
	t.inner(p, d.Link, d.Inner)
	ts.encap.pop()
}

// ipTunnel decapsulates an IP-in-IP or GRE packet (Zeek's IPTunnel
// analyzer): the tunnel between the packet's addresses keeps one uid for
// as long as it is active.
func (t *Tracker) ipTunnel(p *packet.Packet, typ packet.TunnelType, d packet.Decap) {
	ts := &t.tun
	if d.Inner == nil {
		t.stats.Tunnels.Weird++
		return
	}
	if ts.encap.n >= ts.cfg.MaxDepth {
		t.stats.Tunnels.TooDeep++
		return
	}
	a, b := p.Src, p.Dst
	if b.Less(a) {
		a, b = b, a
	}
	k := ipPair{a.As16(), b.As16()}
	it := ts.ip[k]
	if it == nil {
		if ts.ip == nil {
			ts.ip = make(map[ipPair]*ipTunnel)
		}
		if len(ts.ip) >= maxIPTunnels {
			t.evictIPTunnel()
		}
		t.nextID++
		it = &ipTunnel{ec: EncapConn{Type: typ, Orig: p.Src, Resp: p.Dst, UID: makeUID(t.seed, t.nextID)}}
		ts.ip[k] = it
	}
	it.last = t.nowNs
	ts.encap.push(it.ec)
	t.inner(p, d.Link, d.Inner)
	ts.encap.pop()
}

func (t *Tracker) evictIPTunnel() {
	var oldest ipPair
	first := true
	for k, it := range t.tun.ip {
		if first || it.last < t.tun.ip[oldest].last {
			oldest, first = k, false
		}
	}
	delete(t.tun.ip, oldest)
}

// inner decodes and processes the frame a tunnel carries, at the depth
// the encapsulation stack now has. p is the outer packet.
func (t *Tracker) inner(p *packet.Packet, link layers.LinkType, data []byte) {
	ts := &t.tun
	depth := ts.encap.n - 1
	if ts.decs[depth] == nil {
		ts.decs[depth], _ = packet.NewDecoder(layers.LinkTypeRaw) // a supported link type: cannot fail
	}
	// The inner frame lost as many bytes to the capture as the outer one.
	wire := len(data) + max(0, p.IPLen-len(p.Raw))
	if link == packet.LinkTypeIEEE80211 {
		if w := packet.ForEachIEEE80211(data, func(etherType uint16, payload []byte) {
			switch etherType {
			case uint16(layers.EthernetTypeIPv4), uint16(layers.EthernetTypeIPv6):
				t.decodeInner(depth, p.TS, layers.LinkTypeRaw, payload, len(payload))
			default:
				t.stats.Tunnels.InnerNotIP++
			}
		}); w != "" {
			t.stats.Tunnels.Weird++
		}
		return
	}
	t.decodeInner(depth, p.TS, link, data, wire)
}

func (t *Tracker) decodeInner(depth int, ts time.Time, link layers.LinkType, data []byte, wire int) {
	in := &t.tun.pkts[depth]
	switch err := t.tun.decs[depth].DecodeLink(link, data, wire, ts, in); {
	case err == nil:
		t.stats.Tunnels.Decapsulated++
		t.process(in)
	case isNotIP(err):
		t.stats.Tunnels.InnerNotIP++
	case isFragment(err):
	default:
		t.stats.Tunnels.InnerBad++
	}
	*in = packet.Packet{}
}

// checkEncap is Zeek's Connection::CheckEncapsulation for a packet of an
// existing connection: a different encapsulation than the connection's
// raises tunnel_changed (a new tunnel parent, tunnels registered) up to
// TunnelConfig.MaxChanges times; beyond that the history gets 'X'.
func (t *Tracker) checkEncap(c *Conn) {
	cur := &t.tun.encap
	if c.tun == nil {
		if cur.n == 0 {
			return
		}
		c.tun = t.newConnTunnel()
	}
	if c.tun.encap.n == 0 && cur.n == 0 || c.tun.encap.equal(cur) {
		return
	}
	if max := t.tun.cfg.MaxChanges; max < 0 || c.tun.changes < max {
		c.tun.changes++
		if cur.n > 0 {
			c.tun.addParent(cur.last().UID)
			t.registerTunnels(cur)
		}
	} else {
		c.checkHistory(histLimit, 'X')
	}
	c.tun.encap = *cur
}

// newConnEncap records the encapsulation of a new connection: Zeek's
// set_conn adds the innermost tunnel as a parent and the tunnels framework
// registers every tunnel of the stack.
func (t *Tracker) newConnEncap(c *Conn) {
	cur := &t.tun.encap
	if cur.n == 0 {
		return
	}
	c.tun = t.newConnTunnel()
	c.tun.encap = *cur
	c.tun.addParent(cur.last().UID)
	t.registerTunnels(cur)
}

func (t *Tracker) newConnTunnel() *connTunnel {
	if n := len(t.tun.free); n > 0 {
		ct := t.tun.free[n-1]
		t.tun.free = t.tun.free[:n-1]
		return ct
	}
	return &connTunnel{}
}

func (t *Tracker) releaseConnTunnel(ct *connTunnel) {
	parents := ct.parents[:0]
	*ct = connTunnel{parents: parents}
	if len(t.tun.free) < 1024 {
		t.tun.free = append(t.tun.free, ct)
	}
}

// registerTunnels is Tunnel::register_all: a tunnel not in the active
// table is logged as discovered; one whose conn_id is a live connection
// (a UDP-based tunnel) is logged as closed when that connection goes.
func (t *Tracker) registerTunnels(s *Encap) {
	ts := &t.tun
	for i := range s.n {
		ec := &s.e[i]
		k := cidOf(ec)
		if at := ts.active[k]; at != nil {
			at.used = t.nowNs
			continue
		}
		if ts.active == nil {
			ts.active = make(map[cidKey]*activeTunnel)
		}
		if len(ts.active) >= maxActiveTunnels {
			t.expireOldestTunnel()
		}
		ts.active[k] = &activeTunnel{ec: *ec, used: t.nowNs}
		if ec.Proto == packet.ProtoUDP {
			key := makeKey(ec.Orig, ec.OrigPort, ec.Resp, ec.RespPort, packet.ProtoUDP, false)
			if c, _ := t.lookup(&key); c != nil {
				c.tunnelHook = true
			}
		}
		t.tunnelEvent(TunnelDiscover, ec)
	}
}

func (t *Tracker) tunnelEvent(a TunnelAction, ec *EncapConn) {
	if h := t.cfg.Handler.Tunnel; h != nil {
		t.tun.event = TunnelEvent{TS: t.now, Action: a, EncapConn: *ec}
		h(&t.tun.event)
	}
}

// closeTunnel is Tunnel::finalize_tunnel, the removal hook of a
// connection that is a tunnel: CLOSE if the tunnel is still active.
func (t *Tracker) closeTunnel(c *Conn) {
	ec := EncapConn{Orig: c.orig.addr, OrigPort: c.orig.port, Resp: c.resp.addr, RespPort: c.resp.port,
		Proto: packet.ProtoUDP}
	k := cidOf(&ec)
	if at := t.tun.active[k]; at != nil {
		delete(t.tun.active, k)
		t.tunnelEvent(TunnelClose, &at.ec)
	}
}

func (t *Tracker) expireOldestTunnel() {
	var oldest cidKey
	var at *activeTunnel
	for k, x := range t.tun.active {
		if at == nil || x.used < at.used {
			oldest, at = k, x
		}
	}
	if at != nil {
		delete(t.tun.active, oldest)
		t.tunnelEvent(TunnelExpire, &at.ec)
	}
}

// sweepTunnels expires idle tunnels, every tunnelSweepEvery of network time
// as Zeek's table expiration does: tunnel.log entries idle for
// Expiration (EXPIRE rows) and IP tunnels idle for IPTunnelTimeout; and
// the expected connections past their time.
func (t *Tracker) sweepTunnels(ns int64) {
	ts := &t.tun
	if ns < ts.nextSweep || len(ts.active)+len(ts.ip)+len(t.expect) == 0 {
		return
	}
	ts.nextSweep = ns + tunnelSweepEvery
	t.expireExpected(ns)
	for k, at := range ts.active {
		if ns-at.used >= int64(ts.cfg.Expiration) {
			delete(ts.active, k)
			t.tunnelEvent(TunnelExpire, &at.ec)
		}
	}
	for k, it := range ts.ip {
		if ns-it.last >= int64(ts.cfg.IPTunnelTimeout) {
			delete(ts.ip, k)
		}
	}
}

// uid returns c's uid.
func (t *Tracker) uid(c *Conn) UID { return makeUID(t.seed, c.id) }

func isNotIP(err error) bool    { return errors.Is(err, packet.ErrNotIP) }
func isFragment(err error) bool { return errors.Is(err, packet.ErrFragment) }
