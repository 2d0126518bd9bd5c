package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"shoal/flow"
	"shoal/ingest"
	"shoal/packet"
	"shoal/route"
	"shoal/traffic"
	"shoal/zeekin"
)

// expireEvery is how many packets a worker processes between expiry sweeps
// of its caches.
const expireEvery = 4096

// worker reads the inputs and feeds the traffic pipeline, whose events go
// to the modules' worker sides. Everything but the counters is owned by the
// input goroutine.
type worker struct {
	n    *Node
	pipe *traffic.Pipeline
	ctx  context.Context
	leg  *legacy

	// The datanode ring the modules' caches were last checked against,
	// and n.ringVersion then.
	ring    *route.Ring
	ringVer uint64

	packets, malformed, notIP, dropped atomic.Uint64
	ringChanges, partsMoved, dropped2  atomic.Uint64
	inputDone                          atomic.Bool
}

func newWorker(n *Node) (*worker, error) {
	w := &worker{n: n, ctx: n.ctx}
	var err error
	if w.leg, err = newLegacy(w); err != nil {
		return nil, err
	}
	subs := make([]any, 0, len(n.mods.workers)+1)
	for _, m := range n.mods.workers {
		subs = append(subs, m)
	}
	subs = append(subs, w.leg)
	w.pipe, err = traffic.New(traffic.Config{
		Flow: flow.Config{Checksums: n.cfg.Checksums, Tunnel: n.cfg.Tunnels, UIDSeed: rand.Uint64() | 1,
			MaxFlows: n.cfg.MaxConnections},
		Analyzers: n.cfg.Settings.Analyzers.AnalyzerConfig,
	}, subs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return w, nil
}

func (w *worker) hasInput() bool {
	c := &w.n.cfg
	return len(c.Read) > 0 || c.Generate != nil || c.Interface != "" || len(c.ZeekLogFiles) > 0 || c.ZeekLogDir != "" ||
		len(c.Observe) > 0
}

// run reads every input, then waits until the cluster acknowledged every
// event sent. Input errors are returned after the readable input was sent.
func (w *worker) run(ctx context.Context) error {
	w.ctx = ctx
	defer w.inputDone.Store(true)
	c := &w.n.cfg
	wait, cancel := context.WithTimeout(ctx, c.PoolWait)
	// Route with the cluster's whole view, not the first members gossip
	// happened to report: a worker that hashed with a partial ring would
	// send a key to another owner than its peers do.
	w.n.waitMembership(wait)
	err := w.n.WaitPools(wait, string(RoleDatanode), string(RoleManager))
	cancel()
	if err != nil {
		if len(c.Read) > 0 || len(c.ZeekLogFiles) > 0 || len(c.Observe) > 0 {
			return err
		}
		w.n.log.Warn().Err(err).Msg("starting without a full cluster")
	}

	var errs []error
	fail := func(what string, err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			w.n.log.Error().Err(err).Str("input", what).Msg("input failed")
			errs = append(errs, err)
		}
	}
	w.packetInputs(ctx, fail)
	w.zeekInputs(ctx, fail)
	for _, name := range c.Observe {
		if ctx.Err() != nil {
			break
		}
		fail(name, w.leg.feedObservations(ctx, name))
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

// packetInputs reads the generator, the interface and the pcap files, then
// ends packet input: pending attempt timers fire and every open connection
// ends, as at the end of a Zeek run.
func (w *worker) packetInputs(ctx context.Context, fail func(string, error)) {
	c := &w.n.cfg
	if g := c.Generate; g != nil {
		gen, err := ingest.NewGenerator(*g)
		if err == nil {
			var st ingest.Stats
			st, err = gen.Run(ctx, w.packet)
			w.addStats(st)
		}
		fail("generator", err)
	}
	if c.Interface != "" {
		fail(c.Interface, w.capture(ctx, c.Interface))
	}
	for _, path := range c.Read {
		if ctx.Err() != nil {
			break
		}
		fail(path, w.readFile(ctx, path))
	}
	w.checkRing()
	w.pipe.Finish(ctx)
	for _, m := range w.n.mods.workers {
		m.Finish(ctx)
	}
}

// zeekInputs reads Zeek's logs, from files and from a followed directory.
func (w *worker) zeekInputs(ctx context.Context, fail func(string, error)) {
	c := &w.n.cfg
	bad := func(err error) {
		if n := w.malformed.Add(1); n&(n-1) == 0 {
			w.n.log.Warn().Err(err).Uint64("malformed", n).Msg("skipping bad zeek log line")
		}
	}
	if len(c.ZeekLogFiles) > 0 {
		h, flush := w.pipe.ZeekHandler(ctx, w.checkRing, bad)
		_, err := zeekin.ReadFiles(ctx, c.ZeekLogFiles, h)
		flush()
		fail("zeek logs", err)
	}
	if c.ZeekLogDir != "" {
		cfg := zeekin.DefaultFollowConfig()
		cfg.Logger = w.n.log
		h, flush := w.pipe.ZeekHandler(ctx, w.checkRing, bad)
		_, err := zeekin.Follow(ctx, c.ZeekLogDir, cfg, h)
		flush()
		fail(c.ZeekLogDir, err)
	}
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

func (w *worker) capture(ctx context.Context, name string) error {
	cfg := w.n.cfg.Capture
	cfg.Logger = w.n.log
	iface, err := ingest.OpenInterface(name, cfg)
	if err != nil {
		return err
	}
	defer iface.Close()
	w.n.log.Info().Str("interface", name).Msg("capturing")
	st, err := iface.Run(ctx, w.packet)
	w.addStats(st)
	w.dropped.Add(st.Dropped)
	return err
}

func (w *worker) addStats(st ingest.Stats) {
	w.malformed.Add(st.Malformed)
	w.notIP.Add(st.NotIP)
}

// packet is the per-packet path: the pipeline raises events to the
// modules' hooks, which filter and send.
func (w *worker) packet(p *packet.Packet) {
	c := w.packets.Add(1)
	w.checkRing()
	if c%expireEvery == 0 {
		now := w.pipe.Now()
		w.pipe.Expire(w.ctx, now)
		for _, m := range w.n.mods.workers {
			m.Expire(w.ctx, now)
		}
		w.leg.expire(now)
	}
	w.pipe.Packet(w.ctx, p)
}

// checkRing runs before each packet or log record: when the datanode ring
// changed (gossip, or a broken connection suspected locally), every
// module drops the send-suppression entries of exactly the partitions
// whose owner changed, so their keys are offered to the new owner and
// nothing else is sent again.
func (w *worker) checkRing() {
	v := w.n.ringVersion.Load()
	if v == w.ringVer {
		return
	}
	w.ringVer = v
	ring, _ := w.n.router.Ring(string(RoleDatanode))
	moved, n := movedPartitions(w.ring, ring, w.n.cfg.Ring.Partitions)
	w.ring = ring
	if n == 0 {
		return
	}
	dropped := 0
	for _, m := range w.n.mods.workers {
		dropped += m.Moved(moved)
	}
	w.ringChanges.Add(1)
	w.partsMoved.Add(uint64(n))
	w.dropped2.Add(uint64(dropped))
	w.n.log.Info().Int("partitions", n).Int("entries", dropped).Msg("dropped cache entries of moved partitions")
}

// movedPartitions returns, for each of n partitions, whether its owner
// differs between rings a and b (a nil or empty ring owns nothing), and
// how many did.
func movedPartitions(a, b *route.Ring, n int) ([]bool, int) {
	moved := make([]bool, n)
	count := 0
	for p := range moved {
		if ownerOf(a, p) != ownerOf(b, p) {
			moved[p] = true
			count++
		}
	}
	return moved, count
}

func ownerOf(r *route.Ring, p int) string {
	if r == nil {
		return ""
	}
	if i := r.PartitionOwner(p); i >= 0 {
		return r.Member(i)
	}
	return ""
}

func (w *worker) status() *WorkerStatus {
	c := w.n.moduleCounters()
	for k, v := range w.leg.counters() {
		c[k] = v
	}
	return &WorkerStatus{
		Packets:        w.packets.Load(),
		Malformed:      w.malformed.Load(),
		NotIP:          w.notIP.Load(),
		SendErrors:     w.n.sendErrors.Load(),
		KernelDrops:    w.dropped.Load(),
		InputDone:      w.inputDone.Load(),
		RingChanges:    w.ringChanges.Load(),
		PartsMoved:     w.partsMoved.Load(),
		EntriesDropped: w.dropped2.Load(),
		Counters:       c,
	}
}
