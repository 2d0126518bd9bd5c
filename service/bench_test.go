package service

import (
	"crypto/x509/pkix"
	"math/big"
	"testing"
)

// traceConns reads a trace's connections for benchmarks.
func traceConns(b testing.TB, name string) []*traceConn { return readTrace(b, name) }

// flightSeqs returns the sequence number of each flight of h.
func flightSeqs(h handshake) []uint32 {
	seqs := make([]uint32, len(h.flights))
	next := [2]uint32{1, 1 << 20}
	for i, f := range h.flights {
		dir := 0
		if !f.orig {
			dir = 1
		}
		seqs[i] = next[dir]
		next[dir] += uint32(len(f.data))
	}
	return seqs
}

// TestDetectorAllocs: feeding the Detector never allocates.
func TestDetectorAllocs(t *testing.T) {
	conns := traceConns(t, "var-services-std-ports.pcap")
	n := testing.AllocsPerRun(20, func() {
		for _, c := range conns {
			var d Detector
			for _, p := range c.pkts {
				d.Packet(c.proto, p.fromOrig, p.seq, p.payload)
			}
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per trace", n)
	}
}

// TestTLSAllocs: a TLS analysis allocates only for the ServerHello, the leaf
// and the parsed certificate, and nothing once it is done.
func TestTLSAllocs(t *testing.T) {
	leaf := makeCert(t, big.NewInt(1), pkix.Name{CommonName: "leaf"})
	h := tls12(leaf)
	var s TLS
	tlsRun(t, &s, h, 0)
	if !s.Done() {
		t.Fatal("not done")
	}
	payload := []byte(tlsRecord(23, "data"))
	if n := testing.AllocsPerRun(100, func() { s.Packet(false, 12345, payload) }); n != 0 {
		t.Errorf("%v allocations per packet after the handshake", n)
	}
	certAllocs := testing.AllocsPerRun(20, func() { _, _ = ParseCert(leaf) })
	seqs := flightSeqs(h)
	flights := make([][]byte, len(h.flights))
	for i, f := range h.flights {
		flights[i] = []byte(f.data)
	}
	total := testing.AllocsPerRun(20, func() {
		var s TLS
		for i, f := range h.flights {
			s.Packet(f.orig, seqs[i], flights[i])
		}
		if s.Status() != TLSCert || !s.Established() {
			t.Fatalf("status %v established %v", s.Status(), s.Established())
		}
	})
	// Besides ParseCert: the ServerHello buffer and the leaf buffer.
	if total > certAllocs+2 {
		t.Errorf("%v allocations per handshake, %v of them in ParseCert", total, certAllocs)
	}
	t.Logf("per handshake: %v allocations, %v of them in ParseCert", total, certAllocs)
}

// BenchmarkDetectorTrace runs the Detector over every packet of
// var-services-std-ports.pcap; ns/op is per packet.
func BenchmarkDetectorTrace(b *testing.B) {
	conns := traceConns(b, "var-services-std-ports.pcap")
	npkts := 0
	for _, c := range conns {
		npkts += len(c.pkts)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		for _, c := range conns {
			var d Detector
			for _, p := range c.pkts {
				d.Packet(c.proto, p.fromOrig, p.seq, p.payload)
				i++
			}
		}
	}
	_ = npkts
}

// BenchmarkDetectorHTTP is one HTTP exchange: request, response.
func BenchmarkDetectorHTTP(b *testing.B) {
	req := []byte("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: bench\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	b.ReportAllocs()
	for b.Loop() {
		var d Detector
		d.Packet(protoTCP, true, 1, req)
		d.Packet(protoTCP, false, 1, resp)
	}
}

// BenchmarkDetectorDone is the cost of a packet once the Detector is done.
func BenchmarkDetectorDone(b *testing.B) {
	var d Detector
	d.Packet(protoTCP, true, 1, []byte(clientHelloRecord()))
	payload := make([]byte, 1400)
	b.ReportAllocs()
	for b.Loop() {
		d.Packet(protoTCP, false, 1, payload)
	}
}

// BenchmarkDetectorDNS is one DNS query and its response over UDP.
func BenchmarkDetectorDNS(b *testing.B) {
	q, a := []byte(dnsQuery(1, "www.example.com")), []byte(dnsResponse(1, "www.example.com"))
	b.ReportAllocs()
	for b.Loop() {
		var d Detector
		d.Packet(protoUDP, true, 0, q)
		d.Packet(protoUDP, false, 0, a)
	}
}

// BenchmarkTLSHandshake is one full TLS 1.2 handshake with a certificate.
func BenchmarkTLSHandshake(b *testing.B) {
	leaf := makeCert(b, big.NewInt(1), pkix.Name{CommonName: "leaf", Organization: []string{"Example"}})
	h := tls12(leaf)
	flights := make([][]byte, len(h.flights))
	for i, f := range h.flights {
		flights[i] = []byte(f.data)
	}
	seqs := flightSeqs(h)
	b.ReportAllocs()
	for b.Loop() {
		var s TLS
		for i, f := range h.flights {
			s.Packet(f.orig, seqs[i], flights[i])
		}
		if !s.Established() {
			b.Fatal("not established")
		}
	}
}

// BenchmarkParseCert parses the leaf of google-duplicate.pcap's chain.
func BenchmarkParseCert(b *testing.B) {
	leaf := makeCert(b, big.NewInt(0x4a2c8628c1010633), pkix.Name{CommonName: "*.google.com", Organization: []string{"Google Inc"},
		Locality: []string{"Mountain View"}, Province: []string{"California"}, Country: []string{"US"}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCert(leaf); err != nil {
			b.Fatal(err)
		}
	}
}
