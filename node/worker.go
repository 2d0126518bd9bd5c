package node

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"shoal/flow"
	"shoal/ingest"
	"shoal/internal/wire"
	"shoal/known"
	"shoal/packet"
)

// expireEvery is how many packets a worker processes between expiry sweeps
// of its flow table and cache.
const expireEvery = 4096

// worker turns traffic into known-host candidates and sends each one to the
// datanode that owns the host. Everything but the counters is owned by the
// input goroutine.
type worker struct {
	n       *Node
	tracker *flow.Tracker
	cache   *known.Hosts // hosts already sent; cleared on every ring change
	ringVer uint64       // n.ringVersion when the cache was last cleared
	ctx     context.Context

	packets, malformed, notIP, established atomic.Uint64
	hostsSent, cacheHits, sendErrors       atomic.Uint64
	cacheSize                              atomic.Int64
	inputDone                              atomic.Bool
}

func newWorker(n *Node) *worker {
	w := &worker{
		n:       n,
		tracker: flow.NewTracker(flow.Config{}),
		cache:   known.NewSet[netip.Addr](n.cfg.Settings.HostExpire),
	}
	return w
}

func (w *worker) hasInput() bool { return len(w.n.cfg.Read) > 0 || w.n.cfg.Generate != nil }

// run reads every input, then waits until the cluster acknowledged every
// event sent. File errors are returned after the readable input was sent.
func (w *worker) run(ctx context.Context) error {
	w.ctx = ctx
	defer w.inputDone.Store(true)
	wait, cancel := context.WithTimeout(ctx, w.n.cfg.PoolWait)
	err := w.n.WaitPools(wait, string(RoleDatanode), string(RoleManager))
	cancel()
	if err != nil {
		if len(w.n.cfg.Read) > 0 {
			return err
		}
		w.n.log.Warn().Err(err).Msg("starting without a full cluster")
	}

	var errs []error
	if g := w.n.cfg.Generate; g != nil {
		gen, err := ingest.NewGenerator(*g)
		if err != nil {
			return err
		}
		st, err := gen.Run(ctx, w.packet)
		w.addStats(st)
		if err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	for _, path := range w.n.cfg.Read {
		if ctx.Err() != nil {
			break
		}
		if err := w.readFile(ctx, path); err != nil {
			w.n.log.Error().Err(err).Str("file", path).Msg("input failed")
			errs = append(errs, err)
		}
	}
	// Drain even after cancellation, briefly, so a graceful stop loses
	// nothing already sent.
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer dcancel()
	if err := w.n.router.Drain(dctx); err != nil {
		errs = append(errs, fmt.Errorf("node: waiting for acknowledgements: %w", err))
	}
	return errors.Join(errs...)
}

func (w *worker) readFile(ctx context.Context, path string) error {
	f, err := ingest.OpenFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Run(ctx, w.packet)
	w.addStats(st)
	w.n.log.Info().Str("file", path).Uint64("packets", st.Packets).Uint64("malformed", st.Malformed).
		Uint64("not_ip", st.NotIP).Msg("input read")
	return err
}

func (w *worker) addStats(st ingest.Stats) {
	w.malformed.Add(st.Malformed)
	w.notIP.Add(st.NotIP)
}

// packet is the per-packet path: flow tracking, tracking-mode filter, the
// local cache, and a hashed send to the host's owner.
func (w *worker) packet(p *packet.Packet) {
	c := w.packets.Add(1)
	if v := w.n.ringVersion.Load(); v != w.ringVer {
		// Membership changed: resend everything once, as Zeek does on
		// node_up/node_down; owners absorb the duplicates.
		w.ringVer = v
		w.cache.Clear()
	}
	if c%expireEvery == 0 {
		now := w.tracker.Now()
		w.tracker.Expire(now)
		w.cache.Expire(now)
		w.cacheSize.Store(int64(w.cache.Len()))
	}
	est, ok := w.tracker.Packet(p)
	if !ok {
		return
	}
	w.established.Add(1)
	w.offer(est.TS, est.Orig)
	w.offer(est.TS, est.Resp)
}

func (w *worker) offer(ts time.Time, h netip.Addr) {
	s := &w.n.cfg.Settings
	if !s.LocalNets.Matches(h, s.HostTracking) {
		return
	}
	if w.cache.Contains(h, ts) {
		w.cacheHits.Add(1)
		return
	}
	key := h.As16()
	if err := w.n.SendHashed(w.ctx, string(RoleDatanode), key[:], wire.HostSeen{TS: ts.UnixNano(), Host: h}); err != nil {
		// Not cached: the host is offered again on its next handshake.
		if c := w.sendErrors.Add(1); c&(c-1) == 0 {
			w.n.log.Warn().Err(err).Str("host", h.String()).Uint64("send_errors", c).Msg("known host candidate not sent")
		}
		return
	}
	w.cache.Observe(h, ts)
	w.hostsSent.Add(1)
}

func (w *worker) status() *WorkerStatus {
	return &WorkerStatus{
		Packets:     w.packets.Load(),
		Malformed:   w.malformed.Load(),
		NotIP:       w.notIP.Load(),
		Established: w.established.Load(),
		HostsSent:   w.hostsSent.Load(),
		CacheHits:   w.cacheHits.Load(),
		CacheSize:   int(w.cacheSize.Load()),
		SendErrors:  w.sendErrors.Load(),
		InputDone:   w.inputDone.Load(),
	}
}
