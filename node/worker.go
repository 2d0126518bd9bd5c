package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"shoal/flow"
	"shoal/ingest"
	"shoal/internal/wire"
	"shoal/known"
	"shoal/packet"
	"shoal/scan"
	"shoal/service"
	"shoal/zeekin"
)

// expireEvery is how many packets a worker processes between expiry sweeps
// of its caches.
const expireEvery = 4096

// worker turns traffic into candidates — known hosts, scan attempts — and
// sends each to the datanode that owns its key. Everything but the counters
// and the scan filter (shared with the ScannerReported handler) is owned by
// the input goroutine.
type worker struct {
	n       *Node
	tracker *flow.Tracker
	cache   *known.Hosts // hosts already sent; cleared on every ring change
	ringVer uint64       // n.ringVersion when the cache was last cleared
	ctx     context.Context

	scanMu     sync.Mutex
	scanFilter *scan.WorkerFilter

	// Known services and certs: per-connection analyzers (recycled), the
	// certificate parse cache, services waiting for their delayed commit,
	// and what was already sent.
	free      []*connAnalyzer
	certCache *service.CertCache
	services  service.Set // the Detector's services: the loaded analyzers not disabled
	pending   []pendingService
	svcCache  *known.Set[serviceKey]

	// streams are the SumStats streams some definition reduces; the
	// built-in ones are observed only when used.
	streams  map[string]bool
	certSeen *known.Set[certKey]

	packets, malformed, notIP, established atomic.Uint64
	hostsSent, cacheHits, sendErrors       atomic.Uint64
	attempts, attemptsSent, dropped        atomic.Uint64
	servicesSent, certsSent, observations  atomic.Uint64
	tls13                                  atomic.Uint64
	cacheSize                              atomic.Int64
	inputDone                              atomic.Bool
}

