package ingest

import (
	"bytes"
	"context"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"shoal/flow"
	"shoal/packet"
	"shoal/scan"
	"shoal/service"
)

// analyses runs a worker's analyses on one tracker the way node's worker
// does (service identification and the known-services check, TLS
// certificates, known-host candidates, scan attempts, the built-in SumStats
// streams), with no tracking filter, and collects what they decide as a
// Truth.
type analyses struct {
	tr         *flow.Tracker
	got        *Truth
	certs      *service.CertCache
	dnsTimeout time.Duration
	epochs     []time.Duration
	miles      []int
	values     map[SumStatsKey]map[string]bool
	targets    map[netip.Addr]map[netip.AddrPort]bool
	unnamed    int // services with no name: the generator makes none
}

func newAnalyses(tc TruthConfig) *analyses {
	tc, _ = tc.withDefaults()
	a := &analyses{got: NewTruth(), certs: service.NewCertCache(64), dnsTimeout: tc.DNSSessionTimeout,
		epochs: tc.Epochs, miles: tc.Milestones, values: map[SumStatsKey]map[string]bool{},
		targets: map[netip.Addr]map[netip.AddrPort]bool{}}
	a.tr = flow.NewTracker(flow.Config{AttemptDelay: tc.AttemptDelay, Handler: flow.Handler{
		NewConn:     func(c *flow.Conn) { c.Analyzer = &connAnalysis{a: a} },
		Established: a.established,
		Attempt:     a.attempt,
	}})
	return a
}

func (a *analyses) first(m map[netip.Addr]time.Time, h netip.Addr, ts time.Time) {
	if _, ok := m[h]; !ok {
		m[h] = ts
	}
}

func (a *analyses) established(ev *flow.Established) {
	a.first(a.got.Hosts, ev.Orig, ev.TS)
	a.first(a.got.Hosts, ev.Resp, ev.TS)
	a.observe(StreamEstablished, ev.Orig, ev.Resp.String(), ev.TS)
}

func (a *analyses) attempt(ev *flow.Attempt) {
	if !scan.IsAttempt(ev.History.String(), ev.Kind == flow.AttemptRejected) {
		return
	}
	target := netip.AddrPortFrom(ev.Resp, ev.RespPort)
	a.observe(StreamAttempt, ev.Orig, target.String(), ev.TS)
	o := a.got.Originators[ev.Orig]
	set := a.targets[ev.Orig]
	if set == nil {
		set = map[netip.AddrPort]bool{}
		a.targets[ev.Orig] = set
		o.First = ev.TS
	}
	set[target] = true
	o.Last = ev.TS
	if ev.Kind == flow.AttemptRejected {
		o.Rejected++
	} else {
		o.Unanswered++
	}
	o.Unique = uint64(len(set))
	if slices.Contains(a.miles, len(set)) {
		if o.Milestones == nil {
			o.Milestones = map[int]time.Time{}
		}
		if _, ok := o.Milestones[len(set)]; !ok {
			o.Milestones[len(set)] = ev.TS
		}
	}
	a.got.Originators[ev.Orig] = o
}

func (a *analyses) observe(stream string, key netip.Addr, value string, ts time.Time) {
	for _, e := range a.epochs {
		k := SumStatsKey{Stream: stream, Epoch: e, Key: key}
		if e > 0 {
			k.Start = ts.Truncate(e).UnixNano()
		}
		v := a.got.SumStats[k]
		v.Num++
		if a.values[k] == nil {
			a.values[k] = map[string]bool{}
		}
		a.values[k][value] = true
		v.Unique = uint64(len(a.values[k]))
		a.got.SumStats[k] = v
	}
}

// connAnalysis is node's connAnalyzer without the sending.
type connAnalysis struct {
	a       *analyses
	det     service.Detector
	tls     *service.TLS
	started bool
	svcDone bool
}

func (x *connAnalysis) Packet(c *flow.Conn, fromOrig bool, p *packet.Packet) {
	if !x.started {
		x.started = true
		x.det.SetPartial(c.Proto() == packet.ProtoTCP && !p.Has(packet.FlagSYN))
	}
	payload, seq := p.Payload, p.Seq
	if p.Has(packet.FlagSYN) {
		seq++
	}
	if p.Has(packet.FlagRST) || len(payload) == 0 {
		return
	}
	if conf, ok := x.det.Packet(c.Proto(), fromOrig, seq, payload); ok {
		if conf.Service == service.DNS && c.Proto() == packet.ProtoUDP {
			c.SetInactivityTimeout(x.a.dnsTimeout)
		}
		if conf.Service == service.SSL && x.tls == nil {
			x.tls = &service.TLS{Cache: x.a.certs}
		}
		if !conf.Deferred {
			x.check(c, p.TS)
		}
	}
	if x.tls != nil {
		if ev, ok := x.tls.Packet(fromOrig, seq, payload); ok && ev.Established && x.tls.Leaf() != nil {
			host, port := c.Resp()
			l := x.tls.Leaf()
			k := CertKey{Host: host, Port: port, SHA1: l.SHA1Hex()}
			if _, ok := x.a.got.Certs[k]; !ok {
				x.a.got.Certs[k] = Cert{Subject: l.Subject, Issuer: l.Issuer, Serial: l.Serial, SHA1: l.SHA1Hex(), TS: p.TS}
			}
		}
	}
}

