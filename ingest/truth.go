package ingest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"shoal/flow"
)

// TruthConfig says what the ground truth assumes of the connection tracker
// and which SumStats epochs it reports.
type TruthConfig struct {
	// Epochs are the SumStats epoch lengths to report the built-in streams
	// for, as aligned windows of network time ([t.Truncate(e),
	// t.Truncate(e)+e), as ssconf's fixed epochs). 0 stands for one window
	// over the whole run. Default: {0}.
	Epochs []time.Duration
	// AttemptDelay is the tracker's tcp_attempt_delay: an unanswered SYN
	// becomes an attempt when the first packet at least this long after it
	// arrives. Default flow.DefaultAttemptDelay.
	AttemptDelay time.Duration
	// DNSSessionTimeout is how long after its last packet a DNS flow is
	// removed, which is when known-services counts a UDP service (a worker
	// sets Zeek's dns_session_timeout, 10 s, on confirmed DNS flows).
	DNSSessionTimeout time.Duration
	// Milestones are the unique-attempt counts whose times are reported per
	// originator (scan thresholds). Default 10, 20, 25, 100, 250.
	Milestones []int
}

// DefaultDNSSessionTimeout is Zeek's dns_session_timeout.
const DefaultDNSSessionTimeout = 10 * time.Second

func (c TruthConfig) withDefaults() (TruthConfig, error) {
	if len(c.Epochs) == 0 {
		c.Epochs = []time.Duration{0}
	}
	for _, e := range c.Epochs {
		if e < 0 {
			return c, fmt.Errorf("%w: TruthConfig.Epochs: %v is negative", ErrBadConfig, e)
		}
	}
	c.Epochs = slices.Compact(slices.Sorted(slices.Values(c.Epochs)))
	if c.AttemptDelay <= 0 {
		c.AttemptDelay = flow.DefaultAttemptDelay
	}
	if c.DNSSessionTimeout <= 0 {
		c.DNSSessionTimeout = DefaultDNSSessionTimeout
	}
	if len(c.Milestones) == 0 {
		c.Milestones = []int{10, 20, 25, 100, 250}
	}
	for _, m := range c.Milestones {
		if m < 1 {
			return c, fmt.Errorf("%w: TruthConfig.Milestones: %d is not positive", ErrBadConfig, m)
		}
	}
	c.Milestones = slices.Compact(slices.Sorted(slices.Values(c.Milestones)))
	return c, nil
}

// pending is an attempt waiting for its attempt timer, or a DNS flow
// waiting for its removal.
type pending struct {
	due  int64 // ns since the Unix epoch
	c    int32 // originator (attempt) or server (DNS)
	slot int8  // the client's favorite slot; -1 for a scanner's probe
}

// fifo is a queue that reuses its array.
type fifo struct {
	q    []pending
	head int
}

func (f *fifo) push(p pending) {
	if f.head > 0 && f.head >= len(f.q)/2 && len(f.q) == cap(f.q) {
		n := copy(f.q, f.q[f.head:])
		f.q, f.head = f.q[:n], 0
	}
	f.q = append(f.q, p)
}

func (f *fifo) first() *pending {
	if f.head == len(f.q) {
		return nil
	}
	return &f.q[f.head]
}

func (f *fifo) drop() {
	if f.head++; f.head == len(f.q) {
		f.q, f.head = f.q[:0], 0
	}
}

// origState is what one originator (client or scanner) attempted.
type origState struct {
	unanswered, rejected uint32
	mask                 uint64 // clients: favorite slots attempted; scanners: probes whose attempt fired
	first, last          int64
}

// truthRecorder follows what the generator emits and writes the ground
// truth as JSON lines. Its memory is bounded by the configuration (a bit per
// host and server, a few words per originator that attempted and per key of
// an open epoch window) and the attempts in flight, never by the length of
// the run.
type truthRecorder struct {
	g   *Generator
	r   *genRun
	cfg TruthConfig
	w   *bufio.Writer
	err error

	hostSeen []uint64 // bitset: clients, then servers
	svcSeen  []uint64 // bitset of servers
	certSeen []uint64
	attempts fifo
	dns      fifo
	orig     map[int32]origState // by originator: clients, then scanners (offset by the client count)
	miles    map[int32][]int64   // per originator reaching one: the time of each milestone
	windows  []*truthWindow
	sum      truthLine // the summary counters
	line     truthLine
}

