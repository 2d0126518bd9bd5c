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
	self     *peer
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

	imu     sync.Mutex
	inbound map[net.Conn]struct{}

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
		view:     make(map[string]*peer),
		pools:    make(map[string]*poolState),
		inbound:  make(map[net.Conn]struct{}),
		limit:    newLimiter(10 * time.Second),
		drainCh:  make(chan struct{}),
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
// (call Drain first). Idempotent.
func (r *Router) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.table.Store(&table{closed: true})
		if e := r.cfg.Transport.Close(); e != nil && !errors.Is(e, net.ErrClosed) {
			err = fmt.Errorf("route: close listener: %w", e)
		}
		r.mu.Lock()
		peers := slices.Collect(maps.Values(r.view))
		r.mu.Unlock()
		for _, p := range peers {
			p.stop()
			p.closeConn()
		}
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
		pool        string
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
		hs = append(hs, handover{pool: p.pool, moved: moved, kept: kept, to: successor[p]})
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
		r.handOver(h.kept, h.to)
	}
	if len(gone) > 0 {
		r.rerouteEpoch.Add(1)
		r.moving.Add(-1)
		r.notifyDrain()
	}
	r.log.Info().Int("added", len(added)).Int("removed", len(gone)).Int("rerouted", rerouted).Msg("membership changed")
}

// noMembers returns the error for a send to an empty or unknown pool.
func (r *Router) noMembers(t *table, pool string, pt *poolTable) error {
	if t.closed {
		return ErrClosed
	}
	r.stats.noMembers.Add(1)
	if pt != nil {
		return pt.noMembers
	}
	return &noMembersError{pool: pool}
}

// Send sends ev to the named node. Events for a suspect peer wait in its
// queue for the reconnect; they are dropped and counted if it leaves the
// view. It returns ErrUnknownNode when node is not in the view,
// ErrQueueFull (FullDrop) or ctx's error (FullBlock) when its queue is
// full. For this node itself, Deliver runs synchronously.
func (r *Router) Send(ctx context.Context, node string, ev wire.Event) error {
	for range maxResolve {
		t := r.table.Load()
		if t.closed {
			return ErrClosed
		}
		p := t.peers[node]
		if p == nil {
			break
		}
		if p.self {
			return r.deliverSelf(ev, "", -1)
		}
		if err := p.send(ctx, kindDirect, -1, ev); err != errRetry {
			return err
		}
	}
	r.stats.unknownNode.Add(1)
	return fmt.Errorf("%w: %q", ErrUnknownNode, node)
}

// SendHashed sends ev to the live member of pool that owns key on the
// pool's ring. The lookup never locks. If the owner fails before it
// acknowledges the event, the event is re-sent to the partition's new
// owner. It returns an error wrapping ErrNoMembers when the pool has no
// live member. key is not retained.
func (r *Router) SendHashed(ctx context.Context, pool string, key []byte, ev wire.Event) error {
	for range maxResolve {
		t := r.table.Load()
		pt, p, part := t.hashed(pool, key)
		if p == nil {
			return r.noMembers(t, pool, pt)
		}
		if p.self {
			return r.deliverSelf(ev, pool, part)
		}
		if err := p.send(ctx, kindHashed, part, ev); err != errRetry {
			return err
		}
	}
	return r.noMembers(r.table.Load(), pool, nil)
}

// SendRoundRobin sends ev to the next live member of pool; if that member
// fails before acknowledging it, to the one after.
func (r *Router) SendRoundRobin(ctx context.Context, pool string, ev wire.Event) error {
	for range maxResolve {
		t := r.table.Load()
		pt := t.pool(pool)
		if pt == nil || pt.owners == nil {
			return r.noMembers(t, pool, pt)
		}
		p := pt.members[pt.rr.Add(1)%uint64(len(pt.members))]
		if p.self {
			return r.deliverSelf(ev, "", -1)
		}
		if err := p.send(ctx, kindRoundRobin, -1, ev); err != errRetry {
			return err
		}
	}
	return r.noMembers(r.table.Load(), pool, nil)
}

// Broadcast sends ev to every live member of pool, this node included when
// it is a member. The event is encoded once. Errors of individual members
// (a full queue) are joined; the other members still get the event.
func (r *Router) Broadcast(ctx context.Context, pool string, ev wire.Event) error {
	t := r.table.Load()
	pt := t.pool(pool)
	if pt == nil || pt.owners == nil {
		return r.noMembers(t, pool, pt)
	}
	bp := r.bufPool.Get().(*[]byte)
	raw := wire.AppendEvent((*bp)[:0], ev)
	defer func() {
		*bp = raw[:0]
		r.bufPool.Put(bp)
	}()
	if len(raw) > r.maxEvent {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), r.maxEvent)
	}
	var errs []error
	for _, p := range pt.members {
		if p.self {
			r.stats.selfSent.Add(1)
			r.deliverRaw(raw)
			continue
		}
		err := p.sendRaw(ctx, raw, mkMeta(kindBroadcast, -1, false), false)
		if err != nil && err != errRetry { // errRetry: it left the view meanwhile
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deliverSelf runs Deliver for an event addressed to this node.
func (r *Router) deliverSelf(ev wire.Event, pool string, part int32) error {
	bp := r.bufPool.Get().(*[]byte)
	b := ev.AppendWire((*bp)[:0])
	defer func() {
		*bp = b[:0]
		r.bufPool.Put(bp)
	}()
	if len(b) > r.maxEvent {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), r.maxEvent)
	}
	r.stats.selfSent.Add(1)
	r.stats.selfDelivered.Add(1)
	r.cfg.Deliver(r.self.name, ev.WireType(), b)
	if pool != "" && r.awaiting.Load() > 0 {
		r.noteSelf(pool, part, false)
	}
	return nil
}

func (r *Router) notifyDrain() {
	if r.drainWaiters.Load() == 0 {
		return
	}
	r.dmu.Lock()
	close(r.drainCh)
	r.drainCh = make(chan struct{})
	r.dmu.Unlock()
}

func (r *Router) drainChan() chan struct{} {
	r.dmu.Lock()
	defer r.dmu.Unlock()
	return r.drainCh
}

// Drain waits until every event accepted before the call is acknowledged
// (possibly by a new owner after re-routing) or dropped and counted, or
// until ctx ends. Events for a suspect peer sent with Send wait for its
// reconnect or its departure from the view.
func (r *Router) Drain(ctx context.Context) error {
	r.drainWaiters.Add(1)
	defer r.drainWaiters.Add(-1)
	poll := time.NewTicker(10 * time.Millisecond) // backstop for missed wakeups
	defer poll.Stop()
	for {
		epoch := r.rerouteEpoch.Load()
		r.mu.Lock()
		peers := slices.Collect(maps.Values(r.view))
		r.mu.Unlock()
		target := make([]uint64, len(peers))
		for i, p := range peers {
			target[i], _ = p.drainPos()
		}
		for {
			if r.closed.Load() {
				return ErrClosed
			}
			ch := r.drainChan()
			done := r.moving.Load() == 0
			for i, p := range peers {
				if _, d := p.drainPos(); d < target[i] {
					done = false
					break
				}
			}
			if done {
				break
			}
			select {
			case <-ch:
			case <-poll.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if r.moving.Load() == 0 && r.rerouteEpoch.Load() == epoch {
			return nil
		}
	}
}
