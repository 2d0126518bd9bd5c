package packet

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"shoal/internal/zeekdata"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

var (
	ts0   = time.Unix(1300475168, 783842000).UTC()
	macA  = net.HardwareAddr{0, 1, 2, 3, 4, 5}
	macB  = net.HardwareAddr{6, 7, 8, 9, 10, 11}
	v4src = net.IP{141, 142, 220, 118}
	v4dst = net.IP{208, 80, 152, 3}
	v6src = net.ParseIP("2001:db8::1")
	v6dst = net.ParseIP("2001:db8::2")
)

// serialize builds a frame from layers, fixing lengths and checksums.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		switch x := l.(type) {
		case *layers.TCP:
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					_ = x.SetNetworkLayerForChecksum(nl)
				}
			}
		case *layers.UDP:
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					_ = x.SetNetworkLayerForChecksum(nl)
				}
			}
		case *layers.ICMPv6:
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					_ = x.SetNetworkLayerForChecksum(nl)
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

func ip4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: v4src, DstIP: v4dst}
}

func ip6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: v6src, DstIP: v6dst}
}

func synTCP() *layers.TCP {
	return &layers.TCP{
		SrcPort: 35642, DstPort: 80, Seq: 1000, Ack: 0, SYN: true, Window: 5840,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 180}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		},
	}
}

var (
	a4src = netip.MustParseAddr("141.142.220.118")
	a4dst = netip.MustParseAddr("208.80.152.3")
	a6src = netip.MustParseAddr("2001:db8::1")
	a6dst = netip.MustParseAddr("2001:db8::2")
)

func synWant() Packet {
	return Packet{Src: a4src, Dst: a4dst, SrcPort: 35642, DstPort: 80, Proto: ProtoTCP, Flags: FlagSYN,
		Seq: 1000, Window: 5840}
}