func newWorker(n *Node) (*worker, error) {
	ttl := n.cfg.Settings.HostExpire
	w := &worker{n: n, cache: known.NewSet[netip.Addr](ttl), svcCache: known.NewSet[serviceKey](ttl),
		certSeen: known.NewSet[certKey](ttl), certCache: service.NewCertCache(64)}
	var err error
	if w.scanFilter, err = scan.NewWorkerFilter(n.cfg.Settings.Scan); err != nil {
		return nil, fmt.Errorf("node: scan settings: %w", err)
	}
	if err := n.cfg.Settings.Analyzers.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	tcp, udp := n.cfg.Settings.Analyzers.ServerPorts()
	w.services = n.cfg.Settings.Analyzers.Services()
	w.tracker = flow.NewTracker(flow.Config{
		ServerPorts: tcp, UDPServerPorts: udp, Checksums: n.cfg.Checksums, Tunnel: n.cfg.Tunnels,
		UIDSeed: rand.Uint64() | 1,
		Handler: flow.Handler{
			NewConn:     w.newConn,
			Established: w.onEstablished,
			Attempt:     w.onAttempt,
		}})
	Handle(n, w.scannerReported)
	w.streams = map[string]bool{}
	for _, d := range n.cfg.SumStats {
		for _, r := range d.Def.Reducers {
			w.streams[r.Stream] = true
		}
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
	// End of packet input: pending attempt timers fire and every open
	// connection ends, as at the end of a Zeek run.
	w.tracker.Finish()
	w.commitPending(time.Time{})
	if len(c.ZeekLogFiles) > 0 {
		h, flush := w.zeekHandler()
		_, err := zeekin.ReadFiles(ctx, c.ZeekLogFiles, h)
		flush()
		fail("zeek logs", err)
	}
	if c.ZeekLogDir != "" {
		cfg := zeekin.DefaultFollowConfig()
		cfg.Logger = w.n.log
		h, flush := w.zeekHandler()
		_, err := zeekin.Follow(ctx, c.ZeekLogDir, cfg, h)
		flush()
		fail(c.ZeekLogDir, err)
	}
	for _, name := range c.Observe {
		if ctx.Err() != nil {
			break
		}
		fail(name, w.feedObservations(ctx, name))
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

// packet is the per-packet path: the tracker raises events through the
// handlers below, which filter and send.
func (w *worker) packet(p *packet.Packet) {
	c := w.packets.Add(1)
	w.checkRing()
	if c%expireEvery == 0 {
		now := w.tracker.Now()
		w.tracker.Expire(now)
		w.cache.Expire(now)
		w.cacheSize.Store(int64(w.cache.Len()))
		w.svcCache.Expire(now)
		w.certSeen.Expire(now)
		w.commitPending(now)
		w.scanMu.Lock()
		w.scanFilter.Expire(now)
		w.scanMu.Unlock()
	}
	w.tracker.Packet(p)
}

// checkRing clears the cache when membership changed: everything is offered
// again once, as Zeek's workers do on node_up/node_down; owners absorb the
// duplicates.
func (w *worker) checkRing() {
	if v := w.n.ringVersion.Load(); v != w.ringVer {
		w.ringVer = v
		w.cache.Clear()
		w.svcCache.Clear()
		w.certSeen.Clear()
	}
}

func (w *worker) onEstablished(ev *flow.Established) {
	w.established.Add(1)
	if w.streams[streamEstablished] {
		w.builtinObserve(streamEstablished, ev.Orig, ev.Resp.String(), ev.TS)
	}
	w.offerHost(ev.TS, ev.Orig)
	w.offerHost(ev.TS, ev.Resp)
}

func (w *worker) offerHost(ts time.Time, h netip.Addr) {
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
		w.sendFailed(err, "known host candidate not sent")
		return
	}
	w.cache.Observe(h, ts)
	w.hostsSent.Add(1)
}

func (w *worker) onAttempt(a *flow.Attempt) {
	if !scan.IsAttempt(a.History.String(), a.Kind == flow.AttemptRejected) {
		return
	}
	if w.streams[streamAttempt] {
		w.builtinObserve(streamAttempt, a.Orig, netip.AddrPortFrom(a.Resp, a.RespPort).String(), a.TS)
	}
	w.offerAttempt(scan.Attempt{TS: a.TS, Scanner: a.Orig, Victim: a.Resp, Port: a.RespPort, Proto: a.Proto})
}

// offerAttempt sends a scan attempt to the scanner's owner unless the
// worker sent it recently or the scanner was already reported.
func (w *worker) offerAttempt(a scan.Attempt) {
	w.attempts.Add(1)
	w.scanMu.Lock()
	ok := w.scanFilter.Allow(a, a.TS)
	w.scanMu.Unlock()
	if !ok {
		return
	}
	key := a.Scanner.As16()
	ev := wire.ScanAttempt{TS: a.TS.UnixNano(), Scanner: a.Scanner, Victim: a.Victim, Port: a.Port, Proto: a.Proto}
	if err := w.n.SendHashed(w.ctx, string(RoleDatanode), key[:], ev); err != nil {
		w.sendFailed(err, "scan attempt not sent")
		return
	}
	w.attemptsSent.Add(1)
}

// scannerReported runs on a connection goroutine when a datanode reported
// a scanner: stop sending its attempts.
func (w *worker) scannerReported(from string, ev wire.ScannerReported) {
	w.scanMu.Lock()
	w.scanFilter.Reported(ev.Scanner, time.Unix(0, ev.TS))
	w.scanMu.Unlock()
}

func (w *worker) sendFailed(err error, msg string) {
	if c := w.sendErrors.Add(1); c&(c-1) == 0 {
		w.n.log.Warn().Err(err).Uint64("send_errors", c).Msg(msg)
	}
}

// zeekWindow is how far out of start order conn.log rows may come (Zeek
// writes a connection when it ends).
const zeekWindow = time.Hour

// zeekHandler feeds records from Zeek's own logs into the same analyses.
// Conn records are put back in start order first (connReorder); call
// flush after the input ends.
func (w *worker) zeekHandler() (h zeekin.Handler, flush func()) {
	reorder := &connReorder{window: zeekWindow}
	h = zeekin.Handler{
		Conn: func(c *zeekin.Conn) { reorder.Add(c, w.zeekConn) },
		Cert: func(c *zeekin.Cert) {
			w.checkRing()
			w.zeekCert(c)
		},
		Error: func(err error) {
			if c := w.malformed.Add(1); c&(c-1) == 0 {
				w.n.log.Warn().Err(err).Uint64("malformed", c).Msg("skipping bad zeek log line")
			}
		},
	}
	return h, func() { reorder.Flush(w.zeekConn) }
}

// zeekConn applies the known-hosts, scan and known-services rules to one
// conn.log record.
func (w *worker) zeekConn(c *zeekin.Conn) {
	w.checkRing()
	if orig, resp, ok := zeekin.EstablishedHosts(c); ok {
		w.established.Add(1)
		w.offerHost(c.TS, orig)
		w.offerHost(c.TS, resp)
	}
	if c.Proto == "tcp" && scan.IsAttempt(c.History, c.ConnState == "REJ") {
		// conn.log has no time for the attempt event itself: the
		// attempt timer fires 5 s after the SYN, a rejection at the RST,
		// which ends the connection.
		ts := c.TS.Add(c.Duration)
		if c.ConnState != "REJ" {
			ts = c.TS.Add(max(c.Duration, 5*time.Second))
		}
		w.offerAttempt(scan.Attempt{TS: ts, Scanner: c.OrigH, Victim: c.RespH, Port: c.RespP, Proto: 6})
	}
	w.zeekServices(c)
}

func (w *worker) status() *WorkerStatus {
	return &WorkerStatus{
		Packets:      w.packets.Load(),
		Malformed:    w.malformed.Load(),
		NotIP:        w.notIP.Load(),
		Established:  w.established.Load(),
		HostsSent:    w.hostsSent.Load(),
		CacheHits:    w.cacheHits.Load(),
		CacheSize:    int(w.cacheSize.Load()),
		SendErrors:   w.sendErrors.Load(),
		Attempts:     w.attempts.Load(),
		AttemptsSent: w.attemptsSent.Load(),
		ServicesSent: w.servicesSent.Load(),
		CertsSent:    w.certsSent.Load(),
		Observations: w.observations.Load(),
		TLS13:        w.tls13.Load(),
		KernelDrops:  w.dropped.Load(),
		InputDone:    w.inputDone.Load(),
	}
}
