package packet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// sllHeaderLen is the length of a Linux cooked capture (SLL v1) header.
const sllHeaderLen = 16

// Errors for frames that decode without a gopacket error but are cut short.
var (
	errNoIPPayload   = fmt.Errorf("%w: link layer announces ip but carries no ip header", ErrMalformed)
	errNoTransport   = fmt.Errorf("%w: ip payload too short for the transport header", ErrMalformed)
	errIPVersion     = fmt.Errorf("%w: raw ip frame with ip version other than 4 or 6", ErrMalformed)
	errShortSLL      = fmt.Errorf("%w: linux sll header shorter than 16 bytes", ErrMalformed)
	errEmptyFrame    = fmt.Errorf("%w: empty frame", ErrMalformed)
	errBadTCPHeader  = fmt.Errorf("%w: bad tcp header", ErrMalformed)
	errNoNetworkHdr  = fmt.Errorf("%w: no ip header", ErrMalformed)
	errPanicRecovery = fmt.Errorf("%w: decoder panic", ErrMalformed)
)

// first-layer indices into Decoder.parsers.
const (
	firstEthernet = iota
	firstDot1Q
	firstIPv4
	firstIPv6
	numFirst
)

// Decoder decodes frames of one link type into Packets, reusing its layer
// structs, so decoding a frame does not allocate. Use one Decoder per
// goroutine: it is not safe for concurrent use.
//
// A Decoder keeps one piece of state across frames: IP fragments waiting
// for the rest of their datagram (see Decode).
type Decoder struct {
	link layers.LinkType

	eth   layers.Ethernet
	dot1q layers.Dot1Q
	ip4   outerIPv4
	ip6   outerIPv6
	ext   outerExtension
	frag6 ipv6Fragment
	tcp   layers.TCP
	udp   layers.UDP
	icmp4 layers.ICMPv4
	icmp6 layers.ICMPv6

	parsers [numFirst]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	frags   reassembler
	slow    bool // tests: always use the gopacket path
}

// NewDecoder returns a Decoder for frames of the given link type: Ethernet,
// raw IP (LinkTypeRaw = 101, the DLT_RAW values 12 and 14, LinkTypeIPv4 = 228
// and LinkTypeIPv6 = 229; each picks IPv4 or IPv6 by the version nibble), or
// Linux SLL. Any other link type gives ErrUnsupportedLinkType.
func NewDecoder(link layers.LinkType) (*Decoder, error) {
	if !supportedLink(link) {
		return nil, fmt.Errorf("%w: %d (%s)", ErrUnsupportedLinkType, uint32(link), link)
	}
	d := &Decoder{link: link, decoded: make([]gopacket.LayerType, 0, 16)}
	var dlc gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
	for _, l := range []gopacket.DecodingLayer{
		&d.eth, &d.dot1q, &d.ip4, &d.ip6, &d.ext, &d.frag6, &d.tcp, &d.udp, &d.icmp4, &d.icmp6,
	} {
		dlc = dlc.Put(l) // frag6 after ext: it takes the fragment header's slot
	}
	for i, first := range [numFirst]gopacket.LayerType{
		firstEthernet: layers.LayerTypeEthernet,
		firstDot1Q:    layers.LayerTypeDot1Q,
		firstIPv4:     layers.LayerTypeIPv4,
		firstIPv6:     layers.LayerTypeIPv6,
	} {
		p := gopacket.NewDecodingLayerParser(first)
		p.IgnoreUnsupported = true // stop quietly at the first layer we do not decode
		p.SetDecodingLayerContainer(dlc)
		d.parsers[i] = p
	}
	return d, nil
}

func supportedLink(link layers.LinkType) bool {
	switch link {
	case layers.LinkTypeEthernet, layers.LinkTypeRaw, 12, 14, layers.LinkTypeIPv4, layers.LinkTypeIPv6,
		layers.LinkTypeLinuxSLL:
		return true
	}
	return false
}

// LinkType returns the link type the Decoder was made for.
func (d *Decoder) LinkType() layers.LinkType { return d.link }

