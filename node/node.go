package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"shoal/gossip"
	"shoal/internal/wire"
	"shoal/pki"
	"shoal/route"
)

// ErrNoMembers is returned (wrapped with the pool) when a pool has no live
// member. It is route.ErrNoMembers, re-exported for errors.Is.
var ErrNoMembers = route.ErrNoMembers

// handler decodes and runs one event type.
type handler func(from string, t wire.Type, payload []byte) error

// Node is one shoal process. Its methods are safe for concurrent use unless
// stated otherwise.
type Node struct {
	cfg    Config
	log    zerolog.Logger
	bootID uint64
	start  time.Time

	gossip *gossip.Gossip
	router *route.Router
	dataLn net.Listener
	httpLn net.Listener
	httpSv *http.Server
	auth   *httpAuth

	tlsFiles *pki.Files     // nil without TLS
	tlsTr    *pki.Transport // nil without TLS
	confirm  *confirmer     // nil without TLS

	handlers  map[wire.Type]handler // written before Start only
	started   atomic.Bool
	skipLeave atomic.Bool

	unknownTypes atomic.Uint64
	authz        authz
	badEvents    atomic.Uint64
	sendErrors   atomic.Uint64 // modules' sends that failed
	unsent       atomic.Uint64 // records no manager took

	mods modules

	ringCh chan struct{} // router-side ring changes (local suspicion)

	epochSeq  atomic.Uint64 // NextEpoch requests sent
	refreshMu sync.Mutex    // one ring rebuild at a time
	lookups   lookups

	// ringVersion counts ring changes of any pool, gossip-driven or local
	// (a peer suspected after its connection broke); the worker checks the
	// datanode ring for moved partitions when it moves.
	ringVersion atomic.Uint64

	worker   *worker
	datanode *datanode
	manager  *manager

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
	fatalCh   chan error
}

