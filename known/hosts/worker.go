package hosts

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/internal/wire"
	"shoal/traffic"
)

func errNegativeExpire(d time.Duration) error {
	return fmt.Errorf("known_hosts: expiry %v is negative", d)
}

// worker offers the endpoints of every completed handshake to their
// owners. Its cache holds the hosts sent recently, per partition.
type worker struct {
	cfg   Config
	send  analysis.Sender
	parts int
	cache *analysis.PartSet[netip.Addr]

	sent, hits atomic.Uint64
	size       atomic.Int64
}

var _ traffic.EstablishedHook = (*worker)(nil)

func newWorker(cfg Config, env analysis.Env) *worker {
	return &worker{cfg: cfg, send: env.Send, parts: env.Partitions,
		cache: analysis.NewPartSet[netip.Addr](env.Partitions, cfg.Expire)}
}

// Established implements traffic.EstablishedHook.
func (w *worker) Established(ctx context.Context, e *traffic.Established) {
	w.offer(ctx, e.TS, e.Orig)
	w.offer(ctx, e.TS, e.Resp)
}

func (w *worker) offer(ctx context.Context, ts time.Time, h netip.Addr) {
	if !w.cfg.LocalNets.Matches(h, w.cfg.Tracking) {
		return
	}
	key := hostKey(h)
	part := analysis.Partition(key[:], w.parts)
	if w.cache.Contains(part, h, ts) {
		w.hits.Add(1)
		return
	}
	if err := w.send.Hashed(ctx, analysis.RoleDatanode, part, Seen{TS: ts.UnixNano(), Host: h}); err != nil {
		return // not cached: the host is offered again on its next handshake
	}
	w.cache.Add(part, h, ts)
	w.size.Store(int64(w.cache.Len()))
	w.sent.Add(1)
}

// Moved implements analysis.Worker.
func (w *worker) Moved(moved []bool) int {
	n := w.cache.Drop(moved)
	w.size.Store(int64(w.cache.Len()))
	return n
}

// Expire implements analysis.Worker.
func (w *worker) Expire(_ context.Context, now time.Time) {
	w.cache.Expire(now)
	w.size.Store(int64(w.cache.Len()))
}

// Finish implements analysis.Worker.
func (w *worker) Finish(context.Context) {}

// Handle implements analysis.Worker: workers receive no known-hosts event.
func (w *worker) Handle(string, wire.Type, []byte) error { return analysis.ErrUnknownEvent }

// Counters implements analysis.Worker.
func (w *worker) Counters() []analysis.Counter {
	return []analysis.Counter{
		{Name: "hosts_sent", Help: "Known-host candidates sent to their owners.", Value: w.sent.Load()},
		{Name: "cache_hits", Help: "Known-host candidates not sent: sent recently.", Value: w.hits.Load()},
		{Name: "cache_size", Help: "Hosts in the known-hosts send cache.", Kind: analysis.Gauge, Value: uint64(w.size.Load())},
	}
}
