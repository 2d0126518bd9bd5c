package service

import (
	"testing"
)

// TestFactsAllocs: Facts allocate nothing on a connection whose protocol
// has no facts (TLS here), nor for a packet inside an HTTP body.
func TestFactsAllocs(t *testing.T) {
	conns := traceConns(t, "google-duplicate.pcap")
	var out []Fact
	n := testing.AllocsPerRun(20, func() {
		for _, c := range conns {
			var d Detector
			var f Facts
			for _, p := range c.pkts {
				d.Packet(c.proto, p.fromOrig, p.seq, p.payload)
				out = f.Packet(&d, c.proto, p.fromOrig, p.seq, p.payload, out[:0])
			}
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per TLS trace", n)
	}
	var d Detector
	var f Facts
	d.Packet(protoTCP, true, 1, []byte("GET / HTTP/1.1\r\n\r\n"))
	f.Packet(&d, protoTCP, true, 1, []byte("GET / HTTP/1.1\r\n\r\n"), nil)
	hdr := []byte("HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
	d.Packet(protoTCP, false, 1, hdr)
	f.Packet(&d, protoTCP, false, 1, hdr, nil)
	body := make([]byte, 1448)
	seq := uint32(1 + len(hdr))
	if n := testing.AllocsPerRun(100, func() {
		d.Packet(protoTCP, false, seq, body)
		out = f.Packet(&d, protoTCP, false, seq, body, out[:0])
		seq += uint32(len(body))
	}); n != 0 {
		t.Errorf("%v allocations per body packet", n)
	}
}

// BenchmarkFactsTrace is the cost per packet of the Detector alone and of
// the Detector with Facts, over the packets of var-services-std-ports.pcap
// and wikipedia.pcap (HTTP, SSH, FTP, DNS, NTP): the ratio of the two is
// what the protocol facts add to a worker's payload analysis.
func BenchmarkFactsTrace(b *testing.B) {
	conns := append(traceConns(b, "var-services-std-ports.pcap"), traceConns(b, "wikipedia.pcap")...)
	for _, withFacts := range []bool{false, true} {
		name := "detector"
		if withFacts {
			name = "detector+facts"
		}
		b.Run(name, func(b *testing.B) {
			var out []Fact
			b.ReportAllocs()
			for i := 0; i < b.N; {
				for _, c := range conns {
					var d Detector
					var f Facts
					for _, p := range c.pkts {
						d.Packet(c.proto, p.fromOrig, p.seq, p.payload)
						if withFacts {
							out = f.Packet(&d, c.proto, p.fromOrig, p.seq, p.payload, out[:0])
						}
						i++
					}
					if withFacts {
						out = f.Finish(out[:0])
					}
				}
			}
		})
	}
}
