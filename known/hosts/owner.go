package hosts

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/internal/wire"
	"shoal/known"
	"shoal/zeeklog"
)

// stateVersion is the first byte of an exported partition.
const stateVersion = 1

// owner keeps, per partition, the hosts known there and the partition's
// network time (the latest Seen timestamp applied to it).
type owner struct {
	cfg   Config
	parts int
	hosts *analysis.PartSet[netip.Addr]
	clock []int64 // per partition, unix ns

	seen, fresh, unsent atomic.Uint64
	size                atomic.Int64
	untracked           atomic.Uint64 // candidates outside the tracking mode, ignored
}

func newOwner(cfg Config, parts int) *owner {
	return &owner{cfg: cfg, parts: parts, hosts: analysis.NewPartSet[netip.Addr](parts, cfg.Expire), clock: make([]int64, parts)}
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
	key := hostKey(ev.Host)
	return analysis.Partition(key[:], o.parts), nil
}

// Apply implements analysis.Owner: a host new in its partition becomes a
// Record dated by its Seen.
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
	o.seen.Add(1)
	o.clock[part] = max(o.clock[part], ev.TS)
	isNew := o.hosts.Add(part, ev.Host, nanoTime(o.clock[part]))
	o.size.Store(int64(o.hosts.Len()))
	if !isNew {
		return nil
	}
	o.fresh.Add(1)
	key := hostKey(ev.Host)
	out.Records = append(out.Records, analysis.Record{Part: part, Key: key[:], Event: Record(ev)})
	return nil
}

// Expire implements analysis.Owner: each partition expires at its own
// network time.
func (o *owner) Expire(time.Time, *analysis.Out) {
	for p := range o.parts {
		o.hosts.ExpirePart(p, nanoTime(o.clock[p]))
	}
	o.size.Store(int64(o.hosts.Len()))
}

// Unsent implements analysis.Owner: forget the host so that it is logged
// when it is offered again.
func (o *owner) Unsent(rec analysis.Record) {
	if r, ok := rec.Event.(Record); ok {
		o.hosts.Delete(rec.Part, r.Host)
		o.size.Store(int64(o.hosts.Len()))
	}
	o.unsent.Add(1)
}

// Export implements analysis.Owner: version, network time, the set.
func (o *owner) Export(part int) ([]byte, error) {
	b := []byte{stateVersion}
	b = appendVarint(b, o.clock[part])
	return known.AppendSet(b, o.hosts.Set(part), wire.AppendAddr, netip.Addr.Compare), nil
}

func (o *owner) decode(b []byte) (int64, *known.Set[netip.Addr], error) {
	r := wire.NewReader(b)
	if v := r.U8("version"); r.Err() == nil && v != stateVersion {
		r.Fail("version", wire.ErrBadValue)
	}
	clock := r.Varint("clock")
	s, err := known.DecodeSet(&r, o.cfg.Expire, func(r *wire.Reader) netip.Addr { return r.Addr("host") })
	if err == nil {
		err = r.Done()
	}
	if err != nil {
		return 0, nil, errState(err)
	}
	return clock, s, nil
}

// Import implements analysis.Owner.
func (o *owner) Import(part int, b []byte) error {
	clock, s, err := o.decode(b)
	if err != nil {
		return err
	}
	o.clock[part] = clock
	o.hosts.Replace(part, s)
	o.size.Store(int64(o.hosts.Len()))
	return nil
}

// Merge implements analysis.Owner: the union of the sets, the earlier time
// of a host in both, the later network time.
func (o *owner) Merge(part int, b []byte) error {
	clock, s, err := o.decode(b)
	if err != nil {
		return err
	}
	o.clock[part] = max(o.clock[part], clock)
	o.hosts.Merge(part, s)
	o.size.Store(int64(o.hosts.Len()))
	return nil
}

// Drop implements analysis.Owner.
func (o *owner) Drop(part int) {
	o.clock[part] = 0
	o.hosts.Replace(part, nil)
	o.size.Store(int64(o.hosts.Len()))
}

// Laws implements analysis.Owner: a set union.
func (*owner) Laws() analysis.Laws {
	return analysis.Laws{Mergeable: true, Commutative: true, Associative: true, Idempotent: true}
}

// Counters implements analysis.Owner.
func (o *owner) Counters() []analysis.Counter {
	return []analysis.Counter{
		{Name: "hosts_untracked", Help: "Candidates outside the tracking mode, ignored by the owner.", Value: o.untracked.Load()},
		{Name: "hosts_seen", Help: "Known-host candidates received.", Value: o.seen.Load()},
		{Name: "hosts_new", Help: "Hosts new to this datanode: records sent to a manager.", Value: o.fresh.Load()},
		{Name: "known_hosts", Help: "Hosts known on this datanode.", Kind: analysis.Gauge, Value: uint64(o.size.Load())},
		{Name: "log_errors", Help: "Known-host records no manager took; the host is forgotten and logged when offered again.", Value: o.unsent.Load()},
	}
}

// manager writes known_hosts.log.
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
	*out = append(*out, analysis.Row{Path: Path, Values: []zeeklog.Value{zeeklog.Time(nanoTime(r.TS)), zeeklog.Addr(r.Host)}})
	return nil
}

// Counters implements analysis.Manager.
func (manager) Counters() []analysis.Counter { return nil }

func appendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func errState(err error) error { return fmt.Errorf("known_hosts: %w: %w", analysis.ErrBadState, err) }
