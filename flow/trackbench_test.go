package flow_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"shoal/flow"
	"shoal/ingest"
	"shoal/packet"
	"shoal/service"
)

var (
	benchMACs = [2]net.HardwareAddr{{0, 1, 2, 3, 4, 5}, {6, 7, 8, 9, 10, 11}}
	request   = []byte("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: shoal-bench\r\n" +
		"Accept: */*\r\n\r\n")
	response = append([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n"),
		make([]byte, 1000)...)
)

// benchWriter writes Ethernet frames into a pcap file.
type benchWriter struct {
	tb  testing.TB
	w   *pcapgo.Writer
	buf gopacket.SerializeBuffer
	n   int
}

func (bw *benchWriter) write(ts time.Time, ip gopacket.SerializableLayer, l4 gopacket.SerializableLayer, payload []byte) {
	eth := &layers.Ethernet{SrcMAC: benchMACs[0], DstMAC: benchMACs[1], EthernetType: layers.EthernetTypeIPv4}
	if nl, ok := ip.(gopacket.NetworkLayer); ok {
		switch l := l4.(type) {
		case *layers.TCP:
			_ = l.SetNetworkLayerForChecksum(nl)
		case *layers.UDP:
			_ = l.SetNetworkLayerForChecksum(nl)
		}
	}
	err := gopacket.SerializeLayers(bw.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, l4, gopacket.Payload(payload))
	if err != nil {
		bw.tb.Fatal(err)
	}
	data := bw.buf.Bytes()
	if err := bw.w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, data); err != nil {
		bw.tb.Fatal(err)
	}
	bw.n++
}

func ipv4(src, dst net.IP, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src, DstIP: dst}
}

