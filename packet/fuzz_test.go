package packet

import (
	"errors"
	"testing"

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
