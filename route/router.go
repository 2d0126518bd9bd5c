package route

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"shoal/internal/wire"
)

// Router delivers events to the members of pools: directly by name, hashed
// by key to the owner on the pool's ring, round-robin, or to every member.
// It keeps one persistent outbound connection per peer, batches events
// into frames, bounds each peer's queue, waits for per-batch
// acknowledgements and fails over when a connection breaks. All methods
// are safe for concurrent use.
type Router struct {
	cfg      Config
	log      zerolog.Logger
	hello    wire.Hello
	maxEvent int
	maxAck   int // largest ack frame body accepted from a peer
	self     *peer
	selfFrom Sender
	table    atomic.Pointer[table]
	closed   atomic.Bool

	ctx       context.Context
	cancel    context.CancelFunc
	stopWatch func() bool

	mu      sync.Mutex // membership; lock order: mu, then a peer's mu
	view    map[string]*peer
	pools   map[string]*poolState
	started bool

	fmu       sync.Mutex
	failovers []*failoverRec
	awaiting  atomic.Int32 // failovers still waiting for FirstAckAt

	imu         sync.Mutex
	inbound     map[net.Conn]struct{}
	handshaking map[string]int // inbound handshakes in progress by source IP

	gmu     sync.Mutex
	wg      sync.WaitGroup
	gclosed bool

	stats counters
	limit *limiter

	// Drain bookkeeping: moving counts re-routes in progress (events taken
	// from a peer, not yet queued elsewhere); rerouteEpoch grows when one
	// ends.
	moving       atomic.Int32
	rerouteEpoch atomic.Uint64
	drainWaiters atomic.Int32
	dmu          sync.Mutex
	drainCh      chan struct{}

	// Events answered not-owner, waiting to be routed again (park.go).
	pmu        sync.Mutex
	parked     []parked
	parkClosed bool
	parkCh     chan struct{} // cap 1: a ring change or a new parked event

	closeOnce sync.Once
	bufPool   sync.Pool
}

// New validates cfg and returns a router that knows only itself. Call
// Start, then SetMembers with the live view.
func New(cfg Config) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &Router{
		cfg:      cfg,
		log:      cfg.Logger.With().Str("component", "route").Str("node", cfg.Name).Logger(),
		hello:    wire.Hello{Name: cfg.Name, Pool: cfg.Pool, BootID: cfg.BootID, Proto: wire.Proto},
		maxEvent: cfg.MaxFrameSize - 8 - 2*binaryMaxVarint,
		// An ack answers at most MaxFrameSize bytes of events with runs
		// of at most 11 bytes per event of at least 2 (inbound.go).
		maxAck:      min(8*cfg.MaxFrameSize, 1<<30),
		selfFrom:    Sender{Name: cfg.Name, Pool: cfg.Pool},
		parkCh:      make(chan struct{}, 1),
		view:        make(map[string]*peer),
		pools:       make(map[string]*poolState),
		inbound:     make(map[net.Conn]struct{}),
		handshaking: make(map[string]int),
		limit:       newLimiter(10 * time.Second),
		drainCh:     make(chan struct{}),
	}
	r.bufPool.New = func() any { b := make([]byte, 0, 512); return &b }
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.self = newPeer(r, Peer{Name: cfg.Name, Pool: cfg.Pool, DataAddr: cfg.Transport.Addr().String(), BootID: cfg.BootID}, true)
	r.mu.Lock()
	r.rebuildLocked()
	r.mu.Unlock()
	return r, nil
}

const binaryMaxVarint = 10

// Start runs the accept loop and the peer connections. Cancelling ctx
// closes the router, as Close does. Calling it again does nothing.
func (r *Router) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed.Load() {
		return
	}
	r.started = true
	r.stopWatch = context.AfterFunc(ctx, func() { _ = r.Close() })
	r.goRoutine(r.acceptLoop)
	r.goRoutine(r.parkLoop)
	for _, p := range r.view {
		r.goRoutine(p.run)
	}
}

