package flow_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"shoal/flow"
	"shoal/packet"
)

var tunTS = time.Unix(1700000000, 0)

// frame serializes layers, fixing lengths and checksums.
func frame(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		if x, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for i := len(ls) - 1; i >= 0; i-- { // the nearest IP layer before it
				if nl, ok := ls[i].(gopacket.NetworkLayer); ok && i < indexOf(ls, l) {
					_ = x.SetNetworkLayerForChecksum(nl)
					break
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func indexOf(ls []gopacket.SerializableLayer, l gopacket.SerializableLayer) int {
	for i, x := range ls {
		if x == l {
			return i
		}
	}
	return -1
}

func v4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func v6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

func ethernet(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: et}
}

// tunRun feeds Ethernet frames (one per 10 ms) through a tracker and
// collects its records and tunnel events.
type tunRun struct {
	t       *testing.T
	tr      *flow.Tracker
	dec     *packet.Decoder
	recs    []flow.Record
	parents [][]flow.UID
	events  []flow.TunnelEvent
	est     int
	now     time.Time
}

func newTunRun(t *testing.T, cfg flow.Config) *tunRun {
	r := &tunRun{t: t, now: tunTS}
	cfg.Handler = flow.Handler{
		Removed: func(rec *flow.Record) {
			r.recs = append(r.recs, *rec)
			r.parents = append(r.parents, append([]flow.UID(nil), rec.TunnelParents...))
		},
		Tunnel:      func(ev *flow.TunnelEvent) { r.events = append(r.events, *ev) },
		Established: func(*flow.Established) { r.est++ },
	}
	r.tr = flow.NewTracker(cfg)
	r.dec, _ = packet.NewDecoder(layers.LinkTypeEthernet)
	return r
}

func (r *tunRun) feed(frames ...[]byte) {
	for _, f := range frames {
		var p packet.Packet
		if err := r.dec.Decode(f, r.now, &p); err != nil {
			r.t.Fatalf("decode: %v", err)
		}
		r.tr.Packet(&p)
		r.now = r.now.Add(10 * time.Millisecond)
	}
}

// record returns the record of the connection with the given responder
// port and its tunnel parents.
func (r *tunRun) record(port uint16) (flow.Record, []flow.UID) {
	r.t.Helper()
	for i, rec := range r.recs {
		if rec.RespPort == port {
			return rec, r.parents[i]
		}
	}
	r.t.Fatalf("no record for responder port %d in %d records", port, len(r.recs))
	return flow.Record{}, nil
}

// handshake returns SYN, SYN-ACK and ACK between the inner hosts, each
// wrapped by wrap (which gets the direction).
func handshake(t *testing.T, wrap func(fromClient bool, inner ...gopacket.SerializableLayer) []byte, ip func(fromClient bool) gopacket.SerializableLayer) [][]byte {
	syn := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 100, SYN: true, Window: 1000}
	synack := &layers.TCP{SrcPort: 80, DstPort: 40000, Seq: 500, Ack: 101, SYN: true, ACK: true, Window: 1000}
	ack := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 101, Ack: 501, ACK: true, Window: 1000}
	return [][]byte{wrap(true, ip(true), syn), wrap(false, ip(false), synack), wrap(true, ip(true), ack)}
}

