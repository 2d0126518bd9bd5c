package notice

import (
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/internal/wire"
)

// Module is the Notice framework as an analysis module: it owns the notice
// record (TypeNotice) and notice.log. Other modules raise a notice by
// emitting a Record (keyed with Key) from their owner side; the manager
// that receives it applies $identifier suppression and writes the row.
type Module struct {
	attached atomic.Bool
}

// New returns the notice module.
func New() *Module { return &Module{} }

// Name implements analysis.Module.
func (*Module) Name() string { return "notice" }

// Settings implements analysis.Module: the framework has none of its own.
func (*Module) Settings() any { return struct{}{} }

// Events implements analysis.Module.
func (*Module) Events() []analysis.EventSpec {
	return []analysis.EventSpec{{Type: TypeNotice, Name: "notice", Delivery: analysis.Hashed,
		To: analysis.RoleManager, From: []analysis.Role{analysis.RoleDatanode}}}
}

// Attach implements analysis.Module.
func (m *Module) Attach(env analysis.Env) (analysis.Parts, error) {
	if !m.attached.CompareAndSwap(false, true) {
		return analysis.Parts{}, analysis.ErrAttached
	}
	if env.Role != analysis.RoleManager {
		return analysis.Parts{}, nil
	}
	return analysis.Parts{Manager: &manager{}}, nil
}

// manager writes notice.log.
type manager struct {
	supp                  Suppressor
	logged, suppressedCnt atomic.Uint64
}

var logActions = []string{ActionLog}

// Streams implements analysis.Manager.
func (*manager) Streams() []analysis.Stream { return []analysis.Stream{{Path: Path, Fields: Fields}} }

// Rows implements analysis.Manager.
func (m *manager) Rows(from string, t wire.Type, payload []byte, now time.Time, out *[]analysis.Row) error {
	if t != TypeNotice {
		return analysis.ErrUnknownEvent
	}
	var r Record
	if err := r.DecodeWire(payload); err != nil {
		return err
	}
	n := &r.Notice
	if m.supp.Suppressed(n) {
		m.suppressedCnt.Add(1)
		return nil
	}
	if len(n.Actions) == 0 {
		n.Actions = logActions
	}
	m.logged.Add(1)
	*out = append(*out, analysis.Row{Path: Path, Values: n.Values()})
	return nil
}

// Counters implements analysis.Manager.
func (m *manager) Counters() []analysis.Counter {
	return []analysis.Counter{
		{Name: "notices_logged", Help: "Notices written to notice.log.", Value: m.logged.Load()},
		{Name: "notices_suppressed", Help: "Notices suppressed by an earlier one with the same note and identifier.", Value: m.suppressedCnt.Load()},
	}
}
