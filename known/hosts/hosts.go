// Package hosts is Zeek's known-hosts analysis (policy/protocols/conn/
// known-hosts.zeek, SEMANTICS.md §1) as a shoal module: every host that
// completes a TCP handshake, selected by the tracking mode, is logged once
// cluster-wide in known_hosts.log, by the datanode that owns it, and then
// stays known for Expire (Zeek's &create_expire=1day).
//
//   - Worker: on Established (packets or conn.log) offers both endpoints,
//     unless its send-suppression cache (per ring partition) holds them.
//   - Owner: per partition, the expiring set of known hosts; a host not in
//     it is new and becomes a Record.
//   - Manager: known_hosts.log (ts, host).
//
// The owner's state is a set with insertion times: Merge is a union that
// keeps the earlier time of a host in both, so it is commutative,
// associative and idempotent.
//
// The package is pure: no I/O, no goroutines, no clock.
package hosts

import (
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/known"
	"shoal/site"
	"shoal/zeeklog"
)

// Config is the module's cluster-wide settings.
type Config struct {
	// LocalNets decides which hosts are local. The zero value means the
	// IANA private and special-purpose ranges, as Zeek >= 6.0 does.
	LocalNets site.Nets
	// Tracking selects the hosts logged (Known::host_tracking): local
	// (the zero value), remote, all or none.
	Tracking site.Mode
	// Expire is how long a host stays known after it was logged (zero:
	// known.DefaultExpiry, 24 h). Negative is invalid.
	Expire time.Duration
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.LocalNets.Len() == 0 {
		c.LocalNets = site.PrivateNets()
	}
	if c.Expire == 0 {
		c.Expire = known.DefaultExpiry
	}
	return c
}

// Module is the known-hosts module.
type Module struct {
	cfg      Config
	attached atomic.Bool
}

// New returns the module with cfg (zero fields take their defaults).
func New(cfg Config) *Module { return &Module{cfg: cfg.withDefaults()} }

// Name implements analysis.Module.
func (*Module) Name() string { return "known_hosts" }

// Settings implements analysis.Module.
func (m *Module) Settings() any { return m.cfg }

// Events implements analysis.Module.
func (*Module) Events() []analysis.EventSpec {
	return []analysis.EventSpec{
		{Type: TypeSeen, Name: "known_hosts.seen", Delivery: analysis.Hashed, To: analysis.RoleDatanode,
			From: []analysis.Role{analysis.RoleWorker}},
		{Type: TypeRecord, Name: "known_hosts.record", Delivery: analysis.Hashed, To: analysis.RoleManager,
			From: []analysis.Role{analysis.RoleDatanode}},
	}
}

// Attach implements analysis.Module.
func (m *Module) Attach(env analysis.Env) (analysis.Parts, error) {
	if !m.attached.CompareAndSwap(false, true) {
		return analysis.Parts{}, analysis.ErrAttached
	}
	if m.cfg.Expire < 0 {
		return analysis.Parts{}, errNegativeExpire(m.cfg.Expire)
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

// Fields are the columns of known_hosts.log.
var Fields = []zeeklog.Field{{Name: "ts", Type: "time"}, {Name: "host", Type: "addr"}}

// Path is the log path of known_hosts.log.
const Path = "known_hosts"
