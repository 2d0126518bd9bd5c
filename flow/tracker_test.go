package flow

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"shoal/packet"
)

var base = time.Unix(1300475168, 0).UTC()

const (
	S = packet.FlagSYN
	A = packet.FlagACK
	F = packet.FlagFIN
	R = packet.FlagRST
	P = packet.FlagPSH
)

// seg is one test segment: at seconds after base, from src to dst.
type seg struct {
	at       float64
	src, dst string // "addr:port"
	flags    uint8
	seq, ack uint32
	payload  int
	proto    uint8 // 0 means TCP
}

func (s seg) packet() *packet.Packet {
	src, dst := netip.MustParseAddrPort(s.src), netip.MustParseAddrPort(s.dst)
	proto := s.proto
	if proto == 0 {
		proto = packet.ProtoTCP
	}
	return &packet.Packet{
		TS:  base.Add(time.Duration(s.at * float64(time.Second))),
		Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(),
		Proto: proto, Flags: s.flags, Seq: s.seq, Ack: s.ack, PayloadLen: s.payload, Window: 1000,
	}
}

const (
	cli = "141.142.220.118:35642"
	srv = "208.80.152.2:80"
)

// want is an expected Established event: index of the segment that raises it,
// network time, originator and responder.
type want struct {
	at         int
	ts         float64
	orig, resp string
}