func TestDecodeEthernet(t *testing.T) {
	payload := gopacket.Payload("GET / HTTP/1.1\r\n\r\n")
	ackTCP := &layers.TCP{SrcPort: 80, DstPort: 35642, Seq: 7, Ack: 1001, ACK: true, PSH: true, FIN: true, Window: 100}

	ipOpts := ip4(layers.IPProtocolTCP)
	ipOpts.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 4, OptionData: []byte{4, 0}}} // record route

	cases := map[string]struct {
		frame []byte
		want  Packet
	}{
		"ipv4 tcp syn with options": {
			frame: serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synTCP()),
			want:  synWant(),
		},
		"ipv4 options": {
			frame: serialize(t, eth(layers.EthernetTypeIPv4), ipOpts, synTCP()),
			want:  synWant(),
		},
		"ipv4 tcp data": {
			frame: serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), ackTCP, payload),
			want: Packet{Src: a4src, Dst: a4dst, SrcPort: 80, DstPort: 35642, Proto: ProtoTCP,
				Flags: FlagACK | FlagPSH | FlagFIN, Seq: 7, Ack: 1001, Window: 100, PayloadLen: len(payload)},
		},
		"802.1q": {
			frame: serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4},
				ip4(layers.IPProtocolTCP), synTCP()),
			want: synWant(),
		},
		"qinq": {
			frame: serialize(t, eth(layers.EthernetTypeQinQ),
				&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
				&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv6},
				ip6(layers.IPProtocolTCP), synTCP()),
			want: Packet{Src: a6src, Dst: a6dst, SrcPort: 35642, DstPort: 80, Proto: ProtoTCP, Flags: FlagSYN,
				Seq: 1000, Window: 5840},
		},
		"ipv4 udp": {
			frame: serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP),
				&layers.UDP{SrcPort: 53, DstPort: 40000}, gopacket.Payload(make([]byte, 33))),
			want: Packet{Src: a4src, Dst: a4dst, SrcPort: 53, DstPort: 40000, Proto: ProtoUDP, PayloadLen: 33},
		},
		"ipv6 udp": {
			frame: serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP),
				&layers.UDP{SrcPort: 5353, DstPort: 5353}, gopacket.Payload(make([]byte, 12))),
			want: Packet{Src: a6src, Dst: a6dst, SrcPort: 5353, DstPort: 5353, Proto: ProtoUDP, PayloadLen: 12},
		},
		"icmp echo": {
			frame: serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 2}, gopacket.Payload(make([]byte, 56))),
			want: Packet{Src: a4src, Dst: a4dst, SrcPort: 8, DstPort: 0, Proto: ProtoICMP, PayloadLen: 56},
		},
		"icmp unreachable code": {
			frame: serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(make([]byte, 28))),
			want: Packet{Src: a4src, Dst: a4dst, SrcPort: 3, DstPort: 3, Proto: ProtoICMP, PayloadLen: 28},
		},
		"icmpv6 echo": {
			frame: serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6),
				&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, gopacket.Payload(make([]byte, 20))),
			want: Packet{Src: a6src, Dst: a6dst, SrcPort: 128, DstPort: 0, Proto: ProtoICMPv6, PayloadLen: 16},
		},
		"gre is bare ip": {
			frame: serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolGRE), gopacket.Payload(make([]byte, 24))),
			want:  Packet{Src: a4src, Dst: a4dst, Proto: 47, PayloadLen: 24},
		},
		"ip in ip stops at the outer header": {
			frame: serialize(t, eth(layers.EthernetTypeIPv4),
				&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolIPv4, SrcIP: net.IP{1, 1, 1, 1}, DstIP: net.IP{2, 2, 2, 2}},
				ip4(layers.IPProtocolTCP), synTCP()),
			want: Packet{Src: netip.MustParseAddr("1.1.1.1"), Dst: netip.MustParseAddr("2.2.2.2"), Proto: ProtoIPIP,
				PayloadLen: 20 + 32},
		},
		"ipv6 in ipv6 stops at the outer header": {
			frame: serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6), ip6(layers.IPProtocolTCP), synTCP()),
			want:  Packet{Src: a6src, Dst: a6dst, Proto: ProtoIPv6, PayloadLen: 40 + 32},
		},
	}
	d, err := NewDecoder(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var p Packet
			if err := d.Decode(tc.frame, ts0, &p); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			tc.want.TS, tc.want.WireLen = ts0, len(tc.frame)
			if !sameHeader(p, tc.want) {
				t.Errorf("got  %+v\nwant %+v", p, tc.want)
			}
		})
	}
}

// withExtension inserts an 8-byte IPv6 extension header of the given type
// after the fixed IPv6 header of an Ethernet frame and fixes the lengths.
func withExtension(frame []byte, ext layers.IPProtocol) []byte {
	const ipOff = 14
	next := frame[ipOff+6]
	out := append([]byte(nil), frame[:ipOff+40]...)
	hdr := []byte{next, 0, 0, 0, 0, 0, 0, 0}
	if ext == layers.IPProtocolIPv6Fragment {
		hdr = []byte{next, 0, 0, 0x08, 0, 0, 0, 1} // offset 1 (x8 bytes), not first
	}
	out = append(out, hdr...)
	out = append(out, frame[ipOff+40:]...)
	out[ipOff+6] = byte(ext)
	binary.BigEndian.PutUint16(out[ipOff+4:], binary.BigEndian.Uint16(frame[ipOff+4:])+8)
	return out
}

