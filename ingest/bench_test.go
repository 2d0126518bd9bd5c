package ingest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"shoal/flow"
	"shoal/packet"
)

// frame serialises a generated packet with gopacket, as a reference for
// PcapWriter's own encoding.
func frame(t testing.TB, p *packet.Packet) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(macA[:]), DstMAC: net.HardwareAddr(macB[:]),
		EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.NetworkLayer
	var ipl gopacket.SerializableLayer
	if p.Src.Is6() {
		eth.EthernetType = layers.EthernetTypeIPv6
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocol(p.Proto),
			SrcIP: net.IP(p.Src.AsSlice()), DstIP: net.IP(p.Dst.AsSlice())}
		ip, ipl = v6, v6
	} else {
		v4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocol(p.Proto),
			SrcIP: net.IP(p.Src.AsSlice()), DstIP: net.IP(p.Dst.AsSlice())}
		ip, ipl = v4, v4
	}
	var l4 gopacket.SerializableLayer
	if p.Proto == packet.ProtoUDP {
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.SrcPort), DstPort: layers.UDPPort(p.DstPort)}
		_ = udp.SetNetworkLayerForChecksum(ip)
		l4 = udp
	} else {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.SrcPort), DstPort: layers.TCPPort(p.DstPort), Seq: p.Seq, Ack: p.Ack,
			Window: p.Window, SYN: p.Has(packet.FlagSYN), ACK: p.Has(packet.FlagACK), RST: p.Has(packet.FlagRST),
			FIN: p.Has(packet.FlagFIN), PSH: p.Has(packet.FlagPSH)}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		l4 = tcp
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ipl, l4, gopacket.Payload(p.Payload))
	if err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for len(b) < 60 {
		b = append(b, 0)
	}
	return b
}

// writeGenerated writes the generator's packets to a pcap with PcapWriter
// and returns how many packets and handshakes it holds.
func writeGenerated(t testing.TB, path string, conns int) (pkts, handshakes int) {
	t.Helper()
	g, err := NewGenerator(GeneratorConfig{Seed: 99, Hosts: 1000, Servers: 200, LocalServers: 100, Count: conns,
		Start: genStart})
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w, err := NewPcapWriter(fh)
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Run(context.Background(), func(p *packet.Packet) {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		pkts++
		if p.Flags == packet.FlagSYN|packet.FlagACK {
			handshakes++
		}
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	return pkts, handshakes
}

// TestGeneratedCaptureThroughTracker closes the loop: generator -> pcap
// file -> OpenFile -> decoder -> tracker finds every handshake.
func TestGeneratedCaptureThroughTracker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gen.pcap")
	pkts, handshakes := writeGenerated(t, path, 3000)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := flow.NewTracker(flow.Config{})
	established := 0
	st, err := f.Run(context.Background(), func(p *packet.Packet) {
		if _, ok := tr.Packet(p); ok {
			established++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if int(st.Delivered) != pkts || st.Malformed != 0 || established != handshakes {
		t.Errorf("stats %+v, %d established; want %d packets, %d handshakes", st, established, pkts, handshakes)
	}
}

// BenchmarkReadDecodeTrack measures the whole worker input path: read a
// pcap file, decode every frame, track connections. One op is one pass over
// a file of generated traffic (50000 connections, about 140000 packets); the
// pkts/s and allocs/pkt metrics are per packet. One tracker is shared by all
// passes, each pass shifted an hour later in network time, so the flows of
// the previous pass expire and are recycled: the tracker's steady state. The
// remaining allocations are per file (buffers, reader, decoder).
func BenchmarkReadDecodeTrack(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.pcap")
	pkts, handshakes := writeGenerated(b, path, 50000)
	info, _ := os.Stat(path)
	tr := flow.NewTracker(flow.Config{})
	pass := 0
	run := func() {
		f, err := OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		shift := time.Duration(pass) * time.Hour
		established := 0
		st, err := f.Run(context.Background(), func(p *packet.Packet) {
			p.TS = p.TS.Add(shift)
			if _, ok := tr.Packet(p); ok {
				established++
			}
		})
		f.Close()
		if err != nil || int(st.Delivered) != pkts || established != handshakes {
			b.Fatalf("pass %d: %+v, %d established, %v", pass, st, established, err)
		}
		pass++
	}
	run() // warm up: the tracker reaches its working size
	b.SetBytes(info.Size())
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	for b.Loop() {
		run()
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	total := float64((pass - 1) * pkts)
	b.ReportMetric(total/elapsed.Seconds(), "pkts/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/total, "allocs/pkt")
}