func newTruthRecorder(r *genRun) *truthRecorder {
	g := r.g
	t := &truthRecorder{g: g, r: r, cfg: g.cfg.TruthConfig, w: bufio.NewWriterSize(g.cfg.Truth, 64<<10)}
	nh := g.nclients + len(g.servers)
	t.hostSeen = make([]uint64, (nh+63)/64)
	t.svcSeen = make([]uint64, (len(g.servers)+63)/64)
	t.certSeen = make([]uint64, (len(g.servers)+63)/64)
	t.orig = map[int32]origState{}
	t.miles = map[int32][]int64{}
	for _, e := range t.cfg.Epochs {
		t.windows = append(t.windows, newTruthWindow(e))
	}
	t.sum = truthLine{Type: "summary", Seed: g.cfg.Seed}
	return t
}

// setBit sets bit i and reports whether it was clear.
func setBit(b []uint64, i int) bool {
	w, m := i/64, uint64(1)<<(i%64)
	if b[w]&m != 0 {
		return false
	}
	b[w] |= m
	return true
}

// packet runs what the tracker does before it processes a packet at ts:
// the attempt timers and DNS removals due by then.
func (t *truthRecorder) packet(ts time.Time) {
	ns := ts.UnixNano()
	for p := t.attempts.first(); p != nil && p.due <= ns; p = t.attempts.first() {
		t.attempt(*p, false, ts)
		t.attempts.drop()
	}
	for p := t.dns.first(); p != nil && p.due <= ns; p = t.dns.first() {
		t.service(int(p.c), ts)
		t.dns.drop()
	}
}

// event records what the packet of c emitted at ts means.
func (t *truthRecorder) event(ev event, c *genConn, ts time.Time) {
	ns := ts.UnixNano()
	switch ev {
	case evSYN:
		p := pending{due: ns + int64(t.cfg.AttemptDelay), c: c.orig, slot: int8(c.slot)}
		if c.kind == connProbe {
			p.slot = -1
			t.sum.Probes++
		}
		t.attempts.push(p)
	case evEstablished:
		t.sum.Established++
		t.host(int(c.orig), ts)
		t.host(t.g.nclients+int(c.server), ts)
		for _, w := range t.windows {
			t.flushIfNew(w, ts)
			w.established(c.orig, int(c.slot))
		}
	case evRejected:
		t.attempt(pending{c: c.orig, slot: int8(c.slot)}, true, ts)
	case evConfirm:
		if t.g.srv[c.server].proto == 6 {
			t.service(int(c.server), ts)
		}
	case evTLS:
		t.cert(int(c.server), ts)
	case evDNSAnswer:
		t.sum.DNS++
		t.dns.push(pending{due: ns + int64(t.cfg.DNSSessionTimeout), c: c.server})
	}
}

func (t *truthRecorder) host(i int, ts time.Time) {
	if !setBit(t.hostSeen, i) {
		return
	}
	var a netip.Addr
	if i < t.g.nclients {
		a = t.g.client(i)
	} else {
		a = t.g.servers[i-t.g.nclients]
	}
	t.sum.Hosts++
	t.write(&truthLine{Type: "host", Host: a.String(), NS: ts.UnixNano()})
}

func (t *truthRecorder) service(s int, ts time.Time) {
	if !setBit(t.svcSeen, s) {
		return
	}
	srv := &t.g.srv[s]
	t.sum.Services++
	t.write(&truthLine{Type: "service", Host: t.g.servers[s].String(), Port: srv.port, Proto: protoName(srv.proto),
		Service: svcNames[srv.svc], NS: ts.UnixNano()})
}

func (t *truthRecorder) cert(s int, ts time.Time) {
	if !setBit(t.certSeen, s) {
		return
	}
	c := t.r.tls[int32(s)].cert
	t.sum.Certs++
	t.write(&truthLine{Type: "cert", Host: t.g.servers[s].String(), Port: t.g.srv[s].port, SHA1: c.SHA1,
		Subject: c.Subject, Issuer: c.Issuer, Serial: c.Serial, NS: ts.UnixNano()})
}

