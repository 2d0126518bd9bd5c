package ingest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"shoal/packet"
)

// svcKind is the protocol a generated server speaks.
type svcKind uint8

const (
	svcHTTP svcKind = iota
	svcSSL
	svcSSH
	svcSMTP
	svcFTP
	svcDNS
	numSvc
)

// svcNames are the names service identification gives each protocol (the
// names known_services.log shows).
var svcNames = [numSvc]string{"HTTP", "SSL", "SSH", "SMTP", "FTP", "DNS"}

// svcWeights are the shares of servers per protocol, in percent.
var svcWeights = [numSvc]int{30, 35, 10, 8, 5, 12}

// serverInfo is what a server speaks.
type serverInfo struct {
	svc   svcKind
	port  uint16
	proto uint8
	tls13 bool // an SSL server negotiating TLS 1.3 (its certificate is encrypted)
	local bool
}

func newServerInfo(seed uint64, i int, local bool) serverInfo {
	h := mix64(seed ^ mix64(uint64(i)+0x9e3779b97f4a7c15))
	s := serverInfo{proto: packet.ProtoTCP, local: local}
	x := int(h % 100)
	for k, w := range svcWeights {
		if x < w {
			s.svc = svcKind(k)
			break
		}
		x -= w
	}
	switch s.svc {
	case svcHTTP:
		s.port = 80
		if (h>>8)%5 == 0 {
			s.port = 8080
		}
	case svcSSL:
		s.port = 443
		s.tls13 = (h>>16)%2 == 0
	case svcSSH:
		s.port = 22
	case svcSMTP:
		s.port = 25
	case svcFTP:
		s.port = 21
	case svcDNS:
		s.port, s.proto = 53, packet.ProtoUDP
	}
	return s
}

// mix64 is SplitMix64's finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// templates are the application messages, built once per Generator and
// shared by every connection (read only).
type templates struct {
	httpReq  [][]byte
	httpResp [][]byte // by body size class

	sshBanner  [2][]byte // client, server
	sshKexInit [2][]byte
	sshInit    []byte // client's ECDH init
	sshReply   []byte // server's ECDH reply and NEWKEYS
	sshMark    int    // offset in sshReply of the NEWKEYS type byte
	sshClient  []byte // client's NEWKEYS
	sshData    [][]byte

	smtp [][]byte // alternating server, client lines; the client's first (EHLO) confirms
	ftp  [][]byte // the same for FTP (USER confirms)

	dnsQ, dnsA [][]byte

	tlsClientFin []byte // TLS 1.2: ClientKeyExchange, ChangeCipherSpec, Finished
	tlsServerFin []byte // TLS 1.2: ChangeCipherSpec, Finished
	tls13Client  []byte // TLS 1.3: ChangeCipherSpec, Finished
	tlsApp       [][]byte
	ca           *genCA
}

// httpBodySizes are the response body size classes.
var httpBodySizes = []int{0, 43, 320, 1200, 2800, 5600, 9000, 16000, 32000, 64000}

func newTemplates(seed uint64) *templates {
	rng := rand.New(rand.NewPCG(seed, 0x7e3))
	t := &templates{}
	paths := []string{"/", "/index.html", "/api/v1/status", "/static/app.js", "/img/logo.png", "/login",
		"/search?q=zeek", "/favicon.ico"}
	agents := []string{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "curl/8.5.0",
		"Wget/1.21.4"}
	for i, p := range paths {
		t.httpReq = append(t.httpReq, fmt.Appendf(nil,
			"GET %s HTTP/1.1\r\nHost: www.gen.example\r\nUser-Agent: %s\r\nAccept: */*\r\n\r\n", p, agents[i%len(agents)]))
	}
	for _, n := range httpBodySizes {
		resp := fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: text/html\r\n"+
			"Content-Length: %d\r\n\r\n", n)
		t.httpResp = append(t.httpResp, append(resp, text(rng, n)...))
	}
	t.ssh(rng)
	t.smtp = lines("220 mail.gen.example ESMTP Postfix\r\n", "EHLO client.gen.example\r\n",
		"250-mail.gen.example\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n", "MAIL FROM:<alice@gen.example>\r\n",
		"250 2.1.0 Ok\r\n", "QUIT\r\n", "221 2.0.0 Bye\r\n")
	t.ftp = lines("220 (vsFTPd 3.0.5)\r\n", "USER anonymous\r\n", "331 Please specify the password.\r\n",
		"PASS guest@\r\n", "230 Login successful.\r\n", "SYST\r\n", "215 UNIX Type: L8\r\n", "QUIT\r\n",
		"221 Goodbye.\r\n")
	for i := range 16 {
		q, a := dnsMessages(uint16(rng.Uint32()), fmt.Sprintf("www%d.gen.example", i), [4]byte{93, 184, 0, byte(i)})
		t.dnsQ, t.dnsA = append(t.dnsQ, q), append(t.dnsA, a)
	}
	t.tlsClientFin = concat(tlsRecord(0x16, hsMsg(0x10, append([]byte{32}, random(rng, 32)...))),
		tlsRecord(0x14, []byte{1}), tlsRecord(0x16, random(rng, 40)))
	t.tlsServerFin = concat(tlsRecord(0x14, []byte{1}), tlsRecord(0x16, random(rng, 40)))
	t.tls13Client = concat(tlsRecord(0x14, []byte{1}), tlsRecord(0x17, random(rng, 53)))
	for _, n := range []int{120, 800, 3000, 12000} {
		t.tlsApp = append(t.tlsApp, tlsRecord(0x17, random(rng, n)))
	}
	t.ca = newCA(seed)
	return t
}

