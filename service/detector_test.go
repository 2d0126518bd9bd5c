package service

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// seg is one test packet: direction and payload; seq numbers are made up per
// direction from the payload lengths.
type seg struct {
	orig bool
	data string
}

func o(s string) seg { return seg{true, s} }
func r(s string) seg { return seg{false, s} }

// run feeds segs to a Detector and returns the index of each confirmation.
func run(t *testing.T, d *Detector, proto uint8, segs []seg) map[Service]int {
	t.Helper()
	got := map[Service]int{}
	seqs := [2]uint32{1000, 5000000}
	for i, s := range segs {
		dir := 0
		if !s.orig {
			dir = 1
		}
		c, ok := d.Packet(proto, s.orig, seqs[dir], []byte(s.data))
		seqs[dir] += uint32(len(s.data))
		if !ok {
			continue
		}
		if _, dup := got[c.Service]; dup {
			t.Errorf("%v confirmed twice", c.Service)
		}
		if c.Deferred != (c.Service == NTP) {
			t.Errorf("%v: Deferred %v", c.Service, c.Deferred)
		}
		got[c.Service] = i
	}
	return got
}

// Building blocks for binary protocols.
func u16(v int) string { return string(binary.BigEndian.AppendUint16(nil, uint16(v))) }
func u24(v int) string { return string([]byte{byte(v >> 16), byte(v >> 8), byte(v)}) }
func u32(v int) string { return string(binary.BigEndian.AppendUint32(nil, uint32(v))) }

func tlsRecord(typ byte, body string) string {
	return string([]byte{typ, 3, 3}) + u16(len(body)) + body
}
func hsMsg(typ byte, body string) string { return string([]byte{typ}) + u24(len(body)) + body }

func clientHelloBody() string {
	ext := u16(0) + u16(len("example.com")+5) + u16(len("example.com")+3) + "\x00" + u16(len("example.com")) + "example.com"
	return "\x03\x03" + string(bytes.Repeat([]byte{7}, 32)) + "\x00" + u16(4) + "\x13\x01\xc0\x2f" + "\x01\x00" + u16(len(ext)) + ext
}

func clientHelloRecord() string { return tlsRecord(22, hsMsg(1, clientHelloBody())) }

// sshPacket builds a cleartext SSH2 binary packet with the given message.
func sshPacket(payload string) string {
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	return u32(1+len(payload)+pad) + string([]byte{byte(pad)}) + payload + string(make([]byte, pad))
}

func dnsQuery(id int, name string) string {
	q := u16(id) + u16(0x0100) + u16(1) + u16(0) + u16(0) + u16(0)
	for _, l := range bytes.Split([]byte(name), []byte(".")) {
		q += string([]byte{byte(len(l))}) + string(l)
	}
	return q + "\x00" + u16(1) + u16(1)
}

func dnsResponse(id int, name string) string {
	q := dnsQuery(id, name)
	resp := q[:2] + u16(0x8180) + u16(1) + u16(1) + u16(0) + u16(0) + q[12:]
	return resp + "\xc0\x0c" + u16(1) + u16(1) + u32(300) + u16(4) + "\x0a\x00\x00\x01"
}

func ntpClient(ts uint64) string {
	p := make([]byte, 48)
	p[0] = 0x23 // LI 0, VN 4, mode 3
	binary.BigEndian.PutUint64(p[40:], ts)
	return string(p)
}

func ntpServer(origin uint64) string {
	p := make([]byte, 48)
	p[0] = 0x24 // VN 4, mode 4
	p[1] = 2
	binary.BigEndian.PutUint64(p[24:], origin)
	binary.BigEndian.PutUint64(p[40:], origin+12345)
	return string(p)
}

