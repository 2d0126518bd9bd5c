package ingest

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"shoal/flow"
	"shoal/packet"
)

var genStart = time.Unix(1700000000, 0).UTC()

func generate(t testing.TB, cfg GeneratorConfig) ([]packet.Packet, Stats) {
	t.Helper()
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pkts []packet.Packet
	st, err := g.Run(context.Background(), func(p *packet.Packet) { pkts = append(pkts, keep(p)) })
	if err != nil {
		t.Fatal(err)
	}
	return pkts, st
}

func TestGeneratorDeterministic(t *testing.T) {
	cfg := GeneratorConfig{Seed: 42, Hosts: 50, Servers: 20, LocalServers: 10, Count: 2000, Scanners: 2, Start: genStart}
	a, sta := generate(t, cfg)
	b, stb := generate(t, cfg)
	if sta != stb || len(a) != len(b) {
		t.Fatalf("stats differ: %+v vs %+v", sta, stb)
	}
	for i := range a {
		if !a[i].Equal(&b[i]) {
			t.Fatalf("packet %d differs: %+v vs %+v", i, a[i], b[i])
		}
	}
	cfg.Seed = 43
	c, _ := generate(t, cfg)
	same := len(c) == len(a)
	for i := 0; same && i < len(a); i++ {
		same = a[i].Equal(&c[i])
	}
	if same {
		t.Error("a different seed gave the same packets")
	}

	// Without Start the schedule starts at the wall clock, the rest is the
	// same.
	cfg.Seed, cfg.Start = 42, time.Time{}
	before := time.Now()
	d, _ := generate(t, cfg)
	shift := d[0].TS.Sub(a[0].TS)
	if d[0].TS.Before(before) || d[0].TS.After(time.Now()) {
		t.Errorf("first packet at %v, not the wall clock at the start", d[0].TS)
	}
	for i := range d {
		x, y := a[i], d[i]
		sameTS := x.TS.Add(shift).Equal(y.TS)
		x.TS, y.TS = time.Time{}, time.Time{}
		if !sameTS || !x.Equal(&y) {
			t.Fatalf("packet %d differs without Start: %+v vs %+v", i, a[i], d[i])
		}
	}
}

// TestGeneratorTraffic checks the traffic as a tracker sees it: every
// connection ends, with Zeek's conn_state of a complete connection (SF, or
// RSTO/RSTR for an abort), an unanswered attempt (S0) or a rejection
// (REJ), in the configured mix, between local clients and local and remote
// servers of every protocol.
func TestGeneratorTraffic(t *testing.T) {
	local := netip.MustParsePrefix("192.168.0.0/16")
	n := 20000 / raceScale
	pkts, st := generate(t, GeneratorConfig{Seed: 1, Hosts: 30, Servers: 20, LocalServers: 20, Count: n,
		LocalNet: local, Start: genStart})
	var bytes uint64
	prev := time.Time{}
	ports := map[uint16]int{}
	localServers, remoteServers := 0, 0
	for i := range pkts {
		p := &pkts[i]
		bytes += uint64(p.WireLen)
		if p.TS.Before(prev) {
			t.Fatal("timestamps go backwards")
		}
		prev = p.TS
		if p.PayloadLen != len(p.Payload) || p.WireLen < 60 || p.IPLen+14 > p.WireLen {
			t.Fatalf("packet %d: sizes %+v", i, *p)
		}
		if p.Flags == packet.FlagSYN || (p.Proto == packet.ProtoUDP && p.DstPort == 53) {
			if !local.Contains(p.Src) {
				t.Fatalf("connection from %v: clients must be local", p.Src)
			}
			ports[p.DstPort]++
			if local.Contains(p.Dst) {
				localServers++
			} else {
				remoteServers++
			}
		}
	}
	if st.Connections != uint64(n) || st.Packets != uint64(len(pkts)) || st.Delivered != st.Packets || st.Bytes != bytes {
		t.Fatalf("stats %+v for %d packets of %d bytes", st, len(pkts), bytes)
	}
	if localServers < n/5 || remoteServers < n/5 {
		t.Errorf("%d connections to local servers, %d to remote ones", localServers, remoteServers)
	}
	for _, port := range []uint16{80, 443, 22, 25, 21, 53} {
		if ports[port] == 0 {
			t.Errorf("no connection to port %d: %v", port, ports)
		}
	}
	if pp := float64(st.Packets) / float64(st.Connections); pp < 6 || pp > 40 {
		t.Errorf("%.1f packets per connection", pp)
	}

	states := map[flow.ConnState]int{}
	tr := flow.NewTracker(flow.Config{Handler: flow.Handler{Removed: func(r *flow.Record) { states[r.State]++ }}})
	for i := range pkts {
		tr.Packet(&pkts[i])
	}
	tr.Expire(tr.Now().Add(time.Hour))
	if s := tr.Stats(); s.Flows != 0 || s.UDP.Flows != 0 || s.Reused != 0 || s.Expired != 0 {
		t.Errorf("tracker %+v: want every connection closed or attempted, none reused or left to the inactivity timeout", s)
	}
	total := 0
	for _, n := range states {
		total += n
	}
	share := func(s flow.ConnState) float64 { return 100 * float64(states[s]) / float64(total) }
	// 12% of the servers speak DNS over UDP (SF); of the TCP connections
	// 10% are unanswered (S0), 5% rejected (REJ), 15% of the rest aborted.
	if total != n || share(flow.ConnS0) < 6 || share(flow.ConnS0) > 14 || share(flow.ConnREJ) < 2 ||
		share(flow.ConnREJ) > 8 || share(flow.ConnSF) < 55 || states[flow.ConnRSTO]+states[flow.ConnRSTR] < n/20 {
		t.Errorf("conn states %v of %d connections", states, total)
	}
	for s := range states {
		switch s {
		case flow.ConnS0, flow.ConnREJ, flow.ConnSF, flow.ConnRSTO, flow.ConnRSTR:
		default:
			t.Errorf("%d connections in state %s", states[s], s)
		}
	}
}

