package service

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"shoal/internal/zeekdata"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"shoal/ingest"
	"shoal/packet"
)

// zeekDir returns ../shared/zeek relative to the repository root.
func zeekDir(t testing.TB) string {
	t.Helper()
	return zeekdata.Path(t)
}

// tracePacket is one packet of a test connection.
type tracePacket struct {
	ts       time.Time
	fromOrig bool
	seq      uint32
	flags    uint8
	payload  []byte
}

// traceConn groups a trace's packets by 5-tuple; the first packet's sender is
// the originator.
type traceConn struct {
	proto              uint8
	orig, resp         netip.Addr
	origPort, respPort uint16
	pkts               []tracePacket
	respActive         bool // the responder sent at least one packet
}

type tupleKey struct {
	a, b  netip.AddrPort
	proto uint8
}

// readTrace reads a pcap with ingest and packet and returns its TCP and UDP
// connections in order of their first packet.
func readTrace(t testing.TB, name string) []*traceConn {
	t.Helper()
	f, err := ingest.OpenFile(filepath.Join(zeekDir(t), "traces", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byKey := map[tupleKey]*traceConn{}
	var conns []*traceConn
	_, err = f.Run(context.Background(), func(p *packet.Packet) {
		if p.Proto != packet.ProtoTCP && p.Proto != packet.ProtoUDP {
			return
		}
		src, dst := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
		k := tupleKey{a: src, b: dst, proto: p.Proto}
		if dst.Addr().Less(src.Addr()) || (dst.Addr() == src.Addr() && dst.Port() < src.Port()) {
			k.a, k.b = dst, src
		}
		c := byKey[k]
		if c == nil {
			c = &traceConn{proto: p.Proto, orig: p.Src, resp: p.Dst, origPort: p.SrcPort, respPort: p.DstPort}
			byKey[k] = c
			conns = append(conns, c)
		}
		fromOrig := p.Src == c.orig && p.SrcPort == c.origPort
		if !fromOrig {
			c.respActive = true
		}
		c.pkts = append(c.pkts, tracePacket{ts: p.TS, fromOrig: fromOrig, seq: p.Seq, flags: p.Flags,
			payload: slices.Clone(p.Payload)})
	})
	if err != nil {
		t.Fatal(err)
	}
	return conns
}

// zeekRows returns the data rows of a Zeek TSV log, split into fields.
func zeekRows(t testing.TB, rel string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(zeekDir(t), "expected", rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func protoName(p uint8) string {
	if p == packet.ProtoTCP {
		return "tcp"
	}
	return "udp"
}

func tsString(ts time.Time) string {
	return fmt.Sprintf("%d.%06d", ts.Unix(), ts.Nanosecond()/1000)
}

// TestServicesTrace runs the Detector over var-services-std-ports.pcap and
// compares the services of connections whose responder answered with the
// (host, port, proto, service) rows of Zeek's known_services-all.log. It also
// checks the packet of each confirmation against the v3 timestamps where
// Zeek's check succeeds at confirmation.
func TestServicesTrace(t *testing.T) {
	conns := readTrace(t, "var-services-std-ports.pcap")
	type row struct{ host, port, proto, service string }
	got := map[row]bool{}
	firstConfirm := map[row]tracePacket{}
	deferred := map[row]bool{}
	for _, c := range conns {
		var d Detector
		for _, p := range c.pkts {
			conf, ok := d.Packet(c.proto, p.fromOrig, p.seq, p.payload)
			if !ok {
				continue
			}
			r := row{c.resp.String(), fmt.Sprint(c.respPort), protoName(c.proto), conf.Service.String()}
			if _, seen := firstConfirm[r]; !seen && c.respActive {
				firstConfirm[r] = p
				deferred[r] = conf.Deferred
			}
		}
		if d.OutOfOrder() {
			t.Errorf("%v:%d -> %v:%d: stream out of order", c.orig, c.origPort, c.resp, c.respPort)
		}
		if d.Violated() != 0 {
			t.Errorf("%v:%d -> %v:%d: violated %v", c.orig, c.origPort, c.resp, c.respPort, d.Violated())
		}
		if !c.respActive {
			continue
		}
		for _, name := range d.Services().Names(nil) {
			got[row{c.resp.String(), fmt.Sprint(c.respPort), protoName(c.proto), name}] = true
		}
	}
	want := map[row]bool{}
	for _, f := range zeekRows(t, "known-services/known_services-all.log") {
		want[row{f[1], f[2], f[3], f[4]}] = true
	}
	if len(want) != 7 {
		t.Fatalf("baseline has %d rows, want 7", len(want))
	}
	for r := range want {
		if !got[r] {
			t.Errorf("missing %v", r)
		}
	}
	for r := range got {
		if !want[r] {
			t.Errorf("unexpected %v", r)
		}
	}

	// Where Zeek's known-services check succeeds at the confirmation (TCP),
	// the v3 ts is the confirming packet's. DNS and NTP confirm before the
	// responder answered, so Zeek logs them at connection removal instead.
	v3 := map[row]string{}
	for _, f := range zeekRows(t, "known-services/known_services-all.v3.log") {
		v3[row{f[1], f[2], f[3], f[4]}] = f[0]
	}
	for r, p := range firstConfirm {
		switch r.proto {
		case "tcp":
			if ts := tsString(p.ts); ts != v3[r] {
				t.Errorf("%v confirmed at %s, Zeek's v3 ts is %s", r, ts, v3[r])
			}
		case "udp":
			wantDeferred := r.service == "NTP"
			if deferred[r] != wantDeferred || (r.service == "DNS" && !p.fromOrig) {
				t.Errorf("%v confirmed by fromOrig=%v deferred=%v", r, p.fromOrig, deferred[r])
			}
		}
	}
}

// TestCertsTrace runs Detector and TLS over google-duplicate.pcap: both
// connections yield the leaf of Zeek's known_certs.log row, and the first
// one is established at the row's v3 ts.
func TestCertsTrace(t *testing.T) {
	conns := readTrace(t, "google-duplicate.pcap")
	if len(conns) != 2 {
		t.Fatalf("%d connections, want 2", len(conns))
	}
	want := zeekRows(t, "known-certs/known_certs.log")
	wantV3 := zeekRows(t, "known-certs/known_certs.v3.log")
	if len(want) != 1 || len(wantV3) != 1 {
		t.Fatalf("baseline rows: %d and %d, want 1", len(want), len(wantV3))
	}
	var sums [][20]byte
	cache := NewCertCache(4)
	for n, c := range conns {
		var d Detector
		var s *TLS
		var est []time.Time
		var leaf *Cert
		for _, p := range c.pkts {
			if conf, ok := d.Packet(c.proto, p.fromOrig, p.seq, p.payload); ok && conf.Service == SSL {
				s = &TLS{Cache: cache} // start at the ClientHello, as the tracker does
			}
			if s == nil {
				continue
			}
			ev, ok := s.Packet(p.fromOrig, p.seq, p.payload)
			if !ok {
				continue
			}
			if ev.Cert != nil {
				if leaf != nil {
					t.Errorf("conn %d: second certificate event", n)
				}
				leaf = ev.Cert
			}
			if ev.Established {
				est = append(est, p.ts)
			}
		}
		if s == nil {
			t.Fatalf("conn %d: SSL not confirmed", n)
		}
		if leaf == nil || leaf != s.Leaf() {
			t.Fatalf("conn %d: status %v anomaly %v: no leaf", n, s.Status(), s.Anomaly())
		}
		if len(est) != 1 || !s.Established() {
			t.Fatalf("conn %d: established at %v", n, est)
		}
		if got := []string{leaf.Subject, leaf.Issuer, leaf.Serial}; !slices.Equal(got, want[0][3:6]) {
			t.Errorf("conn %d: leaf %q, want %q", n, got, want[0][3:6])
		}
		if c.resp.String() != want[0][1] || fmt.Sprint(c.respPort) != want[0][2] {
			t.Errorf("conn %d: responder %v:%d, want %s:%s", n, c.resp, c.respPort, want[0][1], want[0][2])
		}
		if n == 0 {
			if ts := tsString(est[0]); ts != wantV3[0][0] {
				t.Errorf("established at %s, want %s", ts, wantV3[0][0])
			}
		}
		if s.Version() != 0x0303 || s.Status() != TLSCert || !s.Done() || s.buf != nil {
			t.Errorf("conn %d: version %#x status %v done %v buf %d", n, s.Version(), s.Status(), s.Done(), cap(s.buf))
		}
		sums = append(sums, leaf.SHA1)
	}
	if sums[0] != sums[1] {
		t.Errorf("the two connections' leaves differ: %x %x", sums[0], sums[1])
	}
	if cache.Parse != 1 || cache.Hits != 1 {
		t.Errorf("cache: %d parsed, %d hits", cache.Parse, cache.Hits)
	}
}

// TestChainTrace parses every certificate of the first google-duplicate.pcap
// connection's chain (extracted here independently of TLS) and compares
// serial, subject, issuer and validity with Zeek's x509.log.
func TestChainTrace(t *testing.T) {
	conns := readTrace(t, "google-duplicate.pcap")
	var stream []byte
	var next uint32
	for _, p := range conns[0].pkts {
		if p.fromOrig || len(p.payload) == 0 {
			continue
		}
		if len(stream) == 0 {
			next = p.seq
		}
		if p.seq != next {
			t.Fatalf("responder stream not in order at %d", p.seq)
		}
		stream = append(stream, p.payload...)
		next += uint32(len(p.payload))
	}
	// Concatenate the handshake records' bodies, then find the Certificate.
	var hs []byte
	for len(stream) >= 5 && stream[0] == recHandshake {
		l := int(binary.BigEndian.Uint16(stream[3:]))
		hs = append(hs, stream[5:5+l]...)
		stream = stream[5+l:]
	}
	var certs [][]byte
	for len(hs) >= 4 {
		l := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if hs[0] == hsCertificate {
			list := hs[4+3 : 4+l]
			for len(list) > 0 {
				cl := int(list[0])<<16 | int(list[1])<<8 | int(list[2])
				certs = append(certs, list[3:3+cl])
				list = list[3+cl:]
			}
		}
		hs = hs[4+l:]
	}
	rows := zeekRows(t, "known-certs/x509.log")
	if len(certs) != len(rows) {
		t.Fatalf("%d certificates, x509.log has %d rows", len(certs), len(rows))
	}
	for i, der := range certs {
		c, err := ParseCert(der)
		if err != nil {
			t.Fatal(err)
		}
		r := rows[i]
		got := []string{c.Serial, c.Subject, c.Issuer, tsString(c.NotBefore), tsString(c.NotAfter)}
		if want := r[3:8]; !slices.Equal(got, want) {
			t.Errorf("cert %d: %q, want %q", i, got, want)
		}
		if !c.Strict {
			t.Errorf("cert %d: crypto/x509 rejected it", i)
		}
	}
}

// TestServicesTraceCounters checks the counters over both traces.
func TestServicesTraceCounters(t *testing.T) {
	var cnt Counters
	for _, name := range []string{"var-services-std-ports.pcap", "google-duplicate.pcap", "ftp-ipv4.pcap", "http-get.pcap", "wikipedia.pcap"} {
		for _, c := range readTrace(t, name) {
			var d Detector
			for _, p := range c.pkts {
				d.Packet(c.proto, p.fromOrig, p.seq, p.payload)
			}
			cnt.AddDetector(&d)
		}
	}
	var names []string
	for s := Service(0); s < NumServices; s++ {
		names = append(names, fmt.Sprintf("%s=%d", s, cnt.Confirmed[s]))
	}
	sort.Strings(names)
	t.Logf("connections %d, confirmed %s, violated %d, out of order %d", cnt.Connections,
		strings.Join(names, " "), cnt.Violated, cnt.OutOfOrder)
	if cnt.Confirmed[HTTP] == 0 || cnt.Confirmed[FTP] == 0 || cnt.Confirmed[SSL] != 2 || cnt.Violated != 0 {
		t.Errorf("counters %+v", cnt)
	}
}

// feedConn runs a Detector over a connection. Like the tracker, it marks the
// connection partial (Zeek's SetPartialStatus) when the originator's first
// packet is not a pure SYN or the responder's first packet has no SYN.
func feedConn(c *traceConn, d *Detector, fn func(p tracePacket, conf Confirmation)) {
	var seenOrig, seenResp, partial bool
	for _, p := range c.pkts {
		if c.proto == packet.ProtoTCP {
			syn := p.flags&packet.FlagSYN != 0
			switch {
			case p.fromOrig && !seenOrig:
				seenOrig = true
				partial = !syn || p.flags&packet.FlagACK != 0
			case !p.fromOrig && !seenResp:
				seenResp = true
				partial = partial || !syn
			}
			d.SetPartial(partial)
		}
		if conf, ok := d.Packet(c.proto, p.fromOrig, p.seq, p.payload); ok && fn != nil {
			fn(p, conf)
		}
	}
}

// TestConnLogServices compares the Detector's services with the service
// column of Zeek's conn.log baselines (ftp-data, which Zeek attaches from
// the FTP control channel rather than by detection, is left out).
func TestConnLogServices(t *testing.T) {
	for _, tc := range []struct{ trace, log string }{
		{"wikipedia.pcap", "conn-wikipedia/conn.log"},
		{"http-get.pcap", "conn-http-get/conn.log"},
		{"ftp-ipv4.pcap", "conn-ftp-ipv4/conn.log"},
	} {
		t.Run(tc.trace, func(t *testing.T) {
			type key struct {
				a, b  netip.AddrPort
				proto string
			}
			mk := func(h1, p1, h2, p2, proto string) key {
				ap := func(h, p string) netip.AddrPort {
					var port uint16
					fmt.Sscan(p, &port)
					return netip.AddrPortFrom(netip.MustParseAddr(h), port)
				}
				a, b := ap(h1, p1), ap(h2, p2)
				if b.Compare(a) < 0 {
					a, b = b, a
				}
				return key{a, b, proto}
			}
			want := map[key]string{}
			for _, f := range zeekRows(t, tc.log) {
				svc := strings.ReplaceAll(strings.ReplaceAll(f[7], "ftp-data", ""), "-", "")
				want[mk(f[2], f[3], f[4], f[5], f[6])] = strings.Trim(svc, ",")
			}
			conns := readTrace(t, tc.trace)
			if len(conns) != len(want) {
				t.Errorf("%d connections, conn.log has %d", len(conns), len(want))
			}
			for _, c := range conns {
				var d Detector
				feedConn(c, &d, nil)
				k := mk(c.orig.String(), fmt.Sprint(c.origPort), c.resp.String(), fmt.Sprint(c.respPort), protoName(c.proto))
				w, ok := want[k]
				if !ok {
					t.Errorf("%v not in conn.log", k)
					continue
				}
				if got := strings.ToLower(d.Services().String()); got != w {
					t.Errorf("%v: services %q, conn.log %q", k, got, w)
				}
			}
		})
	}
}
