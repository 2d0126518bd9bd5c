package services

import (
	"context"
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/internal/wire"
	"shoal/service"
	"shoal/traffic"
)

// pending is a service with no identified protocol, offered after
// EmptyServiceDelay of network time (or at the end of input).
type pending struct {
	due time.Time
	ev  Seen
}

// worker offers the services of every connection that passed the check.
type worker struct {
	cfg     Config
	send    analysis.Sender
	parts   int
	cache   *analysis.PartSet[key]
	pending []pending

	sent atomic.Uint64
}

var _ traffic.ServiceHook = (*worker)(nil)

func newWorker(cfg Config, env analysis.Env) *worker {
	return &worker{cfg: cfg, send: env.Send, parts: env.Partitions, cache: analysis.NewPartSet[key](env.Partitions, cfg.Expire)}
}

// Service implements traffic.ServiceHook.
func (w *worker) Service(ctx context.Context, s *traffic.Service) {
	if !w.cfg.LocalNets.Matches(s.Host, w.cfg.Tracking) {
		return
	}
	ev := Seen{TS: s.TS.UnixNano(), Host: s.Host, Port: s.Port, Proto: s.Proto}
	if s.Services.Len() == 0 {
		w.pending = append(w.pending, pending{due: s.TS.Add(EmptyServiceDelay), ev: ev})
		return
	}
	for svc := service.Service(0); svc < service.NumServices; svc++ {
		if s.Services.Has(svc) {
			ev.Service = svc.String()
			w.offer(ctx, ev)
		}
	}
}

func (w *worker) offer(ctx context.Context, ev Seen) {
	k := Info(ev).key()
	ts := time.Unix(0, ev.TS)
	part := hostPart(ev.Host, w.parts)
	if w.cache.Contains(part, k, ts) {
		return
	}
	if err := w.send.Hashed(ctx, analysis.RoleDatanode, part, ev); err != nil {
		return
	}
	w.cache.Add(part, k, ts)
	w.sent.Add(1)
}

// commit offers the held services due at now (all of them when now is
// zero).
func (w *worker) commit(ctx context.Context, now time.Time) {
	i := 0
	for ; i < len(w.pending) && (now.IsZero() || !now.Before(w.pending[i].due)); i++ {
		w.offer(ctx, w.pending[i].ev)
	}
	w.pending = append(w.pending[:0], w.pending[i:]...)
}

// Moved implements analysis.Worker.
func (w *worker) Moved(moved []bool) int { return w.cache.Drop(moved) }

// Expire implements analysis.Worker.
func (w *worker) Expire(ctx context.Context, now time.Time) {
	w.cache.Expire(now)
	w.commit(ctx, now)
}

// Finish implements analysis.Worker: the held services go now.
func (w *worker) Finish(ctx context.Context) { w.commit(ctx, time.Time{}) }

// Handle implements analysis.Worker.
func (w *worker) Handle(string, wire.Type, []byte) error { return analysis.ErrUnknownEvent }

// Counters implements analysis.Worker.
func (w *worker) Counters() []analysis.Counter {
	return []analysis.Counter{{Name: "services_sent", Help: "Known-service candidates sent to their owners.", Value: w.sent.Load()}}
}
