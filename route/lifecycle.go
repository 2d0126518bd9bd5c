package route

import "fmt"

// peerState is a remote peer's lifecycle state. It is the one record of
// where a peer stands: whether it is in the rings, whether batches flow to
// it, and whether it still accepts events.
//
//		                handshake ok
//		  connecting ─────────────────► up ◄──────────────┐
//		      │                          │                │ reconnected
//		      │ first dial or            │ connection     │ (backoff)
//		      │ handshake failed         ▼ broke, ack     │
//		      └─────────────────────► suspect ────────────┘
//		                                   timeout
//
//		any state ── left the view, restarted (new boot id, address or pool),
//		             or the router closed ──► gone (final)
//
//	  - connecting: in the view and in the rings; the peer's goroutine dials
//	    it for the first time. Events queue.
//	  - up: in the rings with a live connection; batches are written.
//	  - suspect: taken out of the rings by this node alone, without waiting
//	    for gossip; hashed and round-robin events were re-routed, direct and
//	    broadcast events wait for the reconnect. Redialled with backoff.
//	  - gone: retired; nothing is accepted, and what it held was re-routed,
//	    handed to its successor, or given up and counted.
//
// Ownership: transitions are made only by the router (suspect, recover,
// retire), holding Router.mu and then the peer's mu, through transitionLocked;
// so the state may be read holding either lock. Routing tables are rebuilt
// under Router.mu from it; senders check it under the peer's mu.
type peerState uint8

const (
	stateConnecting peerState = iota
	stateUp
	stateSuspect
	stateGone
)

// String names the state for logs.
func (s peerState) String() string {
	switch s {
	case stateConnecting:
		return "connecting"
	case stateUp:
		return "up"
	case stateSuspect:
		return "suspect"
	case stateGone:
		return "gone"
	}
	return "unknown"
}

// inRings reports whether a peer in this state owns partitions.
func (s peerState) inRings() bool { return s == stateConnecting || s == stateUp }

// validTransition reports whether the lifecycle allows from -> to.
func validTransition(from, to peerState) bool {
	switch to {
	case stateUp:
		return from == stateConnecting || from == stateSuspect
	case stateSuspect:
		return from == stateConnecting || from == stateUp
	case stateGone:
		return from != stateGone
	}
	return false
}

// transitionLocked moves p to state to. The caller holds Router.mu and
// p.mu. An invalid transition is a broken invariant of the router.
func (p *peer) transitionLocked(to peerState) {
	if !validTransition(p.state, to) {
		panic(fmt.Sprintf("route: peer %s: invalid transition %s -> %s", p.name, p.state, to))
	}
	p.state = to
}