func (x *connAnalysis) Done(c *flow.Conn) { x.check(c, x.a.tr.Now()) }

// check is known-services' check as node's worker runs it.
func (x *connAnalysis) check(c *flow.Conn, ts time.Time) {
	if x.svcDone {
		return
	}
	proto := c.Proto()
	if proto != packet.ProtoTCP && proto != packet.ProtoUDP {
		return
	}
	set := x.det.Services()
	if set.Len() == 1 && set.Has(service.DNS) && !c.Active(false) {
		return
	}
	if proto == packet.ProtoTCP {
		switch c.TCPState(false) {
		case flow.StateEstablished, flow.StateClosed, flow.StatePartial:
		default:
			if h := c.History(); !h.Contains('h') {
				return
			}
		}
	} else if !c.Active(false) {
		return
	}
	x.svcDone = true
	if set.Len() == 0 {
		x.a.unnamed++
		return
	}
	host, port := c.Resp()
	for svc := service.Service(0); svc < service.NumServices; svc++ {
		if set.Has(svc) {
			k := ServiceKey{Host: host, Port: port, Proto: protoName(proto), Service: svc.String()}
			if _, ok := x.a.got.Services[k]; !ok {
				x.a.got.Services[k] = ts
			}
		}
	}
}

// runTruth generates cfg's traffic into the analyses and returns the
// generator's truth, what the analyses found and the tracker.
func runTruth(t *testing.T, cfg GeneratorConfig) (want *Truth, a *analyses) {
	t.Helper()
	var buf bytes.Buffer
	cfg.Truth = &buf
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a = newAnalyses(cfg.TruthConfig)
	if _, err := g.Run(context.Background(), func(p *packet.Packet) { a.tr.Packet(p) }); err != nil {
		t.Fatal(err)
	}
	a.tr.Finish()
	want, err = ReadTruth(&buf)
	if err != nil || !want.Complete {
		t.Fatalf("ReadTruth: %v, complete %v", err, want != nil && want.Complete)
	}
	return want, a
}

// compareTruth reports every difference between the generator's truth and
// what the analyses decided.
func compareTruth(t *testing.T, want *Truth, a *analyses) {
	t.Helper()
	got := a.got
	if a.unnamed != 0 {
		t.Errorf("%d connections with an unidentified service", a.unnamed)
	}
	diffTimes(t, "host", want.Hosts, got.Hosts)
	diffTimes(t, "service", want.Services, got.Services)
	for k, w := range want.Certs {
		if g, ok := got.Certs[k]; !ok || g.Subject != w.Subject || g.Issuer != w.Issuer || g.Serial != w.Serial ||
			!g.TS.Equal(w.TS) {
			t.Errorf("cert %v: generator %+v, analyses %+v (found %v)", k, w, g, ok)
		}
	}
	if len(got.Certs) != len(want.Certs) {
		t.Errorf("%d certs found, generator made %d", len(got.Certs), len(want.Certs))
	}
	for h, w := range want.Originators {
		g := got.Originators[h]
		w.Kind, w.Scanner, w.UniqueHosts, w.UniquePorts = "", false, 0, 0
		if !g.First.Equal(w.First) || !g.Last.Equal(w.Last) || g.Unanswered != w.Unanswered ||
			g.Rejected != w.Rejected || g.Unique != w.Unique || !sameTimes(g.Milestones, w.Milestones) {
			t.Errorf("originator %v: generator %+v, analyses %+v", h, w, g)
		}
	}
	if len(got.Originators) != len(want.Originators) {
		t.Errorf("%d originators found, generator made %d", len(got.Originators), len(want.Originators))
	}
	for k, w := range want.SumStats {
		g := got.SumStats[k]
		if g.Num != w.Num || g.Unique != w.Unique {
			t.Errorf("sumstats %+v: generator num %d unique %d, analyses num %d unique %d", k, w.Num, w.Unique, g.Num, g.Unique)
		} else if w.Values != nil && !slices.Equal(slices.Sorted(maps.Keys(a.values[k])), slices.Sorted(slices.Values(w.Values))) {
			t.Errorf("sumstats %+v: generator values %v, analyses %v", k, w.Values, slices.Sorted(maps.Keys(a.values[k])))
		}
	}
	if len(got.SumStats) != len(want.SumStats) {
		t.Errorf("%d sumstats values found, generator reported %d", len(got.SumStats), len(want.SumStats))
	}
	s := a.tr.Stats()
	if s.Established != want.Summary.Established || s.Rejected != want.Summary.Rejected ||
		s.Attempted != want.Summary.Unanswered+want.Summary.Probes {
		t.Errorf("tracker %+v, generator summary %+v", s, want.Summary)
	}
}

