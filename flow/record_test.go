package flow

import (
	"net/netip"
	"testing"
	"time"

	"shoal/packet"
)

// pkt is a test packet: at seconds after base, from src to dst.
type pkt struct {
	at       float64
	src, dst string // "addr:port"; for ICMP the port is the type (src) and code (dst)
	flags    uint8
	seq, ack uint32
	n        int   // payload length
	proto    uint8 // 0 means TCP
	zeroWin  bool
}

func (s pkt) packet() *packet.Packet {
	src, dst := netip.MustParseAddrPort(s.src), netip.MustParseAddrPort(s.dst)
	p := &packet.Packet{
		TS:  base.Add(time.Duration(s.at * float64(time.Second))),
		Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(),
		Proto: s.proto, Flags: s.flags, Seq: s.seq, Ack: s.ack, PayloadLen: s.n, Window: 1000,
	}
	switch s.proto {
	case 0:
		p.Proto = packet.ProtoTCP
		p.IPLen = 40 + s.n
	default:
		p.IPLen = 28 + s.n
	}
	if s.zeroWin {
		p.Window = 0
	}
	return p
}

// events collects what a Tracker reports.
type events struct {
	recs []Record
	atts []Attempt
	ests []Established
}

func (ev *events) handler() Handler {
	return Handler{
		Removed:     func(r *Record) { ev.recs = append(ev.recs, *r) },
		Attempt:     func(a *Attempt) { ev.atts = append(ev.atts, *a) },
		Established: func(e *Established) { ev.ests = append(ev.ests, *e) },
	}
}

// runPkts feeds pkts to a fresh Tracker and finishes the input.
func runPkts(cfg Config, pkts []pkt) (*events, *Tracker) {
	ev := &events{}
	cfg.Handler = ev.handler()
	tr := NewTracker(cfg)
	for _, p := range pkts {
		tr.Packet(p.packet())
	}
	tr.Finish()
	return ev, tr
}

const (
	udpCli = "141.142.220.118:5000"
	dnsSrv = "141.142.2.2:53"
)