func TestEstablished(t *testing.T) {
	cases := map[string]struct {
		cfg   Config
		segs  []seg
		wants []want
	}{
		"three way handshake": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{0.1, srv, cli, S | A, 500, 101, 0, 0},
				{0.2, cli, srv, A, 101, 501, 0, 0},
				{0.3, cli, srv, A | P, 101, 501, 20, 0},
			},
			wants: []want{{1, 0.1, cli, srv}},
		},
		"lone syn-ack": {
			segs: []seg{
				{0, "173.192.163.128:80", "141.142.220.235:6705", S | A, 500, 101, 0, 0},
				{0.2, "141.142.220.235:6705", "173.192.163.128:80", A, 101, 501, 0, 0},
			},
		},
		"mid-stream": {
			segs: []seg{
				{0, "141.142.220.118:35634", srv, A | P, 1000, 2000, 100, 0},
				{0.1, srv, "141.142.220.118:35634", A, 2000, 1100, 0, 0},
				{0.2, srv, "141.142.220.118:35634", S | A, 2000, 1100, 0, 0},
			},
		},
		"syn-ack retransmitted counts once": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{0.1, srv, cli, S | A, 500, 101, 0, 0},
				{0.15, srv, cli, S | A, 500, 101, 0, 0},
				{0.2, cli, srv, S, 100, 0, 0, 0}, // retransmitted SYN, same ISN: not a reuse
			},
			wants: []want{{1, 0.1, cli, srv}},
		},
		"syn retransmitted before answer": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{3, cli, srv, S, 100, 0, 0, 0},
				{3.1, srv, cli, S | A, 500, 101, 0, 0},
			},
			wants: []want{{2, 3.1, cli, srv}},
		},
		"answer within attempt delay": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{4.999, srv, cli, S | A, 500, 101, 0, 0},
			},
			wants: []want{{1, 4.999, cli, srv}},
		},
		"answer at attempt delay is too late": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{5, srv, cli, S | A, 500, 101, 0, 0},
			},
		},
		"answer after unrelated packet moved time past attempt delay": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{6, "10.0.0.1:53", "10.0.0.2:53", 0, 0, 0, 10, packet.ProtoUDP},
				{1, srv, cli, S | A, 500, 101, 0, 0}, // out of order: network time is already 6
			},
		},
		"rejected then reused": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{0.1, srv, cli, R | A, 0, 101, 0, 0},
				{1, cli, srv, S, 9000, 0, 0, 0}, // new ISN on a closed connection: reuse
				{1.1, srv, cli, S | A, 700, 9001, 0, 0},
			},
			wants: []want{{3, 1.1, cli, srv}},
		},
		"new isn on unanswered syn is a reuse": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{1, cli, srv, S, 4000, 0, 0, 0},
				{1.1, srv, cli, S | A, 700, 4001, 0, 0},
			},
			wants: []want{{2, 1.1, cli, srv}},
		},
		"established then reused by new syn": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{0.1, srv, cli, S | A, 500, 101, 0, 0},
				{10, cli, srv, S, 7000, 0, 0, 0},
				{10.1, srv, cli, S | A, 800, 7001, 0, 0},
			},
			wants: []want{{1, 0.1, cli, srv}, {3, 10.1, cli, srv}},
		},
		"responder acks syn before syn-ack": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{0.05, srv, cli, A, 0, 101, 0, 0},
				{0.1, srv, cli, S | A, 500, 101, 0, 0},
			},
			wants: []want{{2, 0.1, cli, srv}},
		},
		"responder data before syn-ack makes it partial": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{0.05, srv, cli, A | P, 0, 101, 10, 0},
				{0.1, srv, cli, S | A, 500, 101, 0, 0},
			},
		},
		"syn after partial": {
			segs: []seg{
				{0, cli, srv, A | P, 100, 0, 10, 0},
				{0.1, cli, srv, S, 300, 0, 0, 0},
				{0.2, srv, cli, S | A, 500, 301, 0, 0},
			},
			wants: []want{{2, 0.2, cli, srv}},
		},
		"originator fin before answer": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{0.05, cli, srv, F, 101, 0, 0, 0},
				{0.1, srv, cli, S | A, 500, 101, 0, 0},
			},
		},
		"syn-ack with rst is not established": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{0.1, srv, cli, S | A | R, 500, 101, 0, 0},
			},
		},
		"simultaneous open": {
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{0.1, srv, cli, S, 500, 0, 0, 0}, // a pure SYN with another ISN: Zeek treats it as reuse
				{0.2, cli, srv, S | A, 100, 501, 0, 0},
			},
			wants: []want{{2, 0.2, srv, cli}},
		},
		"syn-ack captured before syn": {
			// No likely server ports (Zeek with only the known-hosts policy):
			// the SYN-ACK sender starts as the originator, then the roles flip.
			cfg: Config{ServerPorts: []uint16{}},
			segs: []seg{
				{0, srv, cli, S | A, 500, 101, 0, 0},
				{0.001, cli, srv, S, 100, 0, 0, 0}, // roles flip, connection established here
				{0.002, cli, srv, A, 101, 501, 0, 0},
			},
			wants: []want{{1, 0.001, cli, srv}},
		},
		"syn-ack before syn from a server port is swapped": {
			cfg: Config{ServerPorts: []uint16{80}},
			segs: []seg{
				{0, srv, cli, S | A, 500, 101, 0, 0},
				{0.001, cli, srv, S, 100, 0, 0, 0},
			},
		},
		"backwards timestamp dates at network time": {
			segs: []seg{
				{1, "10.0.0.1:53", "10.0.0.2:53", 0, 0, 0, 10, packet.ProtoUDP},
				{0.5, cli, srv, S, 100, 0, 0, 0},
				{0.6, srv, cli, S | A, 500, 101, 0, 0},
			},
			wants: []want{{2, 1, cli, srv}},
		},
		"ipv6": {
			segs: []seg{
				{0, "[2001:db8::1]:40000", "[2001:db8::2]:443", S, 1, 0, 0, 0},
				{0.1, "[2001:db8::2]:443", "[2001:db8::1]:40000", S | A, 2, 2, 0, 0},
			},
			wants: []want{{1, 0.1, "[2001:db8::1]:40000", "[2001:db8::2]:443"}},
		},
		"udp never establishes": {
			segs: []seg{
				{0, "10.0.0.1:5000", "10.0.0.2:53", 0, 0, 0, 10, packet.ProtoUDP},
				{0.1, "10.0.0.2:53", "10.0.0.1:5000", 0, 0, 0, 30, packet.ProtoUDP},
			},
		},
		"inactivity expiry forgets the syn": {
			cfg: Config{TCPInactivity: time.Second, AttemptDelay: time.Hour},
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{1.5, srv, cli, S | A, 500, 101, 0, 0},
			},
		},
		"activity keeps the connection": {
			cfg: Config{TCPInactivity: time.Second, AttemptDelay: time.Hour},
			segs: []seg{
				{0, cli, srv, S, 100, 0, 0, 0},
				{0.9, cli, srv, S, 100, 0, 0, 0},
				{1.5, srv, cli, S | A, 500, 101, 0, 0},
			},
			wants: []want{{2, 1.5, cli, srv}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tr := NewTracker(tc.cfg)
			var got []want
			for i, s := range tc.segs {
				if ev, ok := tr.Packet(s.packet()); ok {
					got = append(got, want{i, ev.TS.Sub(base).Seconds(),
						netip.AddrPortFrom(ev.Orig, ev.OrigPort).String(), netip.AddrPortFrom(ev.Resp, ev.RespPort).String()})
				}
			}
			if len(got) != len(tc.wants) {
				t.Fatalf("got %v, want %v", got, tc.wants)
			}
			for i := range got {
				w := tc.wants[i]
				w.orig = netip.MustParseAddrPort(w.orig).String()
				w.resp = netip.MustParseAddrPort(w.resp).String()
				if got[i] != w {
					t.Errorf("event %d = %+v, want %+v", i, got[i], w)
				}
			}
			if st := tr.Stats(); st.Established != uint64(len(tc.wants)) {
				t.Errorf("Stats.Established = %d, want %d", st.Established, len(tc.wants))
			}
		})
	}
}