// attempt records an attempt of p.c that fired (or was rejected) at ts.
func (t *truthRecorder) attempt(p pending, rejected bool, ts time.Time) {
	ns := ts.UnixNano()
	i := int(p.c)
	if p.slot < 0 {
		i += t.g.nclients
	}
	o := t.orig[int32(i)]
	if o.unanswered+o.rejected == 0 {
		o.first = ns
	}
	o.last = ns
	if rejected {
		o.rejected++
		t.sum.Rejected++
	} else {
		o.unanswered++
		if p.slot >= 0 {
			t.sum.Unanswered++
		}
	}
	var unique uint64
	if p.slot >= 0 {
		o.mask |= 1 << uint(p.slot)
		unique = uint64(bits.OnesCount64(o.mask))
	} else {
		o.mask++
		unique = t.r.scan[p.c].unique(o.mask)
	}
	t.orig[int32(i)] = o
	if k := slices.Index(t.cfg.Milestones, int(unique)); k >= 0 {
		m := t.miles[int32(i)]
		if m == nil {
			m = make([]int64, len(t.cfg.Milestones))
			t.miles[int32(i)] = m
		}
		if m[k] == 0 {
			m[k] = ns
		}
	}
	for _, w := range t.windows {
		t.flushIfNew(w, ts)
		w.attempt(int32(i), int(p.slot))
	}
}

// flushIfNew writes w's window before an observation at ts that falls in a
// later one.
func (t *truthRecorder) flushIfNew(w *truthWindow, ts time.Time) {
	if start := w.start(ts); !w.open || start != w.cur {
		if w.open {
			w.flush(t)
		}
		w.cur, w.open = start, true
	}
}

// write appends one JSON line; the first error stops the output.
func (t *truthRecorder) write(l *truthLine) {
	if t.err != nil {
		return
	}
	b, err := json.Marshal(l)
	if err == nil {
		b = append(b, '\n')
		_, err = t.w.Write(b)
	}
	t.err = err
}

// finish runs the end of the input as the tracker's Finish does (pending
// attempts fire and flows end at the last packet's time), writes the last
// windows, the originators and the summary, and flushes.
func (t *truthRecorder) finish(last time.Time, st *Stats) error {
	for p := t.attempts.first(); p != nil; p = t.attempts.first() {
		t.attempt(*p, false, last)
		t.attempts.drop()
	}
	for p := t.dns.first(); p != nil; p = t.dns.first() {
		t.service(int(p.c), last)
		t.dns.drop()
	}
	for _, w := range t.windows {
		if w.open {
			w.flush(t)
		}
	}
	t.originators()
	t.sum.Connections, t.sum.Packets = st.Connections, st.Packets
	t.write(&t.sum)
	if t.err == nil {
		t.err = t.w.Flush()
	}
	if t.err != nil {
		return fmt.Errorf("ingest: writing the ground truth: %w", t.err)
	}
	return nil
}

// originators writes each originator's attempts, in index order.
func (t *truthRecorder) originators() {
	g := t.g
	for _, i := range slices.Sorted(maps.Keys(t.orig)) {
		o := t.orig[i]
		l := truthLine{Type: "originator", Unanswered: uint64(o.unanswered), Rejected: uint64(o.rejected),
			FirstNS: o.first, LastNS: o.last}
		if int(i) < g.nclients {
			l.Host = g.client(int(i)).String()
			l.Unique = uint64(bits.OnesCount64(o.mask))
			l.UniqueHosts = l.Unique
			ports := map[uint16]bool{}
			for k := range g.favorites {
				if o.mask&(1<<uint(k)) != 0 {
					ports[g.srv[g.favorite(int(i), k)].port] = true
				}
			}
			l.UniquePorts = uint64(len(ports))
		} else {
			j := int(i) - g.nclients
			s := &t.r.scan[j]
			l.Host, l.Scanner, l.Kind = g.scanners[j].String(), true, s.kind.String()
			l.Unique, l.UniqueHosts, l.UniquePorts = s.unique(o.mask), min(o.mask, s.hosts), min(o.mask, s.ports)
		}
		if m := t.miles[i]; m != nil {
			l.Milestones = map[string]int64{}
			for k, v := range t.cfg.Milestones {
				if m[k] != 0 {
					l.Milestones[strconv.Itoa(v)] = m[k]
				}
			}
		}
		t.write(&l)
	}
}

func (k scanKind) String() string {
	switch k {
	case scanAddress:
		return "address"
	case scanPort:
		return "port"
	}
	return "random"
}

func protoName(p uint8) string {
	if p == 17 {
		return "udp"
	}
	return "tcp"
}
