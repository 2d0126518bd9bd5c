package packet

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// frag4 cuts an IPv4 packet into fragments carrying payload bytes
// [off, off+n) for each (off, n) pair, each in an Ethernet frame with a
// correct header checksum.
func frag4(t *testing.T, ip []byte, pieces ...[2]int) [][]byte {
	t.Helper()
	hl := int(ip[0]&0x0f) * 4
	payload := ip[hl:]
	var out [][]byte
	for _, pc := range pieces {
		off, n := pc[0], pc[1]
		h := append([]byte(nil), ip[:hl]...)
		binary.BigEndian.PutUint16(h[2:], uint16(hl+n))
		fo := uint16(off / 8)
		if off+n < len(payload) {
			fo |= 0x2000 // MF
		}
		binary.BigEndian.PutUint16(h[6:], fo)
		h[10], h[11] = 0, 0
		binary.BigEndian.PutUint16(h[10:], ^fold(sum16(h, 0)))
		frame := append(append([]byte(nil), make([]byte, 12)...), 0x08, 0x00)
		out = append(out, append(append(frame, h...), payload[off:off+n]...))
	}
	return out
}

// frag6 cuts an IPv6 packet (fixed header only) into fragments.
func frag6(t *testing.T, ip []byte, id uint32, pieces ...[2]int) [][]byte {
	t.Helper()
	payload := ip[40:]
	var out [][]byte
	for _, pc := range pieces {
		off, n := pc[0], pc[1]
		h := append([]byte(nil), ip[:40]...)
		binary.BigEndian.PutUint16(h[4:], uint16(8+n))
		fh := []byte{h[6], 0, 0, 0, 0, 0, 0, 0}
		h[6] = 44
		fo := uint16(off/8) << 3
		if off+n < len(payload) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], id)
		frame := append(append([]byte(nil), make([]byte, 12)...), 0x86, 0xdd)
		out = append(out, append(append(append(frame, h...), fh...), payload[off:off+n]...))
	}
	return out
}

