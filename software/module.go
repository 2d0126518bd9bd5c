package software

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/internal/wire"
	"shoal/site"
)

// Name is the module's name: the prefix of its counters and the key of its
// status fragment.
const Name = "software"

// The module's events. The numbers are part of the protocol.
const (
	// TypeFound is a detection on its way from a worker to the datanode
	// that owns its host (Software::new, hashed by host).
	TypeFound wire.Type = 20
	// TypeRecord is a software.log row on its way from that datanode to a
	// manager.
	TypeRecord wire.Type = 21
)

// Config is the module's configuration: cluster-wide settings, the same on
// every node. The zero value is Zeek's default configuration.
type Config struct {
	// LocalNets are the local networks; empty means the private and
	// special-purpose ranges (Zeek >= 6.0).
	LocalNets site.Nets
	// Tracking selects the hosts whose software is tracked
	// (Software::asset_tracking, --software-tracking; default LocalHosts).
	Tracking site.Mode
	// MailClients selects the SMTP originators whose messages' user agents
	// are read (SMTP::detect_clients_in_messages_from; default LocalHosts).
	MailClients site.Mode
	// Interesting lists the names whose version changes raise a
	// Software::Software_Version_Change notice.
	Interesting []string
	// FoundCacheInterval, MaxVersions and Expire: see WorkerConfig and
	// OwnerConfig (0: Zeek's defaults).
	FoundCacheInterval time.Duration
	MaxVersions        int
	Expire             time.Duration
}

func (c Config) withDefaults() Config {
	if c.LocalNets.Len() == 0 {
		c.LocalNets = site.PrivateNets()
	}
	return c
}

// Module is the Software framework as an analysis module (analysis.Module).
type Module struct {
	cfg      Config
	attached atomic.Bool
}

var _ analysis.Module = (*Module)(nil)

// New returns the module configured by cfg.
func New(cfg Config) *Module { return &Module{cfg: cfg.withDefaults()} }

// Name implements analysis.Module.
func (*Module) Name() string { return Name }

// Settings implements analysis.Module.
func (m *Module) Settings() any { return m.cfg }

// Events implements analysis.Module.
func (*Module) Events() []analysis.EventSpec {
	return []analysis.EventSpec{
		{Type: TypeFound, Name: "software.found", Delivery: analysis.Hashed, To: analysis.RoleDatanode,
			From: []analysis.Role{analysis.RoleWorker}},
		{Type: TypeRecord, Name: "software.record", Delivery: analysis.Hashed, To: analysis.RoleManager,
			From: []analysis.Role{analysis.RoleDatanode}},
	}
}

// Attach implements analysis.Module.
func (m *Module) Attach(env analysis.Env) (analysis.Parts, error) {
	if !m.attached.CompareAndSwap(false, true) {
		return analysis.Parts{}, analysis.ErrAttached
	}
	if m.cfg.Expire < 0 || m.cfg.Tracking > site.NoHosts || m.cfg.MailClients > site.NoHosts {
		return analysis.Parts{}, fmt.Errorf("software: bad configuration: expire %v, tracking %v, mail clients %v",
			m.cfg.Expire, m.cfg.Tracking, m.cfg.MailClients)
	}
	switch env.Role {
	case analysis.RoleWorker:
		return analysis.Parts{Worker: newWorkerSide(m.cfg, env)}, nil
	case analysis.RoleDatanode:
		return analysis.Parts{Owner: newOwnerSide(m.cfg, env.Partitions)}, nil
	case analysis.RoleManager:
		return analysis.Parts{Manager: managerSide{}}, nil
	}
	return analysis.Parts{}, nil
}

// Found is a TypeFound event: a detection, parsed and dated by the worker.
type Found struct{ Info }

// Record is a TypeRecord event: a software.log row.
type Record struct{ Info }

// WireType implements wire.Event.
func (Found) WireType() wire.Type { return TypeFound }

// AppendWire implements wire.Event.
func (e Found) AppendWire(b []byte) []byte { return AppendInfo(b, &e.Info) }

// DecodeWire implements wire.Decoder.
func (e *Found) DecodeWire(b []byte) error { return decodeWhole(&e.Info, b) }

// WireType implements wire.Event.
func (Record) WireType() wire.Type { return TypeRecord }

// AppendWire implements wire.Event.
func (e Record) AppendWire(b []byte) []byte { return AppendInfo(b, &e.Info) }

// DecodeWire implements wire.Decoder.
func (e *Record) DecodeWire(b []byte) error { return decodeWhole(&e.Info, b) }

func decodeWhole(i *Info, b []byte) error {
	v, rest, err := DecodeInfo(b)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(rest))
	}
	if err != nil {
		return err
	}
	*i = v
	return nil
}

// hostKey is the key a host is hashed by, in the datanode pool (detections)
// and in the manager pool (records).
func hostKey(h netip.Addr) [16]byte { return h.As16() }
