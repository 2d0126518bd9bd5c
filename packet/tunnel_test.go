package packet

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// innerIPv4 is a complete IPv4/UDP packet to put inside tunnels.
func innerIPv4(t testing.TB) []byte {
	return serialize(t, ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1000, DstPort: 53}, gopacket.Payload("dns?"))
}

func innerIPv6(t testing.TB) []byte {
	return serialize(t, ip6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1000, DstPort: 53}, gopacket.Payload("dns?"))
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDecapVXLANGeneveAYIYA(t *testing.T) {
	in4 := innerIPv4(t)
	ethIn := cat(make([]byte, 12), []byte{0x08, 0x00}, in4)
	cases := map[string]struct {
		got  Decap
		want Decap
	}{
		"vxlan":           {DecapVXLAN(cat([]byte{0x08, 0, 0, 0, 0, 0x10, 0x92, 0}, ethIn)), Decap{Inner: ethIn, Link: layers.LinkTypeEthernet, Confirm: true}},
		"vxlan no i flag": {DecapVXLAN(cat([]byte{0, 0, 0, 0, 0, 0, 0, 0}, ethIn)), Decap{Violation: "VXLAN 'I' flag not set"}},
		"vxlan short":     {DecapVXLAN([]byte{8, 0, 0}), Decap{Violation: "VXLAN header truncation"}},
		"vxlan empty":     {DecapVXLAN([]byte{8, 0, 0, 0, 0, 0, 0, 0}), Decap{Confirm: true, Weird: "vxlan_empty_packet"}},
		"geneve eth":      {DecapGeneve(cat([]byte{0, 0, 0x65, 0x58, 0, 0, 1, 0}, ethIn)), Decap{Inner: ethIn, Link: layers.LinkTypeEthernet, Confirm: true}},
		"geneve ipv4 with options": {DecapGeneve(cat([]byte{2, 0, 0x08, 0x00, 0, 0, 1, 0}, make([]byte, 8), in4)),
			Decap{Inner: in4, Link: layers.LinkTypeRaw, Confirm: true}},
		"geneve options cut": {DecapGeneve([]byte{2, 0, 0x08, 0x00, 0, 0, 1, 0, 1, 2}), Decap{Violation: "Geneve option header truncation"}},
		"geneve version 1":   {DecapGeneve(cat([]byte{0x40, 0, 0x08, 0x00, 0, 0, 1, 0}, in4)), Decap{Weird: "geneve_invalid_version"}},
		"geneve arp":         {DecapGeneve(cat([]byte{0, 0, 0x08, 0x06, 0, 0, 1, 0}, in4)), Decap{Confirm: true, Weird: "geneve_unknown_protocol"}},
		// identity 1<<nibble bytes, signature 4*nibble bytes (0x52: SHA-1, 20)
		"ayiya forward": {DecapAYIYA(cat([]byte{0x41, 0x52, 0x11, 4, 0, 0, 0, 0}, make([]byte, 16+20), in4)),
			Decap{Inner: in4, Link: layers.LinkTypeRaw, Confirm: true}},
		"ayiya identity 256": {DecapAYIYA(cat([]byte{0x81, 0x52, 0x11, 4, 0, 0, 0, 0}, make([]byte, 256+20), in4)),
			Decap{Inner: in4, Link: layers.LinkTypeRaw, Confirm: true}},
		"ayiya no signature": {DecapAYIYA(cat([]byte{0x11, 0x02, 0x11, 41, 0, 0, 0, 0}, make([]byte, 2), innerIPv6(t))),
			Decap{Inner: innerIPv6(t), Link: layers.LinkTypeRaw, Confirm: true}},
		"ayiya heartbeat": {DecapAYIYA(cat([]byte{0x41, 0x52, 0x10, 59, 0, 0, 0, 0}, make([]byte, 16+20))), Decap{}},
		"ayiya cut":       {DecapAYIYA(cat([]byte{0x81, 0x52, 0x11, 4, 0, 0, 0, 0}, make([]byte, 256+19))), Decap{Violation: "Truncated AYIYA"}},
		"ayiya not ip":    {DecapAYIYA(cat([]byte{0x41, 0x52, 0x11, 17, 0, 0, 0, 0}, make([]byte, 16+20), in4)), Decap{Confirm: true, Weird: "ayiya_unknown_protocol"}},
	}
	for name, tc := range cases {
		if !sameDecap(tc.got, tc.want) {
			t.Errorf("%s: got %+v\nwant %+v", name, tc.got, tc.want)
		}
	}
	if !LooksLikeAYIYA([]byte{0x41, 0x52, 0x11}) || LooksLikeAYIYA([]byte{0x41, 0x52}) {
		t.Error("LooksLikeAYIYA")
	}
}

