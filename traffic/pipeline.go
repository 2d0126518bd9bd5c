package traffic

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/flow"
	"shoal/packet"
	"shoal/service"
)

// dnsSessionTimeout is Zeek's dns_session_timeout: the inactivity timeout
// of a UDP connection once DNS is confirmed on it.
const dnsSessionTimeout = 10 * time.Second

// maxFree bounds the per-connection analyzers kept for reuse.
const maxFree = 4096

// connLower holds conn.log's lower-case name of every service, so that
// naming a connection's service never allocates.
var connLower = func() (out [service.NumServices]string) {
	for s := service.Service(0); s < service.NumServices; s++ {
		out[s] = strings.ToLower(s.String())
	}
	return out
}()

// Pipeline is one worker's traffic path: connection tracking, payload
// analysis per connection, and the events raised to the subscribers. It is
// fed by one goroutine (Packet, Expire, Finish, Conn, ZeekCert are never
// called concurrently); Counters is safe for concurrent use.
type Pipeline struct {
	tracker   *flow.Tracker
	hooks     hooks
	services  service.Set // the loaded analyzers not disabled
	expectFTP func(service.FTPData)
	ctx       context.Context // of the call being processed
	free      []*connAnalyzer
	certCache *service.CertCache

	// Event values handed to hooks, reused so raising does not allocate.
	attempt Attempt
	service Service
	cert    Cert
	est     Established
	fact    Fact
	facts   []service.Fact // reused for each packet's facts

	established, tls13 atomic.Uint64
	// The tracker's gauges and evictions, sampled at each Expire and Finish.
	flows, timers, evicted atomic.Uint64
}

// Config configures a Pipeline.
type Config struct {
	// Flow configures the connection tracker; its Handler is replaced,
	// and its likely server ports are those of Analyzers.
	Flow flow.Config
	// Analyzers chooses the protocol analyzers (the zero value: all of
	// them, as Zeek's default scripts).
	Analyzers service.AnalyzerConfig
}

// New returns a Pipeline raising events to subscribers: each is checked for
// every hook interface (EstablishedHook, AttemptHook, ServiceHook,
// CertHook, FactHook) and receives the events of those it implements, in
// the order given. It fails on an invalid analyzer configuration.
func New(cfg Config, subscribers []any) (*Pipeline, error) {
	if err := cfg.Analyzers.Validate(); err != nil {
		return nil, err
	}
	p := &Pipeline{hooks: collect(subscribers), certCache: service.NewCertCache(64), ctx: context.Background(),
		services: cfg.Analyzers.Services()}
	p.expectFTP = p.expectFTPData
	fc := cfg.Flow
	fc.ServerPorts, fc.UDPServerPorts = cfg.Analyzers.ServerPorts()
	fc.Handler = flow.Handler{NewConn: p.newConn, Established: p.onEstablished, Attempt: p.onAttempt}
	if len(p.hooks.removed) > 0 {
		fc.Handler.Removed = p.onRemoved
	}
	if len(p.hooks.tunnel) > 0 {
		fc.Handler.Tunnel = p.onTunnel
	}
	p.tracker = flow.NewTracker(fc)
	return p, nil
}

// ftpDataTimeout is how long an announced FTP data connection is expected
// (Zeek's FTP script schedules the analyzer for 5 minutes).
const ftpDataTimeout = 5 * time.Minute

// expectFTPData tells the tracker that the data connection an FTP control
// connection announced gets the service ftp-data.
func (p *Pipeline) expectFTPData(d service.FTPData) {
	p.tracker.Expect(flow.Expectation{Orig: d.Orig, Resp: d.Resp, RespPort: d.RespPort, Proto: packet.ProtoTCP,
		Service: service.FTPDataService, TTL: ftpDataTimeout})
}

// Packet processes one packet; hooks run with ctx.
func (p *Pipeline) Packet(ctx context.Context, pkt *packet.Packet) {
	p.ctx = ctx
	p.tracker.Packet(pkt)
}

// Now is network time: the latest packet timestamp.
func (p *Pipeline) Now() time.Time { return p.tracker.Now() }

// Expire lets the timers due at now fire (attempts, inactivity).
func (p *Pipeline) Expire(ctx context.Context, now time.Time) {
	p.ctx = ctx
	p.tracker.Expire(now)
	p.sample()
}

