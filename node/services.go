package node

import (
	"crypto/sha1"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"shoal/flow"
	"shoal/internal/wire"
	"shoal/known"
	"shoal/packet"
	"shoal/service"
	"shoal/zeekin"
	"shoal/zeeklog"
)

// emptyServiceDelay is how long Zeek waits before it commits a service with
// no identified protocol, in case another connection identifies it.
const emptyServiceDelay = 5 * time.Minute

// dnsSessionTimeout is Zeek's dns_session_timeout: the inactivity timeout
// of a UDP connection once DNS is confirmed on it.
const dnsSessionTimeout = 10 * time.Second

var (
	knownServicesFields = []zeeklog.Field{{Name: "ts", Type: "time"}, {Name: "host", Type: "addr"},
		{Name: "port_num", Type: "port"}, {Name: "port_proto", Type: "enum"}, {Name: "service", Type: "set[string]"}}
	knownCertsFields = []zeeklog.Field{{Name: "ts", Type: "time"}, {Name: "host", Type: "addr"},
		{Name: "port_num", Type: "port"}, {Name: "subject", Type: "string"}, {Name: "issuer_subject", Type: "string"},
		{Name: "serial", Type: "string"}}
)

// connLower holds conn.log's lower-case name of every service, so that
// naming a connection's service never allocates.
var connLower = func() (out [service.NumServices]string) {
	for s := service.Service(0); s < service.NumServices; s++ {
		out[s] = strings.ToLower(s.String())
	}
	return out
}()

// serviceKey identifies one (host, port, proto, service) of Known::services.
type serviceKey struct {
	host    netip.Addr
	port    uint16
	proto   uint8
	service string
}

// certKey identifies one (host, leaf certificate) of Known::certs.
type certKey struct {
	host netip.Addr
	sha1 [20]byte
}

// connAnalyzer is the payload analysis of one connection on a worker:
// service identification, the TLS handshake once SSL is confirmed, and the
// known-services check (Zeek's c$known_services_done).
type connAnalyzer struct {
	w       *worker
	det     service.Detector
	tls     *service.TLS
	ftp     *service.FTPControl // an FTP control connection: follows PORT/PASV for ftp-data
	started bool
	svcDone bool
}

var _ flow.Analyzer = (*connAnalyzer)(nil)

func (w *worker) newConn(c *flow.Conn) {
	var a *connAnalyzer
	if n := len(w.free); n > 0 {
		a, w.free = w.free[n-1], w.free[:n-1]
	} else {
		a = &connAnalyzer{w: w}
	}
	a.det.Restrict(w.services)
	c.Analyzer = a
}

// Packet implements flow.Analyzer.
func (a *connAnalyzer) Packet(c *flow.Conn, fromOrig bool, p *packet.Packet) {
	if !a.started {
		a.started = true
		// Zeek's HTTP, SSL, SSH and SMTP analyzers ignore connections
		// picked up mid-stream.
		a.det.SetPartial(c.Proto() == packet.ProtoTCP && !p.Has(packet.FlagSYN))
	}
	payload, seq := p.Payload, p.Seq
	if p.Has(packet.FlagSYN) {
		seq++
	}
	if p.Has(packet.FlagRST) || len(payload) == 0 {
		return
	}
	if conf, ok := a.det.PacketLen(c.Proto(), fromOrig, seq, payload, p.PayloadLen); ok {
		c.AddService(connLower[conf.Service])
		if conf.Service == service.DNS && c.Proto() == packet.ProtoUDP {
			c.SetInactivityTimeout(dnsSessionTimeout)
		}
		if conf.Service == service.SSL && a.tls == nil {
			a.tls = &service.TLS{Cache: a.w.certCache}
		}
		if conf.Service == service.FTP && a.ftp == nil {
			a.ftp = &service.FTPControl{}
		}
		if !conf.Deferred {
			a.w.checkService(c, a, p.TS)
		}
	}
	if a.ftp != nil {
		client, _ := c.Orig()
		server, _ := c.Resp()
		a.ftp.Packet(fromOrig, seq, payload, client, server, a.w.expectFTPData)
	}
	if a.tls != nil {
		if ev, ok := a.tls.Packet(fromOrig, seq, payload); ok && ev.Established && a.tls.Leaf() != nil {
			host, port := c.Resp()
			a.w.offerCert(p.TS, host, port, a.tls.Leaf())
		}
	}
}

// ftpDataTimeout is how long an announced FTP data connection is expected
// (Zeek's FTP script schedules the analyzer for 5 minutes).
const ftpDataTimeout = 5 * time.Minute

