package services

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/internal/wire"
	"shoal/known"
	"shoal/packet"
	"shoal/zeeklog"
)

const stateVersion = 1

// owner keeps, per partition, Known::services and the ports with a named
// service, and the partition's network time.
type owner struct {
	cfg      Config
	parts    int
	services *analysis.PartSet[key]
	named    *analysis.PartSet[key] // (host, port, proto) with a non-empty name
	clock    []int64

	fresh, unsent atomic.Uint64
	untracked     atomic.Uint64 // candidates outside the tracking mode, ignored
}

func newOwner(cfg Config, parts int) *owner {
	return &owner{cfg: cfg, parts: parts, services: analysis.NewPartSet[key](parts, cfg.Expire),
		named: analysis.NewPartSet[key](parts, cfg.Expire), clock: make([]int64, parts)}
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

// Apply implements analysis.Owner. An unidentified service is dropped once
// the port has a name.
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
	now := time.Unix(0, o.clock[part])
	k := Info(ev).key()
	port := key{host: ev.Host, port: ev.Port, proto: ev.Proto}
	isNew := !(ev.Service == "" && o.named.Contains(part, port, now)) && o.services.Add(part, k, now)
	if isNew && ev.Service != "" {
		o.named.Add(part, port, now)
	}
	if !isNew {
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
		now := time.Unix(0, o.clock[p])
		o.services.ExpirePart(p, now)
		o.named.ExpirePart(p, now)
	}
}

// Unsent implements analysis.Owner: forget the service so that it is
// logged when offered again.
func (o *owner) Unsent(rec analysis.Record) {
	if r, ok := rec.Event.(Record); ok {
		o.services.Delete(rec.Part, Info(r).key())
	}
	o.unsent.Add(1)
}

// Export implements analysis.Owner: version, network time, both sets.
func (o *owner) Export(part int) ([]byte, error) {
	b := binary.AppendVarint([]byte{stateVersion}, o.clock[part])
	b = known.AppendSet(b, o.services.Set(part), appendKey, compareKey)
	return known.AppendSet(b, o.named.Set(part), appendKey, compareKey), nil
}

func (o *owner) decode(b []byte) (clock int64, svcs, named *known.Set[key], err error) {
	r := wire.NewReader(b)
	if v := r.U8("version"); r.Err() == nil && v != stateVersion {
		r.Fail("version", wire.ErrBadValue)
	}
	clock = r.Varint("clock")
	if svcs, err = known.DecodeSet(&r, o.cfg.Expire, readKey); err == nil {
		if named, err = known.DecodeSet(&r, o.cfg.Expire, readKey); err == nil {
			err = r.Done()
		}
	}
	if err != nil {
		return 0, nil, nil, fmt.Errorf("known_services: %w: %w", analysis.ErrBadState, err)
	}
	return clock, svcs, named, nil
}

// Import implements analysis.Owner.
func (o *owner) Import(part int, b []byte) error {
	clock, svcs, named, err := o.decode(b)
	if err != nil {
		return err
	}
	o.clock[part] = clock
	o.services.Replace(part, svcs)
	o.named.Replace(part, named)
	return nil
}

// Merge implements analysis.Owner: unions, the later network time.
func (o *owner) Merge(part int, b []byte) error {
	clock, svcs, named, err := o.decode(b)
	if err != nil {
		return err
	}
	o.clock[part] = max(o.clock[part], clock)
	o.services.Merge(part, svcs)
	o.named.Merge(part, named)
	return nil
}

// Drop implements analysis.Owner.
func (o *owner) Drop(part int) {
	o.clock[part] = 0
	o.services.Replace(part, nil)
	o.named.Replace(part, nil)
}

// Laws implements analysis.Owner: set unions.
func (*owner) Laws() analysis.Laws {
	return analysis.Laws{Mergeable: true, Commutative: true, Associative: true, Idempotent: true}
}

// Counters implements analysis.Owner.
func (o *owner) Counters() []analysis.Counter {
	return []analysis.Counter{
		{Name: "services_untracked", Help: "Candidates outside the tracking mode, ignored by the owner.", Value: o.untracked.Load()},
		{Name: "services_new", Help: "Services new to this datanode: records sent to a manager.", Value: o.fresh.Load()},
		{Name: "services_log_errors", Help: "Known-service records no manager took; forgotten and logged when offered again.", Value: o.unsent.Load()},
	}
}

// manager writes known_services.log.
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
	proto := "tcp"
	if r.Proto == packet.ProtoUDP {
		proto = "udp"
	}
	var names []string
	if r.Service != "" {
		names = []string{r.Service}
	}
	*out = append(*out, analysis.Row{Path: Path, Values: []zeeklog.Value{zeeklog.Time(time.Unix(0, r.TS)), zeeklog.Addr(r.Host),
		zeeklog.Port(r.Port), zeeklog.Enum(proto), zeeklog.StringSet(names)}})
	return nil
}

// Counters implements analysis.Manager.
func (manager) Counters() []analysis.Counter { return nil }
