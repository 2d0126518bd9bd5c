package packet

import (
	"errors"
	"net/netip"
	"time"
)

// IP protocol numbers found in Packet.Proto.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
)

// TCP flag bits found in Packet.Flags.
const (
	FlagFIN uint8 = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

var (
	// ErrUnsupportedLinkType is returned by NewDecoder for a link type it
	// cannot decode.
	ErrUnsupportedLinkType = errors.New("packet: unsupported link type")
	// ErrMalformed is wrapped by Decode for a truncated or garbled frame.
	ErrMalformed = errors.New("packet: malformed")
	// ErrNotIP is returned by Decode for a well-formed frame that does not
	// carry IP (ARP, LLC, LLDP, ...). Callers count it as skipped.
	ErrNotIP = errors.New("packet: not ip")
	// ErrFragment is returned by Decode for an IPv4 or IPv6 fragment. Fragments
	// are not reassembled; callers count them as skipped.
	ErrFragment = errors.New("packet: ip fragment")
)

// Packet is one decoded frame. It is a plain value: copy it to keep it.
//
// For ICMP and ICMPv6, SrcPort holds the message type and DstPort the code, as
// Zeek's conn.log does. For IP protocols other than TCP, UDP, ICMP and ICMPv6,
// the ports are 0 and PayloadLen is the IP payload length.
type Packet struct {
	TS               time.Time
	Src, Dst         netip.Addr // IPv4 addresses are 4-byte (Is4) addresses
	SrcPort, DstPort uint16
	Proto            uint8  // IP protocol of the innermost IP header: ProtoTCP, ProtoUDP, ...
	Flags            uint8  // TCP flags: FlagFIN | FlagSYN | ...; 0 for other protocols
	Seq, Ack         uint32 // TCP only
	Window           uint16 // TCP only, unscaled
	PayloadLen       int    // transport payload length as sent (from the IP length fields, not the capture)
	WireLen          int    // frame length on the wire; Decode sets len(data), a reader overwrites it
}

// TCP reports whether p is a TCP segment.
func (p *Packet) TCP() bool { return p.Proto == ProtoTCP }

// Has reports whether all of the TCP flag bits in f are set.
func (p *Packet) Has(f uint8) bool { return p.Flags&f == f }
