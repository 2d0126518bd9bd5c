package gossip

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// State is a member's state as seen by this node.
type State string

// Member states.
const (
	StateAlive   State = "alive"
	StateSuspect State = "suspect" // not reported: memberlist v0.7.0 does not expose suspicion
	StateDead    State = "dead"
	StateLeft    State = "left"
)

// Member is one node as seen by this node. It is a plain value.
type Member struct {
	Name string
	Addr string // gossip host:port
	Meta Meta
	// State is alive until memberlist declares the node gone, then left
	// (it announced a graceful leave) or dead.
	State State
	// SettingsMismatch is set when the member's SettingsHash differs from ours.
	SettingsMismatch bool
}

// Gossip is a running memberlist instance plus shoal's membership view. All
// methods are safe for concurrent use.
type Gossip struct {
	cfg       Config
	log       zerolog.Logger
	ml        *memberlist.Memberlist
	d         *delegate
	localAddr string
	limiter   *rateLimiter
	keyring   *keyring // nil: no encryption
	rejected  *rejections

	mu      sync.Mutex // guards members
	members map[string]Member

	changes   chan struct{} // capacity 1
	joined    chan struct{} // closed once the first join succeeded (at once without seeds)
	joinOnce  sync.Once
	fatalCh   chan error // capacity 1
	fatalOnce sync.Once
	fatalSent atomic.Bool
	verifying atomic.Bool // a duplicate-name check is running

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	startOnce sync.Once
	closeOnce sync.Once
	closeErr  error
	lifeMu    sync.Mutex // serialises Leave and Close (memberlist panics on Leave after Shutdown)
	closed    atomic.Bool
	left      atomic.Bool
}

// New validates cfg, encodes the metadata and creates the memberlist
// (binding its transport) without joining anyone. Call Start to join, and
// Close when done.
func New(cfg Config) (*Gossip, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults(time.Now())
	meta, err := cfg.Meta.Encode()
	if err != nil {
		return nil, fmt.Errorf("%w: meta: %w", ErrInvalidConfig, err)
	}
	lg := cfg.Logger.With().Str("component", "gossip").Str("node", cfg.Name).Logger()
	limiter := newRateLimiter(cfg.Profile.timings().warnEvery, 1024)

	mc := cfg.Profile.memberlistConfig()
	mc.Name = cfg.Name
	if cfg.Transport != nil {
		mc.Transport = cfg.Transport
		if _, port, err := splitIPPort(cfg.BindAddr, true); err == nil {
			mc.BindPort = port
		}
	} else {
		host, port, _ := splitIPPort(cfg.BindAddr, true)
		mc.BindAddr, mc.BindPort, mc.AdvertisePort = host, port, port
	}
	if cfg.AdvertiseAddr != "" {
		host, port, _ := splitIPPort(cfg.AdvertiseAddr, true)
		mc.AdvertiseAddr, mc.AdvertisePort = host, port
	}
	kr, err := newKeyring(cfg.Keys, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	if kr != nil {
		mc.Keyring = kr.ring
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	mc.Label = cfg.ClusterName
	rej := &rejections{}
	mc.LogOutput = nil
	mc.Logger = log.New(&logWriter{log: lg, limiter: limiter, rejected: rej}, "", 0)
	d := newDelegate(cfg.Name, meta, cfg.Meta, cfg.eventQueueLen, mc.RetransmitMult)
	mc.Delegate, mc.Events, mc.Conflict, mc.Alive, mc.Merge = d, d, d, d, d

	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: create memberlist on %s: %w", cfg.BindAddr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gossip{
		cfg:       cfg,
		log:       lg,
		ml:        ml,
		d:         d,
		localAddr: ml.LocalNode().Address(),
		limiter:   limiter,
		keyring:   kr,
		rejected:  rej,
		members:   make(map[string]Member),
		changes:   make(chan struct{}, 1),
		joined:    make(chan struct{}),
		fatalCh:   make(chan error, 1),
		ctx:       ctx,
		cancel:    cancel,
	}
	g.log.Info().Str("addr", g.localAddr).Str("profile", string(cfg.Profile)).
		Str("role", cfg.Meta.Role).Uint64("boot_id", cfg.Meta.BootID).Bool("encrypted", kr != nil).
		Str("cluster_name", cfg.ClusterName).Msg("gossip started")
	if kr == nil && cfg.ClusterName != "" {
		g.log.Warn().Msg("cluster name without a gossip key: a naming aid, not security")
	}
	g.goFunc(g.run)
	g.goFunc(g.keyLoop)
	return g, nil
}

// goFunc runs f in a goroutine tracked by the WaitGroup; f must return soon
// after ctx (cancelled by Close) is done.
func (g *Gossip) goFunc(f func(ctx context.Context)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f(g.ctx)
	}()
}