func TestDetector(t *testing.T) {
	kexinit := sshPacket("\x14" + string(make([]byte, 16)) + u32(0) + u32(0) + u32(0) + u32(0) + u32(0) + u32(0) + u32(0) + u32(0) + u32(0) + u32(0) + "\x00" + u32(0))
	newkeys := sshPacket("\x15")
	tests := map[string]struct {
		proto    uint8
		partial  bool
		segs     []seg
		want     map[Service]int // confirmations by packet index
		services Set
		violated Set
	}{
		"http": {
			proto: protoTCP,
			segs: []seg{o("GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"),
				r("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")},
			want: map[Service]int{HTTP: 0}, services: HTTP.bit(),
		},
		"http request line cut by the segment": {
			proto: protoTCP,
			segs:  []seg{o("POST /a/very/long/path?x=1"), o("&y=2 HTTP/1.1\r\n\r\n"), r("HTTP/1.1 204 No Content\r\n\r\n")},
			want:  map[Service]int{HTTP: 0}, services: HTTP.bit(),
		},
		"http/0.9": {
			proto: protoTCP,
			segs:  []seg{o("GET /\r\n"), r("<html></html>")},
			want:  map[Service]int{HTTP: 0}, services: HTTP.bit(), // an HTTP/0.9 reply has no status line
		},
		"http with leading empty lines": {
			proto: protoTCP,
			segs:  []seg{o("\r\n"), o("HEAD / HTTP/1.0\r\n\r\n"), r("\r\n"), r("HTTP/1.0 200 OK\r\n\r\n")},
			want:  map[Service]int{HTTP: 1}, services: HTTP.bit(),
		},
		"http violated by the reply": {
			proto: protoTCP,
			segs:  []seg{o("GET / HTTP/1.1\r\n\r\n"), r("SSH-2.0-OpenSSH_9.6\r\n")},
			want:  map[Service]int{HTTP: 0}, violated: HTTP.bit(),
		},
		"not http: unknown method without version": {
			proto: protoTCP,
			segs:  []seg{o("FOO /\r\n"), r("HTTP/1.1 400 Bad\r\n\r\n")},
		},
		"not http: lower-case method": {
			proto: protoTCP,
			segs:  []seg{o("get / HTTP/1.1\r\n\r\n"), r("HTTP/1.1 400 Bad\r\n\r\n")},
		},
		"not http: server speaks first": {
			proto: protoTCP,
			segs:  []seg{r("HTTP/1.1 200 OK\r\n\r\n"), o("GET / HTTP/1.1\r\n\r\n")},
		},
		"http on a partial connection": {
			proto: protoTCP, partial: true,
			segs: []seg{o("GET / HTTP/1.1\r\n\r\n"), r("HTTP/1.1 200 OK\r\n\r\n")},
		},
		"tls": {
			proto: protoTCP,
			segs:  []seg{o(clientHelloRecord()), r(tlsRecord(22, hsMsg(2, "\x03\x03"+string(make([]byte, 32))+"\x00\x13\x01\x00")))},
			want:  map[Service]int{SSL: 0}, services: SSL.bit(),
		},
		"tls client hello cut by the segment": {
			proto: protoTCP,
			segs:  []seg{o(clientHelloRecord()[:60]), o(clientHelloRecord()[60:])},
			want:  map[Service]int{SSL: 0}, services: SSL.bit(),
		},
		"sslv2-compatible client hello": {
			proto: protoTCP,
			segs: []seg{o("\x80\x2e\x01\x03\x01" + u16(21) + u16(0) + u16(16) +
				"\x00\x00\x04\x00\x00\x05\x00\x00\x0a\x01\x00\x80\x07\x00\xc0\x03\x00\x80\x00\x00\x09" + string(make([]byte, 16)))},
			want: map[Service]int{SSL: 0}, services: SSL.bit(),
		},
		"not tls: bad handshake lengths": {
			proto: protoTCP,
			segs:  []seg{o("\x16\x03\x01\x00\x40\x01\x00\x00\x3c\x03\x03" + string(make([]byte, 32)) + "\x40")},
		},
		"ssh": {
			proto: protoTCP,
			segs: []seg{r("SSH-2.0-OpenSSH_5.8p1 Debian-1ubuntu3\r\n"), o("SSH-2.0-OpenSSH_5.2\r\n"),
				o(kexinit), r(kexinit), r(sshPacket("\x1f" + u32(0))), o(newkeys), r(newkeys)},
			want: map[Service]int{SSH: 5}, services: SSH.bit(),
		},
		"ssh banner and packets in one segment, newkeys split": {
			proto: protoTCP,
			segs: []seg{r("SSH-2.0-srv\n" + kexinit), o("SSH-2.0-cli\r\n" + kexinit[:10]), o(kexinit[10:] + newkeys[:3]),
				o(newkeys[3:6]), o(newkeys[6:])},
			want: map[Service]int{SSH: 3}, services: SSH.bit(),
		},
		"ssh retransmission": {
			proto: protoTCP,
			segs:  []seg{r("SSH-2.0-srv\n"), o("SSH-2.0-cli\n"), r(kexinit), o(kexinit), r(newkeys)},
			want:  map[Service]int{SSH: 4}, services: SSH.bit(),
		},
		"ssh1": {
			proto: protoTCP,
			segs: []seg{r("SSH-1.5-srv\n"), o("SSH-1.5-cli\n"),
				r(u32(5) + string(make([]byte, 3)) + "\x02" + string(make([]byte, 4))),
				o(u32(5) + string(make([]byte, 3)) + "\x03" + string(make([]byte, 4)))},
			want: map[Service]int{SSH: 3}, services: SSH.bit(),
		},
		"ssh banners only": {
			proto: protoTCP,
			segs:  []seg{r("SSH-2.0-srv\r\n"), o("SSH-2.0-cli\r\n"), o(kexinit), r(kexinit)},
		},
		"ftp": {
			proto: protoTCP,
			segs: []seg{r("220 localhost FTP server ready.\r\n"), o("USER jsiwek\r\n"), r("331 Password required.\r\n"),
				o("PASS secret\r\n"), r("230- Welcome\r\n230- \r\n  * Documentation\r\n230 Login ok.\r\n"),
				o("SYST\r\n"), r("215 UNIX Type: L8\r\n"), o("QUIT\r\n"), r("221 Goodbye.\r\n")},
			want: map[Service]int{FTP: 1}, services: FTP.bit(),
		},
		"ftp reply head split across segments": {
			proto: protoTCP,
			segs: []seg{r("220 ready\r\n"), o("USER a\r\n"), r("23"), r("0-first\r\nfree text\r\n230 ok\r\n"),
				o("PWD\r\n"), r("257 \"/\"\r\n")},
			want: map[Service]int{FTP: 1}, services: FTP.bit(),
		},
		"ftp violated by a non-numeric reply": {
			proto: protoTCP,
			segs:  []seg{r("220 ready\r\n"), o("USER a\r\n"), r("hello there\r\n")},
			want:  map[Service]int{FTP: 1}, violated: FTP.bit(),
		},
		"ftp on a partial connection": {
			proto: protoTCP, partial: true,
			segs: []seg{r("220 ready\r\n"), o("USER a\r\n")},
			want: map[Service]int{FTP: 1}, services: FTP.bit(),
		},
		"ftp auth tls": {
			proto: protoTCP,
			segs:  []seg{r("220 ready\r\n"), o("AUTH TLS\r\n"), r("234 go ahead\r\n"), o(clientHelloRecord())},
			want:  map[Service]int{FTP: 1, SSL: 3}, services: FTP.bit() | SSL.bit(),
		},
		"smtp": {
			proto: protoTCP,
			segs: []seg{r("220-mx.example.com ESMTP\r\n220 no UCE\r\n"), o("EHLO client.example.com\r\n"),
				r("250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n"), o("MAIL FROM:<a@example.com>\r\n"),
				r("250 ok\r\n")},
			want: map[Service]int{SMTP: 1}, services: SMTP.bit(),
		},
		"smtp violated by a reply code out of range": {
			proto: protoTCP,
			segs:  []seg{r("220 mx ESMTP\r\n"), o("HELO c\r\n"), r("250 hi\r\n"), o("NOOP\r\n"), r("999 what\r\n")},
			want:  map[Service]int{SMTP: 1}, violated: SMTP.bit(),
		},
		"smtp starttls": {
			proto: protoTCP,
			segs: []seg{r("220 mx ESMTP\r\n"), o("EHLO c\r\n"), r("250 hi\r\n"), o("STARTTLS\r\n"),
				r("220 go ahead\r\n"), o(clientHelloRecord()), r("\x16\x03\x03garbage that is not a line")},
			want: map[Service]int{SMTP: 1, SSL: 5}, services: SMTP.bit() | SSL.bit(),
		},
		"smtp on a partial connection": {
			proto: protoTCP, partial: true,
			segs: []seg{r("220 mx ESMTP\r\n"), o("EHLO c\r\n")},
		},
		"undecided 220 dialogue": {
			proto: protoTCP,
			segs:  []seg{r("220 hi\r\n"), o("NOOP\r\n"), r("200 ok\r\n"), o("HELP\r\n"), r("214 help\r\n")},
		},
		"dns over tcp": {
			proto: protoTCP,
			segs:  []seg{o(u16(len(dnsQuery(7, "example.com"))) + dnsQuery(7, "example.com"))},
			want:  map[Service]int{DNS: 0}, services: DNS.bit(),
		},
		"dns over udp": {
			proto: protoUDP,
			segs:  []seg{o(dnsQuery(0x32e0, "1.238.16.172.in-addr.arpa")), r(dnsResponse(0x32e0, "1.238.16.172.in-addr.arpa"))},
			want:  map[Service]int{DNS: 0}, services: DNS.bit(),
		},
		"dns response first": {
			proto: protoUDP,
			segs:  []seg{o(dnsResponse(1, "tangent.local"))},
			want:  map[Service]int{DNS: 0}, services: DNS.bit(),
		},
		"not dns: forward compression pointer": {
			proto: protoUDP,
			segs:  []seg{o(u16(1) + u16(0x0100) + u16(1) + u16(0) + u16(0) + u16(0) + "\xc0\x20" + u16(1) + u16(1))},
		},
		"not dns: trailing bytes": {
			proto: protoUDP,
			segs:  []seg{o(dnsQuery(1, "example.com") + "x")},
		},
		"ntp": {
			proto: protoUDP,
			segs:  []seg{o(ntpClient(0xd1af30e74097e304)), r(ntpServer(0xd1af30e74097e304))},
			want:  map[Service]int{NTP: 1}, services: NTP.bit(),
		},
		"ntp with the server as originator": {
			proto: protoUDP,
			segs:  []seg{r(ntpClient(77)), o(ntpServer(77))},
			want:  map[Service]int{NTP: 1}, services: NTP.bit(),
		},
		"ntp reply from the requesting side": {
			proto: protoUDP,
			segs:  []seg{o(ntpClient(77)), o(ntpServer(77))},
		},
		"ntp reply for another request": {
			proto: protoUDP,
			segs:  []seg{o(ntpClient(0xd1af30e74097e304)), r(ntpServer(42))},
		},
		"ntp control": {
			proto: protoUDP,
			segs:  []seg{o("\x16\x02\x00\x01" + u32(0) + u16(0) + u16(0)), r("\x16\x82\x00\x01" + u32(0) + u16(0) + u16(4) + "x=1,")},
			want:  map[Service]int{NTP: 1}, services: NTP.bit(),
		},
		"ntp mode 7 monlist": {
			proto: protoUDP,
			segs:  []seg{o("\x17\x00\x03\x2a" + string(make([]byte, 44))), r("\x97\x00\x03\x2a" + string(make([]byte, 44)))},
			want:  map[Service]int{NTP: 1}, services: NTP.bit(),
		},
		"udp noise": {
			proto: protoUDP,
			segs:  []seg{o(`{"host_int": 28173049, "version": [1, 8]}`), r(string(make([]byte, 48)))},
		},
		"other protocol ignored": {
			proto: 1,
			segs:  []seg{o(dnsQuery(1, "example.com"))},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var d Detector
			d.SetPartial(tc.partial)
			got := run(t, &d, tc.proto, tc.segs)
			if len(got) != len(tc.want) {
				t.Errorf("confirmed %v, want %v", got, tc.want)
			}
			for svc, i := range tc.want {
				if j, ok := got[svc]; !ok || i != j {
					t.Errorf("%v confirmed at %v (%v), want %d", svc, j, ok, i)
				}
			}
			if d.Services() != tc.services || d.Violated() != tc.violated {
				t.Errorf("services %q violated %q, want %q and %q", d.Services(), d.Violated(), tc.services, tc.violated)
			}
			if d.Confirmed() != d.Services()|d.Violated() {
				t.Errorf("confirmed %q != services %q + violated %q", d.Confirmed(), d.Services(), d.Violated())
			}
		})
	}
}

