package packet

import (
	"encoding/binary"

	"github.com/google/gopacket/layers"
)

// TunnelType is Zeek's Tunnel::Type: the kind of an encapsulation.
type TunnelType uint8

// The tunnel types, in the order of Zeek's enum.
const (
	TunnelNone   TunnelType = iota // not a tunnel
	TunnelIP                       // IP in IP: 4in4, 6in4, 4in6, 6in6 (also inside GRE/PPTP)
	TunnelAYIYA                    // AYIYA over UDP
	TunnelTeredo                   // Teredo (recognized by name only; not decapsulated)
	TunnelSOCKS                    // SOCKS (name only)
	TunnelGTPv1                    // GTPv1-U over UDP
	TunnelHTTP                     // HTTP CONNECT (name only)
	TunnelGRE                      // GRE, GRE over UDP, PPTP, ERSPAN, Aruba
	TunnelVXLAN                    // VXLAN over UDP
	TunnelGeneve                   // Geneve over UDP
)

var tunnelNames = [...]string{
	TunnelNone: "Tunnel::NONE", TunnelIP: "Tunnel::IP", TunnelAYIYA: "Tunnel::AYIYA", TunnelTeredo: "Tunnel::TEREDO",
	TunnelSOCKS: "Tunnel::SOCKS", TunnelGTPv1: "Tunnel::GTPv1", TunnelHTTP: "Tunnel::HTTP", TunnelGRE: "Tunnel::GRE",
	TunnelVXLAN: "Tunnel::VXLAN", TunnelGeneve: "Tunnel::GENEVE",
}

// String returns Zeek's name of the type, as tunnel.log prints it
// ("Tunnel::VXLAN").
func (t TunnelType) String() string {
	if int(t) < len(tunnelNames) {
		return tunnelNames[t]
	}
	return "Tunnel::NONE"
}

// Service returns the name conn.log's service column gives a UDP
// connection that carries this tunnel once its analyzer confirmed it
// ("vxlan", "geneve", "gtpv1", "ayiya"), or "".
func (t TunnelType) Service() string {
	switch t {
	case TunnelVXLAN:
		return "vxlan"
	case TunnelGeneve:
		return "geneve"
	case TunnelGTPv1:
		return "gtpv1"
	case TunnelAYIYA:
		return "ayiya"
	}
	return ""
}

// LinkTypeIEEE80211 is the link type of an Aruba GRE payload (802.11 data
// frames, see ForEachIEEE80211).
const LinkTypeIEEE80211 = layers.LinkTypeIEEE802_11

// Decap is the outcome of parsing one tunnel header, the way Zeek's packet
// analyzer for that tunnel treats it.
type Decap struct {
	// Inner is the encapsulated frame (a slice of the outer payload) and
	// Link its link type: Ethernet, raw IP (LinkTypeRaw, version by
	// nibble) or 802.11 (Aruba). Inner is nil when nothing is forwarded.
	Inner []byte
	Link  layers.LinkType
	// Confirm is set when Zeek's analyzer confirms the protocol
	// (analyzer_confirmation: the outer connection gets the tunnel's
	// service name).
	Confirm bool
	// Violation, when not empty, is Zeek's analyzer_violation reason: the
	// outer connection stops being analyzed as this tunnel.
	Violation string
	// Weird, when not empty, is the weird Zeek reports for a packet it
	// does not forward (and Inner is nil).
	Weird string
}

func violation(reason string) Decap { return Decap{Violation: reason} }
func weird(name string) Decap       { return Decap{Weird: name} }

// DecapVXLAN parses a VXLAN header (RFC 7348) at the start of a UDP
// payload: 8 bytes with the I flag set, then an Ethernet frame.
func DecapVXLAN(b []byte) Decap {
	if len(b) < 8 {
		return violation("VXLAN header truncation")
	}
	if b[0]&0x08 == 0 {
		return violation("VXLAN 'I' flag not set")
	}
	if len(b) == 8 {
		return Decap{Confirm: true, Weird: "vxlan_empty_packet"}
	}
	return Decap{Inner: b[8:], Link: layers.LinkTypeEthernet, Confirm: true}
}