func TestReassembly(t *testing.T) {
	body := make([]byte, 3000)
	for i := range body {
		body[i] = byte(i * 7)
	}
	v4 := serialize(t, &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 77, Protocol: layers.IPProtocolUDP, SrcIP: v4src,
		DstIP: v4dst}, &layers.UDP{SrcPort: 2152, DstPort: 2152}, gopacket.Payload(body))
	v6 := serialize(t, ip6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 53, DstPort: 5353}, gopacket.Payload(body))
	whole := 8 + len(body)
	cases := map[string]struct {
		frames [][]byte
		v6     bool
	}{
		"in order":     {frames: frag4(t, v4, [2]int{0, 1480}, [2]int{1480, 1480}, [2]int{2960, whole - 2960})},
		"reversed":     {frames: frag4(t, v4, [2]int{2960, whole - 2960}, [2]int{1480, 1480}, [2]int{0, 1480})},
		"overlapping":  {frames: frag4(t, v4, [2]int{0, 1600}, [2]int{1480, 1480}, [2]int{1000, whole - 1000})},
		"duplicate":    {frames: frag4(t, v4, [2]int{0, 1480}, [2]int{0, 1480}, [2]int{1480, whole - 1480})},
		"ipv6":         {frames: frag6(t, v6, 9, [2]int{0, 1232}, [2]int{1232, whole - 1232}), v6: true},
		"ipv6 reverse": {frames: frag6(t, v6, 9, [2]int{1232, whole - 1232}, [2]int{0, 1232}), v6: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d, _ := NewDecoder(layers.LinkTypeEthernet)
			var p Packet
			for i, f := range tc.frames {
				err := d.Decode(f, ts0, &p)
				if i < len(tc.frames)-1 {
					if !errors.Is(err, ErrFragment) {
						t.Fatalf("fragment %d: %v, want ErrFragment", i, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("last fragment: %v", err)
				}
			}
			if p.Proto != ProtoUDP || p.PayloadLen != len(body) || string(p.Payload) != string(body) {
				t.Fatalf("reassembled %+v (payload %d bytes)", p, len(p.Payload))
			}
			if ipOK, udpOK := p.Checksums(); !ipOK || !udpOK {
				t.Errorf("checksums of the reassembled datagram: ip %v udp %v", ipOK, udpOK)
			}
			if want := map[bool]int{false: 20, true: 40}[tc.v6] + whole; p.IPLen != want {
				t.Errorf("IPLen %d, want %d", p.IPLen, want)
			}
		})
	}
	t.Run("incomplete datagrams expire", func(t *testing.T) {
		d, _ := NewDecoder(layers.LinkTypeEthernet)
		fs := frag4(t, v4, [2]int{0, 1480}, [2]int{1480, whole - 1480})
		var p Packet
		_ = d.Decode(fs[0], ts0, &p)
		if err := d.Decode(fs[1], ts0.Add(FragTimeout+time.Second), &p); !errors.Is(err, ErrFragment) {
			t.Errorf("fragment after the timeout completed a datagram: %v", err)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		d, _ := NewDecoder(layers.LinkTypeEthernet)
		var p Packet
		for i := range MaxFragDatagrams + 10 {
			ip := append([]byte(nil), v4...)
			binary.BigEndian.PutUint16(ip[4:], uint16(i))
			_ = d.Decode(frag4(t, ip, [2]int{0, 1480})[0], ts0, &p)
		}
		if n := len(d.frags.m); n != MaxFragDatagrams {
			t.Errorf("%d datagrams held, want %d", n, MaxFragDatagrams)
		}
	})
	t.Run("cut first fragment decodes as is", func(t *testing.T) {
		d, _ := NewDecoder(layers.LinkTypeEthernet)
		f := frag4(t, v4, [2]int{0, 1480})[0]
		var p Packet
		if err := d.Decode(f[:14+20+8+10], ts0, &p); err != nil || p.SrcPort != 2152 || p.PayloadLen != 1472 {
			t.Errorf("Decode = %v, %+v", err, p)
		}
		if err := d.Decode(frag4(t, v4, [2]int{1480, 100})[0][:60], ts0, &p); !errors.Is(err, ErrFragment) {
			t.Errorf("cut later fragment: %v", err)
		}
	})
}

func TestChecksums(t *testing.T) {
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	frames := map[string][]byte{
		"tcp":    serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synTCP(), gopacket.Payload("x")),
		"udp":    serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("odd")),
		"udp6":   serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("odd")),
		"icmp":   serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: 0x0800}, gopacket.Payload("ping")),
		"icmpv6": serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6), &layers.ICMPv6{TypeCode: 0x8000}, gopacket.Payload("\x00\x01\x00\x02ping")),
	}
	for name, f := range frames {
		var p Packet
		if err := d.Decode(f, ts0, &p); err != nil {
			t.Fatal(err)
		}
		if ip, l4 := p.Checksums(); !ip || !l4 {
			t.Errorf("%s: valid packet: ip %v transport %v", name, ip, l4)
		}
		end := len(f) - trailer(f, p)
		bad := append([]byte(nil), f...)
		bad[end-1] ^= 0x55 // last payload byte
		_ = d.Decode(bad, ts0, &p)
		if ip, l4 := p.Checksums(); !ip || l4 {
			t.Errorf("%s: bad transport checksum: ip %v transport %v", name, ip, l4)
		}
		_ = d.Decode(bad[:end-1], ts0, &p) // cut: not checked
		if ip, l4 := p.Checksums(); !ip || !l4 {
			t.Errorf("%s: cut packet: ip %v transport %v", name, ip, l4)
		}
	}
	var p Packet
	badIP := append([]byte(nil), frames["tcp"]...)
	badIP[14+8]++ // TTL
	_ = d.Decode(badIP, ts0, &p)
	if ip, _ := p.Checksums(); ip {
		t.Error("bad IPv4 header checksum not found")
	}
	zero := append([]byte(nil), frames["udp"]...)
	zero[14+20+6], zero[14+20+7] = 0, 0
	_ = d.Decode(zero, ts0, &p)
	if _, l4 := p.Checksums(); !l4 {
		t.Error("IPv4 UDP checksum 0 (none) counted as bad")
	}
	zero6 := append([]byte(nil), frames["udp6"]...)
	zero6[14+40+6], zero6[14+40+7] = 0, 0
	_ = d.Decode(zero6, ts0, &p)
	if _, l4 := p.Checksums(); l4 {
		t.Error("IPv6 UDP checksum 0 accepted")
	}
	vx := serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 4789},
		gopacket.Payload(append([]byte{0x08, 0, 0, 0, 0, 0, 1, 0}, make([]byte, 40)...)))
	vx[14+40+6], vx[14+40+7] = 0, 0
	_ = d.Decode(vx, ts0, &p)
	if _, l4 := p.Checksums(); !l4 {
		t.Error("IPv6 VXLAN with checksum 0 counted as bad")
	}
	if ip, l4 := (&Packet{Proto: ProtoTCP}).Checksums(); !ip || !l4 {
		t.Error("a packet without raw bytes must pass")
	}
}
