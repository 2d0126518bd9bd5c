package route

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the router's counters since New. Every counter only grows.
// The JSON names are those /status shows under "transport".
type Stats struct {
	// Sent counts events accepted by Send, SendHashed, SendRoundRobin and
	// Broadcast (one per receiving member), self-deliveries included.
	Sent uint64 `json:"sent"`
	// SelfDelivered counts events delivered to this node itself, without a
	// connection (included in Sent, and in Received).
	SelfDelivered uint64 `json:"self_delivered"`
	// Received counts events this node took (Deliver answered OK and
	// Commit, if any, succeeded), from inbound connections and from
	// itself.
	Received uint64 `json:"received"`
	// Acked counts events peers answered OK.
	Acked uint64 `json:"acked"`
	// Dropped is DroppedFull + DroppedNoRoute + DroppedNotOwner +
	// DroppedBusy.
	Dropped uint64 `json:"dropped"`
	// DroppedFull counts events refused with ErrQueueFull (FullDrop).
	DroppedFull uint64 `json:"dropped_full"`
	// DroppedNoRoute counts accepted events that lost their destination:
	// direct or broadcast events queued for a peer that left the view, and
	// re-routed events whose pool had no member left.
	DroppedNoRoute uint64 `json:"dropped_no_route"`
	// DroppedNotOwner counts events given up after too many not-owner
	// answers, and direct or broadcast events answered not-owner.
	DroppedNotOwner uint64 `json:"dropped_not_owner"`
	// DroppedBusy counts sends refused with ErrBusy: this node answered
	// an event addressed to itself busy under FullDrop.
	DroppedBusy uint64 `json:"dropped_busy"`
	// Rerouted counts events moved to a new owner: from a failed or
	// departed peer, or after a not-owner answer.
	Rerouted uint64 `json:"rerouted"`
	// Busy counts events peers (or this node itself) answered busy; each
	// was sent again after a backoff.
	Busy uint64 `json:"busy"`
	// NotOwner counts events peers answered not-owner; each was parked and
	// routed again.
	NotOwner uint64 `json:"not_owner"`
	// AnsweredBusy and AnsweredNotOwner count the events this node
	// answered busy and not-owner.
	AnsweredBusy     uint64 `json:"answered_busy"`
	AnsweredNotOwner uint64 `json:"answered_not_owner"`
	// CommitFailed counts Commit calls that failed (their events were
	// answered busy).
	CommitFailed uint64 `json:"commit_failed"`
	// NoMembers counts sends and re-routes that found their pool empty.
	NoMembers uint64 `json:"no_members"`
	// UnknownNode counts Send calls naming a node not in the view.
	UnknownNode uint64 `json:"unknown_node"`
	// Batches counts batch frames written; Writes counts write calls (one
	// write or writev system call each, carrying one or more batches).
	Batches uint64 `json:"batches"`
	Writes  uint64 `json:"writes"`
	// AcksSent counts ack frames written by inbound connections.
	AcksSent uint64 `json:"acks_sent"`
	// InboundRefused counts inbound connections closed at once because
	// MaxInbound or MaxHandshakesPerSource was reached.
	InboundRefused uint64 `json:"inbound_refused"`
	// HandshakeTimeouts counts inbound connections that did not complete
	// their hello within HandshakeTimeout.
	HandshakeTimeouts uint64 `json:"handshake_timeouts"`
	// FrameTimeouts counts connections that did not deliver a started
	// frame within FrameTimeout.
	FrameTimeouts uint64 `json:"frame_timeouts"`
	// BadFrames counts protocol violations by remote ends (garbage, wrong
	// version, oversize length prefix, bad hello or ack); each closed its
	// connection.
	BadFrames uint64 `json:"bad_frames"`
	// Suspected counts peers suspected because a connection broke;
	// Reconnects counts successful reconnections after that.
	Suspected  uint64 `json:"suspected"`
	Reconnects uint64 `json:"reconnects"`
	// Refused counts handshakes refused: an outbound peer answered with
	// another name, pool or boot id than the view holds (a restarted
	// process), or the transport's Verify refused a hello.
	Refused uint64 `json:"refused"`
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
	inboundRefused     atomic.Uint64
	handshakeTimeouts  atomic.Uint64
	frameTimeouts      atomic.Uint64
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
		SelfDelivered:     c.selfDelivered.Load(),
		Received:          c.received.Load() + c.selfDelivered.Load(),
		Acked:             c.acked.Load(),
		DroppedNoRoute:    c.droppedNoRoute.Load(),
		Rerouted:          c.rerouted.Load(),
		DroppedNotOwner:   c.droppedNotOwner.Load(),
		DroppedBusy:       c.droppedBusy.Load(),
		Busy:              c.busy.Load(),
		NotOwner:          c.notOwner.Load(),
		AnsweredBusy:      c.answeredBusy.Load(),
		AnsweredNotOwner:  c.answeredNotOwner.Load(),
		CommitFailed:      c.commitFailed.Load(),
		InboundRefused:    c.inboundRefused.Load(),
		HandshakeTimeouts: c.handshakeTimeouts.Load(),
		FrameTimeouts:     c.frameTimeouts.Load(),
		NoMembers:         c.noMembers.Load(),
		UnknownNode:       c.unknownNode.Load(),
		AcksSent:          c.acksSent.Load(),
		BadFrames:         c.badFrames.Load(),
		Suspected:         c.suspected.Load(),
		Reconnects:        c.reconnects.Load(),
		Refused:           c.refused.Load(),
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