// Start starts the join loop (join the seeds, retrying every
// JoinRetryInterval until one answers) and the rejoin loop (every
// RejoinInterval, join the known members that are not alive, except those
// that left gracefully, and the seeds no alive member holds). Both stop when
// ctx is done or on Close. Calls after the first are no-ops.
func (g *Gossip) Start(ctx context.Context) {
	g.startOnce.Do(func() {
		if g.closed.Load() {
			return
		}
		g.goFunc(func(gctx context.Context) { g.joinLoop(ctx, gctx) })
		if g.cfg.RejoinInterval > 0 {
			g.goFunc(func(gctx context.Context) { g.rejoinLoop(ctx, gctx) })
		}
	})
}

// sleep waits d or until either context is done; it reports whether to go on.
func sleep(a, b context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.Done():
		return false
	case <-b.Done():
		return false
	}
}

// otherSeeds returns the seeds minus our own address.
func (g *Gossip) otherSeeds() []string {
	var out []string
	for _, s := range g.cfg.Seeds {
		if s != g.localAddr {
			out = append(out, s)
		}
	}
	return out
}

func (g *Gossip) joinLoop(ctx, gctx context.Context) {
	seeds := g.otherSeeds()
	if len(seeds) == 0 {
		g.log.Info().Msg("no seeds to join, waiting to be joined")
		g.joinOnce.Do(func() { close(g.joined) })
		return
	}
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil || gctx.Err() != nil || g.left.Load() {
			return
		}
		n, errs := g.joinSeeds(ctx, seeds)
		if n > 0 {
			g.log.Info().Int("contacted", n).Int("attempt", attempt).Int("members", g.ml.NumMembers()).Msg("joined cluster")
			g.joinOnce.Do(func() { close(g.joined) })
			return
		}
		for _, e := range errs {
			if ok, suppressed := g.limiter.allow("join/"+e.seed, time.Now()); ok {
				g.log.Warn().Err(e.err).Str("seed", e.seed).Int("attempt", attempt).
					Int("suppressed", suppressed).Msg("join failed, will retry")
			}
		}
		if !sleep(ctx, gctx, g.cfg.JoinRetryInterval) {
			return
		}
	}
}

func (g *Gossip) rejoinLoop(ctx, gctx context.Context) {
	for sleep(ctx, gctx, g.cfg.RejoinInterval) {
		if g.left.Load() {
			return
		}
		for _, addr := range g.rejoinCandidates() {
			if ctx.Err() != nil || gctx.Err() != nil || g.left.Load() {
				return
			}
			if err := g.joinOne(addr); err != nil {
				g.log.Debug().Err(err).Str("peer", addr).Msg("rejoin failed")
				continue
			}
			g.log.Info().Str("peer", addr).Msg("rejoined peer")
		}
	}
}

