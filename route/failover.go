package route

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"
)

// maxFailovers is how many failovers Failovers reports.
const maxFailovers = 16

// maxResolve bounds how often one event is resolved again because the peer
// it resolved to left the rings meanwhile.
const maxResolve = 16

// Failover describes one local failover: a peer suspected because its
// connection broke.
type Failover struct {
	Peer string
	Pool string
	// DetectedAt is when the connection was found broken.
	DetectedAt time.Time
	// FirstAckAt is when a new owner first acknowledged an event on a
	// partition that moved away from Peer (zero until then).
	FirstAckAt time.Time
	// Rerouted counts the queued and unacknowledged events moved to new
	// owners.
	Rerouted int
	// Cause is the error that broke the connection.
	Cause string
}

type failoverRec struct {
	Failover
	moved    []bool // partitions Peer owned before the failover
	awaiting bool   // FirstAckAt not yet seen
}

// Failovers returns the last few failovers, oldest first. Safe for
// concurrent use; the slice is fresh.
func (r *Router) Failovers() []Failover {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	out := make([]Failover, len(r.failovers))
	for i, f := range r.failovers {
		out[i] = f.Failover
	}
	return out
}

// addFailover records a failover of p; old is the routing table before p
// left the rings.
func (r *Router) addFailover(p *peer, old *table, cause error, now time.Time) *failoverRec {
	fo := &failoverRec{Failover: Failover{Peer: p.name, Pool: p.pool, DetectedAt: now}}
	if cause != nil {
		fo.Cause = cause.Error()
	}
	if pt := old.pools[p.pool]; pt != nil && pt.owners != nil {
		fo.moved = make([]bool, len(pt.owners))
		for i, o := range pt.owners {
			if o == p {
				fo.moved[i] = true
				fo.awaiting = true
			}
		}
	}
	r.fmu.Lock()
	defer r.fmu.Unlock()
	if len(r.failovers) == maxFailovers {
		if r.failovers[0].awaiting {
			r.awaiting.Add(-1)
		}
		r.failovers = slices.Delete(r.failovers, 0, 1)
	}
	r.failovers = append(r.failovers, fo)
	if fo.awaiting {
		r.awaiting.Add(1)
	}
	return fo
}

// noteAcked sets FirstAckAt of the failovers whose moved partitions got
// their first acknowledgement from q. Only called while some failover
// awaits it.
func (r *Router) noteAcked(q *peer, acked []*batch, now time.Time) {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	for _, fo := range r.failovers {
		if !fo.awaiting || fo.Pool != q.pool || fo.Peer == q.name {
			continue
		}
	scan:
		for _, b := range acked {
			for _, m := range b.metas {
				if m.moved() || m.kind() == kindHashed && fo.moved[m.part()] {
					fo.FirstAckAt, fo.awaiting = now, false
					r.awaiting.Add(-1)
					break scan
				}
			}
		}
	}
}

// noteSelf is noteAcked for an event on partition part delivered to this
// node itself.
func (r *Router) noteSelf(pool string, part int32, moved bool) {
	now := time.Now()
	r.fmu.Lock()
	defer r.fmu.Unlock()
	for _, fo := range r.failovers {
		if fo.awaiting && fo.Pool == pool && (moved || part >= 0 && fo.moved[part]) {
			fo.FirstAckAt, fo.awaiting = now, false
			r.awaiting.Add(-1)
		}
	}
}

// suspect takes p out of the rings at once because its connection broke
// (or could not be made), re-routes its movable events to the new owners
// and keeps the others for the reconnect. Called by p's goroutine only.
func (r *Router) suspect(p *peer, cause error) {
	now := time.Now()
	r.mu.Lock()
	if p.state == stateGone || p.state == stateSuspect || r.closed.Load() {
		r.mu.Unlock()
		if ok, n := r.limit.allow("reconnect " + p.name); ok {
			r.log.Debug().Err(cause).Str("peer", p.name).Int("suppressed", n).Msg("peer still unreachable")
		}
		return
	}
	old := r.table.Load()
	r.moving.Add(1) // before the events leave p: Drain must not miss them
	// The new table is swapped in while p.mu is held: a sender that
	// resolved p waits, then finds it suspect and resolves again in the
	// new table.
	p.mu.Lock()
	p.transitionLocked(stateSuspect)
	r.rebuildLocked()
	moved, _, _ := p.evacuateLocked(nil, nil)
	p.mu.Unlock()
	fo := r.addFailover(p, old, cause, now)
	r.mu.Unlock()

	n := r.reroute(p.pool, moved)
	r.fmu.Lock()
	fo.Rerouted += n
	r.fmu.Unlock()
	r.rerouteEpoch.Add(1)
	r.moving.Add(-1)
	r.notifyDrain()
	r.stats.suspected.Add(1)
	if ok, s := r.limit.allow("suspect " + p.name); ok {
		r.log.Warn().Err(cause).Str("peer", p.name).Str("pool", p.pool).Int("rerouted", n).
			Int("suppressed", s).Msg("peer suspect, partitions re-routed")
	}
	if r.cfg.OnChange != nil {
		r.cfg.OnChange()
	}
}