// Decode decodes data, a frame captured at ts, into *p, overwriting every
// field of p. p.WireLen is set to len(data); a caller that knows the original
// length should overwrite it. data is not retained.
//
// It returns nil for an IPv4 or IPv6 packet whose headers are complete,
// ErrNotIP for a frame that carries no IP, ErrFragment for an IP fragment
// that does not complete a datagram yet, and an error wrapping ErrMalformed
// for a truncated or garbled frame. Checksums are not checked here (see
// Packet.Checksums). Decoding stops at the first IP header: an IP-in-IP or
// GRE packet is returned with its IP protocol (4, 41, 47) and the inner
// bytes as Payload, for the caller to decapsulate.
//
// IP fragments are reassembled, as Zeek does: a fragment is copied and held
// (ErrFragment) until its datagram is complete; the fragment that completes
// it decodes as the whole datagram, whose Payload and Raw then point into
// the Decoder's buffer (valid until the next call). At most MaxFragDatagrams
// datagrams are held at once (the oldest is dropped beyond that) and a
// datagram whose last fragment is older than FragTimeout of network time
// (the frames' timestamps) is dropped. A fragment not captured in full is
// dropped (ErrFragment), except a first fragment, which decodes as it is.
func (d *Decoder) Decode(data []byte, ts time.Time, p *Packet) error {
	*p = Packet{TS: ts, WireLen: len(data)}
	return d.decode(d.link, data, ts, p)
}

// DecodeLink decodes data as a frame of the given link type, as Decode
// does for the Decoder's own link type: it decodes frames carried inside a
// tunnel (Ethernet behind VXLAN, raw IP behind GTP). wireLen is the frame's
// length as sent (at least len(data); more when the capture cut it).
func (d *Decoder) DecodeLink(link layers.LinkType, data []byte, wireLen int, ts time.Time, p *Packet) error {
	*p = Packet{TS: ts, WireLen: max(wireLen, len(data))}
	if !supportedLink(link) {
		return fmt.Errorf("%w: %d (%s)", ErrUnsupportedLinkType, uint32(link), link)
	}
	return d.decode(link, data, ts, p)
}

func (d *Decoder) decode(link layers.LinkType, data []byte, ts time.Time, p *Packet) error {
	if len(data) == 0 {
		return errEmptyFrame
	}
	if !d.slow && d.fast(link, data, p) {
		return nil
	}
	*p = Packet{TS: ts, WireLen: p.WireLen}
	var parser *gopacket.DecodingLayerParser
	switch link {
	case layers.LinkTypeEthernet:
		parser = d.parsers[firstEthernet]
	case layers.LinkTypeLinuxSLL:
		// Decoded by hand: layers.LinuxSLL slices its address field by the
		// header's length field and panics on garbage; the header is fixed.
		if len(data) < sllHeaderLen {
			return errShortSLL
		}
		switch layers.EthernetType(binary.BigEndian.Uint16(data[14:16])) {
		case layers.EthernetTypeIPv4:
			parser = d.parsers[firstIPv4]
		case layers.EthernetTypeIPv6:
			parser = d.parsers[firstIPv6]
		case layers.EthernetTypeDot1Q, layers.EthernetTypeQinQ:
			parser = d.parsers[firstDot1Q]
		default:
			return ErrNotIP
		}
		data = data[sllHeaderLen:]
	default: // raw IP
		switch data[0] >> 4 {
		case 4:
			parser = d.parsers[firstIPv4]
		case 6:
			parser = d.parsers[firstIPv6]
		default:
			return errIPVersion
		}
	}
	err := d.decodeLayers(parser, data)
	return d.fill(p, err)
}

// decodeLayers runs the parser. The parser already turns panics in layer
// decoders into errors; the recover here is a second guard that keeps the
// error a sentinel.
func (d *Decoder) decodeLayers(parser *gopacket.DecodingLayerParser, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errPanicRecovery
		}
	}()
	return parser.DecodeLayers(data, &d.decoded)
}

