package connlog

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/flow"
	"shoal/internal/wire"
	"shoal/site"
	"shoal/traffic"
)

// Wire types of the module's events. The numbers are part of the protocol.
const (
	TypeConn   wire.Type = 30 // worker -> manager, hashed by uid: a conn.log row
	TypeTunnel wire.Type = 31 // worker -> manager, hashed by uid: a tunnel.log row
)

// Config is the module's cluster-wide settings.
type Config struct {
	// ConnOff and TunnelOff stop workers from sending conn.log and
	// tunnel.log rows (--conn-log=off, --tunnel-log=off). The zero value
	// logs both.
	ConnOff, TunnelOff bool
	// LocalNets decides local_orig and local_resp. The zero value means
	// the IANA private and special-purpose ranges, as Zeek >= 6.0 does.
	LocalNets site.Nets
}

func (c Config) withDefaults() Config {
	if c.LocalNets.Len() == 0 {
		c.LocalNets = site.PrivateNets()
	}
	return c
}

// Module is conn.log and tunnel.log as an analysis module. It has no
// datanode side: a connection's row is decided where the connection was
// seen, so a worker sends it straight to a manager, hashed by the uid.
// Hashing (not round-robin) sends a row re-sent after a failure to the
// manager that may already have written it, whose window of recent rows
// drops the copy (PLAN.md D3); uids are random, so the managers share the
// rows evenly.
type Module struct {
	cfg      Config
	attached atomic.Bool
}

// New returns the module with cfg (zero fields take their defaults).
func New(cfg Config) *Module { return &Module{cfg: cfg.withDefaults()} }

// Name implements analysis.Module.
func (*Module) Name() string { return "conn" }

// Settings implements analysis.Module.
func (m *Module) Settings() any { return m.cfg }

// Events implements analysis.Module.
func (*Module) Events() []analysis.EventSpec {
	from := []analysis.Role{analysis.RoleWorker}
	return []analysis.EventSpec{
		{Type: TypeConn, Name: "conn.record", Delivery: analysis.Hashed, To: analysis.RoleManager, From: from},
		{Type: TypeTunnel, Name: "tunnel.record", Delivery: analysis.Hashed, To: analysis.RoleManager, From: from},
	}
}

// Attach implements analysis.Module.
func (m *Module) Attach(env analysis.Env) (analysis.Parts, error) {
	if !m.attached.CompareAndSwap(false, true) {
		return analysis.Parts{}, analysis.ErrAttached
	}
	switch env.Role {
	case analysis.RoleWorker:
		return analysis.Parts{Worker: newWorker(m.cfg, env)}, nil
	case analysis.RoleManager:
		return analysis.Parts{Manager: &manager{}}, nil
	}
	return analysis.Parts{}, nil
}

// uidPartition is the partition of a row: its uid's.
func uidPartition(u flow.UID, parts int) int {
	var k [12]byte
	appendUID(k[:0], u)
	return analysis.Partition(k[:], parts)
}

// encoded is a record already encoded: the event a worker sends. It owns
// its bytes, so a Sender may keep it.
type encoded struct {
	t wire.Type
	b []byte
}

func (e *encoded) WireType() wire.Type        { return e.t }
func (e *encoded) AppendWire(b []byte) []byte { return append(b, e.b...) }

// DecodeWire implements wire.Decoder (the bytes are copied).
func (e *encoded) DecodeWire(b []byte) error {
	e.b = append(e.b[:0], b...)
	return nil
}

// recordSize is a typical encoded conn.log record, to size the buffer.
const recordSize = 128

// worker sends every removed connection's record and every tunnel event.
type worker struct {
	cfg   Config
	send  analysis.Sender
	parts int

	connSent, tunnelSent, unsent atomic.Uint64
}

var (
	_ traffic.RemovedHook = (*worker)(nil)
	_ traffic.TunnelHook  = (*worker)(nil)
)

func newWorker(cfg Config, env analysis.Env) *worker {
	return &worker{cfg: cfg, send: env.Send, parts: env.Partitions}
}