func diffTimes[K comparable](t *testing.T, what string, want, got map[K]time.Time) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || !g.Equal(w) {
			t.Errorf("%s %v: generator %v, analyses %v (found %v)", what, k, w, g, ok)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s %v at %v: found by the analyses, not made by the generator", what, k, g)
		}
	}
}

func sameTimes(a, b map[int]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !w.Equal(v) {
			return false
		}
	}
	return true
}

// TestTruthMatchesAnalyses is the ground truth's contract: on generated
// traffic, the tracker and the worker's analyses find exactly what the
// generator says it made — hosts and their first handshake, services and
// certificates with their first time, attempts per originator with their
// milestones, and the built-in SumStats streams per epoch window.
func TestTruthMatchesAnalyses(t *testing.T) {
	short := TruthConfig{Epochs: []time.Duration{0, time.Second, 3 * time.Second}, AttemptDelay: 500 * time.Millisecond,
		DNSSessionTimeout: time.Second, Milestones: []int{3, 10, 25, 100}}
	cases := map[string]GeneratorConfig{
		"ipv4": {Seed: 11, Hosts: 300, Servers: 80, LocalServers: 60, Count: 40000 / raceScale, Scanners: 6, ScanPercent: 4,
			Start: genStart, TruthConfig: short},
		"ipv6": {Seed: 12, Hosts: 40, Servers: 30, LocalServers: 30, Count: 8000, Scanners: 3,
			LocalNet: netip.MustParsePrefix("fd00:1::/64"), Start: genStart, TruthConfig: short},
		"default delays": {Seed: 13, Hosts: 100, Servers: 50, LocalServers: 50, Count: 120000 / raceScale, Scanners: 3,
			Start: genStart, TruthConfig: TruthConfig{Epochs: []time.Duration{5 * time.Second}}},
		"wall clock": {Seed: 14, Hosts: 100, Servers: 20, LocalServers: 20, Count: 5000, Scanners: 2},
		"no failures": {Seed: 15, Hosts: 100, Servers: 20, LocalServers: 20, Count: 5000, UnansweredPercent: -1,
			RejectedPercent: -1, Start: genStart},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			want, a := runTruth(t, cfg)
			compareTruth(t, want, a)
			s := want.Summary
			if s.Established == 0 || s.Services == 0 || s.Hosts == 0 || s.DNS == 0 {
				t.Errorf("summary %+v: traffic missing", s)
			}
			if cfg.UnansweredPercent >= 0 && (s.Unanswered == 0 || s.Rejected == 0) {
				t.Errorf("summary %+v: no failed attempts", s)
			}
			if cfg.UnansweredPercent < 0 && s.Unanswered+s.Rejected != 0 {
				t.Errorf("summary %+v: failed attempts with UnansweredPercent and RejectedPercent < 0", s)
			}
			if cfg.Scanners > 0 && (s.Probes == 0 || len(want.Certs) == 0) {
				t.Errorf("summary %+v, %d certs: no probes or no certificates", s, len(want.Certs))
			}
		})
	}
}

// TestTruthDeterministic: the same seed writes the same truth, byte for
// byte; another seed does not.
func TestTruthDeterministic(t *testing.T) {
	run := func(seed int64) []byte {
		var buf bytes.Buffer
		g, err := NewGenerator(GeneratorConfig{Seed: seed, Hosts: 50, Servers: 20, LocalServers: 20, Count: 3000,
			Scanners: 3, Start: genStart, Truth: &buf, TruthConfig: TruthConfig{Epochs: []time.Duration{0, time.Second}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Run(context.Background(), func(*packet.Packet) {}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b, c := run(5), run(5), run(6)
	if !bytes.Equal(a, b) {
		t.Error("the same seed wrote different truths")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds wrote the same truth")
	}
}