// fill turns the decoded layers (and the parser error, if any) into *p.
func (d *Decoder) fill(p *Packet, perr error) error {
	ipIdx := -1
	for i, t := range d.decoded {
		if t == layers.LayerTypeIPv4 || t == layers.LayerTypeIPv6 {
			ipIdx = i
			break
		}
	}
	if ipIdx < 0 {
		if perr != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, perr)
		}
		return d.notIP()
	}

	// Network layer: the outermost IP header.
	var (
		netPayload []byte // bytes after the IP header and its extension headers
		wire       int    // on-wire length of netPayload, from the IP length fields
		proto      uint8
	)
	after := d.decoded[ipIdx+1:]
	if d.decoded[ipIdx] == layers.LayerTypeIPv4 {
		ip := &d.ip4.IPv4
		if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
			return d.fragment4(p)
		}
		p.Src = netip.AddrFrom4([4]byte(ip.SrcIP))
		p.Dst = netip.AddrFrom4([4]byte(ip.DstIP))
		proto = uint8(ip.Protocol)
		netPayload = ip.Payload
		wire = int(ip.Length) - int(ip.IHL)*4
		p.IPLen = int(ip.Length)
		p.Raw, p.HdrLen = rawIP(ip.Contents, ip.Payload, p.IPLen), len(ip.Contents)
	} else {
		ip := &d.ip6.IPv6
		p.Src = netip.AddrFrom16([16]byte(ip.SrcIP))
		p.Dst = netip.AddrFrom16([16]byte(ip.DstIP))
		proto = uint8(ip.NextHeader)
		if ip.HopByHop != nil {
			proto = uint8(ip.HopByHop.NextHeader)
		}
		netPayload = ip.Payload
		for len(after) > 0 && layers.LayerClassIPv6Extension.Contains(after[0]) {
			if after[0] == layers.LayerTypeIPv6Fragment {
				return d.fragment6(p)
			}
			proto = uint8(d.ext.NextHeader) // the struct holds the last one decoded
			netPayload = d.ext.Payload
			after = after[1:]
		}
		if ip.Length == 0 { // jumbogram: trust the capture
			wire = len(netPayload)
			p.IPLen = 40 + len(ip.Payload)
		} else {
			p.IPLen = int(ip.Length) + 40
			// Extension headers (hop-by-hop included) between the fixed
			// header and netPayload, by offset within the same buffer.
			extLen := cap(ip.Contents) - cap(netPayload) - len(ip.Contents)
			wire = int(ip.Length) - extLen
		}
		hdr := ip.Contents[:cap(ip.Contents)-cap(netPayload)]
		p.Raw, p.HdrLen = rawIP(hdr, netPayload, p.IPLen), len(hdr)
	}
	p.Proto = proto
	wire = max(wire, 0)

	transport := gopacket.LayerTypeZero
	if len(after) > 0 {
		transport = after[0]
	}
	return d.fillTransport(p, transport, netPayload, wire, perr)
}

// rawIP returns the IP packet from its header hdr through the end of
// payload (both slices of one buffer), cut to the IP length n.
func rawIP(hdr, payload []byte, n int) []byte {
	whole := hdr[:len(hdr)+len(payload)]
	if n >= 0 && n < len(whole) {
		whole = whole[:n]
	}
	return whole[:len(whole):len(whole)]
}

