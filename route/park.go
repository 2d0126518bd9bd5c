package route

import (
	"time"
)

// Not-owner handling. An event answered not-owner leaves its peer and is
// parked here until it may be routed again: at once when this node's ring
// no longer gives its partition to the peer that refused it (the ring
// caught up), otherwise after a backoff (the refuser's ring may be the one
// behind: it will take the event once it catches up). Each answer counts
// in the event's meta; after maxTries answers it is given up, counted in
// Stats.DroppedNotOwner and reported to its tracker. Direct and broadcast
// events, which name their peer, are given up at the first answer.
//
// Every parked event holds one count in Router.moving, taken by whoever
// parked it before the event left its peer, so Drain waits for it.

// Not-owner backoff: the first wait, doubling per answer up to the cap.
const (
	notOwnerBackoff    = 20 * time.Millisecond
	maxNotOwnerBackoff = time.Second
)

// parked is an event answered not-owner, waiting to be routed again.
type parked struct {
	e       movedEvent // e.tries counts the answers so far
	pool    string
	refuser *peer
	ring    uint64 // the refuser's ring checksum when it answered
	due     time.Time
}

func notOwnerDelay(tries uint8) time.Duration {
	d := notOwnerBackoff
	for i := uint8(1); i < tries && d < maxNotOwnerBackoff; i++ {
		d *= 2
	}
	return min(d, maxNotOwnerBackoff)
}

// park takes events from refuser that were answered not-owner (or, for
// this node itself, busy), each holding one count in r.moving.
func (r *Router) park(refuser *peer, evs []movedEvent, ring uint64, now time.Time) {
	var gone []movedEvent
	r.pmu.Lock()
	closed := r.parkClosed
	for _, e := range evs {
		e.tries = min(e.tries+1, maxTries)
		if closed || !e.kind.movable() || e.tries >= maxTries {
			gone = append(gone, e)
			continue
		}
		r.parked = append(r.parked, parked{e: e, pool: refuser.pool, refuser: refuser, ring: ring, due: now.Add(notOwnerDelay(e.tries))})
	}
	r.pmu.Unlock()
	if len(gone) < len(evs) {
		signal(r.parkCh)
	}
	for _, e := range gone {
		if closed {
			done(e.tr, ErrClosed)
		} else {
			r.stats.droppedNotOwner.Add(1)
			done(e.tr, ErrNotOwner)
			if ok, n := r.limit.allow("not_owner " + refuser.name); ok {
				r.log.Warn().Str("peer", refuser.name).Str("pool", refuser.pool).Uint64("peer_ring", ring).
					Int("tries", int(e.tries)).Int("suppressed", n).Msg("event answered not-owner too often, given up")
			}
		}
		r.moveDone(1)
	}
}

// moveDone ends n re-routes in progress (Drain bookkeeping).
func (r *Router) moveDone(n int32) {
	r.rerouteEpoch.Add(1)
	r.moving.Add(-n)
	r.notifyDrain()
}

// parkLoop routes parked events again when they are due or their ring has
// moved. It runs until the router closes.
func (r *Router) parkLoop() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var due []parked
	for {
		var next time.Time
		due, next = r.takeDue(due[:0], time.Now())
		for _, pe := range due {
			if r.rerouteOne(pe.pool, pe.e) {
				r.stats.rerouted.Add(1)
			}
			r.moveDone(1)
		}
		if len(due) > 0 {
			clear(due)
			continue
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-r.parkCh:
		case <-timer.C:
		case <-r.ctx.Done():
			return
		}
		timer.Stop()
	}
}

// takeDue removes the parked events that are due at now, or whose
// partition this node's ring now gives to another peer than the refuser,
// and appends them to out. next is the earliest due time of the others
// (zero when none is left).
func (r *Router) takeDue(out []parked, now time.Time) (_ []parked, next time.Time) {
	t := r.table.Load()
	r.pmu.Lock()
	defer r.pmu.Unlock()
	keep := r.parked[:0]
	for _, pe := range r.parked {
		if !now.Before(pe.due) || movedAway(t, pe) {
			out = append(out, pe)
			continue
		}
		if next.IsZero() || pe.due.Before(next) {
			next = pe.due
		}
		keep = append(keep, pe)
	}
	clear(r.parked[len(keep):])
	r.parked = keep
	return out, next
}

// movedAway reports whether t routes a parked hashed event to another
// peer than the one that refused it.
func movedAway(t *table, pe parked) bool {
	if pe.e.kind != kindHashed {
		return false
	}
	pt := t.pool(pe.pool)
	return pt != nil && int(pe.e.part) < len(pt.owners) && pt.owners[pe.e.part] != pe.refuser
}

// closeParked gives up every parked event (the router is closing) and
// refuses later ones.
func (r *Router) closeParked() {
	r.pmu.Lock()
	r.parkClosed = true
	evs := r.parked
	r.parked = nil
	r.pmu.Unlock()
	for _, pe := range evs {
		done(pe.e.tr, ErrClosed)
	}
	if len(evs) > 0 {
		r.moveDone(int32(len(evs)))
	}
}

// parkedLen is the number of parked events.
func (r *Router) parkedLen() int {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	return len(r.parked)
}

// signal wakes the goroutine waiting on ch (cap 1) without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