// rejoinCandidates lists the addresses of members that are dead (not left)
// and of seeds, minus our own address and every alive member's address.
func (g *Gossip) rejoinCandidates() []string {
	g.mu.Lock()
	alive := map[string]bool{g.localAddr: true}
	for _, m := range g.members {
		if m.State == StateAlive || m.State == StateSuspect {
			alive[m.Addr] = true
		}
	}
	seen := make(map[string]bool)
	var out []string
	add := func(a string) {
		if !alive[a] && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, m := range g.members {
		if m.State == StateDead && m.Name != g.cfg.Name {
			add(m.Addr)
		}
	}
	g.mu.Unlock()
	for _, s := range g.cfg.Seeds {
		add(s)
	}
	return out
}

type seedError struct {
	seed string
	err  error
}

// Join makes one synchronous attempt to join each address in seeds (in
// order, stopping early if ctx is done; each attempt, a TCP push/pull, is
// bounded by the profile's TCPTimeout, not by ctx). It returns how many answered; the
// error, set only when none did, joins one error per seed, each naming it.
// A refusal because of incompatible metadata wraps ErrRefused.
func (g *Gossip) Join(ctx context.Context, seeds []string) (int, error) {
	if g.closed.Load() {
		return 0, ErrClosed
	}
	if len(seeds) == 0 {
		return 0, ErrNoSeeds
	}
	n, errs := g.joinSeeds(ctx, seeds)
	if n > 0 {
		return n, nil
	}
	all := make([]error, 0, len(errs))
	for _, e := range errs {
		all = append(all, e.err)
	}
	return 0, errors.Join(all...)
}

func (g *Gossip) joinSeeds(ctx context.Context, seeds []string) (int, []seedError) {
	n := 0
	var errs []seedError
	for _, s := range seeds {
		if err := ctx.Err(); err != nil {
			errs = append(errs, seedError{s, fmt.Errorf("gossip: join %s: %w", s, err)})
			break
		}
		if err := g.joinOne(s); err != nil {
			errs = append(errs, seedError{s, err})
			continue
		}
		n++
	}
	return n, errs
}

// joinOne pushes and pulls state with one address.
func (g *Gossip) joinOne(addr string) error {
	before := g.d.refusals.Load()
	_, err := g.ml.Join([]string{addr})
	if err == nil {
		return nil
	}
	if g.d.refusals.Load() != before {
		if p := g.d.lastRefusal.Load(); p != nil {
			return fmt.Errorf("gossip: join %s: %w", addr, *p)
		}
	}
	return fmt.Errorf("gossip: join %s: %w", addr, memberlistCause(err))
}

// memberlistCause unwraps memberlist's one-element multierror and strips its
// "failed to join <addr>: " prefix (the address is in our own wrapping).
func memberlistCause(err error) error {
	var me *multierror.Error
	if errors.As(err, &me) && len(me.Errors) == 1 {
		err = me.Errors[0]
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "failed to join "); ok {
		if _, after, ok := strings.Cut(rest, ": "); ok {
			return errors.New(after)
		}
	}
	return err
}

// LocalName returns this node's name.
func (g *Gossip) LocalName() string { return g.cfg.Name }

// LocalAddr returns the gossip host:port peers use to reach this node (the
// bound address, or the advertised one if set); with BindAddr port 0 it
// holds the port actually bound (the same for UDP and TCP).
func (g *Gossip) LocalAddr() string { return g.localAddr }

// LocalMeta returns the metadata this node advertises (with Proto and
// StartedAt filled in).
func (g *Gossip) LocalMeta() Meta { return g.cfg.Meta }

// Members returns a fresh copy of every member ever seen (self included),
// sorted by name, with its current state.
func (g *Gossip) Members() []Member {
	g.mu.Lock()
	out := make([]Member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	g.mu.Unlock()
	sortMembers(out)
	return out
}

// Joined is closed once Start's first join of the seeds succeeded (at once
// when there are no seeds): memberlist's push/pull then gave this node the
// seed's whole membership. Safe for concurrent use.
func (g *Gossip) Joined() <-chan struct{} { return g.joined }

// Settled reports whether the member table has caught up with memberlist:
// every member memberlist counts as live is alive in Members.
func (g *Gossip) Settled() bool {
	alive := 0
	for _, m := range g.Members() {
		if m.State == StateAlive || m.State == StateSuspect {
			alive++
		}
	}
	return alive >= g.NumMembers()
}

// NumMembers returns memberlist's count of live members, self included.
func (g *Gossip) NumMembers() int { return g.ml.NumMembers() }

// DroppedEvents returns how many callback events overflowed the hand-off
// queue (each overflow triggers a rebuild of the member table).
func (g *Gossip) DroppedEvents() uint64 { return g.d.dropped.Load() }

// Changes returns a capacity-1 channel signalled (without blocking) after
// every membership or metadata change; read Members to see the new view.
func (g *Gossip) Changes() <-chan struct{} { return g.changes }

// Fatal returns a channel that receives at most one error after which the
// node must stop: ErrDuplicateName (wrapped with the name and both
// addresses) when another live node already uses our name.
func (g *Gossip) Fatal() <-chan error { return g.fatalCh }

// Leave announces a graceful leave and waits, up to timeout (<= 0: 5s), for
// it to be gossiped; peers then see this node as StateLeft. The node keeps
// answering gossip until Close. Leave after Close returns ErrClosed; a
// second Leave is a no-op.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	if g.closed.Load() {
		return ErrClosed
	}
	if !g.left.CompareAndSwap(false, true) {
		return nil
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	deadline := time.Now().Add(timeout)
	// Tell every live member directly, then let gossip spread the intent
	// (for those the packet missed) before memberlist's own leave message,
	// so that peers see StateLeft rather than a transient StateDead.
	done, msg := g.d.announceLeave()
	for _, m := range g.Members() {
		if m.Name == g.cfg.Name || m.State != StateAlive {
			continue
		}
		if err := g.ml.SendToAddress(memberlist.Address{Addr: m.Addr, Name: m.Name}, msg); err != nil {
			g.log.Debug().Err(err).Str("peer", m.Name).Msg("leave intent not sent")
		}
	}
	if g.ml.NumMembers() > 1 {
		t := time.NewTimer(timeout)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
	remaining := time.Until(deadline)
	if remaining <= 0 {
		remaining = time.Millisecond
	}
	if err := g.ml.Leave(remaining); err != nil {
		// memberlist only times out waiting for its leave message to be
		// gossiped, which happens when the peers are leaving too (a whole
		// cluster stopped at once). The leave intent went out directly
		// above; the node is leaving either way.
		g.log.Warn().Err(err).Msg("leave broadcast not confirmed")
	}
	g.log.Info().Msg("left cluster")
	return nil
}

// Close shuts memberlist down (without a leave message: call Leave first for
// a graceful exit) and stops every goroutine. Idempotent.
func (g *Gossip) Close() error {
	g.closeOnce.Do(func() {
		g.lifeMu.Lock()
		g.closed.Store(true)
		g.lifeMu.Unlock()
		g.cancel()
		if err := g.ml.Shutdown(); err != nil {
			g.closeErr = fmt.Errorf("gossip: shutdown: %w", err)
		}
		g.wg.Wait()
		g.log.Info().Msg("gossip stopped")
	})
	return g.closeErr
}

// stringAddr is a net.Addr for memberlist.Ping.
type stringAddr string

func (a stringAddr) Network() string { return "udp" }
func (a stringAddr) String() string  { return string(a) }

// verifyDuplicate pings the other holder of our name; if it answers, our
// name is taken by a live node and we are the newcomer: report it on Fatal.
func (g *Gossip) verifyDuplicate(ctx context.Context, other string) {
	defer g.verifying.Store(false)
	for range 3 {
		if ctx.Err() != nil {
			return
		}
		if _, err := g.ml.Ping(g.cfg.Name, stringAddr(other)); err == nil {
			err := fmt.Errorf("%w: %q is already used by a live node at %s (this node is at %s)",
				ErrDuplicateName, g.cfg.Name, other, g.localAddr)
			g.log.Error().Err(err).Str("peer", other).Msg("duplicate node name, this node must stop")
			g.fatal(err)
			return
		}
	}
	if ok, _ := g.limiter.allow("dup-unreachable/"+other, time.Now()); ok {
		g.log.Warn().Str("peer", other).Msg("name held by an unreachable instance, waiting for it to be declared dead")
	}
}

func (g *Gossip) fatal(err error) {
	g.fatalOnce.Do(func() {
		g.fatalSent.Store(true)
		select {
		case g.fatalCh <- err:
		default:
		}
	})
}