func sameDecap(a, b Decap) bool {
	return bytes.Equal(a.Inner, b.Inner) && a.Link == b.Link && a.Confirm == b.Confirm && a.Violation == b.Violation &&
		a.Weird == b.Weird
}

func gtp(flags, msg byte, rest ...[]byte) []byte {
	body := cat(rest...)
	h := []byte{flags, msg, 0, 0, 0, 0, 0, 1}
	binary.BigEndian.PutUint16(h[2:], uint16(len(body)))
	return cat(h, body)
}

func TestDecapGTPv1(t *testing.T) {
	in4, in6 := innerIPv4(t), innerIPv6(t)
	ext := []byte{1, 0xaa, 0xbb, 0} // one 4-byte extension header, then none
	cases := map[string]struct {
		b     []byte
		inGTP bool
		want  Decap
	}{
		"g-pdu ipv4":         {b: gtp(0x30, 0xff, in4), want: Decap{Inner: in4, Link: layers.LinkTypeRaw, Confirm: true}},
		"g-pdu ipv6":         {b: gtp(0x30, 0xff, in6), want: Decap{Inner: in6, Link: layers.LinkTypeRaw, Confirm: true}},
		"sequence number":    {b: gtp(0x32, 0xff, []byte{0, 1, 0, 0}, in4), want: Decap{Inner: in4, Link: layers.LinkTypeRaw, Confirm: true}},
		"extension header":   {b: gtp(0x34, 0xff, []byte{0, 0, 0, 0x85}, ext, in4), want: Decap{Inner: in4, Link: layers.LinkTypeRaw, Confirm: true}},
		"echo request":       {b: gtp(0x32, 1, []byte{0, 1, 0, 0}), want: Decap{}},
		"gtp prime":          {b: gtp(0x20, 0xff, in4), want: Decap{}},
		"version 2":          {b: gtp(0x48, 0xff, in4), want: Decap{Violation: "GTPv1 bad Version"}},
		"gtp in gtp":         {b: gtp(0x30, 0xff, in4), inGTP: true, want: Decap{Violation: "GTP-in-GTP"}},
		"not ip":             {b: gtp(0x30, 0xff, make([]byte, 40)), want: Decap{Violation: "non-IP packet in GTPv1"}},
		"inner cut":          {b: gtp(0x30, 0xff, in4[:len(in4)-1]), want: Decap{Violation: "Truncated GTPv1"}},
		"inner trailing":     {b: gtp(0x30, 0xff, in4, []byte{0}), want: Decap{Violation: "GTPv1 payload length"}},
		"header cut":         {b: []byte{0x30, 0xff, 0}, want: Decap{Violation: "Binpac exception: GTPv1 header truncated"}},
		"extension header 0": {b: gtp(0x34, 0xff, []byte{0, 0, 0, 0x85}, []byte{0}), want: Decap{Violation: "Binpac exception: GTPv1 extension header truncated"}},
	}
	for name, tc := range cases {
		if got := DecapGTPv1(tc.b, tc.inGTP); !sameDecap(got, tc.want) {
			t.Errorf("%s: got %+v\nwant %+v", name, got, tc.want)
		}
	}
}

