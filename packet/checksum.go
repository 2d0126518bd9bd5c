package packet

import "encoding/binary"

// vxlanPort is VXLAN's UDP port. Zeek accepts a zero UDP checksum on it
// over IPv6 (RFC 7348 asks senders to transmit zero).
const vxlanPort = 4789

// sum16 adds b to s as big-endian 16-bit words (an odd last byte is padded
// with zero), the ones'-complement sum of RFC 1071 before folding.
func sum16(b []byte, s uint64) uint64 {
	for len(b) >= 8 {
		s += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

// fold folds a sum into 16 bits.
func fold(s uint64) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// Checksums reports whether the IPv4 header checksum and the transport
// checksum (TCP, UDP, ICMP, ICMPv6) of p are correct, as Zeek checks them
// when it runs without -C. A checksum that cannot be checked counts as
// correct: a packet the capture cut short, a packet built without its raw
// bytes (Raw nil), a transport without a checksum, an IPv4 UDP datagram
// with checksum 0 ("none"), and an IPv6 UDP datagram with checksum 0 that
// looks like VXLAN on port 4789. IPv6 has no header checksum.
func (p *Packet) Checksums() (ipOK, transportOK bool) {
	raw := p.Raw
	if len(raw) < p.IPLen || p.HdrLen <= 0 || p.HdrLen > len(raw) {
		return true, true
	}
	v6 := !p.Src.Is4() // the header the decoder read, whatever its version nibble says
	if (v6 && p.HdrLen < 40) || (!v6 && p.HdrLen < 20) {
		return true, true
	}
	if !v6 {
		if fold(sum16(raw[:min(p.HdrLen, int(raw[0]&0x0f)*4)], 0)) != 0xffff {
			return false, true
		}
	}
	seg := raw[p.HdrLen:]
	var pseudo uint64
	if v6 {
		pseudo = sum16(raw[8:40], 0) + uint64(len(seg))
	} else {
		pseudo = sum16(raw[12:20], 0) + uint64(len(seg))
	}
	switch p.Proto {
	case ProtoTCP:
		if len(seg) < 20 {
			return true, true
		}
		return true, fold(sum16(seg, pseudo+uint64(ProtoTCP))) == 0xffff
	case ProtoUDP:
		if len(seg) < 8 {
			return true, true
		}
		if binary.BigEndian.Uint16(seg[6:8]) == 0 {
			if !v6 {
				return true, true // no checksum
			}
			if binary.BigEndian.Uint16(seg[2:4]) == vxlanPort && len(seg) > 8+8+14 && seg[8]&0x08 != 0 {
				return true, true
			}
		}
		return true, fold(sum16(seg, pseudo+uint64(ProtoUDP))) == 0xffff
	case ProtoICMP:
		if v6 || len(seg) < 8 {
			return true, true
		}
		return true, fold(sum16(seg, 0)) == 0xffff
	case ProtoICMPv6:
		if !v6 || len(seg) < 8 {
			return true, true
		}
		return true, fold(sum16(seg, pseudo+uint64(ProtoICMPv6))) == 0xffff
	}
	return true, true
}
