package traffic

import (
	"context"
	"crypto/sha1"
	"strings"
	"time"

	"shoal/packet"
	"shoal/service"
	"shoal/zeekin"
)

// zeekWindow is how far out of start order conn.log rows may come (Zeek
// writes a connection when it ends).
const zeekWindow = time.Hour

// ZeekHandler returns the handler that feeds records from Zeek's own logs
// into the same events as packets. Conn rows are put back in connection
// start order first; before runs ahead of each record the Pipeline
// processes (the worker checks its ring there), bad reports unreadable
// lines. Call flush when the input ends, to release the rows still held.
// The handler runs hooks with ctx.
func (p *Pipeline) ZeekHandler(ctx context.Context, before func(), bad func(error)) (h zeekin.Handler, flush func()) {
	reorder := &connReorder{window: zeekWindow}
	emit := func(c *zeekin.Conn) {
		before()
		p.Conn(ctx, c)
	}
	h = zeekin.Handler{
		Conn: func(c *zeekin.Conn) { reorder.Add(c, emit) },
		Cert: func(c *zeekin.Cert) {
			before()
			p.ZeekCert(ctx, c)
		},
		Error: bad,
	}
	return h, func() { reorder.Flush(emit) }
}

// Conn raises the events of one conn.log row, given in connection start
// order: Established (zeekin.EstablishedHosts' rule, dated by the start),
// Attempt and Service.
func (p *Pipeline) Conn(ctx context.Context, c *zeekin.Conn) {
	p.ctx = ctx
	if orig, resp, ok := zeekin.EstablishedHosts(c); ok {
		p.est = Established{TS: c.TS, Orig: orig, Resp: resp, OrigPort: c.OrigP, RespPort: c.RespP}
		p.raiseEstablished(&p.est)
	}
	if rejected := c.ConnState == "REJ"; c.Proto == "tcp" && IsAttempt(c.History, rejected) {
		// conn.log has no time for the attempt event itself: the
		// attempt timer fires 5 s after the SYN, a rejection at the RST,
		// which ends the connection.
		ts := c.TS.Add(c.Duration)
		if !rejected {
			ts = c.TS.Add(max(c.Duration, 5*time.Second))
		}
		p.attempt = Attempt{TS: ts, Orig: c.OrigH, Resp: c.RespH, RespPort: c.RespP, Proto: packet.ProtoTCP, Rejected: rejected}
		p.raiseAttempt()
	}
	p.zeekService(c)
}

// zeekService applies the known-services check to a conn.log row: the
// responder took part (TCP: handshake, ack, data or FIN, not a bare RST
// answering the SYN; UDP: it sent a packet), and the row names services
// (a lone DNS whose server sent no byte does not count).
func (p *Pipeline) zeekService(c *zeekin.Conn) {
	var proto uint8
	switch c.Proto {
	case "tcp":
		proto = packet.ProtoTCP
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
	var set service.Set
	for _, name := range c.Service {
		svc, ok := service.ParseService(strings.ToUpper(name))
		if !ok || (svc == service.DNS && len(c.Service) == 1 && c.RespBytes == 0) {
			continue
		}
		set = set.Add(svc)
	}
	if set.Len() == 0 {
		return
	}
	p.service = Service{TS: c.TS.Add(c.Duration), Host: c.RespH, Port: c.RespP, Proto: proto, Services: set}
	p.raiseService()
}

// ZeekCert raises Cert for an ssl.log row joined with its x509.log leaf,
// when the handshake was established. The logs carry no SHA-1 of the
// leaf, so the certificate's SHA1 is that of the joined record's own key
// (its SHA-256 fingerprint, or issuer and serial).
func (p *Pipeline) ZeekCert(ctx context.Context, c *zeekin.Cert) {
	if !c.Established {
		return
	}
	p.ctx = ctx
	leaf := &service.Cert{Subject: c.Subject, Issuer: c.Issuer, Serial: c.Serial, SHA1: sha1.Sum([]byte(c.Key()))}
	p.cert = Cert{TS: c.TS, Host: c.Host, Port: c.Port, Leaf: leaf}
	p.raiseCert()
}