// TestGeneratorBoundedMemory runs 10 s of network time at the default
// full-rate spacing into a tracker with 1 s attempt and close delays: the
// tracked flows and the generator's connections under way level off
// (every connection ends, so a flow lives only its close or attempt delay,
// a DNS flow its 2 s inactivity timeout) instead of growing with the run.
func TestGeneratorBoundedMemory(t *testing.T) {
	g, err := NewGenerator(GeneratorConfig{Seed: 9, Hosts: 2000, Servers: 300, LocalServers: 200, Count: 100000 / raceScale,
		Scanners: 5, Start: genStart})
	if err != nil {
		t.Fatal(err)
	}
	tr := flow.NewTracker(flow.Config{AttemptDelay: time.Second, CloseDelay: time.Second, UDPInactivity: 2 * time.Second})
	var st Stats
	var r *genRun
	var peak [5]int // per fifth of the run: tracked flows
	var inflight [5]int
	span := time.Duration(g.cfg.Count) * genSpacing / 5
	r = newRun(g, func(p *packet.Packet) {
		tr.Packet(p)
		i := min(int(p.TS.Sub(genStart)/span), len(peak)-1)
		s := tr.Stats()
		peak[i] = max(peak[i], s.Flows+s.UDP.Flows)
		inflight[i] = max(inflight[i], len(r.heap))
	}, &st)
	if err := r.loop(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("peak flows per %v: %v; connections under way: %v", span, peak, inflight)
	if peak[4] > peak[3]*11/10 || peak[4] > 30000 {
		t.Errorf("flows still growing: %v", peak)
	}
	if inflight[4] > 5000 || inflight[4] > inflight[1]*2 {
		t.Errorf("connections under way growing: %v", inflight)
	}
}

func TestGeneratorConfigErrors(t *testing.T) {
	cases := map[string]struct {
		cfg  GeneratorConfig
		text string
	}{
		"no hosts":         {GeneratorConfig{Servers: 1}, "Hosts 0"},
		"no servers":       {GeneratorConfig{Hosts: 1}, "Servers 0"},
		"negative rate":    {GeneratorConfig{Hosts: 1, Servers: 1, Rate: -1}, "Rate -1"},
		"negative count":   {GeneratorConfig{Hosts: 1, Servers: 1, Count: -3}, "Count -3"},
		"hosts do not fit": {GeneratorConfig{Hosts: 300, Servers: 1, LocalNet: netip.MustParsePrefix("10.1.1.0/24")}, "do not fit"},
		"local servers do not fit": {GeneratorConfig{Hosts: 200, Servers: 1, LocalServers: 60,
			LocalNet: netip.MustParsePrefix("10.1.1.0/24")}, "do not fit"},
		"too many servers":   {GeneratorConfig{Hosts: 1, Servers: 1 << 23}, "Servers"},
		"failures over 100%": {GeneratorConfig{Hosts: 1, Servers: 1, UnansweredPercent: 60, RejectedPercent: 50}, "exceed 100"},
		"ports would repeat": {GeneratorConfig{Hosts: 2, Servers: 2}, "too few"},
		"scanner ports":      {GeneratorConfig{Hosts: 1000, Servers: 50, Scanners: 4, ScanPercent: 100}, "Scanners 4"},
		"negative epoch": {GeneratorConfig{Hosts: 100, Servers: 100,
			TruthConfig: TruthConfig{Epochs: []time.Duration{-time.Second}}}, "Epochs"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewGenerator(tc.cfg)
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("NewGenerator = %v, want ErrBadConfig mentioning %q", err, tc.text)
			}
		})
	}
	g, err := NewGenerator(GeneratorConfig{Hosts: 244, Servers: 5, LocalServers: 10, Rate: 1000,
		LocalNet: netip.MustParsePrefix("10.1.1.0/24")})
	if err != nil {
		t.Fatalf("a /24 holds 254 hosts: %v", err)
	}
	if g.client(243) != netip.MustParseAddr("10.1.1.244") || g.servers[14] != netip.MustParseAddr("10.1.1.254") {
		t.Errorf("last client %v, last local server %v", g.client(243), g.servers[14])
	}
	g6, err := NewGenerator(GeneratorConfig{Hosts: 3, Servers: 3, Rate: 100, Scanners: 1, LocalNet: netip.MustParsePrefix("fd00::/64")})
	if err != nil || !g6.servers[0].Is6() || g6.cfg.LocalNet.Contains(g6.servers[0]) || !g6.scanners[0].Is6() {
		t.Errorf("IPv6 generator: %v, servers %v, scanners %v", err, g6.servers, g6.scanners)
	}
}

