package ingest

import (
	"context"
	"math/rand/v2"
	"time"

	"shoal/packet"
)

// genRun is one Run of a Generator: the connections under way in a
// min-heap by the time of their next packet, and the per-host counters.
type genRun struct {
	g       *Generator
	fn      func(*packet.Packet)
	st      *Stats
	rng     *rand.Rand
	spacing int64 // ns of schedule time between connection starts
	burst   int64
	base    time.Time // timestamps are base + schedule time
	last    time.Time // the previous timestamp
	started int64

	heap  []*genConn
	free  []*genConn
	sport []uint16 // per client: offset of its next ephemeral port
	scan  []scanner
	tls   map[int32]*tlsServer
	truth *truthRecorder
	p     packet.Packet
}

func newRun(g *Generator, fn func(*packet.Packet), st *Stats) *genRun {
	r := &genRun{g: g, fn: fn, st: st, rng: rand.New(rand.NewPCG(uint64(g.cfg.Seed), 0x5ea1)),
		spacing: int64(genSpacing), tls: map[int32]*tlsServer{}}
	if g.cfg.Rate > 0 {
		r.spacing = int64(time.Second) / int64(g.cfg.Rate)
		r.burst = max(1, int64(g.cfg.Rate)/10)
	}
	r.sport = make([]uint16, g.nclients)
	for i := range r.sport {
		r.sport[i] = uint16(r.rng.IntN(ephemeralPorts))
	}
	r.scan = make([]scanner, len(g.scanners))
	for i := range r.scan {
		r.scan[i] = newScanner(r.rng, i, g.numLocal())
	}
	if g.cfg.Truth != nil {
		r.truth = newTruthRecorder(r)
	}
	return r
}

// loop starts connections on schedule and emits packets in time order
// until Count connections have run (or ctx ended and the connections under
// way are complete).
func (r *genRun) loop(ctx context.Context) error {
	g := r.g
	done := ctx.Done()
	wallStart := g.now()
	r.base = wallStart.Round(0) // no monotonic reading in timestamps
	if !g.cfg.Start.IsZero() {
		r.base = g.cfg.Start
	}
	var err error
	for {
		if err == nil && (g.cfg.Count == 0 || r.started < int64(g.cfg.Count)) {
			at := r.started * r.spacing
			if len(r.heap) == 0 || at <= r.heap[0].at {
				select {
				case <-done:
					err = ctx.Err()
					continue
				default:
				}
				if g.cfg.Rate > 0 {
					// Token bucket: connection i may start once i-burst+1
					// tokens have accrued since the start.
					if ahead := time.Duration((r.started-r.burst+1)*r.spacing) - g.now().Sub(wallStart); ahead > 0 {
						if e := g.sleep(ctx, ahead); e != nil {
							err = e
							continue
						}
					}
				}
				r.push(r.start(at))
				continue
			}
		}
		if len(r.heap) == 0 {
			return err
		}
		c := r.heap[0]
		if r.emit(c) {
			r.pop()
			r.free = append(r.free, c)
		} else {
			r.down(0)
		}
	}
}

// emit sends c's next packet and reports whether c is done.
func (r *genRun) emit(c *genConn) bool {
	p := &r.p
	at := c.at
	ev, done := c.build(p)
	frameSizes(p)
	p.TS = r.base.Add(time.Duration(at))
	r.last = p.TS
	r.st.Packets++
	r.st.Delivered++
	r.st.Bytes += uint64(p.WireLen)
	if t := r.truth; t != nil {
		t.packet(p.TS)
		if ev != evNone {
			t.event(ev, c, p.TS)
		}
	}
	r.fn(p)
	return done
}

// finish ends the ground truth.
func (r *genRun) finish() error {
	if r.truth == nil {
		return nil
	}
	return r.truth.finish(r.last, r.st)
}

// start sets up connection number r.started, due at schedule time at.
func (r *genRun) start(at int64) *genConn {
	g, rng := r.g, r.rng
	var c *genConn
	if n := len(r.free); n > 0 {
		c, r.free = r.free[n-1], r.free[:n-1]
		*c = genConn{}
	} else {
		c = new(genConn)
	}
	c.at, c.idx = at, r.started
	r.started++
	r.st.Connections++
	if len(r.scan) > 0 && rng.IntN(100) < g.cfg.ScanPercent {
		i := rng.IntN(len(r.scan))
		s := &r.scan[i]
		victim, port := s.next(g.numLocal())
		c.kind, c.orig, c.server = connProbe, int32(i), int32(victim)
		c.src, c.dst, c.sport, c.dport = g.scanners[i], g.localHost(victim), s.port(), port
		c.oseq = rng.Uint32()
		return c
	}
	client := rng.IntN(g.nclients)
	slot := rng.IntN(g.favorites)
	si := g.favorite(client, slot)
	srv := &g.srv[si]
	c.orig, c.server, c.slot = int32(client), int32(si), uint8(slot)
	c.src, c.dst, c.dport = g.client(client), g.servers[si], srv.port
	c.sport = ephemeralLow + r.sport[client]
	if r.sport[client]++; r.sport[client] == ephemeralPorts {
		r.sport[client] = 0
	}
	c.oseq, c.rseq = rng.Uint32(), rng.Uint32()
	if srv.local {
		c.rtt = 100_000 + rng.Int64N(1_900_000)
	} else {
		c.rtt = 5_000_000 + rng.Int64N(115_000_000)
	}
	c.think = rng.Int64N(maxThink)
	if srv.svc == svcDNS {
		c.kind = connDNS
		q, a := g.tpl.dnsPair(rng)
		c.add(q, false, markNone, 0)
		c.add(a, true, markNone, 0)
		return c
	}
	switch outcome := rng.IntN(100); {
	case outcome < g.unanswered:
		c.kind = connUnanswered
		return c
	case outcome < g.unanswered+g.rejected:
		c.kind = connRejected
		return c
	}
	c.kind = connTCP
	switch x := rng.IntN(100); {
	case x < 50:
		c.close = closeClientFIN
	case x < 85:
		c.close = closeServerFIN
	case x < 93:
		c.close = closeClientRST
	default:
		c.close = closeServerRST
	}
	r.script(c, srv, rng)
	return c
}

