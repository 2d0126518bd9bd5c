package software

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/internal/wire"
	"shoal/notice"
	"shoal/site"
	"shoal/traffic"
)

// workerSide is the module's worker side: protocol facts become detections,
// sent hashed by host to their owners unless sent recently.
type workerSide struct {
	w     *Worker
	send  analysis.Sender
	parts int
	infos []Info // scratch

	sent, sendErrors, suppressed, untracked, cacheFull atomic.Uint64
	cached                                             atomic.Int64
}

var (
	_ analysis.Worker  = (*workerSide)(nil)
	_ traffic.FactHook = (*workerSide)(nil)
)

func newWorkerSide(cfg Config, env analysis.Env) *workerSide {
	return &workerSide{send: env.Send, parts: env.Partitions, w: NewWorker(WorkerConfig{Nets: cfg.LocalNets,
		Tracking: cfg.Tracking, MailClients: cfg.MailClients, FoundCacheInterval: cfg.FoundCacheInterval})}
}

// Fact implements traffic.FactHook: Software::found for each detection the
// fact gives.
func (s *workerSide) Fact(ctx context.Context, f *traffic.Fact) {
	s.infos = FromFact(s.infos[:0], &f.Fact, Conn{Orig: f.Orig, Resp: f.Resp, RespPort: f.RespPort}, s.w.Config())
	for k := range s.infos {
		i := &s.infos[k]
		key := hostKey(i.Host)
		part := analysis.Partition(key[:], s.parts)
		found, ok := s.w.Found(part, *i, f.TS)
		if !ok {
			continue
		}
		if err := s.send.Hashed(ctx, analysis.RoleDatanode, part, Found{found}); err != nil {
			s.w.Forget(part, *i) // offered again when it is found again
			s.sendErrors.Add(1)
			continue
		}
		s.sent.Add(1)
	}
	s.sync()
}

func (s *workerSide) sync() {
	s.suppressed.Store(s.w.Suppressed)
	s.untracked.Store(s.w.Untracked)
	s.cacheFull.Store(s.w.CacheFull)
	s.cached.Store(int64(s.w.Cached()))
}

// Moved implements analysis.Worker.
func (s *workerSide) Moved(moved []bool) int {
	n := 0
	for p, m := range moved {
		if m {
			n += s.w.Drop(p)
		}
	}
	s.sync()
	return n
}

// Expire implements analysis.Worker.
func (s *workerSide) Expire(_ context.Context, now time.Time) {
	s.w.Expire(now)
	s.sync()
}

// Finish implements analysis.Worker: nothing is held back.
func (s *workerSide) Finish(context.Context) {}

// Handle implements analysis.Worker: no event is addressed to workers.
func (s *workerSide) Handle(string, wire.Type, []byte) error { return analysis.ErrUnknownEvent }

// Counters implements analysis.Worker.
func (s *workerSide) Counters() []analysis.Counter {
	return []analysis.Counter{
		{Name: "found_sent", Help: "Software detections sent to the datanodes owning their hosts.", Value: s.sent.Load()},
		{Name: "found_send_errors", Help: "Software detections that could not be sent; sent again when found again.", Value: s.sendErrors.Load()},
		{Name: "found_suppressed", Help: "Software detections not sent: sent less than the cache interval ago.", Value: s.suppressed.Load()},
		{Name: "found_untracked", Help: "Software detections of hosts the tracking mode excludes.", Value: s.untracked.Load()},
		{Name: "found_cache_full", Help: "Software detections sent without being cached: the cache was full.", Value: s.cacheFull.Load()},
		{Name: "found_cache_size", Help: "Detections in the software send cache.", Kind: analysis.Gauge, Value: uint64(s.cached.Load())},
	}
}

// ownerSide is the module's datanode side: Software::register per
// partition, software.log records and version-change notices.
type ownerSide struct {
	o        *Owner
	parts    int
	nets     site.Nets
	tracking site.Mode

	found, logged, changes, notices, unsent atomic.Uint64
	untracked                               atomic.Uint64 // detections outside the tracking mode, ignored
	hosts                                   atomic.Int64
}

var _ analysis.Owner = (*ownerSide)(nil)

func newOwnerSide(cfg Config, parts int) *ownerSide {
	return &ownerSide{parts: parts, nets: cfg.LocalNets, tracking: cfg.Tracking, o: NewOwner(OwnerConfig{Interesting: cfg.Interesting,
		MaxVersions: cfg.MaxVersions, Expire: cfg.Expire})}
}

// Partition implements analysis.Owner.
func (s *ownerSide) Partition(t wire.Type, payload []byte) (int, error) {
	if t != TypeFound {
		return 0, analysis.ErrUnknownEvent
	}
	var ev Found
	if err := ev.DecodeWire(payload); err != nil {
		return 0, err
	}
	key := hostKey(ev.Host)
	return analysis.Partition(key[:], s.parts), nil
}

