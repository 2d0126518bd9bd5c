package flow

import "shoal/packet"

// isReuse reports whether p starts a new connection on c's 5-tuple (Zeek's
// TCPSessionAdapter::IsReuse): a SYN on a closed connection, or a SYN whose
// sequence number differs from the originator's initial one. A SYN-ACK only
// counts for a half connection whose originator never spoke.
func (c *conn) isReuse(p *packet.Packet) bool {
	if p.Flags&packet.FlagSYN == 0 {
		return false
	}
	connOrig := &c.orig
	ack := p.Flags&packet.FlagACK != 0
	if ack {
		if c.orig.state != StateInactive {
			return false
		}
		connOrig = &c.resp
	}
	if !c.closed() {
		if p.Seq == connOrig.startSeq {
			return false
		}
		if !ack && connOrig.state == StateSynAckSent && c.resp.state == StateInactive && p.Seq == c.resp.startSeq {
			// The SYN of a SYN/SYN-ACK pair captured in reverse order; the
			// state machine flips the roles.
			return false
		}
	}
	return true
}

// initEndpoint tracks the initial sequence number as Zeek's init_endpoint does.
func initEndpoint(e *endpoint, syn bool, seq uint32) {
	switch e.state {
	case StateInactive:
		if syn {
			e.startSeq = seq
		} else {
			e.startSeq = seq - 1
		}
	case StateSynSent, StateSynAckSent, StateEstablished, StatePartial:
		if syn {
			e.startSeq = seq
		}
	case StateReset:
		if syn && e.prevState == StateInactive {
			e.startSeq = seq
		}
	}
}

// process runs one packet through c's state machine (Zeek's
// TCPSessionAdapter::Process and UpdateStateMachine, without sequence-space
// and payload tracking). It reports whether the packet raised
// connection_established with both endpoints ESTABLISHED once the packet is
// processed, i.e. the known-hosts trigger.
func (t *Tracker) process(c *conn, isOrig bool, p *packet.Packet, ts int64) bool {
	endp, peer := &c.resp, &c.orig
	if isOrig {
		endp, peer = &c.orig, &c.resp
	}
	f := p.Flags
	syn, fin, rst, ack := f&packet.FlagSYN != 0, f&packet.FlagFIN != 0, f&packet.FlagRST != 0, f&packet.FlagACK != 0

	initEndpoint(endp, syn, p.Seq)
	if !c.orig.didClose || !c.resp.didClose {
		c.last = ts
	}
	if ack && peer.state == StateInactive {
		// init_peer: number the silent peer as if its SYN had been seen.
		peer.startSeq = p.Ack - 1
	}

	raised, doClose := false, false
	switch endp.state {
	case StateInactive:
		var flipped bool
		raised, doClose, flipped = t.updateInactive(c, endp, peer, isOrig, syn, fin, rst, ack, p.PayloadLen, ts)
		if flipped {
			endp, peer = &c.orig, &c.resp
		}
	case StateSynSent, StateSynAckSent:
		if fin {
			endp.setState(StateClosed)
			doClose = true
		}
		if rst {
			endp.setState(StateReset)
			doClose = true
		}
	case StateEstablished, StatePartial:
		if syn && endp.state == StatePartial && peer.state == StateInactive && !ack {
			endp.setState(StateSynSent) // SYN_after_partial
		}
		if fin && !rst {
			endp.setState(StateClosed)
			if peer.state == StateReset && peer.prevState == StateClosed {
				peer.setState(StateClosed) // FIN followed by RST was a normal close
			}
			doClose = true
		}
		if rst {
			endp.setState(StateReset)
			doClose = true
		}
	case StateClosed:
		if rst && peer.state != StateClosed {
			endp.setState(StateReset)
			if !endp.didClose {
				doClose = true
			}
		}
	case StateReset:
	}
	if doClose {
		t.connectionClosed(c, endp, peer)
	}
	return raised && c.orig.state == StateEstablished && c.resp.state == StateEstablished
}

// updateInactive is Zeek's UpdateInactiveState: the first packet from an
// endpoint. It reports whether connection_established was raised, whether
// the connection closes and whether the roles were flipped (the sender is
// then the originator).
func (t *Tracker) updateInactive(c *conn, endp, peer *endpoint, isOrig, syn, fin, rst, ack bool, payload int,
	ts int64) (raised, doClose, flipped bool) {
	if syn {
		if isOrig {
			if ack {
				endp.setState(StateSynAckSent)
			} else {
				endp.setState(StateSynSent)
			}
			t.timers.schedule(c, timerAttempt, ts+int64(t.cfg.AttemptDelay))
		} else {
			if !ack && peer.state == StateSynAckSent {
				// SYN/SYN-ACK reversal: the SYN-ACK was captured first.
				// Flip the roles and establish the connection.
				c.orig, c.resp = c.resp, c.orig
				endp, peer, flipped = &c.orig, &c.resp, true
				peer.setState(StateEstablished)
			}
			if peer.state == StateSynSent {
				peer.setState(StateEstablished)
			}
			endp.setState(StateEstablished)
			raised = peer.state != StatePartial
		}
	}
	if fin {
		endp.setState(StateClosed)
		doClose = true
	}
	if rst {
		endp.setState(StateReset)
		doClose = true
	}
	if endp.state == StateInactive { // no control flag changed the state
		switch {
		case !isOrig && payload == 0 && c.orig.state == StateSynSent:
			// An ACK of the SYN before the SYN-ACK: not a partial connection.
		case ack && peer.state == StateEstablished:
			// Missed the SYN but saw the SYN-ACK: established, no event.
			endp.setState(StateEstablished)
		default:
			endp.setState(StatePartial)
		}
	}
	return raised, doClose, flipped
}

// connectionClosed is Zeek's ConnectionClosed without data-pending deferral:
// once the close is complete the connection is removed after CloseDelay.
func (t *Tracker) connectionClosed(c *conn, endp, peer *endpoint) {
	if endp.didClose {
		return
	}
	endp.didClose = true
	complete := endp.state == StateReset || peer.didClose || peer.state == StateInactive
	if complete && c.timer[timerClose] == noTimer {
		t.timers.schedule(c, timerClose, c.last+int64(t.cfg.CloseDelay))
	}
}
