package packet

import (
	"encoding/binary"
	"errors"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// The gopacket layers below stop the parser after the outermost IP header
// unless a transport header follows: a second IP header (IP-in-IP) or a GRE
// header is left to the tunnel code, which decides whether and how to
// decapsulate it (Zeek's maximum depth, tunnel tracking).

// stopUnlessTransport keeps next if it is a transport layer the Decoder
// decodes, or a fragment, and stops the parser otherwise.
func stopUnlessTransport(next gopacket.LayerType) gopacket.LayerType {
	switch next {
	case layers.LayerTypeTCP, layers.LayerTypeUDP, layers.LayerTypeICMPv4, layers.LayerTypeICMPv6,
		gopacket.LayerTypeFragment:
		return next
	}
	if layers.LayerClassIPv6Extension.Contains(next) {
		return next
	}
	return gopacket.LayerTypeZero
}

// outerIPv4 is layers.IPv4 that does not decode an IP header it carries.
type outerIPv4 struct{ layers.IPv4 }

func (l *outerIPv4) NextLayerType() gopacket.LayerType {
	next := l.IPv4.NextLayerType()
	if layers.LayerClassIPv6Extension.Contains(next) {
		return gopacket.LayerTypeZero // IPv6 extension numbers mean nothing after IPv4
	}
	return stopUnlessTransport(next)
}

// outerIPv6 is layers.IPv6 that does not decode an IP header it carries.
type outerIPv6 struct{ layers.IPv6 }

func (l *outerIPv6) NextLayerType() gopacket.LayerType {
	return stopUnlessTransport(l.IPv6.NextLayerType())
}

// outerExtension skips an IPv6 extension header and stops before an IP
// header it announces.
type outerExtension struct{ layers.IPv6ExtensionSkipper }

func (l *outerExtension) NextLayerType() gopacket.LayerType {
	return stopUnlessTransport(l.IPv6ExtensionSkipper.NextLayerType())
}

// ipv6Fragment decodes an IPv6 fragment header and stops the parser: what
// follows is a piece of a datagram, decoded once it is reassembled.
type ipv6Fragment struct {
	layers.BaseLayer
	next   uint8
	offset int // bytes
	more   bool
	id     uint32
}

var errShortFragHeader = errors.New("ipv6 fragment header shorter than 8 bytes")

func (l *ipv6Fragment) CanDecode() gopacket.LayerClass    { return layers.LayerTypeIPv6Fragment }
func (l *ipv6Fragment) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

func (l *ipv6Fragment) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 8 {
		df.SetTruncated()
		return errShortFragHeader
	}
	l.next = data[0]
	fo := binary.BigEndian.Uint16(data[2:4])
	l.offset = int(fo>>3) * 8
	l.more = fo&1 != 0
	l.id = binary.BigEndian.Uint32(data[4:8])
	l.BaseLayer = layers.BaseLayer{Contents: data[:8], Payload: data[8:]}
	return nil
}