// fakeClock is a virtual wall clock advanced only by sleeps.
type fakeClock struct {
	now    time.Time
	slept  time.Duration
	sleeps int
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	c.slept += d
	c.sleeps++
	return nil
}

func TestGeneratorRateLimit(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0)}
	g, err := NewGenerator(GeneratorConfig{Seed: 7, Rate: 1000, Hosts: 50, Servers: 5, Count: 3000})
	if err != nil {
		t.Fatal(err)
	}
	g.now, g.sleep = clk.Now, clk.Sleep
	start := clk.now
	conns := 0
	maxAhead := 0.0
	_, err = g.Run(context.Background(), func(p *packet.Packet) {
		if p.Flags != packet.FlagSYN && (p.Proto != packet.ProtoUDP || p.DstPort != 53) {
			return
		}
		// Connection i starts at i/Rate of schedule time, from the wall
		// clock at the start.
		if want := start.Add(time.Duration(conns) * time.Millisecond); !p.TS.Equal(want) {
			t.Fatalf("connection %d at %v, want %v", conns, p.TS, want)
		}
		conns++
		// Never more than the burst (100) ahead of the rate.
		allowed := clk.now.Sub(start).Seconds()*1000 + 100
		maxAhead = max(maxAhead, float64(conns)-allowed)
	})
	if err != nil {
		t.Fatal(err)
	}
	if conns != 3000 || maxAhead > 0.5 {
		t.Errorf("%d connections, burst exceeded by %.1f", conns, maxAhead)
	}
	// 3000 connections at 1000/s with a burst of 100: 2.9 s of waiting.
	if clk.slept < 2890*time.Millisecond || clk.slept > 2910*time.Millisecond {
		t.Errorf("slept %v, want about 2.9s", clk.slept)
	}
}

