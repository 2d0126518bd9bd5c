package packet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var fuzzLinks = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeRaw, 12, 14, layers.LinkTypeIPv4, layers.LinkTypeIPv6, layers.LinkTypeLinuxSLL,
}

// FuzzDecode feeds arbitrary bytes to a decoder of each link type: it must
// never panic, must classify every failure with a sentinel, and must return
// valid addresses on success.
func FuzzDecode(f *testing.F) {
	for i := range fuzzLinks {
		for _, seed := range fuzzSeeds(f) {
			f.Add(uint8(i), seed)
		}
	}
	decoders := make([]*Decoder, len(fuzzLinks))
	for i, lt := range fuzzLinks {
		d, err := NewDecoder(lt)
		if err != nil {
			f.Fatal(err)
		}
		decoders[i] = d
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		d := decoders[int(which)%len(decoders)]
		var p Packet
		err := d.Decode(data, ts0, &p)
		switch {
		case err == nil:
			if !p.Src.IsValid() || !p.Dst.IsValid() {
				t.Fatalf("success with invalid addresses: %+v", p)
			}
			if p.PayloadLen < 0 || p.WireLen != len(data) || len(p.Payload) > p.PayloadLen || p.IPLen < 0 {
				t.Fatalf("bad lengths: %+v", p)
			}
		case errors.Is(err, ErrMalformed), errors.Is(err, ErrNotIP), errors.Is(err, ErrFragment):
		default:
			t.Fatalf("unclassified error %v", err)
		}
	})
}

// fuzzSeeds are valid frames of several shapes.
func fuzzSeeds(f *testing.F) [][]byte {
	eth4 := serialize(f, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synTCP(), gopacket.Payload("hi"))
	eth6 := serialize(f, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2})
	raw4 := serialize(f, ip4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: 0x0800})
	raw6 := serialize(f, ip6(layers.IPProtocolICMPv6), &layers.ICMPv6{TypeCode: 0x8000}, gopacket.Payload(make([]byte, 8)))
	sll := append([]byte{0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00}, raw4...)
	vlan := serialize(f, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{Type: layers.EthernetTypeIPv4},
		ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 53, DstPort: 4000}, gopacket.Payload("abc"))
	return [][]byte{eth4, eth6, raw4, raw6, sll, vlan, withExtension(eth6, layers.IPProtocolIPv6Destination)}
}

// FuzzDecap feeds arbitrary bytes to every tunnel parser: none may panic,
// and an inner frame is always a suffix of the input.
func FuzzDecap(f *testing.F) {
	in4 := serialize(f, ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("x"))
	for _, seed := range [][]byte{
		append([]byte{0x08, 0, 0, 0, 0, 0, 1, 0}, in4...),
		append([]byte{0, 0, 0x08, 0x00, 0, 0, 1, 0}, in4...),
		append([]byte{0x30, 0xff, 0, byte(len(in4)), 0, 0, 0, 1}, in4...),
		append([]byte{0, 0, 0x08, 0x00}, in4...),
		append([]byte{0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x03, 0, 0x21}, in4...),
		append([]byte{0x88, 0x01}, make([]byte, 40)...),
		in4,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(name string, d Decap) {
			if d.Inner != nil && (len(d.Inner) > len(b) || !bytes.Equal(d.Inner, b[len(b)-len(d.Inner):])) {
				t.Fatalf("%s: inner frame is not a suffix of the input", name)
			}
		}
		check("vxlan", DecapVXLAN(b))
		check("geneve", DecapGeneve(b))
		check("ayiya", DecapAYIYA(b))
		check("gtp", DecapGTPv1(b, false))
		check("gre", DecapGRE(b))
		check("ipip", DecapIPinIP(ProtoIPIP, b))
		check("ip6", DecapIPinIP(ProtoIPv6, b))
		ForEachIEEE80211(b, func(_ uint16, p []byte) {
			if len(p) > len(b) {
				t.Fatal("802.11 payload longer than the frame")
			}
		})
	})
}

// FuzzReassembly feeds arbitrary IPv4 and IPv6 fragments (from one
// template, with fuzzed offsets, flags and lengths) to one decoder: it
// must never panic, and a completed datagram must decode within bounds.
func FuzzReassembly(f *testing.F) {
	f.Add([]byte{0, 0x20, 0, 0, 3, 0x00, 8, 0})
	f.Fuzz(func(t *testing.T, spec []byte) {
		d, _ := NewDecoder(layers.LinkTypeRaw)
		var p Packet
		for i := 0; i+4 <= len(spec) && i < 64; i += 4 {
			n := int(spec[i+3])%64 + 1
			ip := serialize(t, &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 9, Protocol: layers.IPProtocolUDP,
				SrcIP: v4src, DstIP: v4dst}, gopacket.Payload(make([]byte, n)))
			binary.BigEndian.PutUint16(ip[6:], uint16(spec[i])<<8|uint16(spec[i+1])) // flags and offset
			if spec[i+2]&1 == 1 {
				ip = ip[:len(ip)-1] // cut by the capture
			}
			if err := d.Decode(ip, ts0.Add(time.Duration(spec[i+2])*time.Second), &p); err == nil {
				if p.PayloadLen < 0 || len(p.Payload) > p.PayloadLen || len(p.Raw) > p.IPLen {
					t.Fatalf("bad lengths: %+v", p)
				}
			}
		}
	})
}