// TestConnRecords checks conn_state, history and byte counts against the
// rules of Zeek's TCP, UDP and ICMP analyzers and conn/main.zeek.
func TestConnRecords(t *testing.T) {
	type want struct {
		state      ConnState
		history    string
		orig, resp string // "addr:port"; empty: cli and srv
		origBytes  uint64
		respBytes  uint64
		origPkts   uint64
		respPkts   uint64
		dur        float64 // seconds; 0: from the first to the last packet
	}
	handshake := []pkt{
		{at: 0, src: cli, dst: srv, flags: S, seq: 100},
		{at: 0.1, src: srv, dst: cli, flags: S | A, seq: 500, ack: 101},
		{at: 0.2, src: cli, dst: srv, flags: A, seq: 101, ack: 501},
	}
	then := func(more ...pkt) []pkt { return append(append([]pkt(nil), handshake...), more...) }
	cases := map[string]struct {
		pkts []pkt
		want want
	}{
		"S0 unanswered syn": {pkts: handshake[:1], want: want{state: ConnS0, history: "S", origPkts: 1}},
		"S0 zero window syn": {pkts: []pkt{{at: 0, src: cli, dst: srv, flags: S, seq: 100, zeroWin: true}},
			want: want{state: ConnS0, history: "SW", origPkts: 1}},
		"REJ": {pkts: []pkt{handshake[0], {at: 0.1, src: srv, dst: cli, flags: R | A, ack: 101}},
			want: want{state: ConnREJ, history: "Sr", origPkts: 1, respPkts: 1}},
		"S1": {pkts: handshake, want: want{state: ConnS1, history: "ShA", origPkts: 2, respPkts: 1}},
		"SF with data both ways": {pkts: then(
			pkt{at: 0.3, src: cli, dst: srv, flags: A | P, seq: 101, ack: 501, n: 20},
			pkt{at: 0.4, src: srv, dst: cli, flags: A | P, seq: 501, ack: 121, n: 30},
			pkt{at: 0.5, src: cli, dst: srv, flags: F | A, seq: 121, ack: 531},
			pkt{at: 0.6, src: srv, dst: cli, flags: F | A, seq: 531, ack: 122},
			pkt{at: 0.7, src: cli, dst: srv, flags: A, seq: 122, ack: 532},
		), // The last ACK comes after both FINs: it does not extend the duration.
			want: want{state: ConnSF, history: "ShADdFf", origBytes: 20, respBytes: 30, origPkts: 5, respPkts: 3, dur: 0.6}},
		"S2 originator closed": {pkts: then(pkt{at: 0.3, src: cli, dst: srv, flags: F | A, seq: 101, ack: 501}),
			want: want{state: ConnS2, history: "ShAF", origPkts: 3, respPkts: 1}},
		"S3 responder closed": {pkts: then(pkt{at: 0.3, src: srv, dst: cli, flags: F | A, seq: 501, ack: 101}),
			want: want{state: ConnS3, history: "ShAf", origPkts: 2, respPkts: 2}},
		"RSTO": {pkts: then(pkt{at: 0.3, src: cli, dst: srv, flags: R, seq: 101}),
			want: want{state: ConnRSTO, history: "ShAR", origPkts: 3, respPkts: 1}},
		"RSTR": {pkts: then(pkt{at: 0.3, src: srv, dst: cli, flags: R, seq: 501}),
			want: want{state: ConnRSTR, history: "ShAr", origPkts: 2, respPkts: 2}},
		"RSTOS0": {pkts: []pkt{handshake[0], {at: 0.1, src: cli, dst: srv, flags: R, seq: 101}},
			want: want{state: ConnRSTOS0, history: "SR", origPkts: 2}},
		"RSTRH lone syn-ack then reset": {pkts: []pkt{handshake[1], {at: 0.2, src: srv, dst: cli, flags: R, seq: 501}},
			want: want{state: ConnRSTRH, history: "^hr", respPkts: 2}},
		"SH syn then fin": {pkts: []pkt{handshake[0], {at: 0.1, src: cli, dst: srv, flags: F, seq: 101}},
			want: want{state: ConnSH, history: "SF", origPkts: 2}},
		"SHR syn-ack then fin": {pkts: []pkt{handshake[1], {at: 0.2, src: srv, dst: cli, flags: F | A, seq: 501, ack: 101}},
			want: want{state: ConnSHR, history: "^hf", respPkts: 2}},
		"OTH mid-stream": {pkts: []pkt{{at: 0, src: cli, dst: srv, flags: A | P, seq: 1000, ack: 7, n: 50},
			{at: 0.1, src: cli, dst: srv, flags: A | P, seq: 1050, ack: 7, n: 50}},
			want: want{state: ConnOTH, history: "D", origBytes: 100, origPkts: 2}},
		"FIN repeated at a new sequence number": {pkts: then(
			pkt{at: 0.3, src: cli, dst: srv, flags: F | A, seq: 101, ack: 501},
			pkt{at: 0.4, src: cli, dst: srv, flags: F | A, seq: 101, ack: 501},         // same: not repeated
			pkt{at: 0.5, src: cli, dst: srv, flags: F | A, seq: 101, ack: 501, n: 10}), // FIN after 10 bytes
			want: want{state: ConnS2, history: "ShAFF", origBytes: 10, origPkts: 5, respPkts: 1}},
		"RST repeated at a new sequence number": {pkts: then(
			pkt{at: 0.3, src: srv, dst: cli, flags: R, seq: 501},
			pkt{at: 0.4, src: srv, dst: cli, flags: R, seq: 501},
			pkt{at: 0.5, src: srv, dst: cli, flags: R, seq: 601}),
			want: want{state: ConnRSTR, history: "ShArr", origPkts: 2, respPkts: 4}},
		"retransmissions are logged 1, 10, 100 times": {pkts: func() []pkt {
			ps := then(pkt{at: 0.3, src: cli, dst: srv, flags: A | P, seq: 101, ack: 501, n: 20})
			for i := range 10 {
				ps = append(ps, pkt{at: 0.4 + float64(i)/100, src: cli, dst: srv, flags: A | P, seq: 101, ack: 501, n: 20})
			}
			return ps
		}(), want: want{state: ConnS1, history: "ShADTT", origBytes: 20, origPkts: 13, respPkts: 1}},
		"zero windows are logged 1, 10 times": {pkts: func() []pkt {
			ps := then()
			for i := range 9 {
				ps = append(ps, pkt{at: 0.4 + float64(i)/100, src: srv, dst: cli, flags: A, seq: 501, ack: 101, zeroWin: true})
			}
			return ps
		}(), want: want{state: ConnS1, history: "ShAaw", origPkts: 2, respPkts: 10}}, // 'a' then 'w' for the same ACK
		"multi-flag and fin-rst packets": {pkts: then(
			pkt{at: 0.3, src: cli, dst: srv, flags: S | F, seq: 100}, // the initial ISN: not a reuse
			pkt{at: 0.4, src: srv, dst: cli, flags: F | R, seq: 501}),
			want: want{state: ConnRSTR, history: "ShAQi", origPkts: 3, respPkts: 2}},
		"syn-ack before syn without server port flips": {pkts: []pkt{
			{at: 0, src: "10.0.0.2:7000", dst: "10.0.0.1:40000", flags: S | A, seq: 500, ack: 101},
			{at: 0.001, src: "10.0.0.1:40000", dst: "10.0.0.2:7000", flags: S, seq: 100},
			{at: 0.002, src: "10.0.0.1:40000", dst: "10.0.0.2:7000", flags: A, seq: 101, ack: 501}},
			// The SYN is recorded (as the responder's 's') before the flip.
			want: want{state: ConnS1, history: "Hs^A", orig: "10.0.0.1:40000", resp: "10.0.0.2:7000",
				origPkts: 1, respPkts: 2}},
		"UDP request and reply": {pkts: []pkt{
			{at: 0, src: udpCli, dst: dnsSrv, n: 38, proto: packet.ProtoUDP},
			{at: 0.0004, src: dnsSrv, dst: udpCli, n: 89, proto: packet.ProtoUDP}},
			want: want{state: ConnSF, history: "Dd", orig: udpCli, resp: dnsSrv, origBytes: 38, respBytes: 89,
				origPkts: 1, respPkts: 1}},
		"UDP request only": {pkts: []pkt{{at: 0, src: udpCli, dst: dnsSrv, n: 38, proto: packet.ProtoUDP},
			{at: 1, src: udpCli, dst: dnsSrv, n: 38, proto: packet.ProtoUDP}},
			want: want{state: ConnS0, history: "D", orig: udpCli, resp: dnsSrv, origBytes: 76, origPkts: 2}},
		"UDP reply from a server port first is flipped": {pkts: []pkt{
			{at: 0, src: dnsSrv, dst: udpCli, n: 89, proto: packet.ProtoUDP},
			{at: 0.1, src: dnsSrv, dst: udpCli, n: 89, proto: packet.ProtoUDP}},
			want: want{state: ConnSHR, history: "^d", orig: udpCli, resp: dnsSrv, respBytes: 178, respPkts: 2}},
		"UDP to broadcast is not flipped": {pkts: []pkt{
			{at: 0, src: "10.0.0.1:53", dst: "255.255.255.255:5000", n: 10, proto: packet.ProtoUDP},
			{at: 0.5, src: "10.0.0.1:53", dst: "255.255.255.255:5000", n: 10, proto: packet.ProtoUDP}},
			want: want{state: ConnS0, history: "D", orig: "10.0.0.1:53", resp: "255.255.255.255:5000",
				origBytes: 20, origPkts: 2}},
		"ICMP echo request and reply": {pkts: []pkt{
			{at: 0, src: "10.0.0.1:8", dst: "10.0.0.2:0", n: 56, proto: packet.ProtoICMP},
			{at: 0.01, src: "10.0.0.2:0", dst: "10.0.0.1:0", n: 56, proto: packet.ProtoICMP}},
			want: want{state: ConnOTH, orig: "10.0.0.1:8", resp: "10.0.0.2:0", origBytes: 56, respBytes: 56,
				origPkts: 1, respPkts: 1}},
		"ICMP echo reply alone keeps its sender as originator": {pkts: []pkt{
			{at: 0, src: "10.0.0.2:0", dst: "10.0.0.1:0", n: 56, proto: packet.ProtoICMP},
			{at: 1, src: "10.0.0.2:0", dst: "10.0.0.1:0", n: 56, proto: packet.ProtoICMP}},
			want: want{state: ConnOTH, orig: "10.0.0.2:0", resp: "10.0.0.1:8", origBytes: 112, origPkts: 2}},
		"ICMPv6 unreachable is one-way, keyed by type and code": {pkts: []pkt{
			{at: 0, src: "[2001:db8::1]:1", dst: "[2001:db8::2]:4", n: 48, proto: packet.ProtoICMPv6},
			{at: 1, src: "[2001:db8::1]:1", dst: "[2001:db8::2]:4", n: 48, proto: packet.ProtoICMPv6}},
			want: want{state: ConnOTH, orig: "[2001:db8::1]:1", resp: "[2001:db8::2]:4", origBytes: 96, origPkts: 2}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ev, tr := runPkts(Config{}, tc.pkts)
			if len(ev.recs) != 1 {
				t.Fatalf("%d records, want 1: %+v", len(ev.recs), ev.recs)
			}
			r := ev.recs[0]
			w := tc.want
			if w.orig == "" {
				w.orig, w.resp = cli, srv
			}
			orig := netip.AddrPortFrom(r.Orig, r.OrigPort).String()
			resp := netip.AddrPortFrom(r.Resp, r.RespPort).String()
			if r.State != w.state || r.History.String() != w.history || orig != netip.MustParseAddrPort(w.orig).String() ||
				resp != netip.MustParseAddrPort(w.resp).String() {
				t.Errorf("got %s %q %s -> %s, want %s %q %s -> %s", r.State, r.History, orig, resp,
					w.state, w.history, w.orig, w.resp)
			}
			if r.OrigBytes != w.origBytes || r.RespBytes != w.respBytes || r.OrigPkts != w.origPkts || r.RespPkts != w.respPkts {
				t.Errorf("bytes %d/%d pkts %d/%d, want %d/%d %d/%d", r.OrigBytes, r.RespBytes, r.OrigPkts, r.RespPkts,
					w.origBytes, w.respBytes, w.origPkts, w.respPkts)
			}
			last := tc.pkts[len(tc.pkts)-1].at - tc.pkts[0].at
			if w.dur != 0 {
				last = w.dur
			}
			if r.Duration != time.Duration(last*float64(time.Second)) {
				t.Errorf("duration %v, want %vs", r.Duration, last)
			}
			if !r.TS.Equal(base.Add(time.Duration(tc.pkts[0].at * float64(time.Second)))) {
				t.Errorf("ts %v", r.TS)
			}
			if st := tr.Stats(); st.Flows != 0 || st.UDP.Flows != 0 || st.ICMP.Flows != 0 {
				t.Errorf("flows left after Finish: %+v", st)
			}
		})
	}
}