// Removed implements traffic.RemovedHook.
func (w *worker) Removed(ctx context.Context, r *traffic.Removed) {
	if w.cfg.ConnOff {
		return
	}
	ev := &encoded{t: TypeConn, b: AppendRecord(make([]byte, 0, recordSize), r, w.cfg.LocalNets)}
	w.count(w.send.Hashed(ctx, analysis.RoleManager, uidPartition(r.UID, w.parts), ev), &w.connSent)
}

// Tunnel implements traffic.TunnelHook.
func (w *worker) Tunnel(ctx context.Context, ev *traffic.Tunnel) {
	if w.cfg.TunnelOff {
		return
	}
	e := &encoded{t: TypeTunnel, b: AppendTunnel(make([]byte, 0, 64), ev)}
	w.count(w.send.Hashed(ctx, analysis.RoleManager, uidPartition(ev.UID, w.parts), e), &w.tunnelSent)
}

// count counts a row sent or not. A row not sent is lost (the node counts
// and logs its send errors): a worker on live traffic drops rather than
// fall behind the wire.
func (w *worker) count(err error, sent *atomic.Uint64) {
	if err != nil {
		w.unsent.Add(1)
		return
	}
	sent.Add(1)
}

// Moved implements analysis.Worker: the module keeps no cache.
func (w *worker) Moved([]bool) int { return 0 }

// Expire implements analysis.Worker.
func (w *worker) Expire(context.Context, time.Time) {}

// Finish implements analysis.Worker: rows are sent as they are decided.
func (w *worker) Finish(context.Context) {}

// Handle implements analysis.Worker: workers receive no event of the module.
func (w *worker) Handle(string, wire.Type, []byte) error { return analysis.ErrUnknownEvent }

// Counters implements analysis.Worker.
func (w *worker) Counters() []analysis.Counter {
	return []analysis.Counter{
		{Name: "conn_rows_sent", Help: "conn.log rows sent to managers.", Value: w.connSent.Load()},
		{Name: "tunnel_rows_sent", Help: "tunnel.log rows sent to managers.", Value: w.tunnelSent.Load()},
		{Name: "conn_rows_unsent", Help: "conn.log and tunnel.log rows that could not be sent.", Value: w.unsent.Load()},
	}
}

// manager renders the rows.
type manager struct {
	conns, tunnels, bad atomic.Uint64
}

// Streams implements analysis.Manager.
func (*manager) Streams() []analysis.Stream {
	return []analysis.Stream{{Path: ConnPath, Fields: ConnFields}, {Path: TunnelPath, Fields: TunnelFields}}
}

// Rows implements analysis.Manager.
func (m *manager) Rows(_ string, t wire.Type, payload []byte, _ time.Time, out *[]analysis.Row) error {
	switch t {
	case TypeConn:
		c, err := DecodeRecord(payload)
		if err != nil {
			m.bad.Add(1)
			return err
		}
		*out = append(*out, analysis.Row{Path: ConnPath, Values: c.Row(nil)})
		m.conns.Add(1)
	case TypeTunnel:
		ev, err := DecodeTunnel(payload)
		if err != nil {
			m.bad.Add(1)
			return err
		}
		*out = append(*out, analysis.Row{Path: TunnelPath, Values: TunnelRow(&ev, nil)})
		m.tunnels.Add(1)
	default:
		return fmt.Errorf("%w: %d", analysis.ErrUnknownEvent, t)
	}
	return nil
}

// Counters implements analysis.Manager.
func (m *manager) Counters() []analysis.Counter {
	return []analysis.Counter{
		{Name: "conn_rows", Help: "conn.log rows written.", Value: m.conns.Load()},
		{Name: "tunnel_rows", Help: "tunnel.log rows written.", Value: m.tunnels.Load()},
		{Name: "conn_rows_bad", Help: "conn.log and tunnel.log records that did not decode.", Value: m.bad.Load()},
	}
}

// errConfig is for flags naming an unknown value.
var errConfig = errors.New("connlog: bad configuration")

// ParseSwitch parses an on|off flag value (--conn-log, --tunnel-log) and
// returns whether it is off.
func ParseSwitch(flag, v string) (off bool, err error) {
	switch v {
	case "on":
		return false, nil
	case "off":
		return true, nil
	}
	return false, fmt.Errorf("%w: %s=%q: want on or off", errConfig, flag, v)
}