func TestDecapGRE(t *testing.T) {
	in4, in6 := innerIPv4(t), innerIPv6(t)
	eth := cat(make([]byte, 12), []byte{0x08, 0x00}, in4)
	ppp := func(proto uint16, pkt []byte) []byte {
		return cat([]byte{0x30, 0x81, 0x88, 0x0b, 0, byte(len(pkt) + 4), 0, 7, 0, 0, 0, 1}, // K, S, A set; version 1
			[]byte{0, 0, 0, 2}, []byte{0xff, 0x03, byte(proto >> 8), byte(proto)}, pkt)
	}
	erspan2 := cat([]byte{0x10, 0, 0x88, 0xbe, 0, 0, 0, 5}, []byte{0x10, 1, 0, 0, 0, 0, 0, 0}, eth)
	erspan3 := cat([]byte{0, 0, 0x22, 0xeb}, []byte{0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, eth)
	erspan3opt := cat([]byte{0, 0, 0x22, 0xeb}, []byte{0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, make([]byte, 8), eth)
	cases := map[string]struct {
		b    []byte
		want Decap
	}{
		"ipv4":                 {cat([]byte{0, 0, 0x08, 0x00}, in4), Decap{Inner: in4, Link: layers.LinkTypeRaw}},
		"key and sequence":     {cat([]byte{0x30, 0, 0x86, 0xdd}, make([]byte, 8), in6), Decap{Inner: in6, Link: layers.LinkTypeRaw}},
		"checksum":             {cat([]byte{0x80, 0, 0x08, 0x00}, make([]byte, 4), in4), Decap{Inner: in4, Link: layers.LinkTypeRaw}},
		"transparent ethernet": {cat([]byte{0, 0, 0x65, 0x58}, eth), Decap{Inner: eth, Link: layers.LinkTypeEthernet}},
		"erspan type i":        {cat([]byte{0, 0, 0x88, 0xbe}, eth), Decap{Inner: eth, Link: layers.LinkTypeEthernet}},
		"erspan type ii":       {erspan2, Decap{Inner: eth, Link: layers.LinkTypeEthernet}},
		"erspan type iii":      {erspan3, Decap{Inner: eth, Link: layers.LinkTypeEthernet}},
		"erspan iii subheader": {erspan3opt, Decap{Inner: eth, Link: layers.LinkTypeEthernet}},
		"erspan bad version":   {cat([]byte{0x10, 0, 0x88, 0xbe, 0, 0, 0, 5}, []byte{0x30, 1, 0, 0, 0, 0, 0, 0}, eth), Decap{Weird: "unknown_ERSPAN_version"}},
		"aruba":                {cat([]byte{0, 0, 0x82, 0x00}, []byte{8, 0}), Decap{Inner: []byte{8, 0}, Link: LinkTypeIEEE80211}},
		"pptp ipv4":            {ppp(0x0021, in4), Decap{Inner: in4, Link: layers.LinkTypeRaw}},
		"pptp ipv6":            {ppp(0x0057, in6), Decap{Inner: in6, Link: layers.LinkTypeRaw}},
		"pptp lcp":             {ppp(0xc021, in4), Decap{Weird: "non_ip_packet_in_encap"}},
		"pptp wrong length":    {ppp(0x0021, cat(in4, []byte{0})), Decap{Weird: "inner_IP_payload_length_mismatch"}},
		"enhanced not ppp":     {cat([]byte{0x20, 0x01, 0x08, 0x00, 0, 0, 0, 0}, in4), Decap{Weird: "egre_protocol_type"}},
		"routing":              {cat([]byte{0x40, 0, 0x08, 0x00}, in4), Decap{Weird: "gre_routing"}},
		"reserved flags":       {cat([]byte{0x00, 0x08, 0x08, 0x00}, in4), Decap{Weird: "unknown_gre_flags"}},
		"version 2":            {cat([]byte{0, 2, 0x08, 0x00}, in4), Decap{Weird: "unknown_gre_version"}},
		"short":                {[]byte{0, 0, 8}, Decap{Weird: "truncated_GRE"}},
		"key cut":              {[]byte{0x20, 0, 0x08, 0x00, 0}, Decap{Weird: "truncated_GRE"}},
	}
	for name, tc := range cases {
		if got := DecapGRE(tc.b); !sameDecap(got, tc.want) {
			t.Errorf("%s: got %+v\nwant %+v", name, got, tc.want)
		}
	}
}

func TestDecapIPinIP(t *testing.T) {
	in4, in6 := innerIPv4(t), innerIPv6(t)
	cases := map[string]struct {
		proto uint8
		b     []byte
		want  Decap
	}{
		"4in4":          {ProtoIPIP, in4, Decap{Inner: in4, Link: layers.LinkTypeRaw}},
		"6in4 / 6in6":   {ProtoIPv6, in6, Decap{Inner: in6, Link: layers.LinkTypeRaw}},
		"wrong version": {ProtoIPIP, in6, Decap{Weird: "invalid_inner_IP_version"}},
		"cut":           {ProtoIPIP, in4[:len(in4)-2], Decap{Weird: "truncated_inner_IP"}},
		"trailing":      {ProtoIPv6, cat(in6, []byte{0}), Decap{Weird: "inner_IP_payload_length_mismatch"}},
		"empty":         {ProtoIPIP, nil, Decap{Weird: "invalid_inner_IP_version"}},
	}
	for name, tc := range cases {
		if got := DecapIPinIP(tc.proto, tc.b); !sameDecap(got, tc.want) {
			t.Errorf("%s: got %+v\nwant %+v", name, got, tc.want)
		}
	}
}

func TestForEachIEEE80211(t *testing.T) {
	llc := func(et uint16, body string) []byte {
		return cat([]byte{0xaa, 0xaa, 0x03, 0, 0, 0, byte(et >> 8), byte(et)}, []byte(body))
	}
	hdr := func(fc0, fc1 byte) []byte { return cat([]byte{fc0, fc1}, make([]byte, 22)) }
	sub := func(b []byte) []byte {
		h := make([]byte, 14)
		binary.BigEndian.PutUint16(h[12:], uint16(len(b)))
		return cat(h, b)
	}
	one, two := llc(0x0800, "first"), llc(0x86dd, "second!")
	amsdu := cat(hdr(0x88, 0x01), []byte{0x80, 0}, sub(one), make([]byte, len(one)%4), sub(two))
	type got struct {
		et   uint16
		body string
	}
	cases := map[string]struct {
		frame []byte
		want  []got
		weird string
	}{
		"data":              {cat(hdr(0x08, 0x01), one), []got{{0x0800, "first"}}, ""},
		"qos data":          {cat(hdr(0x88, 0x02), []byte{0, 0}, one), []got{{0x0800, "first"}}, ""},
		"four addresses":    {cat(hdr(0x08, 0x03), make([]byte, 6), one), []got{{0x0800, "first"}}, ""},
		"a-msdu":            {amsdu, []got{{0x0800, "first"}, {0x86dd, "second!"}}, ""},
		"protected qos":     {cat(hdr(0x88, 0x41), []byte{0, 0}, one), nil, ""},
		"management":        {cat(hdr(0x80, 0), one), nil, ""},
		"null data":         {cat(hdr(0x48, 0x01), one), nil, ""},
		"short":             {make([]byte, 20), nil, "truncated_802_11_header"},
		"a-msdu cut":        {amsdu[:len(amsdu)-3], []got{{0x0800, "first"}}, "truncated_802_11_amsdu_packet"},
		"not snap in amsdu": {cat(hdr(0x88, 0x01), []byte{0x80, 0}, sub(make([]byte, 10))), nil, "invalid_802_11_amsdu_inner_packet"},
	}
	for name, tc := range cases {
		var seen []got
		w := ForEachIEEE80211(tc.frame, func(et uint16, p []byte) { seen = append(seen, got{et, string(p)}) })
		if w != tc.weird || len(seen) != len(tc.want) {
			t.Errorf("%s: weird %q frames %v, want %q %v", name, w, seen, tc.weird, tc.want)
			continue
		}
		for i := range seen {
			if seen[i] != tc.want[i] {
				t.Errorf("%s: frame %d = %v, want %v", name, i, seen[i], tc.want[i])
			}
		}
	}
}

// TestDecapMatchesGopacket decodes every tunnel packet of Zeek's tunnel
// traces with gopacket's layers where gopacket has one (GRE, VXLAN, Geneve,
// GTPv1-U) and checks that both find the inner packet at the same offset.
func TestDecapMatchesGopacket(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(tracesDir(t), "..", "tunnels", "traces", "*.pcap"))
	if len(files) == 0 {
		t.Fatal("no tunnel traces")
	}
	checked := map[gopacket.LayerType]int{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			fh.Close()
			continue
		}
		for {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.DecodeOptions{Lazy: false, NoCopy: true})
			for _, l := range pkt.Layers() {
				var d Decap
				switch l.LayerType() {
				case layers.LayerTypeVXLAN:
					d = DecapVXLAN(l.LayerContents())
				case layers.LayerTypeGeneve:
					d = DecapGeneve(append(l.LayerContents(), l.LayerPayload()...))
				case layers.LayerTypeGRE:
					g := l.(*layers.GRE)
					if g.Version != 0 || g.Protocol != layers.EthernetTypeIPv4 && g.Protocol != layers.EthernetTypeIPv6 {
						continue // PPTP, Aruba: gopacket stops at different points
					}
					d = DecapGRE(append(l.LayerContents(), l.LayerPayload()...))
				case layers.LayerTypeGTPv1U:
					g := l.(*layers.GTPv1U)
					if g.MessageType != 0xff {
						continue
					}
					d = DecapGTPv1(append(l.LayerContents(), l.LayerPayload()...), false)
				default:
					continue
				}
				checked[l.LayerType()]++
				if d.Inner == nil && rejectedAsZeekDoes(l) {
					continue
				}
				if l.LayerType() == layers.LayerTypeVXLAN {
					if d.Inner != nil {
						t.Errorf("%s: VXLAN header alone decapsulated to %d bytes", filepath.Base(f), len(d.Inner))
					}
					continue
				}
				if d.Inner == nil || len(d.Inner) != len(l.LayerPayload()) {
					t.Errorf("%s: %v: inner %d bytes (%+v), gopacket %d", filepath.Base(f), l.LayerType(), len(d.Inner),
						d, len(l.LayerPayload()))
				}
			}
		}
		fh.Close()
	}
	for _, lt := range []gopacket.LayerType{layers.LayerTypeGRE, layers.LayerTypeVXLAN, layers.LayerTypeGeneve, layers.LayerTypeGTPv1U} {
		if checked[lt] == 0 {
			t.Errorf("no %v packet cross-checked", lt)
		}
	}
}

// rejectedAsZeekDoes tells the tunnel packets Zeek does not forward although
// gopacket decodes them: Geneve carrying neither Ethernet nor IP (ARP), and
// GTPv1 G-PDUs whose payload is not exactly one IP packet.
func rejectedAsZeekDoes(l gopacket.Layer) bool {
	switch l.LayerType() {
	case layers.LayerTypeGeneve:
		p := l.(*layers.Geneve).Protocol
		return p != layers.EthernetTypeIPv4 && p != layers.EthernetTypeIPv6 && p != 0x6558
	case layers.LayerTypeGTPv1U:
		b := l.LayerPayload()
		return len(b) < 20 || b[0]>>4 != 4 && b[0]>>4 != 6 || innerIPFits(b) != fitOK
	}
	return false
}
