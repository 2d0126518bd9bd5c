package route

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the router's counters since New. Every counter only grows.
type Stats struct {
	// Sent counts events accepted by Send, SendHashed, SendRoundRobin and
	// Broadcast (one per receiving member), self-deliveries included.
	Sent uint64
	// SelfDelivered counts events delivered to this node itself, without a
	// connection (included in Sent, and in Received).
	SelfDelivered uint64
	// Received counts events this node took (Deliver answered OK and
	// Commit, if any, succeeded), from inbound connections and from
	// itself.
	Received uint64
	// Acked counts events peers answered OK.
	Acked uint64
	// Dropped is DroppedFull + DroppedNoRoute + DroppedNotOwner +
	// DroppedBusy.
	Dropped uint64
	// DroppedFull counts events refused with ErrQueueFull (FullDrop).
	DroppedFull uint64
	// DroppedNoRoute counts accepted events that lost their destination:
	// direct or broadcast events queued for a peer that left the view, and
	// re-routed events whose pool had no member left.
	DroppedNoRoute uint64
	// DroppedNotOwner counts events given up after too many not-owner
	// answers, and direct or broadcast events answered not-owner.
	DroppedNotOwner uint64
	// DroppedBusy counts sends refused with ErrBusy: this node answered
	// an event addressed to itself busy under FullDrop.
	DroppedBusy uint64
	// Rerouted counts events moved to a new owner: from a failed or
	// departed peer, or after a not-owner answer.
	Rerouted uint64
	// Busy counts events peers (or this node itself) answered busy; each
	// was sent again after a backoff. NotOwner counts events peers
	// answered not-owner; each was parked and routed again.
	Busy, NotOwner uint64
	// AnsweredBusy and AnsweredNotOwner count the events this node
	// answered busy and not-owner; CommitFailed counts Commit calls that
	// failed (their events were answered busy).
	AnsweredBusy, AnsweredNotOwner, CommitFailed uint64
	// NoMembers counts sends and re-routes that found their pool empty.
	NoMembers uint64
	// UnknownNode counts Send calls naming a node not in the view.
	UnknownNode uint64
	// Batches counts batch frames written; Writes counts write calls (one
	// write or writev system call each, carrying one or more batches).
	Batches uint64
	Writes  uint64
	// AcksSent counts ack frames written by inbound connections.
	AcksSent uint64
	// BadFrames counts protocol violations by remote ends (garbage, wrong
	// version, oversize length prefix, bad hello or ack); each closed its
	// connection.
	BadFrames uint64
	// Suspected counts peers suspected because a connection broke;
	// Reconnects counts successful reconnections after that.
	Suspected  uint64
	Reconnects uint64
	// Refused counts handshakes refused: an outbound peer answered with
	// another name, pool or boot id than the view holds (a restarted
	// process), or the transport's Verify refused a hello.
	Refused uint64
}

// counters are the router-wide atomic counters. Per-event send counters
// live in each peer, under its mutex, to keep the hot path free of shared
// cache lines.
type counters struct {
	selfDelivered      atomic.Uint64
	selfSent           atomic.Uint64
	received           atomic.Uint64
	acked              atomic.Uint64
	droppedNoRoute     atomic.Uint64
	rerouted           atomic.Uint64
	noMembers          atomic.Uint64
	unknownNode        atomic.Uint64
	droppedNotOwner    atomic.Uint64
	droppedBusy        atomic.Uint64
	busy               atomic.Uint64
	notOwner           atomic.Uint64
	answeredBusy       atomic.Uint64
	answeredNotOwner   atomic.Uint64
	commitFailed       atomic.Uint64
	retiredBatches     atomic.Uint64
	retiredWrites      atomic.Uint64
	acksSent           atomic.Uint64
	badFrames          atomic.Uint64
	suspected          atomic.Uint64
	reconnects         atomic.Uint64
	refused            atomic.Uint64
	retiredSent        atomic.Uint64
	retiredDroppedFull atomic.Uint64
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (r *Router) Stats() Stats {
	c := &r.stats
	s := Stats{
		SelfDelivered:    c.selfDelivered.Load(),
		Received:         c.received.Load() + c.selfDelivered.Load(),
		Acked:            c.acked.Load(),
		DroppedNoRoute:   c.droppedNoRoute.Load(),
		Rerouted:         c.rerouted.Load(),
		DroppedNotOwner:  c.droppedNotOwner.Load(),
		DroppedBusy:      c.droppedBusy.Load(),
		Busy:             c.busy.Load(),
		NotOwner:         c.notOwner.Load(),
		AnsweredBusy:     c.answeredBusy.Load(),
		AnsweredNotOwner: c.answeredNotOwner.Load(),
		CommitFailed:     c.commitFailed.Load(),
		NoMembers:        c.noMembers.Load(),
		UnknownNode:      c.unknownNode.Load(),
		AcksSent:         c.acksSent.Load(),
		BadFrames:        c.badFrames.Load(),
		Suspected:        c.suspected.Load(),
		Reconnects:       c.reconnects.Load(),
		Refused:          c.refused.Load(),
	}
	r.mu.Lock()
	s.Sent = c.selfSent.Load() + c.retiredSent.Load()
	s.DroppedFull = c.retiredDroppedFull.Load()
	s.Batches = c.retiredBatches.Load()
	s.Writes = c.retiredWrites.Load()
	for _, p := range r.view {
		p.mu.Lock()
		s.Sent += p.sent
		s.DroppedFull += p.droppedFull
		s.Batches += p.batches
		s.Writes += p.writes
		p.mu.Unlock()
	}
	r.mu.Unlock()
	s.Dropped = s.DroppedFull + s.DroppedNoRoute + s.DroppedNotOwner + s.DroppedBusy
	return s
}

// limiter rate-limits repeated log lines per key (nats RateLimitWarnf).
type limiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
	supp  map[string]int
}

func newLimiter(every time.Duration) *limiter {
	return &limiter{every: every, last: make(map[string]time.Time), supp: make(map[string]int)}
}

// allow reports whether a line with key may be logged now, and how many
// were suppressed since the last one. Safe for concurrent use.
func (l *limiter) allow(key string) (bool, int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		l.supp[key]++
		return false, 0
	}
	if len(l.last) >= 1024 {
		clear(l.last)
		clear(l.supp)
	}
	n := l.supp[key]
	delete(l.supp, key)
	l.last[key] = now
	return true, n
}