// TestDetectorSSLH: one port, two connections, two protocols (Zeek's sslh
// case); the Detector is per connection and each gets its own service.
func TestDetectorSSLH(t *testing.T) {
	var a, b Detector
	run(t, &a, protoTCP, []seg{r("SSH-2.0-srv\n"), o("SSH-2.0-cli\n"), r(sshPacket("\x15"))})
	run(t, &b, protoTCP, []seg{o(clientHelloRecord())})
	if a.Services() != SSH.bit() || b.Services() != SSL.bit() {
		t.Errorf("services %q and %q", a.Services(), b.Services())
	}
}

func TestDetectorOutOfOrder(t *testing.T) {
	var d Detector
	req := []byte("GET / HTTP/1.1\r\n\r\n")
	d.Packet(protoTCP, false, 500, []byte("x")) // responder data first: rules out client-first protocols
	if _, ok := d.Packet(protoTCP, true, 100, req); ok {
		t.Fatal("confirmed after the responder spoke first")
	}
	var e Detector
	e.Packet(protoTCP, true, 100, []byte("SSH-2.0-cli\n"))
	e.Packet(protoTCP, true, 200, []byte("later")) // a gap
	if !e.OutOfOrder() || !e.Done() {
		t.Errorf("out of order %v done %v", e.OutOfOrder(), e.Done())
	}
	if _, ok := e.Packet(protoTCP, false, 1, []byte("SSH-2.0-srv\n")); ok {
		t.Error("confirmed after the stream broke")
	}
}