// goRoutine starts f tracked by the WaitGroup, unless the router is
// closing (nats startGoRoutine).
func (r *Router) goRoutine(f func()) bool {
	r.gmu.Lock()
	defer r.gmu.Unlock()
	if r.gclosed {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
	return true
}

// Addr returns the listener's address.
func (r *Router) Addr() string { return r.cfg.Transport.Addr().String() }

// Close stops input, closes the listener and every connection, and waits
// for the router's goroutines. Events not yet acknowledged are abandoned
// (call Drain first); their trackers learn ErrClosed. Idempotent.
func (r *Router) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.table.Store(&table{closed: true})
		if e := r.cfg.Transport.Close(); e != nil && !errors.Is(e, net.ErrClosed) {
			err = fmt.Errorf("route: close transport: %w", e)
		}
		var abandoned []movedEvent
		r.mu.Lock()
		peers := slices.Collect(maps.Values(r.view))
		for _, p := range peers {
			moved, kept := r.retireLocked(p, nil, nil)
			abandoned = append(append(abandoned, moved...), kept...)
		}
		r.mu.Unlock()
		r.imu.Lock()
		for c := range r.inbound {
			_ = c.Close()
		}
		r.imu.Unlock()
		r.gmu.Lock()
		r.gclosed = true
		r.gmu.Unlock()
		r.cancel()
		r.wg.Wait()
		r.closeParked()
		for _, e := range abandoned {
			done(e.tr, ErrClosed)
		}
		r.notifyDrain()
		r.mu.Lock()
		stop := r.stopWatch
		r.mu.Unlock()
		if stop != nil {
			stop()
		}
	})
	return err
}

// SetMembers sets the live view of the cluster (self included or not).
// The rings are rebuilt off to the side and swapped in atomically. Peers
// that left: their queued and unacknowledged events are re-routed (hashed
// by partition to the new owner, round-robin to the next member); direct
// and broadcast events for them are dropped and counted. A peer whose boot
// id, address or pool changed is a new peer: the old connection is closed,
// its events re-routed, and its direct and broadcast events re-sent to the
// new incarnation. peers is not retained.
func (r *Router) SetMembers(peers []Peer) {
	next := make(map[string]Peer, len(peers))
	for _, p := range peers {
		if p.Name != "" && p.Name != r.self.name {
			next[p.Name] = p
		}
	}
	type handover struct {
		pool, name  string
		moved, kept []movedEvent
		to          *peer
	}
	var hs []handover
	r.mu.Lock()
	if r.closed.Load() {
		r.mu.Unlock()
		return
	}
	var gone, added []*peer
	successor := make(map[*peer]*peer)
	for name, p := range r.view {
		np, ok := next[name]
		if ok && np.BootID == p.bootID && np.DataAddr == p.addr && np.Pool == p.pool {
			continue
		}
		gone = append(gone, p)
		delete(r.view, name)
		if ok {
			q := newPeer(r, np, false)
			r.view[name] = q
			added = append(added, q)
			successor[p] = q
		}
	}
	for name, np := range next {
		if _, ok := r.view[name]; !ok {
			q := newPeer(r, np, false)
			r.view[name] = q
			added = append(added, q)
		}
	}
	if len(gone) == 0 && len(added) == 0 {
		r.mu.Unlock()
		return
	}
	r.rebuildLocked()
	if len(gone) > 0 {
		r.moving.Add(1)
	}
	for _, p := range gone {
		moved, kept := r.retireLocked(p, nil, nil)
		hs = append(hs, handover{pool: p.pool, name: p.name, moved: moved, kept: kept, to: successor[p]})
	}
	if r.started {
		for _, q := range added {
			r.goRoutine(q.run)
		}
	}
	r.mu.Unlock()

	rerouted := 0
	for _, h := range hs {
		rerouted += r.reroute(h.pool, h.moved)
		r.handOver(h.kept, h.to, h.name)
	}
	if len(gone) > 0 {
		r.rerouteEpoch.Add(1)
		r.moving.Add(-1)
		r.notifyDrain()
	}
	r.log.Info().Int("added", len(added)).Int("removed", len(gone)).Int("rerouted", rerouted).Msg("membership changed")
}