// sample copies the tracker's gauges for Counters.
func (p *Pipeline) sample() {
	st := p.tracker.Stats()
	p.flows.Store(uint64(st.Flows + st.UDP.Flows + st.ICMP.Flows))
	p.timers.Store(uint64(st.Timers))
	p.evicted.Store(st.Evicted)
}

// Finish ends packet input as Zeek's termination does: pending attempt
// timers act and every open connection is removed.
func (p *Pipeline) Finish(ctx context.Context) {
	p.ctx = ctx
	p.tracker.Finish()
	p.sample()
}

// Counters are the traffic path's counters: established handshakes and
// TLS 1.3 handshakes (whose certificates are encrypted).
func (p *Pipeline) Counters() []analysis.Counter {
	return []analysis.Counter{
		{Name: "established", Help: "TCP handshakes completed (connection_established).", Value: p.established.Load()},
		{Name: "tls13_handshakes", Help: "TLS 1.3 handshakes seen: their certificates are encrypted.", Value: p.tls13.Load()},
		{Name: "flows", Help: "Connections tracked (at most --max-connections), sampled every 4096 packets.", Value: p.flows.Load()},
		{Name: "flows_evicted", Help: "Connections evicted, least recently active first, to stay within --max-connections.", Value: p.evicted.Load()},
		{Name: "timer_entries", Help: "The connection tracker's queued timers, stale ones included, sampled every 4096 packets.", Value: p.timers.Load()},
	}
}

func (p *Pipeline) onEstablished(ev *flow.Established) { p.raiseEstablished(ev) }

func (p *Pipeline) onRemoved(r *flow.Record) {
	for _, h := range p.hooks.removed {
		h.Removed(p.ctx, r)
	}
}

func (p *Pipeline) onTunnel(ev *flow.TunnelEvent) {
	for _, h := range p.hooks.tunnel {
		h.Tunnel(p.ctx, ev)
	}
}

func (p *Pipeline) raiseEstablished(ev *Established) {
	p.established.Add(1)
	for _, h := range p.hooks.established {
		h.Established(p.ctx, ev)
	}
}

func (p *Pipeline) onAttempt(a *flow.Attempt) {
	rejected := a.Kind == flow.AttemptRejected
	h := &a.History
	if rejected && !h.Is("Sr") && !h.Is("SWr") || !rejected && !h.Is("S") && !h.Is("SW") {
		return
	}
	p.attempt = Attempt{TS: a.TS, Orig: a.Orig, Resp: a.Resp, RespPort: a.RespPort, Proto: a.Proto, Rejected: rejected}
	p.raiseAttempt()
}

func (p *Pipeline) raiseAttempt() {
	for _, h := range p.hooks.attempt {
		h.Attempt(p.ctx, &p.attempt)
	}
}

func (p *Pipeline) raiseService() {
	for _, h := range p.hooks.service {
		h.Service(p.ctx, &p.service)
	}
}

// raiseFacts hands the facts of connection c seen at ts to the
// subscribers.
func (p *Pipeline) raiseFacts(c *flow.Conn, ts time.Time) {
	orig, op := c.Orig()
	resp, rp := c.Resp()
	for i := range p.facts {
		p.fact = Fact{TS: ts, Orig: orig, Resp: resp, OrigPort: op, RespPort: rp, Fact: p.facts[i]}
		for _, h := range p.hooks.fact {
			h.Fact(p.ctx, &p.fact)
		}
	}
	clear(p.facts)
	p.facts = p.facts[:0]
}

func (p *Pipeline) raiseCert() {
	for _, h := range p.hooks.cert {
		h.Cert(p.ctx, &p.cert)
	}
}

// connAnalyzer is the payload analysis of one connection: service
// identification, the TLS handshake once SSL is confirmed, and the
// known-services check (Zeek's c$known_services_done).
type connAnalyzer struct {
	p       *Pipeline
	det     service.Detector
	facts   service.Facts // fed only while a module subscribes to facts
	tls     *service.TLS
	ftp     *service.FTPControl // an FTP control connection: follows PORT/PASV for ftp-data
	started bool
	svcDone bool
}

var _ flow.Analyzer = (*connAnalyzer)(nil)

