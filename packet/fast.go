package packet

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/gopacket/layers"
)

// fast decodes the common frame shapes by hand: Ethernet (with at most one
// 802.1Q tag), raw IP or Linux SLL; IPv4 without options or IPv6 without
// extension headers, complete (not cut by the snap length) and not a
// fragment; a complete TCP, UDP, ICMP or ICMPv6 header, or an IP-in-IP or
// GRE payload. It reports false,
// leaving *p to be overwritten, for anything else, which the gopacket path
// then decodes. For the frames it accepts it fills *p exactly as the
// gopacket path would (TestFastPathMatches checks this on every trace).
func (d *Decoder) fast(link layers.LinkType, data []byte, p *Packet) bool {
	var et uint16
	switch link {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return false
		}
		et, data = binary.BigEndian.Uint16(data[12:14]), data[14:]
		if et == uint16(layers.EthernetTypeDot1Q) {
			if len(data) < 4 {
				return false
			}
			et, data = binary.BigEndian.Uint16(data[2:4]), data[4:]
		}
	case layers.LinkTypeLinuxSLL:
		if len(data) < sllHeaderLen {
			return false
		}
		et, data = binary.BigEndian.Uint16(data[14:16]), data[sllHeaderLen:]
	default: // raw IP
		switch data[0] >> 4 {
		case 4:
			et = uint16(layers.EthernetTypeIPv4)
		case 6:
			et = uint16(layers.EthernetTypeIPv6)
		default:
			return false
		}
	}
	var seg []byte // transport header and payload, cut to the IP length
	switch et {
	case uint16(layers.EthernetTypeIPv4):
		if len(data) < 20 || data[0] != 0x45 {
			return false // not IPv4, or IPv4 with options
		}
		total := int(binary.BigEndian.Uint16(data[2:4]))
		if total < 20 || total > len(data) || binary.BigEndian.Uint16(data[6:8])&0x3fff != 0 {
			return false // bad or cut length, or a fragment (MF or an offset)
		}
		p.Src = netip.AddrFrom4([4]byte(data[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(data[16:20]))
		p.Proto = data[9]
		p.IPLen = total
		seg = data[20:total]
		p.Raw, p.HdrLen = data[:total:total], 20
	case uint16(layers.EthernetTypeIPv6):
		if len(data) < 40 || data[0]>>4 != 6 {
			return false
		}
		plen := int(binary.BigEndian.Uint16(data[4:6]))
		if plen == 0 || 40+plen > len(data) {
			return false // jumbogram or cut
		}
		p.Src = netip.AddrFrom16([16]byte(data[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(data[24:40]))
		p.Proto = data[6]
		p.IPLen = 40 + plen
		seg = data[40 : 40+plen]
		p.Raw, p.HdrLen = data[:40+plen:40+plen], 40
	default:
		return false
	}
	switch p.Proto {
	case ProtoTCP:
		if len(seg) < 20 {
			return false
		}
		off := int(seg[12]>>4) * 4
		if off < 20 || off > len(seg) {
			return false
		}
		p.SrcPort = binary.BigEndian.Uint16(seg[0:2])
		p.DstPort = binary.BigEndian.Uint16(seg[2:4])
		p.Seq = binary.BigEndian.Uint32(seg[4:8])
		p.Ack = binary.BigEndian.Uint32(seg[8:12])
		p.Flags = seg[13]
		p.Window = binary.BigEndian.Uint16(seg[14:16])
		p.PayloadLen = len(seg) - off
		p.Payload = capBytes(seg[off:], p.PayloadLen)
	case ProtoUDP:
		if len(seg) < 8 {
			return false
		}
		ulen := int(binary.BigEndian.Uint16(seg[4:6]))
		if ulen < 8 || ulen > len(seg) {
			return false
		}
		p.SrcPort = binary.BigEndian.Uint16(seg[0:2])
		p.DstPort = binary.BigEndian.Uint16(seg[2:4])
		p.PayloadLen = ulen - 8
		p.Payload = capBytes(seg[8:ulen], p.PayloadLen)
	case ProtoICMP, ProtoICMPv6:
		if len(seg) < 8 || (p.Proto == ProtoICMP) != (et == uint16(layers.EthernetTypeIPv4)) {
			return false
		}
		p.SrcPort, p.DstPort = uint16(seg[0]), uint16(seg[1])
		p.PayloadLen = len(seg) - 8
		p.Payload = capBytes(seg[8:], p.PayloadLen)
	case ProtoIPIP, ProtoIPv6, ProtoGRE:
		p.PayloadLen = len(seg)
		p.Payload = capBytes(seg, p.PayloadLen)
	default:
		return false
	}
	return true
}