// DecapGeneve parses a Geneve header (RFC 8926): version 0, its options,
// then an Ethernet frame (protocol 0x6558) or an IP packet (0x0800,
// 0x86DD).
func DecapGeneve(b []byte) Decap {
	if len(b) < 8 {
		return violation("Geneve header truncation")
	}
	if b[0]>>6 != 0 {
		return weird("geneve_invalid_version")
	}
	hdr := 8 + int(b[0]&0x3f)*4
	if hdr > len(b) {
		return violation("Geneve option header truncation")
	}
	if hdr == len(b) {
		return Decap{Confirm: true, Weird: "geneve_empty_packet"}
	}
	d := Decap{Inner: b[hdr:], Confirm: true}
	switch binary.BigEndian.Uint16(b[2:4]) {
	case 0x6558:
		d.Link = layers.LinkTypeEthernet
	case 0x0800, 0x86dd:
		d.Link = layers.LinkTypeRaw
	default:
		d.Inner, d.Weird = nil, "geneve_unknown_protocol"
	}
	return d
}

// DecapAYIYA parses an AYIYA header (Anything In Anything): the identity
// and signature lengths it announces, opcode 1 ("forward") and an IPv4 or
// IPv6 packet as the next header. Other opcodes carry nothing to forward
// and are not an error.
func DecapAYIYA(b []byte) Decap {
	if len(b) < 8 {
		return violation("Truncated AYIYA")
	}
	identity := 1 << (b[0] >> 4) // up to 1<<15: an int, never wrapped
	signature := int(b[1]>>4) * 4
	hdr := 8 + identity + signature
	if hdr > len(b) {
		return violation("Truncated AYIYA")
	}
	if b[2]&0x0f != 1 {
		return Decap{}
	}
	if hdr == len(b) {
		return Decap{Confirm: true, Weird: "ayiya_empty_packet"}
	}
	switch b[3] {
	case ProtoIPIP, ProtoIPv6:
		return Decap{Inner: b[hdr:], Link: layers.LinkTypeRaw, Confirm: true}
	}
	return Decap{Confirm: true, Weird: "ayiya_unknown_protocol"}
}

// LooksLikeAYIYA is Zeek's protocol detection for AYIYA on UDP ports not
// registered for a tunnel.
func LooksLikeAYIYA(b []byte) bool { return len(b) >= 3 && b[1] == 0x52 && b[2] == 0x11 }

// GTPv1 message type of a G-PDU (user data).
const gtpGPDU = 0xff

// DecapGTPv1 parses a GTPv1-U header (3GPP TS 29.281) as Zeek's GTPv1
// analyzer does: version 1 with the protocol-type flag; a G-PDU (message
// 0xff) carries an IPv4 or IPv6 packet after the optional fields and the
// extension headers, which must fill the rest of the datagram exactly.
// Other messages (echo, error indication, GTP-C) carry nothing to forward.
// inGTP tells whether the packet already came out of a GTP tunnel.
func DecapGTPv1(b []byte, inGTP bool) Decap {
	if len(b) < 8 {
		return violation("Binpac exception: GTPv1 header truncated")
	}
	if inGTP {
		return violation("GTP-in-GTP")
	}
	if b[0]>>5 != 1 {
		return violation("GTPv1 bad Version")
	}
	if b[0]&0x10 == 0 || b[1] != gtpGPDU {
		return Decap{} // GTP' or a message without user data
	}
	hdr := 8
	if b[0]&0x07 != 0 { // E, S or PN: sequence number, N-PDU and next extension type
		hdr += 4
		if len(b) < hdr {
			return violation("Binpac exception: GTPv1 header truncated")
		}
		if b[0]&0x04 != 0 { // E: extension headers, each n*4 bytes with the next type last
			for next := b[hdr-1]; next != 0; {
				if len(b) < hdr+1 || b[hdr] == 0 {
					return violation("Binpac exception: GTPv1 extension header truncated")
				}
				n := int(b[hdr]) * 4
				if len(b) < hdr+n {
					return violation("Binpac exception: GTPv1 extension header truncated")
				}
				next = b[hdr+n-1]
				hdr += n
			}
		}
	}
	inner := b[hdr:]
	if len(inner) < 20 {
		return violation("Truncated GTPv1")
	}
	switch inner[0] >> 4 {
	case 4, 6:
	default:
		return violation("non-IP packet in GTPv1")
	}
	switch innerIPFits(inner) {
	case fitTooSmall:
		return violation("Truncated GTPv1")
	case fitTooLarge:
		return violation("GTPv1 payload length")
	case fitBadVersion:
		return violation("Invalid IP version in wrapped packet")
	}
	return Decap{Inner: inner, Link: layers.LinkTypeRaw, Confirm: true}
}

