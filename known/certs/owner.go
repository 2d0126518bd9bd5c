package certs

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/internal/wire"
	"shoal/known"
	"shoal/zeeklog"
)

const stateVersion = 1

// owner keeps, per partition, Known::certs and the partition's network
// time.
type owner struct {
	cfg   Config
	parts int
	certs *analysis.PartSet[key]
	clock []int64

	fresh, unsent atomic.Uint64
	untracked     atomic.Uint64 // candidates outside the tracking mode, ignored
}

func newOwner(cfg Config, parts int) *owner {
	return &owner{cfg: cfg, parts: parts, certs: analysis.NewPartSet[key](parts, cfg.Expire), clock: make([]int64, parts)}
}

// Partition implements analysis.Owner.
func (o *owner) Partition(t wire.Type, payload []byte) (int, error) {
	if t != TypeSeen {
		return 0, analysis.ErrUnknownEvent
	}
	var ev Seen
	if err := ev.DecodeWire(payload); err != nil {
		return 0, err
	}
	return hostPart(ev.Host, o.parts), nil
}

// Apply implements analysis.Owner: a certificate new for its host becomes a
// Record.
func (o *owner) Apply(part int, t wire.Type, payload []byte, _ time.Time, out *analysis.Out) error {
	if t != TypeSeen {
		return analysis.ErrUnknownEvent
	}
	var ev Seen
	if err := ev.DecodeWire(payload); err != nil {
		return err
	}
	if !o.cfg.LocalNets.Matches(ev.Host, o.cfg.Tracking) {
		o.untracked.Add(1) // issue 10: the tracking mode is applied where the decision is made
		return nil
	}
	o.clock[part] = max(o.clock[part], ev.TS)
	if !o.certs.Add(part, key{ev.Host, ev.SHA1}, time.Unix(0, o.clock[part])) {
		return nil
	}
	o.fresh.Add(1)
	hk := ev.Host.As16()
	out.Records = append(out.Records, analysis.Record{Part: part, Key: hk[:], Event: Record(ev)})
	return nil
}

// Expire implements analysis.Owner: each partition at its own time.
func (o *owner) Expire(time.Time, *analysis.Out) {
	for p := range o.parts {
		o.certs.ExpirePart(p, time.Unix(0, o.clock[p]))
	}
}

// Unsent implements analysis.Owner: forget the certificate so that it is
// logged when offered again.
func (o *owner) Unsent(rec analysis.Record) {
	if r, ok := rec.Event.(Record); ok {
		o.certs.Delete(rec.Part, key{r.Host, r.SHA1})
	}
	o.unsent.Add(1)
}

// Export implements analysis.Owner: version, network time, the set.
func (o *owner) Export(part int) ([]byte, error) {
	b := binary.AppendVarint([]byte{stateVersion}, o.clock[part])
	return known.AppendSet(b, o.certs.Set(part), appendKey, compareKey), nil
}

func (o *owner) decode(b []byte) (clock int64, certs *known.Set[key], err error) {
	r := wire.NewReader(b)
	if v := r.U8("version"); r.Err() == nil && v != stateVersion {
		r.Fail("version", wire.ErrBadValue)
	}
	clock = r.Varint("clock")
	if certs, err = known.DecodeSet(&r, o.cfg.Expire, readKey); err == nil {
		err = r.Done()
	}
	if err != nil {
		return 0, nil, fmt.Errorf("known_certs: %w: %w", analysis.ErrBadState, err)
	}
	return clock, certs, nil
}

// Import implements analysis.Owner.
func (o *owner) Import(part int, b []byte) error {
	clock, certs, err := o.decode(b)
	if err != nil {
		return err
	}
	o.clock[part] = clock
	o.certs.Replace(part, certs)
	return nil
}

// Merge implements analysis.Owner: the union, the later network time.
func (o *owner) Merge(part int, b []byte) error {
	clock, certs, err := o.decode(b)
	if err != nil {
		return err
	}
	o.clock[part] = max(o.clock[part], clock)
	o.certs.Merge(part, certs)
	return nil
}

// Drop implements analysis.Owner.
func (o *owner) Drop(part int) {
	o.clock[part] = 0
	o.certs.Replace(part, nil)
}

// Laws implements analysis.Owner: a set union.
func (*owner) Laws() analysis.Laws {
	return analysis.Laws{Mergeable: true, Commutative: true, Associative: true, Idempotent: true}
}

// Counters implements analysis.Owner.
func (o *owner) Counters() []analysis.Counter {
	return []analysis.Counter{
		{Name: "certs_untracked", Help: "Candidates outside the tracking mode, ignored by the owner.", Value: o.untracked.Load()},
		{Name: "certs_new", Help: "Certificates new to this datanode: records sent to a manager.", Value: o.fresh.Load()},
		{Name: "certs_log_errors", Help: "Known-cert records no manager took; forgotten and logged when offered again.", Value: o.unsent.Load()},
	}
}

// manager writes known_certs.log.
type manager struct{}

// Streams implements analysis.Manager.
func (manager) Streams() []analysis.Stream { return []analysis.Stream{{Path: Path, Fields: Fields}} }

// Rows implements analysis.Manager.
func (manager) Rows(_ string, t wire.Type, payload []byte, _ time.Time, out *[]analysis.Row) error {
	if t != TypeRecord {
		return analysis.ErrUnknownEvent
	}
	var r Record
	if err := r.DecodeWire(payload); err != nil {
		return err
	}
	*out = append(*out, analysis.Row{Path: Path, Values: []zeeklog.Value{zeeklog.Time(time.Unix(0, r.TS)), zeeklog.Addr(r.Host),
		zeeklog.Port(r.Port), zeeklog.String(r.Subject), zeeklog.String(r.Issuer), zeeklog.String(r.Serial)}})
	return nil
}

// Counters implements analysis.Manager.
func (manager) Counters() []analysis.Counter { return nil }
