package packet

import (
	"bytes"
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
	ProtoIPIP   uint8 = 4  // IPv4 in IP
	ProtoIPv6   uint8 = 41 // IPv6 in IP
	ProtoGRE    uint8 = 47
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
	// ErrFragment is returned by Decode for an IPv4 or IPv6 fragment that
	// does not complete its datagram (it is held for reassembly, or dropped
	// when the capture cut it). Callers count it as skipped.
	ErrFragment = errors.New("packet: ip fragment")
)

// Packet is one decoded frame. Every field but Payload is a plain value;
// Payload aliases the captured frame and is valid only until the frame's
// buffer is reused (for a source's callback: until the callback returns).
// Copy the Packet and clone Payload and Raw (or set them to nil) to keep it. Packets
// are not comparable with ==; use Equal.
//
// For ICMP and ICMPv6, SrcPort holds the message type and DstPort the code.
// For IP protocols other than TCP, UDP, ICMP and ICMPv6, the ports are 0 and
// PayloadLen is the IP payload length.
type Packet struct {
	TS               time.Time
	Src, Dst         netip.Addr // IPv4 addresses are 4-byte (Is4) addresses
	SrcPort, DstPort uint16
	Proto            uint8  // IP protocol of the (outermost) IP header: ProtoTCP, ProtoUDP, ..., ProtoGRE
	Flags            uint8  // TCP flags: FlagFIN | FlagSYN | ...; 0 for other protocols
	Seq, Ack         uint32 // TCP only
	Window           uint16 // TCP only, unscaled
	PayloadLen       int    // transport payload length as sent (from the IP length fields, not the capture)
	IPLen            int    // IP packet length as sent: IPv4 total length, IPv6 payload length + 40
	WireLen          int    // frame length on the wire; Decode sets len(data), a reader overwrites it
	// Payload is the captured part of the transport payload: at most
	// PayloadLen bytes (fewer when the capture was cut by the snap length;
	// never the link layer's padding). It is a slice of the frame passed to
	// Decode, valid only as long as that frame: copy it to keep it. For ICMP
	// it is the message body after the 8-byte ICMP header.
	Payload []byte
	// Raw is the captured IP packet, from the outermost IP header to the
	// end of the IP packet (fewer bytes when the capture cut it), and
	// HdrLen the length of its IP headers (IPv4 options and IPv6 extension
	// headers included): the transport header starts at Raw[HdrLen]. Like
	// Payload it aliases the frame (or, for a reassembled datagram, the
	// Decoder's buffer) and is valid only as long as that. Tunnel
	// decapsulation and Checksums read it; nil for a Packet built by hand.
	Raw    []byte
	HdrLen int
}

// Equal reports whether p and q hold the same decoded values, comparing
// Payload by content. Raw, the undecoded bytes, is not compared.
func (p *Packet) Equal(q *Packet) bool {
	return p.TS == q.TS && p.Src == q.Src && p.Dst == q.Dst &&
		p.SrcPort == q.SrcPort && p.DstPort == q.DstPort && p.Proto == q.Proto && p.Flags == q.Flags &&
		p.Seq == q.Seq && p.Ack == q.Ack && p.Window == q.Window && p.PayloadLen == q.PayloadLen &&
		p.IPLen == q.IPLen && p.WireLen == q.WireLen && bytes.Equal(p.Payload, q.Payload) && p.HdrLen == q.HdrLen
}

// TCP reports whether p is a TCP segment.
func (p *Packet) TCP() bool { return p.Proto == ProtoTCP }

// Has reports whether all of the TCP flag bits in f are set.
func (p *Packet) Has(f uint8) bool { return p.Flags&f == f }