func TestAttemptEvents(t *testing.T) {
	t.Run("attempt at the timer, rejected at the RST", func(t *testing.T) {
		ev, tr := runPkts(Config{}, []pkt{
			{at: 0, src: cli, dst: srv, flags: S, seq: 1},
			{at: 1, src: "10.0.0.9:4000", dst: srv, flags: S, seq: 1},
			{at: 1.5, src: srv, dst: "10.0.0.9:4000", flags: R | A, ack: 2},
			{at: 7, src: udpCli, dst: dnsSrv, n: 1, proto: packet.ProtoUDP},
		})
		if len(ev.atts) != 2 {
			t.Fatalf("attempts %+v", ev.atts)
		}
		rej, att := ev.atts[0], ev.atts[1]
		if rej.Kind != AttemptRejected || !rej.History.Is("Sr") || rej.RespPort != 80 || rej.Orig.String() != "10.0.0.9" ||
			!rej.TS.Equal(base.Add(1500*time.Millisecond)) {
			t.Errorf("rejected %+v %s", rej, rej.History)
		}
		// The attempt timer fired when the UDP packet moved time to 7 s.
		if att.Kind != AttemptUnanswered || !att.History.Is("S") || att.Proto != packet.ProtoTCP ||
			!att.TS.Equal(base.Add(7*time.Second)) || att.Orig.String() != "141.142.220.118" {
			t.Errorf("attempt %+v %s", att, att.History)
		}
		if st := tr.Stats(); st.Attempted != 1 || st.Rejected != 1 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("finish fires the attempt timer without moving time", func(t *testing.T) {
		ev, tr := runPkts(Config{}, []pkt{
			{at: 0, src: udpCli, dst: dnsSrv, n: 1, proto: packet.ProtoUDP},
			{at: 1, src: cli, dst: srv, flags: S, seq: 1},
			{at: 2, src: "10.0.0.9:4000", dst: srv, flags: S, seq: 1},
		})
		if len(ev.atts) != 2 || !ev.atts[0].TS.Equal(base.Add(2*time.Second)) || ev.atts[0].OrigPort != 35642 {
			t.Fatalf("attempts %+v", ev.atts)
		}
		// Attempts first (due order), then the rest, least recently active first.
		var reasons []RemoveReason
		for _, r := range ev.recs {
			reasons = append(reasons, r.Reason)
		}
		if len(reasons) != 3 || reasons[0] != RemovedAttempt || reasons[1] != RemovedAttempt || reasons[2] != RemovedFinished {
			t.Errorf("removal reasons %v", reasons)
		}
		if !tr.Now().Equal(base.Add(2 * time.Second)) {
			t.Errorf("Finish moved network time to %v", tr.Now())
		}
	})
	t.Run("flush moves time and fires timers", func(t *testing.T) {
		ev := &events{}
		tr := NewTracker(Config{Handler: ev.handler()})
		tr.Packet(pkt{at: 0, src: cli, dst: srv, flags: S, seq: 1}.packet())
		if n := tr.Flush(base.Add(4 * time.Second)); n != 0 || len(ev.atts) != 0 {
			t.Fatalf("flush before the delay removed %d", n)
		}
		if n := tr.Flush(base.Add(5 * time.Second)); n != 1 || len(ev.atts) != 1 || !tr.Now().Equal(base.Add(5*time.Second)) {
			t.Fatalf("flush at the delay removed %d, attempts %d, now %v", n, len(ev.atts), tr.Now())
		}
		if n := tr.Flush(base); n != 0 || !tr.Now().Equal(base.Add(5*time.Second)) {
			t.Errorf("flush moved time backwards to %v", tr.Now())
		}
	})
}

func TestInactivityTimeouts(t *testing.T) {
	cases := map[string]struct {
		pkts    []pkt
		flushAt float64
		removed int
	}{
		"udp after 1 min":           {[]pkt{{at: 0, src: udpCli, dst: dnsSrv, n: 1, proto: packet.ProtoUDP}}, 60, 1},
		"udp kept before 1 min":     {[]pkt{{at: 0, src: udpCli, dst: dnsSrv, n: 1, proto: packet.ProtoUDP}}, 59.9, 0},
		"icmp after 1 min":          {[]pkt{{at: 0, src: "10.0.0.1:8", dst: "10.0.0.2:0", proto: packet.ProtoICMP}}, 60, 1},
		"tcp in handshake at 1 min": {[]pkt{{at: 0, src: cli, dst: srv, flags: S, seq: 1}}, 60, 1},
		"tcp established kept at 1 min": {[]pkt{{at: 0, src: cli, dst: srv, flags: S, seq: 1},
			{at: 0.1, src: srv, dst: cli, flags: S | A, seq: 9, ack: 2}}, 60, 0},
		"tcp established after 5 min": {[]pkt{{at: 0, src: cli, dst: srv, flags: S, seq: 1},
			{at: 0.1, src: srv, dst: cli, flags: S | A, seq: 9, ack: 2}}, 300.1, 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ev := &events{}
			tr := NewTracker(Config{AttemptDelay: time.Hour, Handler: ev.handler()})
			for _, p := range tc.pkts {
				tr.Packet(p.packet())
			}
			if n := tr.Flush(base.Add(time.Duration(tc.flushAt * float64(time.Second)))); n != tc.removed {
				t.Fatalf("removed %d, want %d", n, tc.removed)
			}
			if tc.removed == 1 && ev.recs[0].Reason != RemovedInactive {
				t.Errorf("reason %v", ev.recs[0].Reason)
			}
		})
	}
}

// serviceAnalyzer is a test Analyzer: it records the payload it sees and
// names a service when the connection ends.
type serviceAnalyzer struct {
	origBytes, respBytes int
	done                 int
}

func (a *serviceAnalyzer) Packet(c *Conn, fromOrig bool, p *packet.Packet) {
	if fromOrig {
		a.origBytes += len(p.Payload)
	} else {
		a.respBytes += len(p.Payload)
	}
	if len(p.Payload) >= 4 && string(p.Payload[:4]) == "GET " {
		c.AddService("http")
	}
}

func (a *serviceAnalyzer) Done(c *Conn) {
	a.done++
	c.AddService("extra")
}

func TestAnalyzerHook(t *testing.T) {
	ev := &events{}
	an := &serviceAnalyzer{}
	h := ev.handler()
	h.NewConn = func(c *Conn) {
		if c.Proto() == packet.ProtoTCP {
			c.Analyzer = an
		}
	}
	tr := NewTracker(Config{Handler: h})
	get := []byte("GET / HTTP/1.1\r\n\r\n")
	for _, s := range []pkt{
		{at: 0, src: cli, dst: srv, flags: S, seq: 100},
		{at: 0.1, src: srv, dst: cli, flags: S | A, seq: 500, ack: 101},
		{at: 0.2, src: cli, dst: srv, flags: A | P, seq: 101, ack: 501, n: len(get)},
		{at: 0.3, src: udpCli, dst: dnsSrv, n: 5, proto: packet.ProtoUDP},
	} {
		p := s.packet()
		if s.n == len(get) {
			p.Payload = get
		}
		tr.Packet(p)
	}
	tr.Finish()
	if an.origBytes != len(get) || an.respBytes != 0 || an.done != 1 {
		t.Errorf("analyzer saw %d/%d bytes, done %d", an.origBytes, an.respBytes, an.done)
	}
	var tcp *Record
	for i := range ev.recs {
		if ev.recs[i].Proto == packet.ProtoTCP {
			tcp = &ev.recs[i]
		} else if ev.recs[i].Service.Len() != 0 {
			t.Errorf("udp record has services %s", ev.recs[i].Service)
		}
	}
	if tcp == nil || tcp.Service.String() != "http,extra" || !tcp.Service.Has("http") {
		t.Fatalf("tcp record %+v", tcp)
	}
}

func TestRemovedReasons(t *testing.T) {
	t.Run("eviction reports the record", func(t *testing.T) {
		ev, _ := runPkts(Config{MaxFlows: 1}, []pkt{
			{at: 0, src: udpCli, dst: dnsSrv, n: 1, proto: packet.ProtoUDP},
			{at: 0.1, src: cli, dst: srv, flags: S, seq: 1},
		})
		if len(ev.recs) != 2 || ev.recs[0].Reason != RemovedEvicted || ev.recs[0].Proto != packet.ProtoUDP {
			t.Errorf("records %+v", ev.recs)
		}
	})
	t.Run("reuse reports the old connection", func(t *testing.T) {
		ev, tr := runPkts(Config{}, []pkt{
			{at: 0, src: cli, dst: srv, flags: S, seq: 1},
			{at: 0.1, src: srv, dst: cli, flags: R | A, ack: 2},
			{at: 1, src: cli, dst: srv, flags: S, seq: 5000},
		})
		if len(ev.recs) != 2 || ev.recs[0].Reason != RemovedReused || ev.recs[0].State != ConnREJ ||
			ev.recs[0].ID != 1 || ev.recs[1].ID != 2 {
			t.Errorf("records %+v", ev.recs)
		}
		if tr.Stats().Reused != 1 {
			t.Errorf("stats %+v", tr.Stats())
		}
	})
	t.Run("close delay", func(t *testing.T) {
		ev := &events{}
		tr := NewTracker(Config{Handler: ev.handler()})
		for _, s := range []pkt{
			{at: 0, src: cli, dst: srv, flags: S, seq: 1}, {at: 0.1, src: srv, dst: cli, flags: S | A, seq: 5, ack: 2},
			{at: 1, src: cli, dst: srv, flags: F | A, seq: 2, ack: 6}, {at: 1.1, src: srv, dst: cli, flags: F | A, seq: 6, ack: 3},
		} {
			tr.Packet(s.packet())
		}
		tr.Flush(base.Add(6100 * time.Millisecond))
		if len(ev.recs) != 1 || ev.recs[0].Reason != RemovedClosed || ev.recs[0].State != ConnSF {
			t.Errorf("records %+v", ev.recs)
		}
	})
}

func TestHistoryAndServices(t *testing.T) {
	var h History
	for range MaxHistory + 5 {
		h.add('T')
	}
	if h.Len() != MaxHistory {
		t.Errorf("history grew to %d", h.Len())
	}
	for hist, want := range map[string]bool{
		"SR": true, "^SR": true, "SaR": true, "SaFR": false, "SAR": false, "R": false, "Sr": false, "SWR": true, "SIR": false,
	} {
		var h History
		for i := range len(hist) {
			h.add(hist[i])
		}
		if got := rstos0(&h); got != want {
			t.Errorf("rstos0(%q) = %v", hist, got)
		}
	}
	var s Services
	for _, n := range []string{"http", "http", "", "ssl", "a", "b", "c"} {
		s.Add(n)
	}
	if s.String() != "http,ssl,a,b" || s.Len() != MaxServices || s.At(1) != "ssl" {
		t.Errorf("services %q", s)
	}
	if ConnRSTOS0.String() != "RSTOS0" || ConnState(99).String() != "ConnState(99)" || RemovedFinished.String() != "finished" {
		t.Error("names")
	}
}
