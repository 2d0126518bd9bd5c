package route

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"shoal/internal/wire"
)

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
// full. For this node itself, Deliver runs synchronously (see deliverSelf
// for its answers).
func (r *Router) Send(ctx context.Context, node string, ev wire.Event) error {
	return r.send(ctx, node, ev, nil)
}

func (r *Router) send(ctx context.Context, node string, ev wire.Event, tr Tracker) error {
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
			return r.deliverSelf(ctx, ev, "", -1, tr)
		}
		if err := p.send(ctx, kindDirect, -1, ev, tr); err != errRetry {
			return err
		}
	}
	r.stats.unknownNode.Add(1)
	return fmt.Errorf("%w: %q", ErrUnknownNode, node)
}

// SendHashed sends ev to the live member of pool that owns key on the
// pool's ring. The lookup never locks. If the owner fails before it
// acknowledges the event, or answers not-owner, the event is sent to the
// partition's new owner. It returns an error wrapping ErrNoMembers when the
// pool has no live member. key is not retained.
func (r *Router) SendHashed(ctx context.Context, pool string, key []byte, ev wire.Event) error {
	return r.sendHashed(ctx, pool, key, ev, nil)
}

func (r *Router) sendHashed(ctx context.Context, pool string, key []byte, ev wire.Event, tr Tracker) error {
	for range maxResolve {
		t := r.table.Load()
		pt, p, part := t.hashed(pool, key)
		if p == nil {
			return r.noMembers(t, pool, pt)
		}
		if p.self {
			return r.deliverSelf(ctx, ev, pool, part, tr)
		}
		if err := p.send(ctx, kindHashed, part, ev, tr); err != errRetry {
			return err
		}
	}
	return r.noMembers(r.table.Load(), pool, nil)
}

// SendPartition is SendHashed for a caller that already computed the
// key's partition (Ring.Partition, 0 <= part < partitions).
func (r *Router) SendPartition(ctx context.Context, pool string, part int, ev wire.Event) error {
	return r.sendPartition(ctx, pool, part, ev, nil)
}

func (r *Router) sendPartition(ctx context.Context, pool string, part int, ev wire.Event, tr Tracker) error {
	for range maxResolve {
		t := r.table.Load()
		pt := t.pool(pool)
		if pt == nil || pt.owners == nil {
			return r.noMembers(t, pool, pt)
		}
		if part < 0 || part >= len(pt.owners) {
			return fmt.Errorf("route: partition %d of %d", part, len(pt.owners))
		}
		p := pt.owners[part]
		if p.self {
			return r.deliverSelf(ctx, ev, pool, int32(part), tr)
		}
		if err := p.send(ctx, kindHashed, int32(part), ev, tr); err != errRetry {
			return err
		}
	}
	return r.noMembers(r.table.Load(), pool, nil)
}

// SendRoundRobin sends ev to the next live member of pool; if that member
// fails before acknowledging it, to the one after.
func (r *Router) SendRoundRobin(ctx context.Context, pool string, ev wire.Event) error {
	return r.sendRoundRobin(ctx, pool, ev, nil)
}

func (r *Router) sendRoundRobin(ctx context.Context, pool string, ev wire.Event, tr Tracker) error {
	for range maxResolve {
		t := r.table.Load()
		pt := t.pool(pool)
		if pt == nil || pt.owners == nil {
			return r.noMembers(t, pool, pt)
		}
		p := pt.members[pt.rr.Add(1)%uint64(len(pt.members))]
		if p.self {
			return r.deliverSelf(ctx, ev, "", -1, tr)
		}
		if err := p.send(ctx, kindRoundRobin, -1, ev, tr); err != errRetry {
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
			if err := r.deliverSelfRaw(ctx, raw); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		err := p.sendRaw(ctx, raw, mkMeta(kindBroadcast, -1, false), nil, false)
		if err != nil && err != errRetry { // errRetry: it left the view meanwhile
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deliverSelf delivers an event addressed to this node synchronously: the
// send returns once Deliver (and Commit) answered. OK: accepted (tr learns
// it at once). NotOwner: refused with ErrNotOwner. Busy: with FullBlock the
// send backs off and tries again until ctx ends; with FullDrop it is
// refused with ErrBusy.
func (r *Router) deliverSelf(ctx context.Context, ev wire.Event, pool string, part int32, tr Tracker) error {
	bp := r.bufPool.Get().(*[]byte)
	b := wire.AppendEvent((*bp)[:0], ev)
	defer func() {
		*bp = b[:0]
		r.bufPool.Put(bp)
	}()
	if len(b) > r.maxEvent {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), r.maxEvent)
	}
	if err := r.deliverSelfRaw(ctx, b); err != nil {
		return err
	}
	done(tr, nil)
	if pool != "" && r.awaiting.Load() > 0 {
		r.noteSelf(pool, part, false)
	}
	return nil
}

// deliverSelfRaw is deliverSelf for an encoded event, without a tracker.
func (r *Router) deliverSelfRaw(ctx context.Context, raw []byte) error {
	backoff := r.cfg.BusyBackoff
	for {
		switch r.deliverLocal(raw) {
		case OK:
			r.stats.selfSent.Add(1)
			return nil
		case NotOwner:
			r.stats.droppedNotOwner.Add(1)
			return fmt.Errorf("%w: %s refused an event addressed to itself", ErrNotOwner, r.self.name)
		}
		r.stats.busy.Add(1)
		if r.cfg.Full == FullDrop {
			r.stats.droppedBusy.Add(1)
			return fmt.Errorf("%w: %s", ErrBusy, r.self.name)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-r.ctx.Done():
			t.Stop()
			return ErrClosed
		}
		backoff = min(2*backoff, r.cfg.MaxBusyBackoff)
	}
}

// deliverLocal runs Deliver, then Commit for an OK, for an encoded event
// (type, length, payload) this node sends to itself.
func (r *Router) deliverLocal(raw []byte) Outcome {
	t, payload, _, err := wire.ReadEvent(raw)
	if err != nil {
		// raw was encoded by this process: a broken invariant.
		panic("route: self event: " + err.Error())
	}
	o := r.cfg.Deliver(r.selfFrom, t, payload)
	if o == OK && r.cfg.Commit != nil {
		if err := r.cfg.Commit(r.selfFrom); err != nil {
			r.stats.commitFailed.Add(1)
			o = Busy
		}
	}
	switch o {
	case OK:
		r.stats.selfDelivered.Add(1)
	case Busy:
		r.stats.answeredBusy.Add(1)
	default:
		o = NotOwner
		r.stats.answeredNotOwner.Add(1)
	}
	return o
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