// ssh builds an SSH-2 version exchange and key exchange.
func (t *templates) ssh(rng *rand.Rand) {
	t.sshBanner = [2][]byte{[]byte("SSH-2.0-OpenSSH_9.6\r\n"), []byte("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n")}
	for i := range t.sshBanner {
		kex := append([]byte{20}, random(rng, 16)...) // SSH_MSG_KEXINIT, cookie
		for _, l := range []string{"curve25519-sha256", "ssh-ed25519", "chacha20-poly1305@openssh.com",
			"chacha20-poly1305@openssh.com", "umac-64-etm@openssh.com", "umac-64-etm@openssh.com", "none", "none", "", ""} {
			kex = sshString(kex, []byte(l))
		}
		kex = append(kex, 0, 0, 0, 0, 0) // first_kex_packet_follows, reserved
		t.sshKexInit[i] = sshPacket(kex)
	}
	t.sshInit = sshPacket(sshString([]byte{30}, random(rng, 32))) // SSH_MSG_KEX_ECDH_INIT
	reply := []byte{31}                                           // SSH_MSG_KEX_ECDH_REPLY
	reply = sshString(reply, random(rng, 51))                     // host key
	reply = sshString(reply, random(rng, 32))                     // server's ephemeral key
	reply = sshString(reply, random(rng, 83))                     // signature
	first := sshPacket(reply)
	t.sshMark = len(first) + 5 // length and padding length precede the NEWKEYS type byte
	t.sshReply = append(first, sshPacket([]byte{21})...)
	t.sshClient = sshPacket([]byte{21})
	for _, n := range []int{36, 52, 116, 564, 1200} {
		t.sshData = append(t.sshData, random(rng, n))
	}
}

// script fills c's messages for the server's protocol.
func (r *genRun) script(c *genConn, srv *serverInfo, rng *rand.Rand) {
	t := r.g.tpl
	switch srv.svc {
	case svcHTTP:
		for range 1 + rng.IntN(3)/2 { // a third of the connections carry two requests
			c.add(t.httpReq[rng.IntN(len(t.httpReq))], false, markConfirm, 0)
			c.add(t.httpResp[rng.IntN(len(t.httpResp))], true, markNone, 0)
		}
	case svcSSL:
		ts := r.tlsServer(c.server)
		c.add(ts.hello, false, markConfirm, 0)
		if srv.tls13 {
			c.add(ts.flight, true, markNone, 0)
			c.add(t.tls13Client, false, markNone, 0)
		} else {
			c.add(ts.flight, true, markNone, 0)
			c.add(t.tlsClientFin, false, markNone, 0)
			c.add(t.tlsServerFin, true, markEstablished, len(t.tlsServerFin)-1)
		}
		c.add(t.tlsApp[rng.IntN(2)], false, markNone, 0)
		c.add(t.tlsApp[rng.IntN(len(t.tlsApp))], true, markNone, 0)
	case svcSSH:
		c.add(t.sshBanner[1], true, markNone, 0)
		c.add(t.sshBanner[0], false, markNone, 0)
		c.add(t.sshKexInit[0], false, markNone, 0)
		c.add(t.sshKexInit[1], true, markNone, 0)
		c.add(t.sshInit, false, markNone, 0)
		c.add(t.sshReply, true, markConfirm, t.sshMark)
		c.add(t.sshClient, false, markNone, 0)
		for range 1 + rng.IntN(3) {
			c.add(t.sshData[rng.IntN(len(t.sshData))], false, markNone, 0)
			c.add(t.sshData[rng.IntN(len(t.sshData))], true, markNone, 0)
		}
	case svcSMTP, svcFTP:
		ls := t.smtp
		if srv.svc == svcFTP {
			ls = t.ftp
		}
		for i, l := range ls {
			m := markNone
			if i == 1 {
				m = markConfirm
			}
			c.add(l, i%2 == 0, m, 0)
		}
	}
}

// dnsPair returns a query and its answer.
func (t *templates) dnsPair(rng *rand.Rand) (q, a []byte) {
	i := rng.IntN(len(t.dnsQ))
	return t.dnsQ[i], t.dnsA[i]
}

// tlsServer returns the TLS messages of server i, built on first use.
func (r *genRun) tlsServer(i int32) *tlsServer {
	if s, ok := r.tls[i]; ok {
		return s
	}
	s := r.g.newTLSServer(int(i))
	r.tls[i] = s
	return s
}

func lines(ls ...string) [][]byte {
	out := make([][]byte, len(ls))
	for i, l := range ls {
		out[i] = []byte(l)
	}
	return out
}

func random(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// text returns n bytes of printable filler.
func text(rng *rand.Rand, n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz <>/=\"\n"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return b
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// sshString appends an SSH string (uint32 length, bytes).
func sshString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// sshPacket frames an SSH-2 binary packet without encryption: length,
// padding length, payload and at least 4 bytes of padding to a multiple of 8.
func sshPacket(payload []byte) []byte {
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+pad))
	b = append(b, byte(pad))
	b = append(b, payload...)
	return append(b, make([]byte, pad)...)
}

// dnsMessages builds a query for an A record of name and its answer.
func dnsMessages(id uint16, name string, addr [4]byte) (q, a []byte) {
	var qname []byte
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			qname = append(qname, byte(i-start))
			qname = append(qname, name[start:i]...)
			start = i + 1
		}
	}
	qname = append(qname, 0)
	q = binary.BigEndian.AppendUint16(nil, id)
	q = append(q, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD; one question
	q = append(q, qname...)
	q = append(q, 0, 1, 0, 1) // A, IN
	a = binary.BigEndian.AppendUint16(nil, id)
	a = append(a, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0) // QR RD RA; one question, one answer
	a = append(a, qname...)
	a = append(a, 0, 1, 0, 1)
	a = append(a, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4) // the name by pointer, A, IN, TTL 3600
	return q, append(a, addr[:]...)
}
