package service

import (
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
)

// handshake is a synthetic TLS exchange: the bytes each side sends, in
// flights, with the flight's index in the conversation.
type handshake struct {
	flights []seg
}

func serverHelloBody(version uint16) string {
	b := "\x03\x03" + strings.Repeat("\x42", 32) + "\x00" + "\xc0\x2f" + "\x00"
	if version == 0 {
		return b + u16(5) + u16(0xff01) + u16(1) + "\x00" // renegotiation_info
	}
	ext := u16(43) + u16(2) + u16(int(version))
	return b + u16(len(ext)) + ext
}

func certificateBody(certs ...[]byte) string {
	var list string
	for _, c := range certs {
		list += u24(len(c)) + string(c)
	}
	return u24(len(list)) + list
}

// tls12 is a full TLS 1.2 handshake with the given server certificates.
// ServerHello and Certificate share a record; the Certificate message is
// split across two records.
func tls12(certs ...[]byte) handshake {
	cert := hsMsg(11, certificateBody(certs...))
	half := len(cert) / 2
	server := tlsRecord(22, hsMsg(2, serverHelloBody(0))+cert[:half]) +
		tlsRecord(22, cert[half:]) +
		tlsRecord(22, hsMsg(12, strings.Repeat("k", 100))+hsMsg(14, ""))
	return handshake{[]seg{
		o(clientHelloRecord()),
		r(server),
		o(tlsRecord(22, hsMsg(16, strings.Repeat("c", 66))) + tlsRecord(20, "\x01") + tlsRecord(22, strings.Repeat("f", 40))),
		r(tlsRecord(22, hsMsg(4, strings.Repeat("t", 170))) + tlsRecord(20, "\x01") + tlsRecord(22, strings.Repeat("F", 40))),
		o(tlsRecord(23, strings.Repeat("a", 31))),
		r(tlsRecord(23, strings.Repeat("b", 168))),
	}}
}

// tlsRun feeds the flights to a TLS, each flight cut into pieces of at most
// chunk bytes (0: whole), and returns the flight index of each event.
type tlsResult struct {
	certAt, establishedAt, tls13At int
	leaf                           *Cert
}

func tlsRun(t *testing.T, s *TLS, h handshake, chunk int) tlsResult {
	t.Helper()
	res := tlsResult{-1, -1, -1, nil}
	seqs := [2]uint32{1, 0xfffffff0} // the responder's sequence numbers wrap
	for i, f := range h.flights {
		dir := 0
		if !f.orig {
			dir = 1
		}
		data := f.data
		for len(data) > 0 {
			n := len(data)
			if chunk > 0 && chunk < n {
				n = chunk
			}
			ev, ok := s.Packet(f.orig, seqs[dir], []byte(data[:n]))
			seqs[dir] += uint32(n)
			data = data[n:]
			if ok != (ev != Event{}) {
				t.Fatalf("ok %v with event %+v", ok, ev)
			}
			if ev.Cert != nil {
				if res.certAt >= 0 {
					t.Fatal("two certificate events")
				}
				res.certAt, res.leaf = i, ev.Cert
			}
			if ev.Established {
				if res.establishedAt >= 0 {
					t.Fatal("two established events")
				}
				res.establishedAt = i
			}
			if ev.TLS13 {
				res.tls13At = i
			}
		}
	}
	return res
}

func TestTLSHandshake(t *testing.T) {
	subj := pkix.Name{Organization: []string{"Google Inc"}, CommonName: "*.google.com"}
	leaf := makeCert(t, big.NewInt(0x4a2c8628c1010633), subj)
	inter := makeCert(t, big.NewInt(0x023a69), pkix.Name{CommonName: "Intermediate"})
	h := tls12(leaf, inter)
	for _, chunk := range []int{0, 1, 2, 3, 4, 5, 6, 7, 13, 100, 1000} {
		var s TLS
		res := tlsRun(t, &s, h, chunk)
		if res.certAt != 1 || res.establishedAt != 3 || res.tls13At != -1 {
			t.Fatalf("chunk %d: events at %+v, status %v anomaly %v", chunk, res, s.Status(), s.Anomaly())
		}
		if res.leaf.Subject != "CN=*.google.com,O=Google Inc" || res.leaf.Serial != "4A2C8628C1010633" || s.Leaf() != res.leaf {
			t.Fatalf("chunk %d: leaf %+v", chunk, res.leaf)
		}
		if s.Status() != TLSCert || !s.Established() || !s.Done() || s.Anomaly() != TLSNoAnomaly ||
			s.Version() != 0x0303 || s.buf != nil {
			t.Fatalf("chunk %d: status %v established %v done %v anomaly %v version %#x buf %d",
				chunk, s.Status(), s.Established(), s.Done(), s.Anomaly(), s.Version(), cap(s.buf))
		}
	}
}

