// Package services is Zeek's known-services analysis (policy/protocols/
// conn/known-services.zeek, SEMANTICS.md §2) as a shoal module: every
// (host, port, protocol, service) a responder selected by the tracking mode
// answered on is logged once cluster-wide in known_services.log, by the
// datanode that owns the host, and stays known for Expire.
//
//   - Worker: on traffic.Service (known-services' check passing for a
//     connection) offers each identified service; a connection with no
//     identified protocol is offered with an empty service 5 minutes of
//     network time later (or at the end of input), as Zeek delays it in
//     case another connection names the service.
//   - Owner: per partition, the known (host, port, proto, service) set and
//     the (host, port, proto) that have a named service, so an unnamed one
//     is dropped once the port has a name.
//   - Manager: known_services.log (ts, host, port_num, port_proto,
//     service).
//
// The owner's state is two sets with insertion times: Merge is a union,
// commutative, associative and idempotent.
//
// The package is pure: no I/O, no goroutines, no clock.
package services

import (
	"fmt"
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/known"
	"shoal/site"
	"shoal/zeeklog"
)

// EmptyServiceDelay is how long Zeek waits before it commits a service
// with no identified protocol, in case another connection identifies it.
const EmptyServiceDelay = 5 * time.Minute

// Config is the module's cluster-wide settings.
type Config struct {
	// LocalNets decides which responders are local. The zero value means
	// the IANA private and special-purpose ranges.
	LocalNets site.Nets
	// Tracking selects the responders logged (Known::service_tracking):
	// local (the zero value), remote, all or none.
	Tracking site.Mode
	// Expire is how long a service stays known after it was logged (zero:
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

// Module is the known-services module.
type Module struct {
	cfg      Config
	attached atomic.Bool
}

// New returns the module with cfg (zero fields take their defaults).
func New(cfg Config) *Module { return &Module{cfg: cfg.withDefaults()} }

// Name implements analysis.Module.
func (*Module) Name() string { return "known_services" }

// Settings implements analysis.Module.
func (m *Module) Settings() any { return m.cfg }

// Events implements analysis.Module.
func (*Module) Events() []analysis.EventSpec {
	return []analysis.EventSpec{
		{Type: TypeSeen, Name: "known_services.seen", Delivery: analysis.Hashed, To: analysis.RoleDatanode,
			From: []analysis.Role{analysis.RoleWorker}},
		{Type: TypeRecord, Name: "known_services.record", Delivery: analysis.Hashed, To: analysis.RoleManager,
			From: []analysis.Role{analysis.RoleDatanode}},
	}
}

// Attach implements analysis.Module.
func (m *Module) Attach(env analysis.Env) (analysis.Parts, error) {
	if !m.attached.CompareAndSwap(false, true) {
		return analysis.Parts{}, analysis.ErrAttached
	}
	if m.cfg.Expire < 0 {
		return analysis.Parts{}, fmt.Errorf("known_services: expiry %v is negative", m.cfg.Expire)
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

// Path is the log path of known_services.log.
const Path = "known_services"

// Fields are the columns of known_services.log.
var Fields = []zeeklog.Field{{Name: "ts", Type: "time"}, {Name: "host", Type: "addr"},
	{Name: "port_num", Type: "port"}, {Name: "port_proto", Type: "enum"}, {Name: "service", Type: "set[string]"}}

func partition(key []byte, n int) int { return analysis.Partition(key, n) }
