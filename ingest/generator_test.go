package ingest

import (
	"context"
	"errors"
	"net/netip"
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
	cfg := GeneratorConfig{Seed: 42, Hosts: 50, Servers: 20, Count: 2000, Start: genStart}
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

	// Without Start the timestamps follow the clock, the rest is the same.
	cfg.Seed, cfg.Start = 42, time.Time{}
	d, _ := generate(t, cfg)
	for i := range d {
		x, y := a[i], d[i]
		x.TS, y.TS = time.Time{}, time.Time{}
		if !x.Equal(&y) {
			t.Fatalf("packet %d differs without Start: %+v vs %+v", i, a[i], d[i])
		}
	}
}

func TestGeneratorTraffic(t *testing.T) {
	local := netip.MustParsePrefix("192.168.0.0/16")
	pkts, st := generate(t, GeneratorConfig{Seed: 1, Hosts: 30, Servers: 10, Count: 5000, LocalNet: local, Start: genStart})
	if st.Connections != 5000 || st.Packets != uint64(len(pkts)) || st.Delivered != st.Packets || st.Bytes != 60*st.Packets {
		t.Fatalf("stats %+v for %d packets", st, len(pkts))
	}
	clients, servers := map[netip.Addr]bool{}, map[netip.Addr]bool{}
	var syns, synAcks, rsts int
	prev := time.Time{}
	for _, p := range pkts {
		if p.TS.Before(prev) {
			t.Fatal("timestamps go backwards")
		}
		prev = p.TS
		switch p.Flags {
		case packet.FlagSYN:
			syns++
			clients[p.Src], servers[p.Dst] = true, true
			if !local.Contains(p.Src) || local.Contains(p.Dst) {
				t.Fatalf("SYN %v -> %v: client must be local, server remote", p.Src, p.Dst)
			}
		case packet.FlagSYN | packet.FlagACK:
			synAcks++
		case packet.FlagRST | packet.FlagACK:
			rsts++
		}
	}
	if syns != 5000 || len(clients) != 30 || len(servers) != 10 {
		t.Errorf("%d SYNs from %d clients to %d servers", syns, len(clients), len(servers))
	}
	if unanswered := syns - synAcks - rsts; synAcks < 3500 || rsts < 300 || unanswered < 300 {
		t.Errorf("outcome mix: %d handshakes, %d rejected, %d unanswered", synAcks, rsts, unanswered)
	}
	if want := genStart.Add(4999 * genSpacing); !pkts[len(pkts)-1].TS.Before(want.Add(genSpacing)) || pkts[len(pkts)-1].TS.Before(want) {
		t.Errorf("last timestamp %v, want within a spacing after %v", pkts[len(pkts)-1].TS, want)
	}

	// The flow tracker raises Established for every handshake, and the
	// unanswered SYNs become attempts.
	tr := flow.NewTracker(flow.Config{})
	established := 0
	for i := range pkts {
		if ev, ok := tr.Packet(&pkts[i]); ok {
			established++
			if !local.Contains(ev.Orig) || ev.TS.IsZero() {
				t.Fatalf("bad event %+v", ev)
			}
		}
	}
	if established != synAcks {
		t.Errorf("%d established, want %d handshakes", established, synAcks)
	}
	tr.Expire(tr.Now().Add(time.Hour))
	// With this seed no 5-tuple repeats, so every unanswered SYN is an attempt.
	if s := tr.Stats(); s.Reused != 0 || int(s.Attempted) != syns-synAcks-rsts || s.Flows != 0 {
		t.Errorf("tracker %+v: want %d attempts, no reuse, no flows left", s, syns-synAcks-rsts)
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
		"too many servers": {GeneratorConfig{Hosts: 1, Servers: 1 << 23}, "Servers"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewGenerator(tc.cfg)
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("NewGenerator = %v, want ErrBadConfig mentioning %q", err, tc.text)
			}
		})
	}
	g, err := NewGenerator(GeneratorConfig{Hosts: 254, Servers: 5, LocalNet: netip.MustParsePrefix("10.1.1.0/24")})
	if err != nil {
		t.Fatalf("a /24 holds 254 hosts: %v", err)
	}
	if g.clients[253] != netip.MustParseAddr("10.1.1.254") {
		t.Errorf("last client %v", g.clients[253])
	}
	g6, err := NewGenerator(GeneratorConfig{Hosts: 3, Servers: 3, LocalNet: netip.MustParsePrefix("fd00::/64")})
	if err != nil || !g6.servers[0].Is6() || g6.cfg.LocalNet.Contains(g6.servers[0]) {
		t.Errorf("IPv6 generator: %v, servers %v", err, g6.servers)
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
	g, err := NewGenerator(GeneratorConfig{Seed: 7, Rate: 1000, Hosts: 5, Servers: 5, Count: 3000})
	if err != nil {
		t.Fatal(err)
	}
	g.now, g.sleep = clk.Now, clk.Sleep
	start := clk.now
	conns := 0
	maxAhead := 0.0
	_, err = g.Run(context.Background(), func(p *packet.Packet) {
		if p.Flags != packet.FlagSYN {
			return
		}
		conns++
		// Never more than the burst (100) ahead of the rate.
		allowed := clk.now.Sub(start).Seconds()*1000 + 100
		maxAhead = max(maxAhead, float64(conns)-allowed)
		if !p.TS.Equal(clk.now) {
			t.Fatalf("timestamp %v is not the wall clock %v", p.TS, clk.now)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if maxAhead > 0.5 {
		t.Errorf("burst exceeded by %.1f connections", maxAhead)
	}
	// 3000 connections at 1000/s with a burst of 100: 2.9 s of waiting.
	if clk.slept < 2890*time.Millisecond || clk.slept > 2910*time.Millisecond {
		t.Errorf("slept %v, want about 2.9s", clk.slept)
	}
}

func TestGeneratorRealTimeAndCancel(t *testing.T) {
	// A real (short) paced run: 300 connections at 2000/s, burst 200,
	// cannot finish in under 50 ms.
	g, err := NewGenerator(GeneratorConfig{Seed: 3, Rate: 2000, Hosts: 2, Servers: 2, Count: 300})
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

	// Count 0 runs until the context ends.
	g, _ = NewGenerator(GeneratorConfig{Seed: 3, Rate: 100000, Hosts: 2, Servers: 2})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	st, err = g.Run(ctx, func(*packet.Packet) {
		if n++; n == 5000 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || st.Packets < 5000 {
		t.Errorf("Run = %+v, %v; want context.Canceled after 5000 packets", st, err)
	}
}

func TestGeneratorScanners(t *testing.T) {
	g, err := NewGenerator(GeneratorConfig{Seed: 3, Hosts: 100, Servers: 10, Count: 2000, Scanners: 2, ScanPercent: 10,
		Start: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	probes := map[netip.Addr]int{}
	if _, err := g.Run(context.Background(), func(p *packet.Packet) {
		if p.Src.Is4() && p.Src.As4()[0] == 203 {
			if p.Flags != packet.FlagSYN {
				t.Fatalf("scanner sent flags %#x", p.Flags)
			}
			probes[p.Src]++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(probes) != 2 {
		t.Fatalf("probes from %d scanners, want 2: %v", len(probes), probes)
	}
	total := 0
	for _, n := range probes {
		total += n
	}
	if total < 100 || total > 300 {
		t.Fatalf("%d probes in 2000 connections, want about 10%%", total)
	}
	if _, err := NewGenerator(GeneratorConfig{Hosts: 1, Servers: 1, ScanPercent: 101}); err == nil {
		t.Fatal("ScanPercent 101 accepted")
	}
}