func TestTLSOutcomes(t *testing.T) {
	leaf := makeCert(t, big.NewInt(7), pkix.Name{CommonName: "leaf"})
	full := tls12(leaf)
	tests := map[string]struct {
		h           handshake
		status      TLSStatus
		anomaly     TLSAnomaly
		established bool
	}{
		"tls 1.3": {
			h: handshake{[]seg{o(clientHelloRecord()),
				r(tlsRecord(22, hsMsg(2, serverHelloBody(0x0304))) + tlsRecord(20, "\x01") + tlsRecord(23, strings.Repeat("e", 500))),
			}},
			status: TLS13,
		},
		"resumption without certificate": {
			h: handshake{[]seg{o(clientHelloRecord()),
				r(tlsRecord(22, hsMsg(2, serverHelloBody(0))) + tlsRecord(20, "\x01") + tlsRecord(22, strings.Repeat("F", 40))),
				o(tlsRecord(20, "\x01") + tlsRecord(22, strings.Repeat("f", 40))),
			}},
			status: TLSNoCert, established: true,
		},
		"empty certificate list": {
			h: handshake{[]seg{o(clientHelloRecord()),
				r(tlsRecord(22, hsMsg(2, serverHelloBody(0))+hsMsg(11, u24(0))+hsMsg(14, ""))),
			}},
			status: TLSNoCert,
		},
		"certificate too large": {
			h: handshake{[]seg{o(clientHelloRecord()),
				r(tlsRecord(22, hsMsg(2, serverHelloBody(0))+"\x0b"+u24(MaxCertSize+10)+u24(MaxCertSize+7)+u24(MaxCertSize+1)) +
					tlsRecord(22, strings.Repeat("x", 1<<14))),
			}},
			status: TLSCertTooLarge,
		},
		"certificate that does not parse": {
			h: handshake{[]seg{o(clientHelloRecord()),
				r(tlsRecord(22, hsMsg(2, serverHelloBody(0))+hsMsg(11, certificateBody([]byte("not a certificate")))+hsMsg(14, ""))),
			}},
			status: TLSCertInvalid,
		},
		"certificate longer than its message": {
			h: handshake{[]seg{o(clientHelloRecord()),
				r(tlsRecord(22, hsMsg(2, serverHelloBody(0))+hsMsg(11, u24(10)+u24(500)+"abcd"))),
			}},
			anomaly: TLSMalformed,
		},
		"bad record version": {
			h:       handshake{[]seg{o(clientHelloRecord()), r("\x16\x03\x07\x00\x01\x00")}},
			anomaly: TLSMalformed,
		},
		"not tls": {
			h:       handshake{[]seg{o("GET / HTTP/1.1\r\n\r\n")}},
			anomaly: TLSMalformed,
		},
		"sslv2 server": {
			h:      handshake{[]seg{o(clientHelloRecord()), r("\x80\x30\x04\x00\x01\x00\x02")}},
			status: TLSSSLv2,
		},
		"sslv2-compatible client hello, tls server": {
			h: handshake{append([]seg{o("\x80\x2e\x01\x03\x01" + u16(21) + u16(0) + u16(16) + strings.Repeat("\x00", 37))},
				full.flights[1:]...)},
			status: TLSCert, established: true,
		},
		"gap in the server's stream": {
			h: handshake{[]seg{o(clientHelloRecord()), r(full.flights[1].data[:100]), r("")}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var s TLS
			tlsRun(t, &s, tc.h, 0)
			if s.Status() != tc.status || s.Anomaly() != tc.anomaly || s.Established() != tc.established {
				t.Errorf("status %v anomaly %v established %v", s.Status(), s.Anomaly(), s.Established())
			}
			if s.Done() && s.buf != nil {
				t.Error("buffer kept after the analysis ended")
			}
		})
	}
}

func TestTLSOutOfOrder(t *testing.T) {
	leaf := makeCert(t, big.NewInt(7), pkix.Name{CommonName: "leaf"})
	server := tls12(leaf).flights[1].data
	var s TLS
	s.Packet(true, 1, []byte(clientHelloRecord()))
	s.Packet(false, 100, []byte(server[:50]))
	s.Packet(false, 100, []byte(server[:50])) // retransmission: fine
	s.Packet(false, 140, []byte(server[40:80]))
	if s.Anomaly() != TLSNoAnomaly {
		t.Fatalf("anomaly %v after retransmissions", s.Anomaly())
	}
	s.Packet(false, 300, []byte(server[200:260])) // beyond the next expected byte
	if s.Anomaly() != TLSOutOfOrder || !s.Done() || s.buf != nil {
		t.Errorf("anomaly %v done %v", s.Anomaly(), s.Done())
	}
	if ev, ok := s.Packet(false, 180, []byte(server[80:])); ok {
		t.Errorf("event %+v after giving up", ev)
	}
	var c Counters
	c.AddTLS(&s)
	if c.TLSOutOfOrder != 1 || c.TLS != 1 {
		t.Errorf("counters %+v", c)
	}
}

func TestServerHelloVersion(t *testing.T) {
	for name, tc := range map[string]struct {
		body string
		v    uint16
		ok   bool
	}{
		"tls 1.2":          {serverHelloBody(0), 0x0303, true},
		"tls 1.3":          {serverHelloBody(0x0304), 0x0304, true},
		"no extensions":    {"\x03\x01" + strings.Repeat("r", 32) + "\x00\x00\x2f\x00", 0x0301, true},
		"short":            {"\x03\x03", 0, false},
		"bad session id":   {"\x03\x03" + strings.Repeat("r", 32) + "\x40" + strings.Repeat("s", 70), 0, false},
		"bad ext length":   {"\x03\x03" + strings.Repeat("r", 32) + "\x00\xc0\x2f\x00" + u16(9) + u16(43), 0, false},
		"ext past the end": {"\x03\x03" + strings.Repeat("r", 32) + "\x00\xc0\x2f\x00" + u16(4) + u16(43) + u16(9), 0, false},
	} {
		v, ok := serverHelloVersion([]byte(tc.body))
		if v != tc.v || ok != tc.ok {
			t.Errorf("%s: %#x %v", name, v, ok)
		}
	}
}