func TestDecodeIPv6Extensions(t *testing.T) {
	base := serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), synTCP(), gopacket.Payload("abc"))
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	cases := map[string]struct {
		frame   []byte
		wantErr error
	}{
		"destination options": {frame: withExtension(base, layers.IPProtocolIPv6Destination)},
		"hop by hop":          {frame: withExtension(base, layers.IPProtocolIPv6HopByHop)},
		"two headers": {frame: withExtension(withExtension(base, layers.IPProtocolIPv6Destination),
			layers.IPProtocolIPv6HopByHop)},
		"fragment": {frame: withExtension(base, layers.IPProtocolIPv6Fragment), wantErr: ErrFragment},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var p Packet
			err := d.Decode(tc.frame, ts0, &p)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Decode = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := Packet{TS: ts0, Src: a6src, Dst: a6dst, SrcPort: 35642, DstPort: 80, Proto: ProtoTCP,
				Flags: FlagSYN, Seq: 1000, Window: 5840, PayloadLen: 3, WireLen: len(tc.frame)}
			if !sameHeader(p, want) {
				t.Errorf("got  %+v\nwant %+v", p, want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	syn := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synTCP())
	arp := serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
		SourceHwAddress: macA, SourceProtAddress: v4src, DstHwAddress: macB, DstProtAddress: v4dst})
	llc := append([]byte(nil), syn[:12]...)
	llc = append(llc, 0, 20) // 802.3 length field
	llc = append(llc, make([]byte, 20)...)
	fragMF := serialize(t, eth(layers.EthernetTypeIPv4),
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4src, DstIP: v4dst,
			Flags: layers.IPv4MoreFragments}, synTCP())
	fragOff := serialize(t, eth(layers.EthernetTypeIPv4),
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4src, DstIP: v4dst,
			FragOffset: 100}, gopacket.Payload(make([]byte, 40)))
	lldp := append(append([]byte(nil), syn[:12]...), 0x88, 0xcc, 1, 2, 3, 4)
	vlanARP := serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{Type: layers.EthernetTypeARP}, gopacket.Payload(make([]byte, 28)))

	cases := map[string]struct {
		frame []byte
		want  error
	}{
		"arp":                   {arp, ErrNotIP},
		"llc":                   {llc, ErrNotIP},
		"lldp":                  {lldp, ErrNotIP},
		"vlan arp":              {vlanARP, ErrNotIP},
		"empty":                 {nil, ErrMalformed},
		"short ethernet":        {syn[:10], ErrMalformed},
		"ethernet only":         {syn[:14], ErrMalformed},
		"vlan only":             {serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{Type: layers.EthernetTypeIPv4})[:18], ErrMalformed},
		"truncated ip header":   {syn[:14+12], ErrMalformed},
		"ip header only":        {syn[:14+20], ErrMalformed},
		"truncated tcp header":  {syn[:14+20+10], ErrMalformed},
		"tcp options truncated": {syn[:14+20+22], ErrMalformed},
		"fragment first":        {fragMF, ErrFragment},
		"fragment later":        {fragOff, ErrFragment},
		"bad ihl": {func() []byte {
			b := append([]byte(nil), syn...)
			b[14] = 0x43
			return b
		}(), ErrMalformed},
		"ip version 6 in ipv4 ethertype garbage": {func() []byte {
			b := append([]byte(nil), syn...)
			b[14+2], b[14+3] = 0, 10 // total length below 20
			return b
		}(), ErrMalformed},
	}
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var p Packet
			p.SrcPort = 99 // must be overwritten
			err := d.Decode(tc.frame, ts0, &p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
			if p.SrcPort == 99 {
				t.Error("Decode left a stale field")
			}
		})
	}
}