// Heap of connections by (at, idx).

func (r *genRun) less(i, j int) bool {
	a, b := r.heap[i], r.heap[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.idx < b.idx
}

func (r *genRun) swap(i, j int) {
	r.heap[i], r.heap[j] = r.heap[j], r.heap[i]
	r.heap[i].hi, r.heap[j].hi = int32(i), int32(j)
}

func (r *genRun) push(c *genConn) {
	c.hi = int32(len(r.heap))
	r.heap = append(r.heap, c)
	for i := len(r.heap) - 1; i > 0; {
		parent := (i - 1) / 2
		if !r.less(i, parent) {
			break
		}
		r.swap(i, parent)
		i = parent
	}
}

func (r *genRun) pop() {
	last := len(r.heap) - 1
	r.swap(0, last)
	r.heap[last] = nil
	r.heap = r.heap[:last]
	if last > 0 {
		r.down(0)
	}
}

func (r *genRun) down(i int) {
	n := len(r.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if rr := l + 1; rr < n && r.less(rr, l) {
			m = rr
		}
		if !r.less(m, i) {
			return
		}
		r.swap(i, m)
		i = m
	}
}

// scanKind is how a scanner chooses its targets.
type scanKind uint8

const (
	scanAddress scanKind = iota // one port, every local host
	scanPort                    // one host, ports 1-1024
	scanRandom                  // (host, port) pairs
)

// Port spaces of the scanners. randomPorts is prime, so a random scanner's
// (host, port) pairs repeat only after hosts × randomPorts probes.
const (
	scanPorts   = 1024
	randomPorts = 1021
)

// commonScanPorts are the ports address scanners sweep.
var commonScanPorts = [...]uint16{22, 23, 445, 3389, 80, 8080, 5900, 1433}

// scanner is one scanner's sweep: probe k goes to host hostPerm(k mod
// hosts) (or the fixed victim) on port portPerm(k mod ports) (or the fixed
// port), so any run of n consecutive probes has min(n, space) distinct
// targets.
type scanner struct {
	kind         scanKind
	fixedPort    uint16
	victim       int
	ha, hb       uint64 // host permutation
	pa, pb       uint64 // port permutation
	probes       uint64
	sport        uint16
	space        uint64 // distinct (host, port) targets
	hosts, ports uint64 // distinct hosts and ports of the sweep
}

func newScanner(rng *rand.Rand, i, local int) scanner {
	s := scanner{kind: scanKind(i % 3), sport: uint16(rng.IntN(ephemeralPorts))}
	n := uint64(local)
	s.ha, s.hb = coprime(rng, n), rng.Uint64N(n)
	switch s.kind {
	case scanAddress:
		s.fixedPort = commonScanPorts[(i/3)%len(commonScanPorts)]
		s.hosts, s.ports = n, 1
	case scanPort:
		s.victim = int((s.ha*uint64(i/3) + s.hb) % n)
		s.pa, s.pb = coprime(rng, scanPorts), rng.Uint64N(scanPorts)
		s.hosts, s.ports = 1, scanPorts
	default:
		s.pa, s.pb = coprime(rng, randomPorts), rng.Uint64N(randomPorts)
		s.hosts, s.ports = n, randomPorts
	}
	s.space = s.hosts * s.ports
	if s.kind == scanRandom && n%randomPorts == 0 {
		s.space = n // hosts and ports cycle together
	}
	return s
}

// next returns the next probe's victim (local host index) and port.
func (s *scanner) next(local int) (int, uint16) {
	k := s.probes
	s.probes++
	n := uint64(local)
	switch s.kind {
	case scanAddress:
		return int((s.ha*(k%n) + s.hb) % n), s.fixedPort
	case scanPort:
		return s.victim, uint16(1 + (s.pa*(k%scanPorts)+s.pb)%scanPorts)
	}
	return int((s.ha*(k%n) + s.hb) % n), uint16(1 + (s.pa*(k%randomPorts)+s.pb)%randomPorts)
}

// port returns the source port of the next probe.
func (s *scanner) port() uint16 {
	p := ephemeralLow + s.sport
	if s.sport++; s.sport == ephemeralPorts {
		s.sport = 0
	}
	return p
}

// unique returns the distinct targets of n consecutive probes.
func (s *scanner) unique(n uint64) uint64 { return min(n, s.space) }