// TestIPinIP checks the four IP-in-IP combinations (no case in Zeek's
// tunnel traces): the inner connection is tracked with the IP tunnel as
// its parent, the tunnel keeps one uid in both directions and is logged
// once as discovered, with ports 0 and no CLOSE (it is not a connection).
func TestIPinIP(t *testing.T) {
	outer := map[string]func(fromClient bool, next layers.IPProtocol) (layers.EthernetType, gopacket.SerializableLayer){
		"4": func(c bool, next layers.IPProtocol) (layers.EthernetType, gopacket.SerializableLayer) {
			if c {
				return layers.EthernetTypeIPv4, v4("198.51.100.1", "198.51.100.2", next)
			}
			return layers.EthernetTypeIPv4, v4("198.51.100.2", "198.51.100.1", next)
		},
		"6": func(c bool, next layers.IPProtocol) (layers.EthernetType, gopacket.SerializableLayer) {
			if c {
				return layers.EthernetTypeIPv6, v6("2001:db8::a", "2001:db8::b", next)
			}
			return layers.EthernetTypeIPv6, v6("2001:db8::b", "2001:db8::a", next)
		},
	}
	inner := map[string]func(fromClient bool) gopacket.SerializableLayer{
		"4": func(c bool) gopacket.SerializableLayer {
			if c {
				return v4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
			}
			return v4("10.0.0.2", "10.0.0.1", layers.IPProtocolTCP)
		},
		"6": func(c bool) gopacket.SerializableLayer {
			if c {
				return v6("fd00::1", "fd00::2", layers.IPProtocolTCP)
			}
			return v6("fd00::2", "fd00::1", layers.IPProtocolTCP)
		},
	}
	for _, in := range []string{"4", "6"} {
		for _, out := range []string{"4", "6"} {
			t.Run(in+"in"+out, func(t *testing.T) {
				next := layers.IPProtocolIPv4
				if in == "6" {
					next = layers.IPProtocolIPv6
				}
				wrap := func(c bool, ls ...gopacket.SerializableLayer) []byte {
					et, o := outer[out](c, next)
					return frame(t, append([]gopacket.SerializableLayer{ethernet(et), o}, ls...)...)
				}
				r := newTunRun(t, flow.Config{})
				r.feed(handshake(t, wrap, inner[in])...)
				if r.est != 1 {
					t.Errorf("%d handshakes, want 1", r.est)
				}
				r.tr.Finish()
				rec, parents := r.record(80)
				if rec.State != flow.ConnS1 || rec.History.String() != "ShA" || rec.OrigPkts != 2 || rec.RespPkts != 1 {
					t.Errorf("inner record %s %s %d/%d", rec.State, rec.History, rec.OrigPkts, rec.RespPkts)
				}
				if len(r.events) != 1 || r.events[0].Action != flow.TunnelDiscover || r.events[0].Type != packet.TunnelIP ||
					r.events[0].OrigPort != 0 || r.events[0].RespPort != 0 {
					t.Fatalf("tunnel events %+v, want one IP DISCOVER", r.events)
				}
				if len(parents) != 1 || parents[0] != r.events[0].UID || parents[0].IsZero() {
					t.Errorf("parents %v, tunnel uid %v", parents, r.events[0].UID)
				}
				if len(r.recs) != 1 {
					t.Errorf("%d records: the tunnel itself is no connection", len(r.recs))
				}
			})
		}
	}
}

