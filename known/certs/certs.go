// Package certs is Zeek's known-certs analysis (policy/protocols/ssl/
// known-certs.zeek, SEMANTICS.md §3) as a shoal module: the leaf
// certificate of every TLS server selected by the tracking mode is logged
// once per (host, certificate) cluster-wide in known_certs.log, by the
// datanode that owns the host, and stays known for Expire.
//
//   - Worker: on traffic.Cert (ssl_established with the server's leaf,
//     from packets or from ssl.log joined with x509.log) offers the
//     certificate unless its send-suppression cache holds it.
//   - Owner: per partition, the known (host, SHA-1) set.
//   - Manager: known_certs.log (ts, host, port_num, subject,
//     issuer_subject, serial).
//
// The owner's state is a set with insertion times: Merge is a union,
// commutative, associative and idempotent.
//
// The package is pure: no I/O, no goroutines, no clock.
package certs

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/known"
	"shoal/site"
	"shoal/zeeklog"
)

// Config is the module's cluster-wide settings.
type Config struct {
	// LocalNets decides which servers are local. The zero value means
	// the IANA private and special-purpose ranges.
	LocalNets site.Nets
	// Tracking selects the servers whose certificates are logged (Known::cert_tracking):
	// local (the zero value), remote, all or none.
	Tracking site.Mode
	// Expire is how long a certificate stays known after it was logged (zero:
	// 24 h). Negative is invalid.
	Expire time.Duration
}

func (c Config) withDefaults() Config {
	if c.LocalNets.Len() == 0 {
		c.LocalNets = site.PrivateNets()
	}
	if c.Expire == 0 {
		c.Expire = known.DefaultExpiry
	}
	return c
}

// Module is the known-certs module.
type Module struct {
	cfg      Config
	attached atomic.Bool
}

// New returns the module with cfg (zero fields take their defaults).
func New(cfg Config) *Module { return &Module{cfg: cfg.withDefaults()} }

// Name implements analysis.Module.
func (*Module) Name() string { return "known_certs" }

// Settings implements analysis.Module.
func (m *Module) Settings() any { return m.cfg }

// Events implements analysis.Module.
func (*Module) Events() []analysis.EventSpec {
	return []analysis.EventSpec{
		{Type: TypeSeen, Name: "known_certs.seen", Delivery: analysis.Hashed, To: analysis.RoleDatanode,
			From: []analysis.Role{analysis.RoleWorker}},
		{Type: TypeRecord, Name: "known_certs.record", Delivery: analysis.Hashed, To: analysis.RoleManager,
			From: []analysis.Role{analysis.RoleDatanode}},
	}
}

// Attach implements analysis.Module.
func (m *Module) Attach(env analysis.Env) (analysis.Parts, error) {
	if !m.attached.CompareAndSwap(false, true) {
		return analysis.Parts{}, analysis.ErrAttached
	}
	if m.cfg.Expire < 0 {
		return analysis.Parts{}, fmt.Errorf("known_certs: expiry %v is negative", m.cfg.Expire)
	}
	switch env.Role {
	case analysis.RoleWorker:
		return analysis.Parts{Worker: newWorker(m.cfg, env)}, nil
	case analysis.RoleDatanode:
		return analysis.Parts{Owner: newOwner(m.cfg, env.Partitions)}, nil
	case analysis.RoleManager:
		return analysis.Parts{Manager: manager{}}, nil
	}
	return analysis.Parts{}, nil
}

// Path is the log path of known_certs.log.
const Path = "known_certs"

// Fields are the columns of known_certs.log.
var Fields = []zeeklog.Field{{Name: "ts", Type: "time"}, {Name: "host", Type: "addr"},
	{Name: "port_num", Type: "port"}, {Name: "subject", Type: "string"}, {Name: "issuer_subject", Type: "string"},
	{Name: "serial", Type: "string"}}

// hostPart is the partition of a host among n.
func hostPart(h netip.Addr, n int) int {
	k := h.As16()
	return analysis.Partition(k[:], n)
}
