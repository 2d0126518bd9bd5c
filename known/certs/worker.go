package certs

import (
	"context"
	"sync/atomic"
	"time"

	"shoal/analysis"
	"shoal/internal/wire"
	"shoal/traffic"
)

// worker offers the leaf certificate of every established TLS handshake.
type worker struct {
	cfg   Config
	send  analysis.Sender
	parts int
	cache *analysis.PartSet[key]

	sent atomic.Uint64
}

var _ traffic.CertHook = (*worker)(nil)

func newWorker(cfg Config, env analysis.Env) *worker {
	return &worker{cfg: cfg, send: env.Send, parts: env.Partitions, cache: analysis.NewPartSet[key](env.Partitions, cfg.Expire)}
}

// Cert implements traffic.CertHook.
func (w *worker) Cert(ctx context.Context, c *traffic.Cert) {
	if !w.cfg.LocalNets.Matches(c.Host, w.cfg.Tracking) {
		return
	}
	leaf := c.Leaf
	k := key{c.Host, leaf.SHA1}
	part := hostPart(c.Host, w.parts)
	if w.cache.Contains(part, k, c.TS) {
		return
	}
	ev := Seen{TS: c.TS.UnixNano(), Host: c.Host, Port: c.Port, SHA1: leaf.SHA1, Subject: leaf.Subject,
		Issuer: leaf.Issuer, Serial: leaf.Serial}
	if err := w.send.Hashed(ctx, analysis.RoleDatanode, part, ev); err != nil {
		return
	}
	w.cache.Add(part, k, c.TS)
	w.sent.Add(1)
}

// Moved implements analysis.Worker.
func (w *worker) Moved(moved []bool) int { return w.cache.Drop(moved) }

// Expire implements analysis.Worker.
func (w *worker) Expire(_ context.Context, now time.Time) { w.cache.Expire(now) }

// Finish implements analysis.Worker.
func (w *worker) Finish(context.Context) {}

// Handle implements analysis.Worker.
func (w *worker) Handle(string, wire.Type, []byte) error { return analysis.ErrUnknownEvent }

// Counters implements analysis.Worker.
func (w *worker) Counters() []analysis.Counter {
	return []analysis.Counter{{Name: "certs_sent", Help: "Known-cert candidates sent to their owners.", Value: w.sent.Load()}}
}