func TestDecodeTolerance(t *testing.T) {
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	t.Run("snaplen cut payload counts wire length", func(t *testing.T) {
		frame := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP),
			&layers.TCP{SrcPort: 1, DstPort: 2, ACK: true}, gopacket.Payload(make([]byte, 1000)))
		var p Packet
		if err := d.Decode(frame[:14+20+20+10], ts0, &p); err != nil {
			t.Fatal(err)
		}
		if p.PayloadLen != 1000 || p.WireLen != 64 {
			t.Errorf("PayloadLen %d WireLen %d, want 1000 64", p.PayloadLen, p.WireLen)
		}
	})
	t.Run("ethernet padding is not payload", func(t *testing.T) {
		frame := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), &layers.TCP{SrcPort: 1, DstPort: 2, ACK: true})
		if len(frame) != 60 {
			t.Fatalf("frame not padded: %d", len(frame))
		}
		var p Packet
		if err := d.Decode(frame, ts0, &p); err != nil || p.PayloadLen != 0 {
			t.Errorf("PayloadLen %d, err %v", p.PayloadLen, err)
		}
	})
	t.Run("bad tcp option still decodes", func(t *testing.T) {
		frame := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synTCP(), gopacket.Payload("xy"))
		frame[14+20+20+1] = 1 // MSS option length 1: invalid
		var p Packet
		if err := d.Decode(frame, ts0, &p); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		want := synWant()
		want.TS, want.WireLen, want.PayloadLen = ts0, len(frame), 2
		if !sameHeader(p, want) {
			t.Errorf("got  %+v\nwant %+v", p, want)
		}
	})
	t.Run("bad checksums are ignored", func(t *testing.T) {
		frame := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synTCP())
		frame[14+10] ^= 0xff
		frame[14+20+16] ^= 0xff
		var p Packet
		if err := d.Decode(frame, ts0, &p); err != nil || p.DstPort != 80 {
			t.Errorf("Decode = %v, %+v", err, p)
		}
	})
	t.Run("fields reset between packets", func(t *testing.T) {
		var p Packet
		_ = d.Decode(serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synTCP()), ts0, &p)
		udp := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2})
		if err := d.Decode(udp, ts0, &p); err != nil {
			t.Fatal(err)
		}
		if p.Flags != 0 || p.Seq != 0 || p.Window != 0 {
			t.Errorf("stale tcp fields: %+v", p)
		}
	})
}

func TestLinkTypes(t *testing.T) {
	v4 := serialize(t, ip4(layers.IPProtocolTCP), synTCP())
	v6 := serialize(t, ip6(layers.IPProtocolTCP), synTCP())
	sll := func(proto layers.EthernetType, rest []byte) []byte {
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], 0) // to us
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6) // address length
		copy(h[6:], macA)                    // address, padded to 8
		binary.BigEndian.PutUint16(h[14:], uint16(proto))
		return append(h, rest...)
	}
	sllBadAddrLen := sll(layers.EthernetTypeIPv4, v4)
	binary.BigEndian.PutUint16(sllBadAddrLen[4:], 0xffff) // layers.LinuxSLL would panic on this
	vlanV4 := append([]byte{0, 10, 0x08, 0x00}, v4...)

	want4 := synWant()
	want6 := synWant()
	want6.Src, want6.Dst = a6src, a6dst

	cases := map[string]struct {
		link  layers.LinkType
		frame []byte
		want  *Packet
		err   error
	}{
		"raw 101 v4":       {link: layers.LinkTypeRaw, frame: v4, want: &want4},
		"raw 101 v6":       {link: layers.LinkTypeRaw, frame: v6, want: &want6},
		"dlt raw 12":       {link: 12, frame: v6, want: &want6},
		"dlt raw 14":       {link: 14, frame: v4, want: &want4},
		"ipv4 228":         {link: layers.LinkTypeIPv4, frame: v4, want: &want4},
		"ipv6 229":         {link: layers.LinkTypeIPv6, frame: v6, want: &want6},
		"raw bad nibble":   {link: layers.LinkTypeRaw, frame: append([]byte{0x50}, v4[1:]...), err: ErrMalformed},
		"raw empty":        {link: layers.LinkTypeRaw, frame: []byte{}, err: ErrMalformed},
		"raw truncated":    {link: layers.LinkTypeRaw, frame: v4[:30], err: ErrMalformed},
		"sll v4":           {link: layers.LinkTypeLinuxSLL, frame: sll(layers.EthernetTypeIPv4, v4), want: &want4},
		"sll v6":           {link: layers.LinkTypeLinuxSLL, frame: sll(layers.EthernetTypeIPv6, v6), want: &want6},
		"sll vlan":         {link: layers.LinkTypeLinuxSLL, frame: sll(layers.EthernetTypeDot1Q, vlanV4), want: &want4},
		"sll bad addr len": {link: layers.LinkTypeLinuxSLL, frame: sllBadAddrLen, want: &want4},
		"sll arp":          {link: layers.LinkTypeLinuxSLL, frame: sll(layers.EthernetTypeARP, make([]byte, 28)), err: ErrNotIP},
		"sll short":        {link: layers.LinkTypeLinuxSLL, frame: make([]byte, 15), err: ErrMalformed},
		"sll no ip":        {link: layers.LinkTypeLinuxSLL, frame: sll(layers.EthernetTypeIPv4, nil), err: ErrMalformed},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d, err := NewDecoder(tc.link)
			if err != nil {
				t.Fatal(err)
			}
			if d.LinkType() != tc.link {
				t.Errorf("LinkType() = %v", d.LinkType())
			}
			var p Packet
			err = d.Decode(tc.frame, ts0, &p)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Decode = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := *tc.want
			want.TS, want.WireLen = ts0, len(tc.frame)
			if !sameHeader(p, want) {
				t.Errorf("got  %+v\nwant %+v", p, want)
			}
		})
	}
}