// New validates cfg, binds the node's sockets and builds its components. It
// does not join the cluster: call Start.
func New(cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:      cfg,
		bootID:   randomID(),
		start:    time.Now(),
		handlers: make(map[wire.Type]handler),
		ringCh:   make(chan struct{}, 1),
		fatalCh:  make(chan error, 1),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	// Components add their own node and component fields.
	compLog := cfg.Logger
	n.log = compLog.With().Str("node", cfg.Name).Str("role", string(cfg.Role)).Logger()

	var err error
	if n.tlsFiles, err = loadTLS(&cfg); err != nil {
		return nil, err
	}
	n.dataLn = cfg.DataListener
	if n.dataLn == nil {
		if n.dataLn, err = net.Listen("tcp", cfg.DataBind); err != nil {
			return nil, fmt.Errorf("node: data bind %s: %w", cfg.DataBind, err)
		}
	}
	if cfg.HTTP != "" {
		if n.httpLn, err = net.Listen("tcp", cfg.HTTP); err != nil {
			n.dataLn.Close()
			return nil, fmt.Errorf("node: http bind %s: %w", cfg.HTTP, err)
		}
	}
	n.auth = newHTTPAuth(cfg.Security.HTTPToken, n.httpLn)
	if n.tlsFiles != nil && n.httpLn != nil {
		n.httpLn = httpTLS(n.httpLn, n.tlsFiles)
		n.auth.tls = true
	}
	fail := func(err error) (*Node, error) {
		n.dataLn.Close()
		if n.httpLn != nil {
			n.httpLn.Close()
		}
		return nil, err
	}

	full := route.FullDrop
	if cfg.Block || cfg.Role != RoleWorker || len(cfg.Read) > 0 || len(cfg.Observe) > 0 || len(cfg.ZeekLogFiles) > 0 {
		// Offline input (files) and datanode->manager records apply backpressure
		// instead of dropping; a worker on live traffic never blocks.
		full = route.FullBlock
	}
	rcfg := route.Config{Listener: n.dataLn, Dial: cfg.Dial}
	if n.tlsFiles != nil {
		n.tlsTr, err = pki.NewTransport(pki.TransportConfig{Files: n.tlsFiles, Listener: n.dataLn, Dial: cfg.Dial,
			Member: n.gossipMember})
		if err != nil {
			return fail(err)
		}
		rcfg = route.Config{Transport: n.tlsTr}
		n.confirm = newConfirmer(n, n.tlsTr)
	}
	n.router, err = route.New(route.Config{
		Name:       cfg.Name,
		BootID:     n.bootID,
		Pool:       string(cfg.Role),
		Ring:       cfg.Ring,
		Transport:  rcfg.Transport,
		Listener:   rcfg.Listener,
		Dial:       rcfg.Dial,
		Deliver:    n.deliver,
		QueueLimit: cfg.QueueLimit,
		Full:       full,
		OnChange: func() {
			n.ringVersion.Add(1)
			signal(n.ringCh)
		},
		Logger: compLog,
	})
	if err != nil {
		return fail(err)
	}

	if err := n.attachModules(); err != nil {
		n.router.Close()
		return fail(err)
	}

	gcfg := gossip.DefaultConfig()
	gcfg.Name = cfg.Name
	gcfg.BindAddr = cfg.Bind
	gcfg.Seeds = cfg.Join
	gcfg.Profile = cfg.Profile
	gcfg.Logger = compLog
	gcfg.Keys, gcfg.KeyFile, gcfg.ClusterName = cfg.Security.GossipKeys, cfg.Security.GossipKeyFile, cfg.Security.ClusterName
	if cfg.GossipTransport != nil {
		gcfg.Transport = cfg.GossipTransport
	}
	gcfg.Meta = gossip.Meta{
		Role:         string(cfg.Role),
		DataAddr:     n.dataLn.Addr().String(),
		BootID:       n.bootID,
		Proto:        gossip.ProtoVersion,
		RingHash:     cfg.Ring.Hash(),
		SettingsHash: cfg.settingsHash(n.mods.settings),
	}
	if n.gossip, err = gossip.New(gcfg); err != nil {
		n.router.Close()
		return fail(err)
	}

	Handle(n, n.lookupReply)
	switch cfg.Role {
	case RoleWorker:
		n.worker, err = newWorker(n)
	case RoleDatanode:
		n.datanode, err = newDatanode(n)
	case RoleManager:
		n.manager = newManager(n)
	}
	if err != nil {
		n.gossip.Close()
		n.router.Close()
		return fail(err)
	}
	return n, nil
}

// Name is the node's unique name.
func (n *Node) Name() string { return n.cfg.Name }

// Role is the node's role.
func (n *Node) Role() Role { return n.cfg.Role }

// GossipAddr is the gossip address actually bound.
func (n *Node) GossipAddr() string { return n.gossip.LocalAddr() }

// DataAddr is the event transport address actually bound.
func (n *Node) DataAddr() string { return n.dataLn.Addr().String() }

// HTTPAddr is the status address actually bound, or "".
func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}

// BootID identifies this run of the node.
func (n *Node) BootID() string { return fmt.Sprintf("%016x", n.bootID) }

// Fatal delivers an error that must end the process, such as another node
// already using this node's name.
func (n *Node) Fatal() <-chan error { return n.fatalCh }

// Start joins the cluster and starts every background service. It returns
// once the node is serving; joining the seeds continues in the background.
func (n *Node) Start(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("node: already started")
	}
	n.router.Start(n.ctx)
	n.gossip.Start(n.ctx)
	n.refreshMembers()
	n.goFunc(n.membershipLoop)
	n.goFunc(n.forwardFatal)
	if n.manager != nil {
		n.goFunc(n.manager.flushLoop)
	}
	if n.datanode != nil {
		n.goFunc(n.datanode.sumstats.tickLoop)
		n.goFunc(n.ownerLoop)
	}
	if n.httpLn != nil {
		n.httpSv = &http.Server{Handler: n.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
		n.goFunc(func(context.Context) {
			if err := n.httpSv.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.log.Error().Err(err).Msg("status server failed")
			}
		})
	}
	n.log.Info().Str("gossip", n.GossipAddr()).Str("data", n.DataAddr()).Str("http", n.HTTPAddr()).
		Str("boot_id", n.BootID()).Msg("node started")
	if n.cfg.Security.Insecure {
		n.log.Warn().Bool("gossip_encrypted", n.gossip.Encrypted()).Bool("http_token", n.cfg.Security.HTTPToken != "").
			Msg("running with --insecure: listeners on other hosts' reach may be unprotected")
	}
	return nil
}

