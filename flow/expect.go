package flow

import (
	"net/netip"
	"time"
)

// maxExpected bounds the expected connections a Tracker holds.
const maxExpected = 1 << 14

// Expectation announces a connection: the next connections from Orig (any
// originator when Orig is the zero Addr) to Resp:RespPort over Proto,
// until TTL has passed, get Service added to their services. It is Zeek's
// Analyzer::schedule_analyzer as the FTP script uses it for "ftp-data".
type Expectation struct {
	Orig, Resp netip.Addr
	RespPort   uint16
	Proto      uint8
	Service    string
	TTL        time.Duration
}

type expectKey struct {
	orig, resp [16]byte
	port       uint16
	proto      uint8
}

type expected struct {
	service string
	until   int64 // network time, ns
}

// Expect records an expected connection (see Expectation); its TTL counts
// from network time. It touches no
// connection, so an Analyzer may call it from Packet.
func (t *Tracker) Expect(e Expectation) {
	if !e.Resp.IsValid() || e.TTL <= 0 {
		return
	}
	var orig [16]byte
	if e.Orig.IsValid() {
		orig = e.Orig.As16()
	}
	k := expectKey{orig: orig, resp: e.Resp.As16(), port: e.RespPort, proto: e.Proto}
	if t.expect == nil {
		t.expect = make(map[expectKey]expected)
	}
	if _, ok := t.expect[k]; !ok && len(t.expect) >= maxExpected {
		t.expireExpected(t.nowNs)
		if len(t.expect) >= maxExpected {
			t.stats.ExpectedDropped++
			return
		}
	}
	t.expect[k] = expected{service: e.Service, until: t.nowNs + int64(e.TTL)}
}

// applyExpected adds the service of an expectation that c matches, as
// Zeek's ApplyScheduledAnalyzers does for a new (or flipped) connection.
// Expectations stay until they expire: several connections may match.
func (t *Tracker) applyExpected(c *Conn) {
	if len(t.expect) == 0 {
		return
	}
	k := expectKey{orig: c.orig.addr.As16(), resp: c.resp.addr.As16(), port: c.resp.port, proto: c.proto}
	e, ok := t.expect[k]
	if !ok || e.until < t.nowNs {
		k.orig = [16]byte{}
		if e, ok = t.expect[k]; !ok || e.until < t.nowNs {
			return
		}
	}
	c.AddService(e.service)
}

// expireExpected drops the expectations past their time.
func (t *Tracker) expireExpected(ns int64) {
	for k, e := range t.expect {
		if e.until < ns {
			delete(t.expect, k)
		}
	}
}
