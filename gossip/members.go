package gossip

import (
	"context"
	"slices"
	"strings"
	"time"
)

// This file is the consumer side of the delegate's hand-off queue: one
// goroutine (run) applies events to the member table and signals Changes.

// maxBatch bounds how many events run applies before signalling.
const maxBatch = 256

func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
}

// run is the single consumer of the delegate's queue.
func (g *Gossip) run(ctx context.Context) {
	var lastDropped uint64
	for {
		changed := false
		select {
		case <-ctx.Done():
			return
		case ev := <-g.d.eventCh:
			changed = g.apply(ev)
		batch:
			for range maxBatch {
				select {
				case ev := <-g.d.eventCh:
					changed = g.apply(ev) || changed
				default:
					break batch
				}
			}
		case <-g.d.resyncCh:
			dropped := g.d.dropped.Load()
			if ok, _ := g.limiter.allow("queue-overflow", time.Now()); ok {
				g.log.Warn().Uint64("dropped", dropped-lastDropped).Uint64("dropped_total", dropped).
					Int("queue_len", cap(g.d.eventCh)).Msg("membership event queue full, events dropped, resynchronising")
			}
			lastDropped = dropped
			g.resync()
			changed = true
		}
		if changed {
			g.d.numAlive.Store(int64(g.countAlive()))
			g.signal()
		}
	}
}

func (g *Gossip) countAlive() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, m := range g.members {
		if m.State == StateAlive || m.State == StateSuspect {
			n++
		}
	}
	return n
}

func (g *Gossip) signal() {
	select {
	case g.changes <- struct{}{}:
	default:
	}
}

// memberFrom builds a Member from a callback copy.
func (g *Gossip) memberFrom(n nodeInfo, st State) Member {
	m := Member{Name: n.name, Addr: n.addr, State: st}
	pm, err := DecodeMeta(n.meta)
	if err != nil {
		g.log.Warn().Err(err).Str("peer", n.name).Msg("member metadata does not decode")
	} else {
		m.Meta = pm
	}
	m.SettingsMismatch = n.name != g.cfg.Name && err == nil && pm.SettingsHash != g.cfg.Meta.SettingsHash
	return m
}

// goneState says whether a member that memberlist reports gone left or died.
func (g *Gossip) goneState(name string, boot uint64, saidLeft bool) State {
	if saidLeft {
		return StateLeft
	}
	if b, ok := g.d.leftIntent(name); ok && b == boot {
		return StateLeft
	}
	return StateDead
}

// apply updates the table from one event; it reports a change.
func (g *Gossip) apply(ev event) bool {
	switch ev.kind {
	case evJoin, evUpdate:
		g.mu.Lock()
		old, had := g.members[ev.node.name]
		g.mu.Unlock()
		st := StateAlive
		if ev.kind == evUpdate && had && old.State != StateDead && old.State != StateLeft {
			st = old.State
		}
		m := g.memberFrom(ev.node, st)
		g.d.forgetIntent(m.Name, m.Meta.BootID)
		g.set(m)
		l := g.log.Info().Str("peer", m.Name).Str("addr", m.Addr).Str("role", m.Meta.Role).
			Uint64("boot_id", m.Meta.BootID).Bool("settings_mismatch", m.SettingsMismatch)
		switch {
		case ev.kind == evUpdate:
			l.Msg("member updated")
		case had:
			l.Str("was", string(old.State)).Msg("member rejoined")
		default:
			l.Msg("member joined")
		}
		return true
	case evLeave:
		g.mu.Lock()
		m, had := g.members[ev.node.name]
		g.mu.Unlock()
		if !had {
			m = g.memberFrom(ev.node, StateDead)
		}
		m.State = g.goneState(m.Name, m.Meta.BootID, ev.node.left)
		g.set(m)
		if m.State == StateLeft {
			g.log.Info().Str("peer", m.Name).Str("addr", m.Addr).Msg("member left")
		} else {
			g.log.Info().Str("peer", m.Name).Str("addr", m.Addr).Msg("member failed")
		}
		return true
	case evIntent:
		g.mu.Lock()
		defer g.mu.Unlock()
		m, had := g.members[ev.node.name]
		if !had || m.State != StateDead {
			return false
		}
		if b, ok := g.d.leftIntent(m.Name); ok && b == m.Meta.BootID {
			m.State = StateLeft
			g.members[m.Name] = m
			g.log.Info().Str("peer", m.Name).Str("addr", m.Addr).Msg("member left")
			return true
		}
		return false
	case evConflict:
		g.onConflict(ev.node, ev.other)
		return false
	case evRefused:
		if ok, suppressed := g.limiter.allow("refused/"+ev.node.name+"/"+ev.reason, time.Now()); ok {
			g.log.Warn().Str("peer", ev.node.name).Str("addr", ev.node.addr).Str("reason", ev.reason).
				Str("detail", ev.detail).Int("suppressed", suppressed).Msg("peer refused")
		}
		return false
	}
	return false
}

func (g *Gossip) set(m Member) {
	g.mu.Lock()
	g.members[m.Name] = m
	g.mu.Unlock()
}

// resync rebuilds the table after dropped events: it applies what is still
// queued, then takes memberlist's list of live nodes as the truth. Addresses
// and metadata come from the delegate's latest-known map, not from the
// *memberlist.Node values (memberlist updates those under its lock, which
// we cannot take).
func (g *Gossip) resync() {
	for drained := false; !drained; {
		select {
		case ev := <-g.d.eventCh:
			g.apply(ev)
		default:
			drained = true
		}
	}
	live := make(map[string]Member)
	for _, n := range g.ml.Members() {
		if ni, ok := g.d.latestOf(n.Name); ok {
			live[n.Name] = g.memberFrom(ni, StateAlive)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, m := range live {
		g.members[name] = m
	}
	for name, m := range g.members {
		if _, ok := live[name]; !ok && (m.State == StateAlive || m.State == StateSuspect) {
			m.State = g.goneState(name, m.Meta.BootID, false)
			g.members[name] = m
		}
	}
}

// onConflict handles memberlist's name conflict report: existing is the
// node memberlist keeps, other the one it ignored.
func (g *Gossip) onConflict(existing, other nodeInfo) {
	if existing.name != g.cfg.Name {
		if ok, _ := g.limiter.allow("conflict/"+existing.name, time.Now()); ok {
			g.log.Warn().Str("peer", existing.name).Str("addr", existing.addr).Str("other_addr", other.addr).
				Msg("two live nodes share a name, ignoring the second")
		}
		return
	}
	if other.addr == g.localAddr {
		return
	}
	om, err := DecodeMeta(other.meta)
	if err != nil {
		return // cannot happen: the alive delegate refused it before
	}
	if !newerThan(g.cfg.Meta, om) {
		if ok, _ := g.limiter.allow("dup/"+other.addr, time.Now()); ok {
			g.log.Warn().Str("peer", other.name).Str("addr", other.addr).Uint64("boot_id", om.BootID).
				Msg("another node uses our name, refusing it (it is the newer one)")
		}
		return
	}
	if g.fatalSent.Load() || !g.verifying.CompareAndSwap(false, true) {
		return
	}
	g.goFunc(func(ctx context.Context) { g.verifyDuplicate(ctx, other.addr) })
}

// newerThan reports whether instance a started after instance b.
func newerThan(a, b Meta) bool {
	if a.StartedAt != b.StartedAt {
		return a.StartedAt > b.StartedAt
	}
	return a.BootID > b.BootID
}
