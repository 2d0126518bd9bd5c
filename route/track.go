package route

import (
	"context"
	"errors"

	"shoal/internal/wire"
)

// Outcome is a receiver's answer for one event: OK, Busy or NotOwner. Deliver
// returns one per event; the sender acts on it (see the package
// documentation).
type Outcome = wire.Outcome

// Outcomes.
const (
	// OK: the event is taken. The sender forgets it.
	OK = wire.OK
	// Busy: the receiver cannot take the event now. The sender backs off
	// and sends it again, to the same peer, before newer events. Busy
	// never counts towards suspicion or failover.
	Busy = wire.Busy
	// NotOwner: the receiver does not own the event's key. The sender
	// routes it again once its own ring has moved (bounded, counted).
	NotOwner = wire.NotOwner
)

// Sender identifies where an inbound event came from: the sending node's
// name and pool as its hello stated them (and as the Transport's Verify
// accepted them).
type Sender struct {
	Name, Pool string
}

// Tracker learns what became of one tracked event (SendTracked,
// SendHashedTracked, SendPartitionTracked, SendRoundRobinTracked). Done is called exactly once
// for every event such a send accepted (returned nil for), never for one it
// refused: with nil once a receiver answered the event OK (after its
// Commit), possibly a new owner after failover; or with the error it was
// given up for: ErrNoMembers (no member left to route it to), ErrNotOwner
// (answered not-owner too often), ErrUnknownNode (a direct event whose
// peer left the view) or ErrClosed (the router closed first).
//
// Done runs on a router goroutine, or on the sending goroutine before the
// send returns (an event this node delivered to itself), never with a
// router lock held. It must not block: in particular it must not send with
// FullBlock, since it may run on the goroutine that frees queue room.
type Tracker interface {
	Done(err error)
}

// Errors of tracked and self-delivered events.
var (
	// ErrBusy: this node itself answered a send busy, and the router's
	// Full policy is FullDrop (counted in Stats.DroppedBusy).
	ErrBusy = errors.New("route: busy")
	// ErrNotOwner: the owner answered not-owner; for a tracked event,
	// more often than the bound, or for an event that cannot be re-routed
	// (direct or broadcast). Counted in Stats.DroppedNotOwner.
	ErrNotOwner = errors.New("route: not owner")
)

// done reports the fate of a tracked event, if it is tracked.
func done(tr Tracker, err error) {
	if tr != nil {
		tr.Done(err)
	}
}

// SendTracked is Send, and tr learns what became of the event (see
// Tracker) if it returns nil.
func (r *Router) SendTracked(ctx context.Context, node string, ev wire.Event, tr Tracker) error {
	return r.send(ctx, node, ev, tr)
}

// SendHashedTracked is SendHashed, and tr learns what became of the event
// (see Tracker) if it returns nil.
func (r *Router) SendHashedTracked(ctx context.Context, pool string, key []byte, ev wire.Event, tr Tracker) error {
	return r.sendHashed(ctx, pool, key, ev, tr)
}

// SendPartitionTracked is SendPartition, and tr learns what became of the
// event (see Tracker) if it returns nil.
func (r *Router) SendPartitionTracked(ctx context.Context, pool string, part int, ev wire.Event, tr Tracker) error {
	return r.sendPartition(ctx, pool, part, ev, tr)
}

// SendRoundRobinTracked is SendRoundRobin, and tr learns what became of the
// event (see Tracker) if it returns nil.
func (r *Router) SendRoundRobinTracked(ctx context.Context, pool string, ev wire.Event, tr Tracker) error {
	return r.sendRoundRobin(ctx, pool, ev, tr)
}