// goFunc starts f on a goroutine tracked by the node's WaitGroup.
func (n *Node) goFunc(f func(ctx context.Context)) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f(n.ctx)
	}()
}

func (n *Node) forwardFatal(ctx context.Context) {
	select {
	case err := <-n.gossip.Fatal():
		// Leaving under a name another node owns would tell the cluster
		// that node left: shut down without a leave message.
		n.skipLeave.Store(true)
		select {
		case n.fatalCh <- err:
		default:
		}
	case <-ctx.Done():
	}
}

// Run processes the worker's inputs, if it has any, and returns when they
// are done and every event is acknowledged. For every other node it returns
// at once. Run after Start.
func (n *Node) Run(ctx context.Context) error {
	if n.worker == nil || !n.worker.hasInput() {
		return nil
	}
	return n.worker.run(ctx)
}

// HasInput reports whether Run has work to do.
func (n *Node) HasInput() bool { return n.worker != nil && n.worker.hasInput() }

// Close leaves the cluster gracefully and releases everything. Idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.started.Load() && !n.skipLeave.Load() {
			if err := n.gossip.Leave(2 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		if n.started.Load() {
			// Deliver what is already queued (a datanode's records to
			// a manager) before the transport goes away.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			if err := n.router.Drain(ctx); err != nil {
				n.log.Warn().Err(err).Msg("events still unacknowledged at shutdown")
			}
			cancel()
		}
		if n.httpSv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			n.httpSv.Shutdown(ctx)
			cancel()
		}
		errs = append(errs, n.gossip.Close(), n.router.Close())
		n.cancel()
		n.wg.Wait()
		if n.manager != nil {
			errs = append(errs, n.manager.close())
		}
		n.closeErr = errors.Join(errs...)
		n.log.Info().Msg("node stopped")
	})
	return n.closeErr
}

// membershipLoop feeds membership changes to the router. Gossip callbacks
// only signal; the rings are rebuilt here, off memberlist's locks.
func (n *Node) membershipLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.gossip.Changes():
		case <-n.ringCh:
		case <-t.C:
		}
		n.refreshMembers()
	}
}

func (n *Node) refreshMembers() {
	n.refreshMu.Lock()
	defer n.refreshMu.Unlock()
	members := n.gossip.Members()
	peers := make([]route.Peer, 0, len(members))
	for _, m := range members {
		if m.State != gossip.StateAlive && m.State != gossip.StateSuspect {
			continue
		}
		if n.confirm != nil && !n.confirm.allowed(m) {
			continue // not yet proven by an mTLS hello
		}
		peers = append(peers, route.Peer{Name: m.Name, Pool: m.Meta.Role, DataAddr: m.Meta.DataAddr, BootID: m.Meta.BootID})
	}
	before := n.router.Rings()
	n.router.SetMembers(peers)
	after := n.router.Rings()
	for pool, rs := range after {
		if b, ok := before[pool]; ok && b.Checksum == rs.Checksum {
			continue
		}
		n.ringVersion.Add(1)
		n.log.Info().Str("pool", pool).Uint64("version", rs.Version).Str("checksum", fmt.Sprintf("%016x", rs.Checksum)).
			Strs("members", rs.Members).Msg("ring changed")
	}
}