func TestTimersAndStats(t *testing.T) {
	t.Run("attempt timer removes unanswered syn", func(t *testing.T) {
		tr := NewTracker(Config{})
		tr.Packet(seg{0, cli, srv, S, 1, 0, 0, 0}.packet())
		if n := tr.Expire(base.Add(4 * time.Second)); n != 0 {
			t.Fatalf("Expire before the delay removed %d", n)
		}
		if n := tr.Expire(base.Add(5 * time.Second)); n != 1 {
			t.Fatalf("Expire at the delay removed %d, want 1", n)
		}
		st := tr.Stats()
		if st.Flows != 0 || st.Attempted != 1 || st.Created != 1 {
			t.Errorf("stats %+v", st)
		}
		if !tr.Now().Equal(base) {
			t.Errorf("Expire moved network time to %v", tr.Now())
		}
	})
	t.Run("complete close removes after close delay", func(t *testing.T) {
		tr := NewTracker(Config{})
		for _, s := range []seg{
			{0, cli, srv, S, 1, 0, 0, 0}, {0.1, srv, cli, S | A, 5, 2, 0, 0}, {0.2, cli, srv, A, 2, 6, 0, 0},
			{1, cli, srv, F | A, 2, 6, 0, 0}, {1.1, srv, cli, F | A, 6, 3, 0, 0},
		} {
			tr.Packet(s.packet())
		}
		if n := tr.Expire(base.Add(6 * time.Second)); n != 0 {
			t.Fatalf("removed %d before the close delay", n)
		}
		if n := tr.Expire(base.Add(6100 * time.Millisecond)); n != 1 {
			t.Fatalf("removed %d at the close delay, want 1", n)
		}
		if st := tr.Stats(); st.Closed != 1 || st.Flows != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("inactivity", func(t *testing.T) {
		tr := NewTracker(Config{})
		tr.Packet(seg{0, cli, srv, S, 1, 0, 0, 0}.packet())
		tr.Packet(seg{0.1, srv, cli, S | A, 5, 2, 0, 0}.packet())
		tr.Packet(seg{100, cli, srv, A, 2, 6, 0, 0}.packet())
		if n := tr.Expire(base.Add(300 * time.Second)); n != 0 {
			t.Fatalf("expired %d while active within the timeout", n)
		}
		if n := tr.Expire(base.Add(400 * time.Second)); n != 1 {
			t.Fatalf("expired %d, want 1", n)
		}
		if st := tr.Stats(); st.Expired != 1 || st.Flows != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("max flows evicts least recently active", func(t *testing.T) {
		tr := NewTracker(Config{MaxFlows: 2})
		a, b, c := "10.0.0.1:1000", "10.0.0.2:1000", "10.0.0.3:1000"
		tr.Packet(seg{0, a, srv, S, 1, 0, 0, 0}.packet())
		tr.Packet(seg{0.1, b, srv, S, 1, 0, 0, 0}.packet())
		tr.Packet(seg{0.2, a, srv, S, 1, 0, 0, 0}.packet()) // a is now the most recent
		tr.Packet(seg{0.3, c, srv, S, 1, 0, 0, 0}.packet()) // evicts b
		st := tr.Stats()
		if st.Flows != 2 || st.Evicted != 1 {
			t.Fatalf("stats %+v", st)
		}
		if _, ok := tr.Packet(seg{0.4, srv, a, S | A, 9, 2, 0, 0}.packet()); !ok {
			t.Error("a was evicted instead of b")
		}
		if _, ok := tr.Packet(seg{0.5, srv, b, S | A, 9, 2, 0, 0}.packet()); ok {
			t.Error("b survived eviction")
		}
	})
	t.Run("reuse is counted", func(t *testing.T) {
		tr := NewTracker(Config{})
		tr.Packet(seg{0, cli, srv, S, 1, 0, 0, 0}.packet())
		tr.Packet(seg{1, cli, srv, S, 2, 0, 0, 0}.packet())
		if st := tr.Stats(); st.Reused != 1 || st.Created != 2 || st.Flows != 1 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("non tcp moves time and fires timers", func(t *testing.T) {
		tr := NewTracker(Config{})
		tr.Packet(seg{0, cli, srv, S, 1, 0, 0, 0}.packet())
		tr.Packet(seg{10, "10.0.0.1:1", "10.0.0.2:2", 0, 0, 0, 0, packet.ProtoICMP}.packet())
		st := tr.Stats()
		if st.Ignored != 1 || st.Packets != 1 || st.Attempted != 1 || st.Flows != 0 {
			t.Errorf("stats %+v", st)
		}
		if !tr.Now().Equal(base.Add(10 * time.Second)) {
			t.Errorf("Now = %v", tr.Now())
		}
	})
}

func TestConfig(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	err := Config{TCPInactivity: -1, MaxFlows: -5}.Validate()
	if !errors.Is(err, ErrBadConfig) {
		t.Fatalf("Validate = %v, want ErrBadConfig", err)
	}
	c := Config{TCPInactivity: time.Minute}.withDefaults()
	if c.TCPInactivity != time.Minute || c.AttemptDelay != DefaultAttemptDelay || c.MaxFlows != DefaultMaxFlows {
		t.Errorf("withDefaults = %+v", c)
	}
	if got := StateEstablished.String(); got != "TCP_ESTABLISHED" {
		t.Errorf("State.String = %q", got)
	}
}

// timerModel is the reference for the timer heap: every pending timer of
// every connection, fired in (due, seq) order.
type timerModel map[*conn]map[timerKind]timer

func (m timerModel) pending() []timer {
	var all []timer
	for _, ks := range m {
		for _, e := range ks {
			all = append(all, e)
		}
	}
	slices.SortFunc(all, func(a, b timer) int {
		if a.before(&b) {
			return -1
		}
		return 1
	})
	return all
}

// checkTimers drains h up to ns and compares what fires with the model.
func checkTimers(t *testing.T, h *timerHeap, m timerModel, ns int64) {
	t.Helper()
	for _, want := range m.pending() {
		if want.due > ns {
			break
		}
		e := h.next(ns)
		if e == nil || e.c != want.c || e.kind != want.kind || e.due != want.due {
			t.Fatalf("next(%d) = %+v, want %+v", ns, e, want)
		}
		h.pop(e)
		delete(m[want.c], want.kind)
	}
	if e := h.next(ns); e != nil {
		t.Fatalf("next(%d) = %+v after the model's due timers", ns, e)
	}
}

// TestTimerHeap checks the timers against a model under random use, with
// dues both in order (the FIFOs) and out of order (the heap).
func TestTimerHeap(t *testing.T) {
	var h timerHeap
	m := timerModel{}
	conns := make([]*conn, 50)
	for i := range conns {
		conns[i] = &conn{}
		m[conns[i]] = map[timerKind]timer{}
	}
	seed := uint64(1)
	rnd := func(n int) int {
		seed = seed*6364136223846793005 + 1442695040888963407
		return int((seed >> 33) % uint64(n))
	}
	now := int64(0)
	for step := 0; step < 5000; step++ {
		c := conns[rnd(len(conns))]
		k := timerKind(rnd(int(numTimers)))
		switch rnd(5) {
		case 0, 1:
			due := now + int64(rnd(100)) // out of order within a kind
			h.schedule(c, k, due)
			m[c][k] = timer{due: due, seq: h.seq, c: c, kind: k}
		case 2:
			due := now + 100 + int64(k)*10 // in order within a kind
			h.schedule(c, k, due)
			m[c][k] = timer{due: due, seq: h.seq, c: c, kind: k}
		case 3:
			h.cancel(c, k)
			delete(m[c], k)
		case 4:
			now += int64(rnd(20))
			checkTimers(t, &h, m, now)
		}
		for _, c := range conns {
			for k := range numTimers {
				if _, ok := m[c][k]; ok != h.pending(c, k) {
					t.Fatalf("step %d: pending(%d) = %v, model %v", step, k, h.pending(c, k), ok)
				}
			}
		}
	}
	checkTimers(t, &h, m, 1<<62)
	for _, c := range conns {
		if c.timerSeq != [numTimers]uint64{} {
			t.Fatal("timer left pending after draining")
		}
	}
}

// TestTimerRetarget checks retarget against the model.
func TestTimerRetarget(t *testing.T) {
	var h timerHeap
	m := timerModel{}
	conns := make([]*conn, 40)
	for i := range conns {
		c := &conn{}
		conns[i], m[c] = c, map[timerKind]timer{}
		k := timerKind(i % int(numTimers))
		h.schedule(c, k, int64(i*7%50))
		m[c][k] = timer{due: int64(i * 7 % 50), seq: h.seq, c: c, kind: k}
		h.schedule(c, timerAttempt, int64(i*13%50))
		m[c][timerAttempt] = timer{due: int64(i * 13 % 50), seq: h.seq, c: c, kind: timerAttempt}
	}
	for i, c := range conns {
		h.retarget(c, timerAttempt, timerClose, int64(i*11%60))
		delete(m[c], timerAttempt)
		m[c][timerClose] = timer{due: int64(i * 11 % 60), seq: h.seq, c: c, kind: timerClose}
		if h.pending(c, timerAttempt) || !h.pending(c, timerClose) {
			t.Fatalf("conn %d: timers %v", i, c.timerSeq)
		}
	}
	h.retarget(conns[0], timerAttempt, timerInactivity, 5) // nothing to retarget: schedules
	m[conns[0]][timerInactivity] = timer{due: 5, seq: h.seq, c: conns[0], kind: timerInactivity}
	if !h.pending(conns[0], timerInactivity) {
		t.Error("retarget without a pending timer did not schedule")
	}
	checkTimers(t, &h, m, 30)
	checkTimers(t, &h, m, 1<<62)
}