func TestDetectorUDPBudget(t *testing.T) {
	var d Detector
	for range maxDatagrams {
		d.Packet(protoUDP, true, 0, []byte("noise"))
		d.Packet(protoUDP, false, 0, []byte("noise"))
	}
	if _, ok := d.Packet(protoUDP, true, 0, []byte(dnsQuery(1, "example.com"))); ok || !d.Done() {
		t.Errorf("past the budget: done %v", d.Done())
	}
}

func TestSetNames(t *testing.T) {
	s := Set(0).Add(SSL).Add(HTTP).Add(NTP).Add(NumServices)
	if got := s.String(); got != "HTTP,SSL,NTP" || s.Len() != 3 {
		t.Errorf("%q len %d", got, s.Len())
	}
	buf := make([]string, 0, 8)
	if n := testing.AllocsPerRun(100, func() { buf = s.Names(buf[:0]) }); n != 0 {
		t.Errorf("Names allocates %v", n)
	}
	for svc := Service(0); svc < NumServices; svc++ {
		if p, ok := ParseService(svc.String()); !ok || p != svc {
			t.Errorf("ParseService(%q) = %v %v", svc, p, ok)
		}
	}
	if _, ok := ParseService("ftp-data"); ok || Service(200).String() != "" {
		t.Error("unknown service accepted")
	}
}