// TestERSPAN checks ERSPAN types I, II and III behind GRE (no case in
// Zeek's tunnel traces): the mirrored Ethernet frames are analyzed as
// connections whose parent is the GRE tunnel.
func TestERSPAN(t *testing.T) {
	headers := map[string][]byte{
		"type i":   {0x00, 0x00, 0x88, 0xbe},
		"type ii":  {0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0x01, 0, 0, 0, 0, 0, 0},
		"type iii": {0x00, 0x00, 0x22, 0xeb, 0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"type iii with sub-header": append([]byte{0x00, 0x00, 0x22, 0xeb, 0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01},
			make([]byte, 8)...),
	}
	for name, hdr := range headers {
		t.Run(name, func(t *testing.T) {
			wrap := func(c bool, ls ...gopacket.SerializableLayer) []byte {
				mirrored := frame(t, append([]gopacket.SerializableLayer{ethernet(layers.EthernetTypeIPv4)}, ls...)...)
				return frame(t, ethernet(layers.EthernetTypeIPv4), v4("192.0.2.10", "192.0.2.20", layers.IPProtocolGRE),
					gopacket.Payload(append(append([]byte(nil), hdr...), mirrored...)))
			}
			ip := func(c bool) gopacket.SerializableLayer {
				if c {
					return v4("10.1.0.1", "10.1.0.2", layers.IPProtocolTCP)
				}
				return v4("10.1.0.2", "10.1.0.1", layers.IPProtocolTCP)
			}
			r := newTunRun(t, flow.Config{})
			r.feed(handshake(t, wrap, ip)...)
			r.tr.Finish()
			rec, parents := r.record(80)
			if rec.History.String() != "ShA" || rec.Orig != netip.MustParseAddr("10.1.0.1") {
				t.Errorf("inner record %v %s", rec.Orig, rec.History)
			}
			if len(r.events) != 1 || r.events[0].Type != packet.TunnelGRE || len(parents) != 1 || parents[0] != r.events[0].UID {
				t.Errorf("events %+v parents %v", r.events, parents)
			}
		})
	}
}

// nest wraps an IPv4 packet in n IP-in-IP headers.
func nest(t *testing.T, n int, inner ...gopacket.SerializableLayer) []byte {
	ls := []gopacket.SerializableLayer{ethernet(layers.EthernetTypeIPv4)}
	for i := range n {
		ls = append(ls, v4(netip.AddrFrom4([4]byte{198, 51, 100, byte(2 * i)}).String(),
			netip.AddrFrom4([4]byte{198, 51, 100, byte(2*i + 1)}).String(), layers.IPProtocolIPv4))
	}
	return frame(t, append(ls, inner...)...)
}

func TestTunnelMaxDepth(t *testing.T) {
	udp := func() []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{v4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 5000, DstPort: 6000}, gopacket.Payload("hello")}
	}
	for depth, wantConn := range map[int]bool{3: true, 4: true, 5: false} {
		r := newTunRun(t, flow.Config{})
		r.feed(nest(t, depth, udp()...))
		r.tr.Finish()
		st := r.tr.Stats()
		if got := len(r.recs) == 1; got != wantConn {
			t.Errorf("depth %d: %d records, want the inner flow: %v", depth, len(r.recs), wantConn)
		}
		if wantConn != (st.Tunnels.TooDeep == 0) {
			t.Errorf("depth %d: TooDeep %d", depth, st.Tunnels.TooDeep)
		}
	}
	r := newTunRun(t, flow.Config{Tunnel: flow.TunnelConfig{MaxDepth: 2}})
	r.feed(nest(t, 3, udp()...))
	if st := r.tr.Stats(); st.Tunnels.TooDeep != 1 || st.UDP.Created != 0 {
		t.Errorf("MaxDepth 2: %+v", st.Tunnels)
	}
}

// TestTunnelChanges sends one inner UDP flow alternately through two IP
// tunnels: each change adds a parent until TunnelConfig.MaxChanges, after
// which only 'X' marks the history.
func TestTunnelChanges(t *testing.T) {
	pkt := func(tunnel int) []byte {
		return frame(t, ethernet(layers.EthernetTypeIPv4), v4("192.0.2.1", netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + tunnel)}).String(),
			layers.IPProtocolIPv4), v4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 5000, DstPort: 6000}, gopacket.Payload("x"))
	}
	for name, tc := range map[string]struct {
		max     int
		history string
	}{"default": {0, "DX"}, "unlimited": {-1, "D"}, "one": {1, "DX"}} {
		r := newTunRun(t, flow.Config{Tunnel: flow.TunnelConfig{MaxChanges: tc.max}})
		for i := range 8 {
			r.feed(pkt(i % 2))
		}
		r.tr.Finish()
		rec, parents := r.record(6000)
		if rec.History.String() != tc.history || len(parents) != 2 || rec.OrigPkts != 8 {
			t.Errorf("%s: history %q parents %v packets %d", name, rec.History, parents, rec.OrigPkts)
		}
	}
}