// recover puts p back into the rings after a successful handshake on c.
// It returns the connection generation, or false when p was retired.
func (r *Router) recover(p *peer, c net.Conn, reconnect bool) (uint64, bool) {
	r.mu.Lock()
	if p.state == stateGone || r.closed.Load() {
		r.mu.Unlock()
		return 0, false
	}
	// Up before it is back in the table, so no sender that resolves p is
	// turned away.
	p.mu.Lock()
	changed := p.state == stateSuspect
	p.transitionLocked(stateUp)
	p.conn = c
	p.gen++
	gen := p.gen
	p.mu.Unlock()
	if changed {
		r.rebuildLocked()
	}
	r.mu.Unlock()
	if reconnect {
		r.stats.reconnects.Add(1)
	}
	if changed {
		r.log.Info().Str("peer", p.name).Str("pool", p.pool).Msg("peer reconnected, back in rings")
		if r.cfg.OnChange != nil {
			r.cfg.OnChange()
		}
	}
	return gen, true
}

// retireLocked removes p from service (it left the view or restarted);
// r.mu is held and the table no longer holds p. Its events are returned
// for re-routing (moved) and for a successor or the drop count (kept).
func (r *Router) retireLocked(p *peer, moved, kept []movedEvent) ([]movedEvent, []movedEvent) {
	p.mu.Lock()
	if p.state != stateGone {
		p.transitionLocked(stateGone)
		moved, kept, _ = p.evacuateLocked(moved, kept)
	}
	p.mu.Unlock()
	p.stop()
	p.closeConn()
	// Nothing is counted on a gone peer any more: fold its counters.
	p.mu.Lock()
	r.stats.retiredSent.Add(p.sent)
	r.stats.retiredDroppedFull.Add(p.droppedFull)
	r.stats.retiredBatches.Add(p.batches)
	r.stats.retiredWrites.Add(p.writes)
	p.sent, p.droppedFull, p.batches, p.writes = 0, 0, 0, 0
	p.mu.Unlock()
	return moved, kept
}

// reroute sends events taken from a failed or departed peer of pool to
// their new owners and returns how many found one.
func (r *Router) reroute(pool string, evs []movedEvent) int {
	n := 0
	for _, e := range evs {
		if r.rerouteOne(pool, e) {
			n++
		}
	}
	r.stats.rerouted.Add(uint64(n))
	return n
}

func (r *Router) rerouteOne(pool string, e movedEvent) bool {
	m := e.meta()
	err := error(ErrClosed)
	for range maxResolve {
		t := r.table.Load()
		if t.closed {
			err = ErrClosed
			break
		}
		pt := t.pool(pool)
		if pt == nil || pt.owners == nil {
			r.stats.noMembers.Add(1)
			err = &noMembersError{pool: pool}
			break
		}
		var q *peer
		if e.kind == kindHashed {
			q = pt.owners[e.part]
		} else {
			q = pt.members[pt.rr.Add(1)%uint64(len(pt.members))]
		}
		if q.self {
			r.rerouteSelf(pool, e)
			return true
		}
		err = q.sendRaw(context.Background(), e.raw, m, e.tr, true)
		if err == nil {
			return true
		}
		if !errors.Is(err, errRetry) {
			break
		}
		err = &noMembersError{pool: pool}
	}
	r.stats.droppedNoRoute.Add(1)
	done(e.tr, err)
	return false
}

// rerouteSelf delivers a re-routed event to this node. An event it
// answers busy or not-owner is parked and tried again later (park.go).
func (r *Router) rerouteSelf(pool string, e movedEvent) {
	switch r.deliverLocal(e.raw) {
	case OK:
		done(e.tr, nil)
		if r.awaiting.Load() > 0 {
			r.noteSelf(pool, e.part, true)
		}
	default:
		r.moving.Add(1) // the caller still holds its own count: no gap
		e.raw = append([]byte(nil), e.raw...)
		r.park(r.self, []movedEvent{e}, r.ownRing(), time.Now())
	}
}

// handOver gives the direct and broadcast events of a departed peer to its
// successor (the same node after a restart), or drops and counts them.
func (r *Router) handOver(kept []movedEvent, successor *peer, name string) {
	for _, e := range kept {
		if successor != nil {
			if successor.sendRaw(context.Background(), e.raw, e.meta(), e.tr, true) == nil {
				continue
			}
		}
		r.stats.droppedNoRoute.Add(1)
		done(e.tr, fmt.Errorf("%w: %q left the view", ErrUnknownNode, name))
	}
}