func TestGeneratorRealTimeAndCancel(t *testing.T) {
	// A real (short) paced run: 300 connections at 2000/s, burst 200,
	// cannot finish in under 50 ms.
	g, err := NewGenerator(GeneratorConfig{Seed: 3, Rate: 2000, Hosts: 20, Servers: 20, Count: 300})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	st, err := g.Run(context.Background(), func(*packet.Packet) {})
	if err != nil || st.Connections != 300 {
		t.Fatalf("Run = %+v, %v", st, err)
	}
	if el := time.Since(begin); el < 45*time.Millisecond {
		t.Errorf("300 connections at 2000/s took only %v", el)
	}
	if _, err := g.Run(context.Background(), func(*packet.Packet) {}); !errors.Is(err, ErrUsed) {
		t.Errorf("second Run = %v, want ErrUsed", err)
	}

	// Count 0 runs until the context ends; the connections under way are
	// completed, so the truth still matches what a tracker finds.
	var buf bytes.Buffer
	g, _ = NewGenerator(GeneratorConfig{Seed: 3, Hosts: 200, Servers: 20, LocalServers: 20, Scanners: 2,
		Start: genStart, Truth: &buf})
	a := newAnalyses(TruthConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	st, err = g.Run(ctx, func(p *packet.Packet) {
		a.tr.Packet(p)
		if n++; n == 50000 {
			cancel()
		}
	})
	a.tr.Finish()
	if !errors.Is(err, context.Canceled) || st.Packets < 50100 {
		t.Errorf("Run = %+v, %v; want context.Canceled after draining the connections under way", st, err)
	}
	want, err := ReadTruth(&buf)
	if err != nil || !want.Complete || want.Summary.Connections != st.Connections {
		t.Fatalf("ReadTruth: %v, %+v", err, want.Summary)
	}
	compareTruth(t, want, a)
}

func TestGeneratorScanners(t *testing.T) {
	g, err := NewGenerator(GeneratorConfig{Seed: 3, Hosts: 100, Servers: 10, LocalServers: 10, Count: 20000,
		Scanners: 3, ScanPercent: 10, Start: genStart})
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		victim netip.Addr
		port   uint16
	}
	probes := map[netip.Addr][]target{}
	if _, err := g.Run(context.Background(), func(p *packet.Packet) {
		if p.Src.Is4() && p.Src.As4()[0] == 203 {
			if p.Flags != packet.FlagSYN || !g.cfg.LocalNet.Contains(p.Dst) {
				t.Fatalf("scanner sent flags %#x to %v", p.Flags, p.Dst)
			}
			probes[p.Src] = append(probes[p.Src], target{p.Dst, p.DstPort})
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(probes) != 3 {
		t.Fatalf("probes from %d scanners, want 3", len(probes))
	}
	total := 0
	for s, ts := range probes {
		total += len(ts)
		hosts, ports, pairs := map[netip.Addr]bool{}, map[uint16]bool{}, map[target]bool{}
		for _, x := range ts {
			hosts[x.victim], ports[x.port], pairs[x] = true, true, true
		}
		// Each sweep reaches a new target with every probe until it is
		// through (110 local hosts; 1024 ports).
		switch i := s.As4()[3] - 1; i % 3 {
		case 0:
			if len(ports) != 1 || len(hosts) != min(len(ts), 110) {
				t.Errorf("address scanner %v: %d probes, %d hosts, %d ports", s, len(ts), len(hosts), len(ports))
			}
		case 1:
			if len(hosts) != 1 || len(ports) != min(len(ts), 1024) {
				t.Errorf("port scanner %v: %d probes, %d hosts, %d ports", s, len(ts), len(hosts), len(ports))
			}
		default:
			if len(pairs) != len(ts) || len(hosts) != min(len(ts), 110) {
				t.Errorf("random scanner %v: %d probes, %d pairs, %d hosts", s, len(ts), len(pairs), len(hosts))
			}
		}
	}
	if total < 1600 || total > 2400 {
		t.Fatalf("%d probes in 20000 connections, want about 10%%", total)
	}
}

func TestAddrAdd(t *testing.T) {
	cases := []struct {
		a    string
		n    uint64
		want string
	}{
		{"10.0.0.0", 1, "10.0.0.1"},
		{"10.0.0.255", 1, "10.0.1.0"},
		{"10.255.255.255", 1, "11.0.0.0"},
		{"fd00::", 1<<16 + 2, "fd00::1:2"},
		{"fd00::ffff:ffff:ffff:ffff", 1, "fd00:0:0:1::"},
	}
	for _, c := range cases {
		if got := addrAdd(netip.MustParseAddr(c.a), c.n); got != netip.MustParseAddr(c.want) {
			t.Errorf("%s + %d = %v, want %s", c.a, c.n, got, c.want)
		}
	}
}

// TestGeneratorManyHosts: ten million clients cost the generator and its
// ground truth about 2 bytes each (a port counter and a bit), not an address
// and counters per client.
func TestGeneratorManyHosts(t *testing.T) {
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	var buf bytes.Buffer
	g, err := NewGenerator(GeneratorConfig{Seed: 1, Hosts: 10_000_000, Servers: 1000, LocalServers: 100,
		Count: 20000 / raceScale, Scanners: 3, Start: genStart, Truth: &buf})
	if err != nil {
		t.Fatal(err)
	}
	heap := uint64(0)
	n := 0
	if _, err := g.Run(context.Background(), func(*packet.Packet) {
		if n++; n%1000 == 0 {
			runtime.ReadMemStats(&ms1)
			heap = max(heap, ms1.HeapAlloc)
		}
	}); err != nil {
		t.Fatal(err)
	}
	truth, err := ReadTruth(&buf)
	if err != nil || len(truth.Hosts) < 10000/raceScale {
		t.Fatalf("ReadTruth: %v, %d hosts", err, len(truth.Hosts))
	}
	if grown := heap - ms0.HeapAlloc; grown > 48<<20 {
		t.Errorf("heap grew by %d MB for 10M hosts", grown>>20)
	}
}