// How an inner IP packet fits the bytes carrying it (Zeek's
// IP::ParsePacket).
const (
	fitOK = iota
	fitTooSmall
	fitTooLarge
	fitBadVersion
)

// innerIPFits checks that b holds exactly one IP packet: its total length
// (IPv4) or 40 + payload length (IPv6) equals len(b).
func innerIPFits(b []byte) int {
	var total int
	switch {
	case len(b) >= 1 && b[0]>>4 == 6:
		if len(b) < 40 {
			return fitTooSmall
		}
		total = 40 + int(binary.BigEndian.Uint16(b[4:6]))
	case len(b) >= 20 && b[0]>>4 == 4:
		total = int(binary.BigEndian.Uint16(b[2:4]))
	default:
		return fitBadVersion
	}
	switch {
	case len(b) < total:
		return fitTooSmall
	case len(b) > total:
		return fitTooLarge
	}
	return fitOK
}

// DecapIPinIP checks the inner IP packet of an IP-in-IP packet (outer IP
// protocol 4 or 41): its version must match the protocol and it must fill
// the outer payload exactly, as Zeek's IP-in-IP analyzer demands.
func DecapIPinIP(proto uint8, b []byte) Decap {
	want := byte(4)
	if proto == ProtoIPv6 {
		want = 6
	}
	if len(b) < 1 || b[0]>>4 != want {
		return weird("invalid_inner_IP_version")
	}
	switch innerIPFits(b) {
	case fitTooSmall:
		return weird("truncated_inner_IP")
	case fitTooLarge:
		return weird("inner_IP_payload_length_mismatch")
	case fitBadVersion:
		return weird("invalid_inner_IP_version")
	}
	return Decap{Inner: b, Link: layers.LinkTypeRaw}
}

// greHeaderLen is the GRE header's length for its flags and version word:
// 4 bytes, plus 4 for each of checksum, key, sequence number and (PPTP)
// acknowledgement. The deprecated routing field is refused elsewhere.
func greHeaderLen(flags uint16) int {
	n := 4
	for _, bit := range [...]uint16{0x8000, 0x2000, 0x1000, 0x0080} {
		if flags&bit != 0 {
			n += 4
		}
	}
	return n
}

// isArubaProto reports whether a GRE protocol type is one Aruba access
// points use for 802.11 frames.
func isArubaProto(p uint16) bool {
	return (p&0x8200 == 0x8200 && p&0x0f == 0) || (p&0x8300 == 0x8300 && p&0x0f == 0 && p <= 0x8370) || p == 0x9000
}

// DecapGRE parses a GRE header (RFC 2784, RFC 2890) the way Zeek's GRE
// analyzer does. Version 0 carries an IP packet, an Ethernet frame
// (transparent bridging 0x6558), an ERSPAN type I, II or III mirror
// (0x88be, 0x22eb) or Aruba 802.11 frames; any other protocol type is
// handed on as IP, as Zeek does. Version 1 (enhanced GRE, RFC 2637) must
// carry PPTP's PPP with IPv4 or IPv6, which must fill the payload exactly.
// Routing and the reserved flags are refused.
func DecapGRE(b []byte) Decap {
	if len(b) < 4 {
		return weird("truncated_GRE")
	}
	flags := binary.BigEndian.Uint16(b[0:2])
	proto := binary.BigEndian.Uint16(b[2:4])
	version := flags & 0x7
	gre := greHeaderLen(flags)
	link, eth, erspan, pptp := layers.LinkTypeRaw, 0, 0, 0
	switch version {
	case 0:
		switch {
		case proto == 0x6558:
			if len(b) <= gre+14 {
				return weird("truncated_GRE")
			}
			link, eth = layers.LinkTypeEthernet, 14
		case proto == 0x88be || proto == 0x22eb:
			var w string
			if erspan, w = erspanLen(b, gre, proto, flags); w != "" {
				return weird(w)
			}
			link, eth = layers.LinkTypeEthernet, 14
		case isArubaProto(proto):
			if len(b) <= gre {
				return weird("truncated_GRE")
			}
			link = LinkTypeIEEE80211
		}
	case 1:
		if proto != 0x880b {
			return weird("egre_protocol_type")
		}
		pptp = 4
	default:
		return weird("unknown_gre_version")
	}
	if flags&0x4000 != 0 {
		return weird("gre_routing")
	}
	if flags&0x0078 != 0 {
		return weird("unknown_gre_flags")
	}
	if len(b) < gre+pptp+eth+erspan {
		return weird("truncated_GRE")
	}
	if version == 1 {
		switch binary.BigEndian.Uint16(b[gre+2 : gre+4]) {
		case 0x0021:
			return DecapIPinIP(ProtoIPIP, b[gre+4:])
		case 0x0057:
			return DecapIPinIP(ProtoIPv6, b[gre+4:])
		}
		return weird("non_ip_packet_in_encap")
	}
	return Decap{Inner: b[gre+erspan:], Link: link}
}

