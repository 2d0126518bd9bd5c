package flow

import (
	"net/netip"
	"time"

	"shoal/packet"
)

// MaxTunnelDepth bounds TunnelConfig.MaxDepth: how many tunnels one packet
// may be nested in.
const MaxTunnelDepth = 8

// Tunnel defaults, from Zeek (scripts/base/init-bare.zeek and
// base/frameworks/tunnels/main.zeek).
const (
	DefaultTunnelMaxDepth   = 4              // Tunnel::max_depth
	DefaultTunnelMaxChanges = 5              // Tunnel::max_changes_per_connection
	DefaultIPTunnelTimeout  = 24 * time.Hour // Tunnel::ip_tunnel_timeout
	DefaultTunnelExpiration = time.Hour      // Tunnel::expiration_interval
)

// TunnelPort assigns a UDP port to a tunnel analyzer: a UDP connection
// whose responder port is Port is decapsulated as Type.
type TunnelPort struct {
	Port uint16
	Type packet.TunnelType
}

// DefaultTunnelPorts returns Zeek's UDP tunnel ports: VXLAN 4789, Geneve
// 6081, GTPv1 2152 and 2123, AYIYA 5072, and GRE over UDP 4754.
func DefaultTunnelPorts() []TunnelPort {
	return []TunnelPort{
		{4789, packet.TunnelVXLAN}, {6081, packet.TunnelGeneve}, {2152, packet.TunnelGTPv1},
		{2123, packet.TunnelGTPv1}, {5072, packet.TunnelAYIYA}, {4754, packet.TunnelGRE},
	}
}

// TunnelConfig configures decapsulation. The zero value is Zeek's default:
// every tunnel type decapsulated up to DefaultTunnelMaxDepth.
type TunnelConfig struct {
	// Disabled turns decapsulation off: tunnel packets are counted as
	// other protocols (IP-in-IP, GRE) or plain UDP.
	Disabled bool
	// MaxDepth is Zeek's Tunnel::max_depth: a packet already inside this
	// many tunnels is not decapsulated further. 0 means the default;
	// at most MaxTunnelDepth.
	MaxDepth int
	// MaxChanges is Zeek's Tunnel::max_changes_per_connection: how many
	// times a connection's encapsulation may change (each change adds a
	// tunnel parent) before further changes only mark its history with
	// 'X'. 0 means the default, negative means no limit.
	MaxChanges int
	// IPTunnelTimeout forgets an IP or GRE tunnel (and its uid) after this
	// much network time without a packet (Tunnel::ip_tunnel_timeout).
	IPTunnelTimeout time.Duration
	// Expiration logs Tunnel::EXPIRE for a tunnel that carried no new
	// connection for this long (Tunnel::expiration_interval).
	Expiration time.Duration
	// UDPPorts are the UDP tunnel ports; nil means DefaultTunnelPorts.
	UDPPorts []TunnelPort
}

func (c TunnelConfig) withDefaults() TunnelConfig {
	if c.MaxDepth <= 0 {
		c.MaxDepth = DefaultTunnelMaxDepth
	}
	c.MaxDepth = min(c.MaxDepth, MaxTunnelDepth)
	if c.MaxChanges == 0 {
		c.MaxChanges = DefaultTunnelMaxChanges
	}
	if c.IPTunnelTimeout <= 0 {
		c.IPTunnelTimeout = DefaultIPTunnelTimeout
	}
	if c.Expiration <= 0 {
		c.Expiration = DefaultTunnelExpiration
	}
	if c.UDPPorts == nil {
		c.UDPPorts = DefaultTunnelPorts()
	}
	return c
}

// EncapConn is one tunnel of an encapsulation: Zeek's EncapsulatingConn.
// For a UDP-based tunnel (VXLAN, Geneve, GTPv1, AYIYA) it is the outer UDP
// connection: its endpoints as they are oriented and its uid. For an IP
// tunnel (IP-in-IP, GRE, GRE over UDP) the ports are 0 and the uid is the
// tunnel's own, kept per address pair.
type EncapConn struct {
	Type               packet.TunnelType
	Orig, Resp         netip.Addr
	OrigPort, RespPort uint16
	Proto              uint8 // packet.ProtoUDP for UDP-based tunnels, 0 for IP tunnels
	UID                UID
}

// same is Zeek's EncapsulatingConn equality: IP and GRE tunnels match in
// either direction, VXLAN tunnels in either direction with the same
// destination port, others exactly; the uids must match.
func (a *EncapConn) same(b *EncapConn) bool {
	if a.Type != b.Type || a.UID != b.UID || a.Proto != b.Proto {
		return false
	}
	either := (a.Orig == b.Orig && a.Resp == b.Resp) || (a.Orig == b.Resp && a.Resp == b.Orig)
	switch a.Type {
	case packet.TunnelIP, packet.TunnelGRE:
		return either
	case packet.TunnelVXLAN:
		return a.RespPort == b.RespPort && either
	}
	return a.Orig == b.Orig && a.Resp == b.Resp && a.OrigPort == b.OrigPort && a.RespPort == b.RespPort
}

// Encap is an encapsulation stack, outermost tunnel first: Zeek's
// EncapsulationStack. It is a fixed-size value.
type Encap struct {
	n int
	e [MaxTunnelDepth]EncapConn
}

// Len returns the number of tunnels.
func (s *Encap) Len() int { return s.n }

// At returns the i-th tunnel, 0 being the outermost.
func (s *Encap) At(i int) EncapConn { return s.e[:s.n][i] }

func (s *Encap) last() *EncapConn { return &s.e[s.n-1] }

func (s *Encap) push(ec EncapConn) { s.e[s.n] = ec; s.n++ }

func (s *Encap) pop() { s.n--; s.e[s.n] = EncapConn{} }

// equal is EncapsulationStack equality: same depth, every level the same.
func (s *Encap) equal(o *Encap) bool {
	if s.n != o.n {
		return false
	}
	for i := range s.n {
		if !s.e[i].same(&o.e[i]) {
			return false
		}
	}
	return true
}

// connTunnel is a connection's tunnel state, allocated for connections
// seen inside a tunnel.
type connTunnel struct {
	encap   Encap // the current encapsulation (Zeek's Connection::encapsulation)
	parents []UID // tunnel_parents, in the order they were added
	changes int   // tunnel_changed events raised
}

// maxParents bounds tunnel_parents (reached only with an unlimited
// TunnelConfig.MaxChanges): later parents are not recorded.
const maxParents = 64

func (ct *connTunnel) addParent(u UID) {
	for _, p := range ct.parents {
		if p == u {
			return
		}
	}
	if len(ct.parents) < maxParents {
		ct.parents = append(ct.parents, u)
	}
}