// TestTunnelCloseAndExpire checks tunnel.log's CLOSE (a UDP tunnel's
// connection removed) and EXPIRE (no new connection for an hour).
func TestTunnelCloseAndExpire(t *testing.T) {
	inner := func(port uint16) []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{v4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 5000, DstPort: layers.UDPPort(port)}, gopacket.Payload("x")}
	}
	vxlan := func(port uint16) []byte {
		eth := frame(t, append([]gopacket.SerializableLayer{ethernet(layers.EthernetTypeIPv4)}, inner(port)...)...)
		return frame(t, ethernet(layers.EthernetTypeIPv4), v4("192.0.2.1", "192.0.2.2", layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 33333, DstPort: 4789}, gopacket.Payload(append([]byte{8, 0, 0, 0, 0, 0, 1, 0}, eth...)))
	}
	gre := func(port uint16) []byte {
		return frame(t, append([]gopacket.SerializableLayer{ethernet(layers.EthernetTypeIPv4),
			v4("192.0.2.5", "192.0.2.6", layers.IPProtocolGRE), &layers.GRE{Protocol: layers.EthernetTypeIPv4}}, inner(port)...)...)
	}
	r := newTunRun(t, flow.Config{})
	r.feed(vxlan(1), gre(2))
	r.now = r.now.Add(flow.DefaultTunnelExpiration + time.Minute)
	r.feed(gre(3)) // the GRE tunnel's entry expired first, so it is discovered again
	r.tr.Finish()
	var actions []string
	for _, ev := range r.events {
		actions = append(actions, ev.Type.String()+" "+ev.Action.String())
	}
	want := []string{"Tunnel::VXLAN Tunnel::DISCOVER", "Tunnel::GRE Tunnel::DISCOVER", "Tunnel::VXLAN Tunnel::EXPIRE",
		"Tunnel::GRE Tunnel::EXPIRE", "Tunnel::GRE Tunnel::DISCOVER"}
	if len(actions) != len(want) {
		t.Fatalf("tunnel events %q, want %q", actions, want)
	}
	for i := range want {
		if i >= 2 && i <= 3 { // the two expiries happen in the same sweep, in either order
			continue
		}
		if actions[i] != want[i] {
			t.Errorf("event %d: %s, want %s", i, actions[i], want[i])
		}
	}

	// A UDP tunnel still active when its connection goes is closed.
	r = newTunRun(t, flow.Config{})
	r.feed(vxlan(1))
	r.tr.Finish()
	if len(r.events) != 2 || r.events[1].Action != flow.TunnelClose || r.events[1].UID != r.events[0].UID {
		t.Errorf("events %+v, want DISCOVER then CLOSE", r.events)
	}
	vx, _ := r.record(4789)
	if vx.UID != r.events[0].UID || vx.Service.String() != "vxlan" {
		t.Errorf("outer connection uid %v service %q, tunnel uid %v", vx.UID, vx.Service, r.events[0].UID)
	}
}

func TestTunnelChecksums(t *testing.T) {
	syn := frame(t, ethernet(layers.EthernetTypeIPv4), v4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 1234, DstPort: 80, Seq: 1, SYN: true, Window: 100})
	badTCP := append([]byte(nil), syn...)
	badTCP[14+20+16]++ // TCP checksum
	badIP := append([]byte(nil), syn...)
	badIP[14+10]++ // IP header checksum
	r := newTunRun(t, flow.Config{Checksums: true})
	r.feed(badTCP, badIP)
	r.tr.Finish()
	if len(r.recs) != 1 || r.recs[0].History.String() != "C" || r.recs[0].OrigPkts != 0 {
		t.Fatalf("records %+v, want one with history C", r.recs)
	}
	if st := r.tr.Stats(); st.BadChecksums != 2 {
		t.Errorf("BadChecksums %d, want 2", st.BadChecksums)
	}
	r = newTunRun(t, flow.Config{})
	r.feed(badTCP)
	r.tr.Finish()
	if r.recs[0].History.String() != "S" {
		t.Errorf("without validation: history %q", r.recs[0].History)
	}
}

func TestTunnelsDisabled(t *testing.T) {
	r := newTunRun(t, flow.Config{Tunnel: flow.TunnelConfig{Disabled: true}})
	r.feed(nest(t, 1, v4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2},
		gopacket.Payload("x")))
	r.tr.Finish()
	if len(r.recs) != 0 || len(r.events) != 0 || r.tr.Stats().Other != 1 {
		t.Errorf("records %d events %d stats %+v", len(r.recs), len(r.events), r.tr.Stats())
	}
}

func TestUIDFormat(t *testing.T) {
	r := newTunRun(t, flow.Config{UIDSeed: 42})
	for i := range 50 {
		r.feed(frame(t, ethernet(layers.EthernetTypeIPv4), v4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP),
			&layers.UDP{SrcPort: layers.UDPPort(1000 + i), DstPort: 53}, gopacket.Payload("x")))
	}
	r.tr.Finish()
	seen := map[string]bool{}
	for _, rec := range r.recs {
		s := rec.UID.String()
		if len(s) < 3 || len(s) > 18 || s[0] != 'C' || seen[s] {
			t.Errorf("uid %q (dup %v)", s, seen[s])
		}
		seen[s] = true
	}
}