// erspanLen returns the length of the ERSPAN header after a GRE header of
// gre bytes: type I (0x88be without a sequence number) has none, type II
// (0x88be, version 1) 8 bytes, type III (0x22eb, version 2) 12 bytes plus
// an optional 8-byte platform sub-header. An Ethernet header must follow.
func erspanLen(b []byte, gre int, proto, flags uint16) (int, string) {
	if proto == 0x88be {
		if len(b) <= gre+14 {
			return 0, "truncated_GRE"
		}
		if flags&0x1000 == 0 {
			return 0, "" // type I
		}
		if len(b) < gre+8+14 {
			return 0, "truncated_GRE"
		}
		if b[gre]>>4 != 1 {
			return 0, "unknown_ERSPAN_version"
		}
		return 8, ""
	}
	if len(b) <= gre+12+14 {
		return 0, "truncated_GRE"
	}
	if b[gre]>>4 != 2 {
		return 0, "unknown_ERSPAN_version"
	}
	n := 12
	if b[gre+11]&0x01 != 0 {
		if len(b) <= gre+12+8+14 {
			return 0, "truncated_GRE"
		}
		n += 8
	}
	return n, ""
}

// ForEachIEEE80211 walks an 802.11 data frame as Zeek's IEEE 802.11
// analyzer does for Aruba GRE: management and control frames and data
// subtypes without data are skipped; the QoS field may announce an A-MSDU,
// whose subframes are each handed on; a protected (encrypted) QoS frame is
// skipped. Each MSDU must start with an LLC/SNAP header of encapsulated
// Ethernet; fn gets its EtherType and the bytes after it. It returns the
// weird Zeek would report for a malformed frame, or "".
func ForEachIEEE80211(b []byte, fn func(etherType uint16, payload []byte)) string {
	hdr := 24
	if len(b) <= hdr {
		return "truncated_802_11_header"
	}
	fc := b[0]
	if (fc>>2)&0x02 == 0 || (fc>>4)&0x04 != 0 {
		return "" // not a data frame, or a data subtype without data
	}
	if b[1]&0x03 == 0x03 {
		hdr += 6 // 4th address
	}
	if len(b) <= hdr {
		return "truncated_802_11_header"
	}
	amsdu := false
	if (fc>>4)&0x08 != 0 { // QoS data
		amsdu = b[hdr]&0x80 != 0
		if b[1]&0x40 != 0 {
			return "" // protected
		}
		hdr += 2
	}
	if len(b) <= hdr {
		return "truncated_802_11_header"
	}
	b = b[hdr:]
	if !amsdu {
		return llcSNAP(b, fn)
	}
	for len(b) > 0 {
		if len(b) < 14 {
			return "truncated_802_11_amsdu_header"
		}
		n := int(binary.BigEndian.Uint16(b[12:14]))
		if len(b) < n+14 {
			return "truncated_802_11_amsdu_packet"
		}
		if w := llcSNAP(b[14:14+n], fn); w != "" {
			return "invalid_802_11_amsdu_inner_packet"
		}
		b = b[14+n:]
		if pad := n % 4; len(b) >= pad {
			b = b[pad:]
		}
	}
	return ""
}

// llcSNAP hands the payload of an LLC/SNAP header with a zero OUI
// (encapsulated Ethernet) to fn.
func llcSNAP(b []byte, fn func(uint16, []byte)) string {
	if len(b) < 8 {
		return "truncated_802_11_llc_header"
	}
	if b[0] != 0xaa || b[1] != 0xaa || b[2] != 0x03 || b[3] != 0 || b[4] != 0 || b[5] != 0 {
		return "non_snap_802_11_llc"
	}
	fn(binary.BigEndian.Uint16(b[6:8]), b[8:])
	return ""
}