func (p *Pipeline) newConn(c *flow.Conn) {
	var a *connAnalyzer
	if n := len(p.free); n > 0 {
		a, p.free = p.free[n-1], p.free[:n-1]
	} else {
		a = &connAnalyzer{p: p}
	}
	a.det.Restrict(p.services)
	c.Analyzer = a
}

// Packet implements flow.Analyzer.
func (a *connAnalyzer) Packet(c *flow.Conn, fromOrig bool, pkt *packet.Packet) {
	if !a.started {
		a.started = true
		// Zeek's HTTP, SSL, SSH and SMTP analyzers ignore connections
		// picked up mid-stream.
		a.det.SetPartial(c.Proto() == packet.ProtoTCP && !pkt.Has(packet.FlagSYN))
	}
	payload, seq := pkt.Payload, pkt.Seq
	if pkt.Has(packet.FlagSYN) {
		seq++
	}
	if pkt.Has(packet.FlagRST) || len(payload) == 0 {
		return
	}
	if conf, ok := a.det.PacketLen(c.Proto(), fromOrig, seq, payload, pkt.PayloadLen); ok {
		c.AddService(connLower[conf.Service])
		if conf.Service == service.DNS && c.Proto() == packet.ProtoUDP {
			c.SetInactivityTimeout(dnsSessionTimeout)
		}
		if conf.Service == service.SSL && a.tls == nil {
			a.tls = &service.TLS{Cache: a.p.certCache}
		}
		if conf.Service == service.FTP && a.ftp == nil {
			a.ftp = &service.FTPControl{}
		}
		if !conf.Deferred {
			a.checkService(c, pkt.TS)
		}
	}
	if a.ftp != nil {
		client, _ := c.Orig()
		server, _ := c.Resp()
		a.ftp.Packet(fromOrig, seq, payload, client, server, a.p.expectFTP)
	}
	if p := a.p; len(p.hooks.fact) > 0 {
		if p.facts = a.facts.Packet(&a.det, c.Proto(), fromOrig, seq, payload, p.facts); len(p.facts) > 0 {
			p.raiseFacts(c, pkt.TS)
		}
	}
	if a.tls != nil {
		if ev, ok := a.tls.Packet(fromOrig, seq, payload); ok && ev.Established && a.tls.Leaf() != nil {
			host, port := c.Resp()
			p := a.p
			p.cert = Cert{TS: pkt.TS, Host: host, Port: port, Leaf: a.tls.Leaf()}
			p.raiseCert()
		}
	}
}

// Done implements flow.Analyzer: the second known-services check, at
// connection_state_remove, then the analyzer goes back to the free list.
func (a *connAnalyzer) Done(c *flow.Conn) {
	p := a.p
	a.checkService(c, p.tracker.Now())
	if len(p.hooks.fact) > 0 {
		if p.facts = a.facts.Finish(p.facts); len(p.facts) > 0 {
			p.raiseFacts(c, p.tracker.Now())
		}
	}
	if a.tls != nil && a.tls.Status() == service.TLS13 {
		// The certificate is encrypted in TLS 1.3: counted, not logged.
		p.tls13.Add(1)
	}
	*a = connAnalyzer{p: p}
	if len(p.free) < maxFree {
		p.free = append(p.free, a)
	}
}

// checkService is known-services.zeek's check (SEMANTICS §2) without the
// tracking mode, which the module applies: the responder must be active;
// ICMP never counts; a lone DNS whose server sent nothing does not count.
// It passes at most once per connection.
func (a *connAnalyzer) checkService(c *flow.Conn, ts time.Time) {
	if a.svcDone {
		return
	}
	proto := c.Proto()
	if proto != packet.ProtoTCP && proto != packet.ProtoUDP {
		return
	}
	set := a.det.Services()
	if set.Len() == 1 && set.Has(service.DNS) && !c.Active(false) {
		return
	}
	if proto == packet.ProtoTCP {
		h := c.History()
		switch c.TCPState(false) {
		case flow.StateEstablished, flow.StateClosed, flow.StatePartial:
		default:
			if !h.Contains('h') {
				return
			}
		}
	} else if !c.Active(false) {
		return
	}
	a.svcDone = true
	host, port := c.Resp()
	p := a.p
	p.service = Service{TS: ts, Host: host, Port: port, Proto: proto, Services: set}
	p.raiseService()
}