// Send delivers ev to the named node.
func (n *Node) Send(ctx context.Context, node string, ev wire.Event) error {
	return n.router.Send(ctx, node, ev)
}

// SendHashed delivers ev to the live member of pool that owns key, failing
// over to the next owner when that member dies. key is not retained.
func (n *Node) SendHashed(ctx context.Context, pool string, key []byte, ev wire.Event) error {
	return n.router.SendHashed(ctx, pool, key, ev)
}

// SendRoundRobin delivers ev to the next live member of pool.
func (n *Node) SendRoundRobin(ctx context.Context, pool string, ev wire.Event) error {
	return n.router.SendRoundRobin(ctx, pool, ev)
}

// Broadcast delivers ev to every live member of pool.
func (n *Node) Broadcast(ctx context.Context, pool string, ev wire.Event) error {
	return n.router.Broadcast(ctx, pool, ev)
}

// Handle registers fn for events of type T. Every node that receives a T
// runs fn, on the receiving connection's goroutine, so fn must be quick and
// safe for concurrent use. Register before Start; a second registration for
// the same type replaces the first. A type of the application's own needs a
// row in the authorization table (Allow), else every event of it is refused.
func Handle[T any, PT interface {
	*T
	wire.Event
	wire.Decoder
}](n *Node, fn func(from string, ev T)) {
	if n.started.Load() {
		panic("node: Handle after Start") // a programming error, not input
	}
	var zero T
	n.handlers[PT(&zero).WireType()] = func(from string, _ wire.Type, payload []byte) error {
		var ev T
		if err := PT(&ev).DecodeWire(payload); err != nil {
			return err
		}
		fn(from, ev)
		return nil
	}
}

// deliver is the router's Deliver callback. It takes every event (OK):
// events of unknown types and malformed ones are counted and dropped.
func (n *Node) deliver(sender route.Sender, t wire.Type, payload []byte) route.Outcome {
	from := sender.Name
	if sender.Name != n.cfg.Name && !n.authz.allowed(sender, t) { // this node's own sends are not checked
		if c := n.authz.refused.Add(1); c&(c-1) == 0 { // log at powers of two
			n.log.Warn().Str("peer", from).Str("pool", sender.Pool).Uint16("type", uint16(t)).Uint64("refused", c).
				Msg("event from a role not allowed to send it, dropped")
		}
		return route.OK
	}
	h, ok := n.handlers[t]
	if !ok {
		if c := n.unknownTypes.Add(1); c&(c-1) == 0 { // log at powers of two
			n.log.Warn().Str("peer", from).Uint16("type", uint16(t)).Msg("dropping event of unknown type")
		}
		return route.OK
	}
	if err := h(from, t, payload); err != nil {
		if errors.Is(err, errNotOwner) {
			n.authz.notOwner.Add(1)
			return route.NotOwner
		}
		if c := n.badEvents.Add(1); c&(c-1) == 0 {
			n.log.Warn().Err(err).Str("peer", from).Uint16("type", uint16(t)).Msg("dropping malformed event")
		}
	}
	return route.OK
}

// waitMembership blocks until the first join of the seeds succeeded and the
// member table holds everything memberlist learnt from it, then rebuilds
// the rings from that view. It gives up quietly when ctx ends.
func (n *Node) waitMembership(ctx context.Context) {
	select {
	case <-n.gossip.Joined():
	case <-ctx.Done():
		return
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !n.gossip.Settled() || (n.confirm != nil && !n.confirm.settled(n.gossip.Members())) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	n.refreshMembers()
}

// WaitPools blocks until every named pool has a live member, or ctx ends.
func (n *Node) WaitPools(ctx context.Context, pools ...string) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		rings := n.router.Rings()
		missing := ""
		for _, p := range pools {
			if len(rings[p].Members) == 0 {
				missing = p
				break
			}
		}
		if missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: waiting for a live %s: %w", missing, ErrNoMembers)
		case <-t.C:
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func randomID() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return binary.BigEndian.Uint64(b[:])
}