// fillTransport fills the transport fields of p from the decoded transport
// layer (or the IP payload for other protocols).
func (d *Decoder) fillTransport(p *Packet, transport gopacket.LayerType, netPayload []byte, wire int, perr error) error {
	switch p.Proto {
	case ProtoTCP:
		if transport == layers.LayerTypeTCP {
			t := &d.tcp
			p.SrcPort, p.DstPort = uint16(t.SrcPort), uint16(t.DstPort)
			p.Seq, p.Ack, p.Window = t.Seq, t.Ack, t.Window
			p.Flags = netPayload[13]
			p.PayloadLen = max(wire-int(t.DataOffset)*4, 0)
			p.Payload = capBytes(t.Payload, p.PayloadLen)
			return nil
		}
		if perr != nil {
			// layers.TCP rejects bad options; Zeek ignores them and still
			// processes the segment, so fall back to the fixed header.
			return decodeTCPHeader(netPayload, wire, p)
		}
	case ProtoUDP:
		if transport == layers.LayerTypeUDP {
			u := &d.udp
			p.SrcPort, p.DstPort = uint16(u.SrcPort), uint16(u.DstPort)
			p.PayloadLen = max(wire-8, 0)
			if u.Length >= 8 {
				p.PayloadLen = min(p.PayloadLen, int(u.Length)-8)
			}
			p.Payload = capBytes(u.Payload, p.PayloadLen)
			return nil
		}
	case ProtoICMP:
		if transport == layers.LayerTypeICMPv4 {
			p.SrcPort = uint16(d.icmp4.TypeCode.Type())
			p.DstPort = uint16(d.icmp4.TypeCode.Code())
			p.PayloadLen = max(wire-8, 0)
			p.Payload = capBytes(d.icmp4.Payload, p.PayloadLen)
			return nil
		}
	case ProtoICMPv6:
		if transport == layers.LayerTypeICMPv6 {
			p.SrcPort = uint16(d.icmp6.TypeCode.Type())
			p.DstPort = uint16(d.icmp6.TypeCode.Code())
			p.PayloadLen = max(wire-8, 0)
			// layers.ICMPv6 stops after type, code and checksum; the other
			// 4 bytes of the 8-byte header come first in its payload.
			body := d.icmp6.Payload
			body = body[min(4, len(body)):]
			p.Payload = capBytes(body, p.PayloadLen)
			return nil
		}
	default:
		if perr != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, perr)
		}
		p.PayloadLen = wire
		p.Payload = capBytes(netPayload, wire)
		return nil
	}
	if perr != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, perr)
	}
	return errNoTransport
}

// notIP classifies a frame in which no IP header was decoded and the parser
// reported no error: either the link layer carries something else (ErrNotIP)
// or it announces IP with nothing after it (malformed).
func (d *Decoder) notIP() error {
	if len(d.decoded) == 0 {
		return errNoNetworkHdr
	}
	var next gopacket.LayerType
	switch d.decoded[len(d.decoded)-1] {
	case layers.LayerTypeEthernet:
		next = d.eth.NextLayerType()
	case layers.LayerTypeDot1Q:
		next = d.dot1q.NextLayerType()
	default:
		return errNoNetworkHdr
	}
	switch next {
	case layers.LayerTypeIPv4, layers.LayerTypeIPv6, layers.LayerTypeDot1Q:
		return errNoIPPayload
	}
	return ErrNotIP
}

// decodeTCPHeader fills the TCP fields of p from the fixed 20-byte header in
// b, for segments whose options layers.TCP refused.
func decodeTCPHeader(b []byte, wire int, p *Packet) error {
	if len(b) < 20 {
		return errBadTCPHeader
	}
	off := int(b[12]>>4) * 4
	if off < 20 || off > len(b) {
		return errBadTCPHeader
	}
	p.SrcPort = binary.BigEndian.Uint16(b[0:2])
	p.DstPort = binary.BigEndian.Uint16(b[2:4])
	p.Seq = binary.BigEndian.Uint32(b[4:8])
	p.Ack = binary.BigEndian.Uint32(b[8:12])
	p.Flags = b[13]
	p.Window = binary.BigEndian.Uint16(b[14:16])
	p.PayloadLen = max(wire-off, 0)
	p.Payload = capBytes(b[off:], p.PayloadLen)
	return nil
}

// capBytes returns b cut to at most n bytes, or nil when empty.
func capBytes(b []byte, n int) []byte {
	if n <= 0 || len(b) == 0 {
		return nil
	}
	if len(b) > n {
		return b[:n:n]
	}
	return b[:len(b):len(b)]
}