// writeBenchPcap writes the generator's connections to a pcap, completing
// each handshake with a request, a response with payload and a FIN
// exchange, and adding a DNS query and reply every fourth connection.
func writeBenchPcap(tb testing.TB, path string, conns int) int {
	fh, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer fh.Close()
	w := pcapgo.NewWriter(fh)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		tb.Fatal(err)
	}
	bw := &benchWriter{tb: tb, w: w, buf: gopacket.NewSerializeBuffer()}
	g, err := ingest.NewGenerator(ingest.GeneratorConfig{Seed: 7, Hosts: 2000, Servers: 300, Count: conns,
		Start: time.Unix(1700000000, 0)})
	if err != nil {
		tb.Fatal(err)
	}
	nconn := 0
	_, err = g.Run(context.Background(), func(p *packet.Packet) {
		src, dst := net.IP(p.Src.AsSlice()), net.IP(p.Dst.AsSlice())
		tcp := func(seq, ack uint32, flags uint8, sp, dp uint16) *layers.TCP {
			return &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq, Ack: ack, Window: 64000,
				SYN: flags&packet.FlagSYN != 0, ACK: flags&packet.FlagACK != 0, RST: flags&packet.FlagRST != 0,
				FIN: flags&packet.FlagFIN != 0, PSH: flags&packet.FlagPSH != 0}
		}
		bw.write(p.TS, ipv4(src, dst, layers.IPProtocolTCP), tcp(p.Seq, p.Ack, p.Flags, p.SrcPort, p.DstPort), nil)
		if p.Flags&packet.FlagSYN != 0 && p.Flags&packet.FlagACK == 0 {
			nconn++
		}
		if p.Flags != packet.FlagACK { // the ACK completing a handshake
			return
		}
		step := func(i int) time.Time { return p.TS.Add(time.Duration(i) * 10 * time.Microsecond) }
		cs, ss := p.Seq, p.Ack // client and server next sequence numbers
		A, P, F := packet.FlagACK, packet.FlagPSH, packet.FlagFIN
		bw.write(step(1), ipv4(src, dst, layers.IPProtocolTCP), tcp(cs, ss, A|P, p.SrcPort, p.DstPort), request)
		cs += uint32(len(request))
		bw.write(step(2), ipv4(dst, src, layers.IPProtocolTCP), tcp(ss, cs, A|P, p.DstPort, p.SrcPort), response)
		ss += uint32(len(response))
		bw.write(step(3), ipv4(src, dst, layers.IPProtocolTCP), tcp(cs, ss, A|F, p.SrcPort, p.DstPort), nil)
		bw.write(step(4), ipv4(dst, src, layers.IPProtocolTCP), tcp(ss, cs+1, A|F, p.DstPort, p.SrcPort), nil)
		bw.write(step(5), ipv4(src, dst, layers.IPProtocolTCP), tcp(cs+1, ss+1, A, p.SrcPort, p.DstPort), nil)
		if nconn%4 == 0 {
			dns := net.IP{10, 255, 0, 53}
			udp := func(sp, dp uint16) *layers.UDP {
				return &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
			}
			bw.write(step(6), ipv4(src, dns, layers.IPProtocolUDP), udp(p.SrcPort, 53), request[:40])
			bw.write(step(7), ipv4(dns, src, layers.IPProtocolUDP), udp(53, p.SrcPort), response[:120])
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	return bw.n
}

// detector is the service hook as a worker runs it: shoal/service's
// payload-based protocol detection on every packet of every connection,
// with analyzers recycled through a free list as the node does.
type detector struct {
	det  service.Detector
	free *[]*detector
	seen *int
}

func (a *detector) Packet(c *flow.Conn, fromOrig bool, p *packet.Packet) {
	if len(p.Payload) == 0 || p.Has(packet.FlagRST) {
		return
	}
	seq := p.Seq
	if p.Has(packet.FlagSYN) {
		seq++
	}
	if conf, ok := a.det.Packet(c.Proto(), fromOrig, seq, p.Payload); ok {
		*a.seen++
		c.AddService(conf.Service.String())
	}
}

func (a *detector) Done(*flow.Conn) {
	free, seen := a.free, a.seen
	*a = detector{free: free, seen: seen}
	*free = append(*free, a)
}

// BenchmarkTrackVsRead measures packets/s through reading, decoding and
// tracking a generated pcap (about 200000 packets with payload), with
// shoal/service's protocol detection on every connection and every event handler set, as a
// ratio to merely reading the same file with pcapgo.Reader.ReadPacketData in
// the same run. One op is one pass of each; "ratio" compares the fastest
// pass of each (the least disturbed by other load), "ratio-mean" the means. A single Tracker serves every
// pass (shifted an hour later each time, finished at the end of each pass),
// so it runs in its steady state; allocs/pkt is the tracking pass's total,
// per-file allocations included.
func BenchmarkTrackVsRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.pcap")
	pkts := writeBenchPcap(b, path, 30000)

	seen, removed := 0, 0
	var free []*detector
	tr := flow.NewTracker(flow.Config{Handler: flow.Handler{
		NewConn: func(c *flow.Conn) {
			if n := len(free); n > 0 {
				c.Analyzer, free = free[n-1], free[:n-1]
				return
			}
			c.Analyzer = &detector{free: &free, seen: &seen}
		},
		Removed: func(*flow.Record) { removed++ },
	}})
	pass := 0
	track := func() {
		f, err := ingest.OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		shift := time.Duration(pass) * time.Hour
		st, err := f.Run(context.Background(), func(p *packet.Packet) {
			p.TS = p.TS.Add(shift)
			tr.Packet(p)
		})
		f.Close()
		if err != nil || int(st.Delivered) != pkts {
			b.Fatalf("pass %d: %+v, %v", pass, st, err)
		}
		tr.Finish()
		pass++
	}
	read := func() {
		fh, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer fh.Close()
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, _, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != pkts {
			b.Fatalf("read %d packets, want %d", n, pkts)
		}
	}
	track() // warm up: the tracker reaches its working size
	read()
	var readTime, trackTime time.Duration
	bestRead, bestTrack := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	var mallocs uint64
	var ms0, ms1 runtime.MemStats
	for b.Loop() {
		start := time.Now()
		read()
		d := time.Since(start)
		readTime += d
		bestRead = min(bestRead, d)

		runtime.ReadMemStats(&ms0)
		start = time.Now()
		track()
		d = time.Since(start)
		runtime.ReadMemStats(&ms1)
		trackTime += d
		bestTrack = min(bestTrack, d)
		mallocs += ms1.Mallocs - ms0.Mallocs
	}
	passes := float64(pass - 1)
	readRate := passes * float64(pkts) / readTime.Seconds()
	trackRate := passes * float64(pkts) / trackTime.Seconds()
	b.ReportMetric(float64(pkts), "pkts/pass")
	b.ReportMetric(readRate, "read-pkts/s")
	b.ReportMetric(trackRate, "track-pkts/s")
	// The ratio of the best passes is the least disturbed by other load on
	// the machine; the ratio of the means is reported too.
	b.ReportMetric(bestRead.Seconds()/bestTrack.Seconds(), "ratio")
	b.ReportMetric(trackRate/readRate, "ratio-mean")
	b.ReportMetric(float64(mallocs)/(passes*float64(pkts)), "allocs/pkt")
	if seen == 0 || removed == 0 {
		b.Fatal("the analyzer saw no payload or no connection was removed")
	}
}