// expectFTPData tells the tracker that the data connection an FTP control
// connection announced gets the service ftp-data.
func (w *worker) expectFTPData(d service.FTPData) {
	w.tracker.Expect(flow.Expectation{Orig: d.Orig, Resp: d.Resp, RespPort: d.RespPort, Proto: packet.ProtoTCP,
		Service: service.FTPDataService, TTL: ftpDataTimeout})
}

// Done implements flow.Analyzer: the second known-services check, at
// connection_state_remove, then the analyzer goes back to the free list.
func (a *connAnalyzer) Done(c *flow.Conn) {
	a.w.checkService(c, a, a.w.tracker.Now())
	if a.tls != nil && a.tls.Status() == service.TLS13 {
		// The certificate is encrypted in TLS 1.3: counted, not logged.
		a.w.tls13.Add(1)
	}
	w := a.w
	*a = connAnalyzer{w: w}
	if len(w.free) < 4096 {
		w.free = append(w.free, a)
	}
}

// checkService is known-services.zeek's check (SEMANTICS §2): the responder
// must match the tracking mode and be active; ICMP never counts; a lone DNS
// whose server sent nothing does not count.
func (w *worker) checkService(c *flow.Conn, a *connAnalyzer, ts time.Time) {
	if a.svcDone {
		return
	}
	proto := c.Proto()
	if proto != packet.ProtoTCP && proto != packet.ProtoUDP {
		return
	}
	host, port := c.Resp()
	s := &w.n.cfg.Settings
	if !s.LocalNets.Matches(host, s.ServiceTracking) {
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
	if set.Len() == 0 {
		w.pending = append(w.pending, pendingService{due: ts.Add(emptyServiceDelay),
			ev: wire.ServiceSeen{TS: ts.UnixNano(), Host: host, Port: port, Proto: proto}})
		return
	}
	for svc := service.Service(0); svc < service.NumServices; svc++ {
		if set.Has(svc) {
			w.offerService(wire.ServiceSeen{TS: ts.UnixNano(), Host: host, Port: port, Proto: proto, Service: svc.String()})
		}
	}
}

// pendingService is a service with no identified protocol, committed after
// emptyServiceDelay of network time (or at the end of input).
type pendingService struct {
	due time.Time
	ev  wire.ServiceSeen
}

// commitPending sends the delayed services that are due at now (all of
// them when now is zero).
func (w *worker) commitPending(now time.Time) {
	i := 0
	for ; i < len(w.pending) && (now.IsZero() || !now.Before(w.pending[i].due)); i++ {
		w.offerService(w.pending[i].ev)
	}
	w.pending = append(w.pending[:0], w.pending[i:]...)
}

func (w *worker) offerService(ev wire.ServiceSeen) {
	key := serviceKey{ev.Host, ev.Port, ev.Proto, ev.Service}
	ts := time.Unix(0, ev.TS)
	if w.svcCache.Contains(key, ts) {
		return
	}
	hk := ev.Host.As16()
	if err := w.n.SendHashed(w.ctx, string(RoleDatanode), hk[:], ev); err != nil {
		w.sendFailed(err, "known service candidate not sent")
		return
	}
	w.svcCache.Observe(key, ts)
	w.servicesSent.Add(1)
}

func (w *worker) offerCert(ts time.Time, host netip.Addr, port uint16, leaf *service.Cert) {
	s := &w.n.cfg.Settings
	if !s.LocalNets.Matches(host, s.CertTracking) {
		return
	}
	key := certKey{host, leaf.SHA1}
	if w.certSeen.Contains(key, ts) {
		return
	}
	hk := host.As16()
	ev := wire.CertSeen{TS: ts.UnixNano(), Host: host, Port: port, SHA1: leaf.SHA1, Subject: leaf.Subject,
		Issuer: leaf.Issuer, Serial: leaf.Serial}
	if err := w.n.SendHashed(w.ctx, string(RoleDatanode), hk[:], ev); err != nil {
		w.sendFailed(err, "known cert candidate not sent")
		return
	}
	w.certSeen.Observe(key, ts)
	w.certsSent.Add(1)
}

// zeekServices applies the known-services check to a conn.log record.
func (w *worker) zeekServices(c *zeekin.Conn) {
	var proto uint8
	switch c.Proto {
	case "tcp":
		proto = packet.ProtoTCP
		// The responder took part: handshake, ack, data or FIN (a bare
		// RST answering the SYN is not a service).
		if !strings.ContainsAny(c.History, "hadf") {
			return
		}
	case "udp":
		proto = packet.ProtoUDP
		if c.RespPkts == 0 {
			return
		}
	default:
		return
	}
	s := &w.n.cfg.Settings
	if !s.LocalNets.Matches(c.RespH, s.ServiceTracking) {
		return
	}
	ts := c.TS.Add(c.Duration)
	for _, name := range c.Service {
		svc, ok := service.ParseService(strings.ToUpper(name))
		if !ok || (svc == service.DNS && len(c.Service) == 1 && c.RespBytes == 0) {
			continue
		}
		w.offerService(wire.ServiceSeen{TS: ts.UnixNano(), Host: c.RespH, Port: c.RespP, Proto: proto, Service: svc.String()})
	}
}

// zeekCert offers a certificate from ssl.log + x509.log. The logs carry no
// SHA-1 of the leaf, so the dedup key is the SHA-1 of the joined record's
// own key (its SHA-256 fingerprint, or issuer and serial).
func (w *worker) zeekCert(c *zeekin.Cert) {
	if !c.Established {
		return
	}
	leaf := &service.Cert{Subject: c.Subject, Issuer: c.Issuer, Serial: c.Serial, SHA1: sha1.Sum([]byte(c.Key()))}
	w.offerCert(c.TS, c.Host, c.Port, leaf)
}

// knownOwner keeps Known::services and Known::certs for the hosts this
// datanode owns and logs what is new.
type knownOwner struct {
	n *Node

	mu       sync.Mutex
	services *known.Set[serviceKey]
	named    *known.Set[serviceKey] // (host, port, proto) with a non-empty name
	certs    *known.Set[certKey]
	now      time.Time

	servicesNew, certsNew atomic.Uint64
}

func newKnownOwner(n *Node) *knownOwner {
	ttl := n.cfg.Settings.HostExpire
	o := &knownOwner{n: n, services: known.NewSet[serviceKey](ttl), named: known.NewSet[serviceKey](ttl),
		certs: known.NewSet[certKey](ttl)}
	Handle(n, o.serviceSeen)
	Handle(n, o.certSeen)
	return o
}

func (o *knownOwner) tick(ts int64) time.Time {
	if t := time.Unix(0, ts); t.After(o.now) {
		o.now = t
	}
	return o.now
}

func (o *knownOwner) serviceSeen(from string, ev wire.ServiceSeen) {
	o.mu.Lock()
	now := o.tick(ev.TS)
	key := serviceKey{ev.Host, ev.Port, ev.Proto, ev.Service}
	port := serviceKey{host: ev.Host, port: ev.Port, proto: ev.Proto}
	// An unidentified service is dropped once the port has a name.
	isNew := !(ev.Service == "" && o.named.Contains(port, now)) && o.services.Observe(key, now)
	if isNew && ev.Service != "" {
		o.named.Observe(port, now)
	}
	o.mu.Unlock()
	if !isNew {
		return
	}
	o.servicesNew.Add(1)
	hk := ev.Host.As16()
	if err := o.n.toManager(hk[:], wire.KnownService(ev)); err != nil {
		o.mu.Lock()
		o.services.Delete(key)
		o.mu.Unlock()
		o.n.log.Error().Err(err).Str("host", ev.Host.String()).Msg("known service record not sent to a manager")
	}
}

func (o *knownOwner) certSeen(from string, ev wire.CertSeen) {
	o.mu.Lock()
	key := certKey{ev.Host, ev.SHA1}
	isNew := o.certs.Observe(key, o.tick(ev.TS))
	o.mu.Unlock()
	if !isNew {
		return
	}
	o.certsNew.Add(1)
	hk := ev.Host.As16()
	if err := o.n.toManager(hk[:], wire.KnownCert(ev)); err != nil {
		o.mu.Lock()
		o.certs.Delete(key)
		o.mu.Unlock()
		o.n.log.Error().Err(err).Str("host", ev.Host.String()).Msg("known cert record not sent to a manager")
	}
}

func (m *manager) knownService(from string, ev wire.KnownService) {
	proto := "tcp"
	if ev.Proto == packet.ProtoUDP {
		proto = "udp"
	}
	var names []string
	if ev.Service != "" {
		names = []string{ev.Service}
	}
	m.write("known_services", knownServicesFields, zeeklog.Time(time.Unix(0, ev.TS)), zeeklog.Addr(ev.Host),
		zeeklog.Port(ev.Port), zeeklog.Enum(proto), zeeklog.StringSet(names))
}

func (m *manager) knownCert(from string, ev wire.KnownCert) {
	m.write("known_certs", knownCertsFields, zeeklog.Time(time.Unix(0, ev.TS)), zeeklog.Addr(ev.Host),
		zeeklog.Port(ev.Port), zeeklog.String(ev.Subject), zeeklog.String(ev.Issuer), zeeklog.String(ev.Serial))
}
