package service

import (
	"crypto/sha1" //nolint:gosec // test of the SHA-1 fingerprint
	"crypto/x509/pkix"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// encodeConv encodes a conversation for FuzzDetector: a transport byte,
// then per packet a control byte (bit 0: from the originator; bit 1: resend
// the previous bytes first; bit 2: skip ahead, making a gap), a length byte
// and the payload.
func encodeConv(proto uint8, segs []seg) []byte {
	out := []byte{0}
	if proto == protoUDP {
		out[0] = 1
	}
	for _, s := range segs {
		for data := s.data; len(data) > 0; {
			n := min(len(data), 255)
			ctl := byte(0)
			if s.orig {
				ctl = 1
			}
			out = append(out, ctl, byte(n))
			out = append(out, data[:n]...)
			data = data[n:]
		}
	}
	return out
}

func FuzzDetector(f *testing.F) {
	kex := sshPacket("\x14" + string(make([]byte, 40)))
	for _, c := range []struct {
		proto uint8
		segs  []seg
	}{
		{protoTCP, []seg{o("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), r("HTTP/1.1 200 OK\r\n\r\n")}},
		{protoTCP, []seg{o(clientHelloRecord())}},
		{protoTCP, []seg{r("SSH-2.0-s\r\n"), o("SSH-2.0-c\r\n"), r(kex), o(kex), r(sshPacket("\x15"))}},
		{protoTCP, []seg{r("220 ftp\r\n"), o("USER a\r\n"), r("331 pw\r\n"), o("AUTH TLS\r\n"), r("234 ok\r\n")}},
		{protoTCP, []seg{r("220-mx\r\n220 mx\r\n"), o("EHLO c\r\n"), r("250 ok\r\n"), o("STARTTLS\r\n"), r("220 go\r\n"), o(clientHelloRecord())}},
		{protoTCP, []seg{o(u16(len(dnsQuery(1, "a.example"))) + dnsQuery(1, "a.example"))}},
		{protoUDP, []seg{o(dnsQuery(7, "example.com")), r(dnsResponse(7, "example.com"))}},
		{protoUDP, []seg{o(ntpClient(0x1234)), r(ntpServer(0x1234))}},
	} {
		f.Add(encodeConv(c.proto, c.segs))
	}
	f.Fuzz(func(t *testing.T, conv []byte) {
		if len(conv) == 0 {
			return
		}
		proto := protoTCP
		if conv[0]&1 != 0 {
			proto = protoUDP
		}
		conv = conv[1:]
		var d Detector
		d.SetPartial(len(conv) > 0 && conv[0] == 0xff)
		seqs := [2]uint32{0xfffffff0, 77}
		last := [2][]byte{}
		var seen Set
		for len(conv) >= 2 {
			ctl, n := conv[0], int(conv[1])
			conv = conv[2:]
			n = min(n, len(conv))
			payload := conv[:n]
			conv = conv[n:]
			dir := 1
			if ctl&1 != 0 {
				dir = 0
			}
			if ctl&2 != 0 && len(last[dir]) > 0 {
				d.Packet(proto, dir == 0, seqs[dir]-uint32(len(last[dir])), last[dir])
			}
			if ctl&4 != 0 {
				seqs[dir] += 3
			}
			c, ok := d.Packet(proto, dir == 0, seqs[dir], payload)
			seqs[dir] += uint32(len(payload))
			last[dir] = payload
			if ok {
				if seen.Has(c.Service) {
					t.Fatalf("%v confirmed twice", c.Service)
				}
				seen = seen.Add(c.Service)
				if c.Deferred != (c.Service == NTP) {
					t.Fatalf("%v deferred %v", c.Service, c.Deferred)
				}
			}
		}
		all := tcpServices
		if proto == protoUDP {
			all = udpServices
		}
		if d.Confirmed()&^all != 0 || d.Violated()&^d.Confirmed() != 0 || d.Services() != d.Confirmed()&^d.Violated() {
			t.Fatalf("confirmed %q violated %q services %q", d.Confirmed(), d.Violated(), d.Services())
		}
		if seen&^d.Confirmed() != 0 {
			t.Fatalf("reported %q, confirmed %q", seen, d.Confirmed())
		}
	})
}

// tlsOutcome is what a TLS analysis ended with, for comparisons.
type tlsOutcome struct {
	status  TLSStatus
	anomaly TLSAnomaly
	subject string
	serial  string
	certs   int
}

// feedStream feeds one direction's stream in chunks cut by rng (nil: whole)
// and returns the outcome.
func feedStream(t *testing.T, s *TLS, fromOrig bool, stream []byte, rng *rand.Rand) tlsOutcome {
	var out tlsOutcome
	seq := uint32(0xffffff00)
	for len(stream) > 0 {
		n := len(stream)
		if rng != nil {
			n = 1 + rng.IntN(min(n, 300))
		}
		ev, _ := s.Packet(fromOrig, seq, stream[:n])
		seq += uint32(n)
		stream = stream[n:]
		if ev.Cert != nil {
			out.certs++
		}
	}
	out.status, out.anomaly = s.Status(), s.Anomaly()
	if l := s.Leaf(); l != nil {
		out.subject, out.serial = l.Subject, l.Serial
	}
	return out
}

func FuzzTLS(f *testing.F) {
	leaf := makeCert(f, big.NewInt(0x4a2c8628c1010633), pkix.Name{CommonName: "*.google.com", Organization: []string{"Google Inc"}})
	h := tls12(leaf, leaf)
	var client, server []byte
	for _, s := range h.flights {
		if s.orig {
			client = append(client, s.data...)
		} else {
			server = append(server, s.data...)
		}
	}
	f.Add(client, server, uint64(1))
	f.Add(client, []byte(tlsRecord(22, hsMsg(2, serverHelloBody(0x0304)))), uint64(2))
	f.Add([]byte("\x80\x2e\x01\x03\x01"), server[:200], uint64(3))
	f.Fuzz(func(t *testing.T, client, server []byte, seed uint64) {
		// The server's stream decides the certificate outcome, however it
		// is cut into segments.
		var whole, cut TLS
		want := feedStream(t, &whole, false, server, nil)
		got := feedStream(t, &cut, false, server, rand.New(rand.NewPCG(seed, 1)))
		if got != want {
			t.Fatalf("cut into segments: %+v, whole: %+v", got, want)
		}
		if want.certs > 1 || (want.certs == 1) != (want.status == TLSCert) || (whole.Leaf() != nil) != (want.status == TLSCert) {
			t.Fatalf("outcome %+v", want)
		}
		// Both directions interleaved: no panic, consistent state.
		var s TLS
		rng := rand.New(rand.NewPCG(seed, 2))
		seqs := [2]uint32{1, 1 << 31}
		streams := [2][]byte{client, server}
		for len(streams[0])+len(streams[1]) > 0 {
			dir := rng.IntN(2)
			if len(streams[dir]) == 0 {
				dir = 1 - dir
			}
			n := 1 + rng.IntN(min(len(streams[dir]), 200))
			s.Packet(dir == 0, seqs[dir], streams[dir][:n])
			seqs[dir] += uint32(n)
			streams[dir] = streams[dir][n:]
		}
		if s.Done() && s.buf != nil {
			t.Fatal("buffer kept after the analysis ended")
		}
		if (s.Leaf() != nil) != (s.Status() == TLSCert) {
			t.Fatalf("leaf %v with status %v", s.Leaf(), s.Status())
		}
	})
}

func FuzzParseCert(f *testing.F) {
	f.Add(makeCert(f, big.NewInt(0x023a69), pkix.Name{CommonName: "a, b", Country: []string{"US"}}))
	f.Add(nameDER(f, one(oidCN, bmp, "\x00a"), one("1.2.3.4", utf8, "x")))
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := ParseCert(der)
		if err != nil {
			return
		}
		if len(c.Subject) > maxNameOutput || len(c.Issuer) > maxNameOutput || c.Serial == "" || c.SHA1 != sha1.Sum(der) { //nolint:gosec // fingerprint
			t.Fatalf("cert %+v", c)
		}
	})
}

// FuzzFacts plays a conversation (encoded as for FuzzDetector) once with
// each message in one segment and once cut at random points after each
// direction's first segment: the facts must be the same, and bounded.
func FuzzFacts(f *testing.F) {
	for _, segs := range [][]seg{
		{o("GET /?&p=Flash%2010;QuickTime;& HTTP/1.1\r\nUser-Agent: Mozilla/5.0 AdobeAIR/2.6\r\nX-Flash-Version: 10,2\r\n\r\n"),
			r("HTTP/1.1 200 OK\r\nServer: Omniture DC\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")},
		{r("SSH-2.0-OpenSSH_9.6\r\n"), o("SSH-2.0-PuTTY\r\n")},
		{r("220 ftp\r\n"), o("USER a\r\nCLNT FileZilla 3.66\r\n"), r("200 ok\r\n")},
		{r("220 mx\r\n"), o("EHLO c\r\nMAIL FROM:<a@b>\r\nDATA\r\n"), r("250 ok\r\n354 go\r\n"),
			o("Received: from a (b [192.0.2.1])\r\nX-Mailer: Apple Mail (2.1084)\r\n\r\nbody\r\n.\r\n"), r("250 ok\r\n")},
	} {
		f.Add(encodeConv(protoTCP, segs), uint64(1))
	}
	f.Fuzz(func(t *testing.T, conv []byte, seed uint64) {
		if len(conv) == 0 {
			return
		}
		var msgs []seg
		for conv = conv[1:]; len(conv) >= 2; {
			n := min(int(conv[1]), len(conv)-2)
			msgs = append(msgs, seg{orig: conv[0]&1 != 0, data: string(conv[2 : 2+n])})
			conv = conv[2+n:]
		}
		play := func(rng *rand.Rand) ([]Fact, *Facts) {
			var d Detector
			fs := &Facts{}
			var out []Fact
			seqs := [2]uint32{0xfffffff0, 77}
			first := [2]bool{true, true}
			for _, m := range msgs {
				dir := 1
				if m.orig {
					dir = 0
				}
				for data := []byte(m.data); len(data) > 0; {
					n := len(data)
					if rng != nil && !first[dir] {
						n = 1 + rng.IntN(n)
					}
					first[dir] = false
					d.Packet(protoTCP, m.orig, seqs[dir], data[:n])
					out = fs.Packet(&d, protoTCP, m.orig, seqs[dir], data[:n], out)
					seqs[dir] += uint32(n)
					data = data[n:]
				}
			}
			return fs.Finish(out), fs
		}
		whole, _ := play(nil)
		cut, fs := play(rand.New(rand.NewPCG(seed, 3)))
		if a, b := factStrings(whole), factStrings(cut); !slices.Equal(a, b) {
			t.Fatalf("whole:\n%q\ncut:\n%q", a, b)
		}
		for _, x := range cut {
			if len(x.Value) > MaxFactLine || x.Kind == 0 || x.Kind >= numFactKinds || (x.Mail != nil) != (x.Kind == SMTPUserAgent) {
				t.Fatalf("fact %v %d bytes", x.Kind, len(x.Value))
			}
		}
		if fs.http != nil && len(fs.http.pending) > maxPending {
			t.Fatalf("%d pending requests", len(fs.http.pending))
		}
	})
}