// Apply implements analysis.Owner: the detection is registered at its own
// network time (the partition's, if that is later); now is not used.
func (s *ownerSide) Apply(part int, t wire.Type, payload []byte, _ time.Time, out *analysis.Out) error {
	if t != TypeFound {
		return analysis.ErrUnknownEvent
	}
	var ev Found
	if err := ev.DecodeWire(payload); err != nil {
		return err
	}
	if !ev.ForceLog && !s.nets.Matches(ev.Host, s.tracking) {
		s.untracked.Add(1) // issue 10: the tracking mode is applied where the decision is made
		return nil
	}
	s.found.Add(1)
	r := s.o.Apply(part, ev.Info, ev.TS)
	s.hosts.Store(int64(s.o.Hosts()))
	if r.Log {
		s.logged.Add(1)
		key := hostKey(ev.Host)
		out.Records = append(out.Records, analysis.Record{Part: part, Key: key[:], Event: Record(ev)})
	}
	if r.Change != nil {
		s.changes.Add(1)
	}
	if r.Notice {
		s.notices.Add(1)
		n := notice.Notice{TS: r.Change.TS, Note: NoteVersionChange, Msg: r.Change.Msg(), Sub: r.Change.Sub(),
			Src: r.Change.New.Host, SuppressFor: time.Hour}
		out.Records = append(out.Records, analysis.Record{Part: part, Key: notice.Key(&n), Event: notice.Record{Notice: n}})
	}
	return nil
}

// Expire implements analysis.Owner: each partition forgets the hosts
// registered a day (Expire) before its own network time.
func (s *ownerSide) Expire(time.Time, *analysis.Out) {
	s.o.Expire()
	s.hosts.Store(int64(s.o.Hosts()))
}

// Unsent implements analysis.Owner: a software.log record no manager took
// is taken back, so the version is logged when it is found again.
func (s *ownerSide) Unsent(rec analysis.Record) {
	if r, ok := rec.Event.(Record); ok {
		s.o.Unregister(rec.Part, &r.Info)
	}
	s.unsent.Add(1)
}

// Export implements analysis.Owner.
func (s *ownerSide) Export(part int) ([]byte, error) { return s.o.Export(part), nil }

// Import implements analysis.Owner.
func (s *ownerSide) Import(part int, b []byte) error {
	defer s.hosts.Store(int64(s.o.Hosts()))
	return errState(s.o.Import(part, b))
}

// Merge implements analysis.Owner.
func (s *ownerSide) Merge(part int, b []byte) error {
	defer s.hosts.Store(int64(s.o.Hosts()))
	return errState(s.o.Merge(part, b))
}

// Drop implements analysis.Owner.
func (s *ownerSide) Drop(part int) {
	s.o.Drop(part)
	s.hosts.Store(int64(s.o.Hosts()))
}

// Laws implements analysis.Owner: unions, minima and maxima.
func (*ownerSide) Laws() analysis.Laws {
	return analysis.Laws{Mergeable: true, Commutative: true, Associative: true, Idempotent: true}
}

// Counters implements analysis.Owner.
func (s *ownerSide) Counters() []analysis.Counter {
	return []analysis.Counter{
		{Name: "found_received", Help: "Software detections received.", Value: s.found.Load()},
		{Name: "received_untracked", Help: "Detections received for hosts the tracking mode excludes, ignored.", Value: s.untracked.Load()},
		{Name: "logged", Help: "Software versions new to their host: software.log records sent to a manager.", Value: s.logged.Load()},
		{Name: "version_changes", Help: "Software::version_change: a host showed another version of a known name.", Value: s.changes.Load()},
		{Name: "notices", Help: "Software_Version_Change notices raised (interesting names).", Value: s.notices.Load()},
		{Name: "log_errors", Help: "software.log records no manager took; the version is logged when found again.", Value: s.unsent.Load()},
		{Name: "hosts", Help: "Hosts whose software this datanode tracks.", Kind: analysis.Gauge, Value: uint64(s.hosts.Load())},
	}
}

func errState(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("software: %w: %w", analysis.ErrBadState, err)
}

// managerSide writes software.log.
type managerSide struct{}

// Streams implements analysis.Manager.
func (managerSide) Streams() []analysis.Stream {
	return []analysis.Stream{{Path: LogPath, Fields: LogFields}}
}

// Rows implements analysis.Manager.
func (managerSide) Rows(_ string, t wire.Type, payload []byte, _ time.Time, out *[]analysis.Row) error {
	if t != TypeRecord {
		return analysis.ErrUnknownEvent
	}
	var r Record
	if err := r.DecodeWire(payload); err != nil {
		return err
	}
	*out = append(*out, analysis.Row{Path: LogPath, Values: r.Row()})
	return nil
}

// Counters implements analysis.Manager.
func (managerSide) Counters() []analysis.Counter { return nil }