func TestUnsupportedLinkType(t *testing.T) {
	for _, lt := range []layers.LinkType{layers.LinkTypeNull, layers.LinkTypePPP, layers.LinkTypeIEEE802_11, 200} {
		if _, err := NewDecoder(lt); !errors.Is(err, ErrUnsupportedLinkType) {
			t.Errorf("NewDecoder(%d) = %v, want ErrUnsupportedLinkType", lt, err)
		}
	}
}

// tracesDir finds ../shared/zeek/traces next to the module root.
func tracesDir(t testing.TB) string {
	t.Helper()
	return zeekdata.Path(t, "traces")
}

// TestRealTraces decodes every packet of the shared Zeek traces: none of
// them is malformed, and the wikipedia trace has the expected mix.
func TestRealTraces(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(tracesDir(t), "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no traces found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			r, err := pcapgo.NewReader(fh)
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecoder(r.LinkType())
			if err != nil {
				t.Fatal(err)
			}
			counts := map[uint8]int{}
			notIP := 0
			for {
				data, ci, err := r.ReadPacketData()
				if err != nil {
					break
				}
				var p Packet
				switch err := d.Decode(data, ci.Timestamp, &p); {
				case err == nil:
					counts[p.Proto]++
					if !p.Src.IsValid() || !p.Dst.IsValid() {
						t.Errorf("invalid addresses in %+v", p)
					}
				case errors.Is(err, ErrNotIP):
					notIP++
				default:
					t.Errorf("packet at %v: %v", ci.Timestamp, err)
				}
			}
			if filepath.Base(f) == "wikipedia.pcap" {
				if counts[ProtoTCP] == 0 || counts[ProtoUDP] == 0 {
					t.Errorf("wikipedia.pcap: protocol counts %v", counts)
				}
				if total := counts[ProtoTCP] + counts[ProtoUDP] + counts[ProtoICMP] + counts[ProtoICMPv6] + notIP; total != 136 {
					t.Errorf("wikipedia.pcap: %d packets classified (%v, %d not ip), want 136", total, counts, notIP)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	frames := map[string][]byte{
		"ipv4_tcp_syn": serialize(b, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synTCP()),
		"ipv6_tcp":     serialize(b, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), synTCP(), gopacket.Payload(make([]byte, 100))),
		"vlan_udp": serialize(b, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{Type: layers.EthernetTypeIPv4},
			ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 53, DstPort: 4000}, gopacket.Payload(make([]byte, 60))),
		"arp": serialize(b, eth(layers.EthernetTypeARP), gopacket.Payload(make([]byte, 28))),
	}
	for name, frame := range frames {
		b.Run(name, func(b *testing.B) {
			d, _ := NewDecoder(layers.LinkTypeEthernet)
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				_ = d.Decode(frame, ts0, &p)
			}
		})
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	frame := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synTCP())
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	var p Packet
	allocs := testing.AllocsPerRun(1000, func() {
		if err := d.Decode(frame, ts0, &p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocates %.1f times per packet", allocs)
	}
}

// sameHeader compares every field but Payload, Raw, HdrLen and IPLen,
// which TestPayloadAndIPLen checks.
func sameHeader(a, b Packet) bool {
	a.Payload, b.Payload = nil, nil
	a.Raw, b.Raw, a.HdrLen, b.HdrLen = nil, nil, 0, 0
	a.IPLen, b.IPLen = 0, 0
	return a.Equal(&b)
}

func TestPayloadAndIPLen(t *testing.T) {
	body := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	badOpt := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synTCP(), gopacket.Payload("xy"))
	badOpt[14+20+20+1] = 1 // MSS option length 1: layers.TCP refuses it
	tcp4 := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 1, DstPort: 80, ACK: true, PSH: true}, gopacket.Payload(body))
	padded := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 1, DstPort: 80, ACK: true}, gopacket.Payload("ab"))
	cases := map[string]struct {
		frame   []byte
		payload string
		plen    int
		iplen   int
	}{
		"ipv4 tcp": {frame: tcp4, payload: string(body), plen: len(body), iplen: 20 + 20 + len(body)},
		"snaplen cut": {frame: tcp4[:14+20+20+5], payload: string(body[:5]), plen: len(body),
			iplen: 20 + 20 + len(body)},
		"ethernet padding excluded": {frame: padded, payload: "ab", plen: 2, iplen: 42},
		"tcp without payload":       {frame: serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synTCP()), iplen: 20 + 32},
		"bad tcp option fallback":   {frame: badOpt, payload: "xy", plen: 2, iplen: 20 + 32 + 2},
		"ipv6 udp": {frame: serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 5353, DstPort: 5353}, gopacket.Payload("dns!")), payload: "dns!", plen: 4, iplen: 40 + 8 + 4},
		"icmp echo": {frame: serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 2}, gopacket.Payload("ping")),
			payload: "ping", plen: 4, iplen: 20 + 8 + 4},
		"icmpv6 echo": {frame: serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6),
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, gopacket.Payload("\x00\x01\x00\x02pong")),
			payload: "pong", plen: 4, iplen: 40 + 8 + 4},
	}
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var p Packet
			if err := d.Decode(tc.frame, ts0, &p); err != nil {
				t.Fatal(err)
			}
			if string(p.Payload) != tc.payload || p.PayloadLen != tc.plen || p.IPLen != tc.iplen {
				t.Errorf("payload %q len %d iplen %d, want %q %d %d", p.Payload, p.PayloadLen, p.IPLen,
					tc.payload, tc.plen, tc.iplen)
			}
			if len(p.Payload) > 0 && &p.Payload[0] != &tc.frame[len(tc.frame)-len(p.Payload)-trailer(tc.frame, p)] {
				t.Error("payload is not a slice of the frame")
			}
		})
	}
	t.Run("equal compares payload content", func(t *testing.T) {
		var a, b Packet
		_ = d.Decode(tcp4, ts0, &a)
		_ = d.Decode(append([]byte(nil), tcp4...), ts0, &b)
		if !a.Equal(&b) {
			t.Error("equal packets differ")
		}
		b.Payload = b.Payload[:3]
		if a.Equal(&b) {
			t.Error("payloads of different content compare equal")
		}
	})
}

// trailer is the number of frame bytes after the payload (link padding).
func trailer(frame []byte, p Packet) int {
	return len(frame) - (14 + p.IPLen) + max(0, (14+p.IPLen)-len(frame))
}
