package flow

import "shoal/packet"

// tooLargeSeqDelta is Zeek's TOO_LARGE_SEQ_DELTA.
const tooLargeSeqDelta = 1048576

func seqDelta(a, b uint32) int32 { return int32(a - b) }

// isReuse reports whether p starts a new connection on c's 5-tuple (Zeek's
// TCPSessionAdapter::IsReuse): a SYN on a closed connection, or a SYN whose
// sequence number differs from the originator's initial one. A SYN-ACK only
// counts for a half connection whose originator never spoke.
func (c *Conn) isReuse(p *packet.Packet) bool {
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

// initEndpoint is Zeek's init_endpoint: it sets up an endpoint's sequence
// space from its first packet, or from a SYN that restarts it.
func initEndpoint(e *endpoint, syn bool, seq, last uint32) {
	switch e.state {
	case StateInactive:
		if syn {
			e.ackSeq, e.startSeq = seq, seq
		} else {
			// Partial connection: number as though the SYN was seen.
			e.ackSeq, e.startSeq = seq-1, seq-1
			last = seq
		}
		e.lastSeq = last
	case StateSynSent, StateSynAckSent:
		if syn && seq != e.startSeq {
			e.startSeq, e.ackSeq, e.lastSeq = seq, seq, last
		}
	case StateEstablished, StatePartial:
		if syn {
			e.startSeq, e.ackSeq, e.lastSeq = seq, seq, last
		}
	case StateReset:
		if syn && e.prevState == StateInactive {
			e.startSeq, e.ackSeq, e.lastSeq = seq, seq, last
		}
	}
}

// relativeSeq is Zeek's get_relative_seq: cur relative to the endpoint's
// initial sequence number, accounting for wrap-arounds. A negative offset
// (sign-extended, as Zeek returns it) reports an underflow.
func relativeSeq(start, cur, last, wraps uint32) (uint64, bool) {
	switch d := seqDelta(cur, last); {
	case d < 0:
		if wraps > 0 && cur > last {
			wraps--
		}
	case d > 0:
		if cur < last {
			wraps++
		}
	}
	if wraps == 0 {
		d := seqDelta(cur, start)
		return uint64(int64(d)), d < 0
	}
	return (uint64(wraps)<<32 | uint64(cur)) - uint64(start), false
}

func (e *endpoint) updateLastSeq(seq uint32) {
	if seq < e.lastSeq {
		e.seqWraps++
	}
	e.lastSeq = seq
}

func (e *endpoint) updateAckSeq(seq uint32) {
	if seq < e.ackSeq {
		e.ackWraps++
	}
	e.ackSeq = seq
}

// updateHistory is Zeek's update_history.
func (c *Conn) updateHistory(e *endpoint, orig bool, f uint8, relSeq uint64, n int) {
	syn, fin, rst := f&packet.FlagSYN != 0, f&packet.FlagFIN != 0, f&packet.FlagRST != 0
	bits := 0
	for _, b := range [3]bool{syn, fin, rst} {
		if b {
			bits++
		}
	}
	switch {
	case bits > 1:
		if fin && rst {
			c.endpointCheckHistory(orig, histFINRST, 'I')
		} else {
			c.endpointCheckHistory(orig, histMultiFlg, 'Q')
		}
	case syn:
		code := byte('S')
		if f&packet.FlagACK != 0 {
			code = 'H'
		}
		if c.endpointCheckHistory(orig, histSYN, code) && relSeq != e.histLastSYN {
			c.endpointAddHistory(orig, code)
		}
		e.histLastSYN = relSeq
	case fin:
		// A FIN's sequence number comes after the data it carries.
		if c.endpointCheckHistory(orig, histFIN, 'F') && relSeq+uint64(n) != e.histLastFIN {
			c.endpointAddHistory(orig, 'F')
		}
		e.histLastFIN = relSeq + uint64(n)
	case rst:
		if c.endpointCheckHistory(orig, histRST, 'R') && relSeq != e.histLastRST {
			c.endpointAddHistory(orig, 'R')
		}
		e.histLastRST = relSeq
	case n > 0:
		c.endpointCheckHistory(orig, histData, 'D')
	case f&packet.FlagACK != 0:
		c.endpointCheckHistory(orig, histACK, 'A')
	}
}

// tcpFlags are the decoded control bits of one segment.
type tcpFlags struct{ syn, fin, rst, ack bool }

// processTCP runs one segment through c (Zeek's TCPAnalyzer::DeliverPacket
// and TCPSessionAdapter::Process, without payload reassembly). It reports
// whether the segment raised connection_established with both endpoints
// ESTABLISHED afterwards, the known-hosts trigger.
func (t *Tracker) processTCP(c *Conn, isOrig bool, p *packet.Packet, ts int64) bool {
	endp, peer := &c.resp, &c.orig
	if isOrig {
		endp, peer = &c.orig, &c.resp
	}
	fl := tcpFlags{
		syn: p.Flags&packet.FlagSYN != 0, fin: p.Flags&packet.FlagFIN != 0,
		rst: p.Flags&packet.FlagRST != 0, ack: p.Flags&packet.FlagACK != 0,
	}
	n := p.PayloadLen
	segLen := n
	if fl.syn {
		segLen++
	}
	if fl.fin {
		segLen++
	}
	if fl.rst {
		segLen -= n // data on a RST is not part of the stream
	}
	seqOnePast := p.Seq + uint32(segLen)

	c.setPartialStatus(isOrig, fl)
	initEndpoint(endp, fl.syn, p.Seq, seqOnePast)
	relSeq, seqUnderflow := relativeSeq(endp.startSeq, p.Seq, endp.lastSeq, endp.seqWraps)
	c.updateHistory(endp, isOrig, p.Flags, relSeq, n)
	// update_window: only the zero-window check matters for the history
	// (scaling never turns a non-zero window into zero).
	if p.Window == 0 && !fl.rst && peer.state != StateClosed && endp.state != StateReset {
		c.scaledHistory(isOrig, 'W', &endp.win0Cnt, &endp.win0Thresh)
	}
	if !c.orig.didClose || !c.resp.didClose {
		c.last = ts
	}
	if fl.fin {
		endp.finCnt++
		endp.finSeq = relSeq + uint64(segLen)
	}
	var relAck uint64
	if fl.ack {
		if peer.state == StateInactive {
			// init_peer: number the silent peer as if its SYN had been seen.
			relAck = 1
			peer.startSeq, peer.ackSeq, peer.lastSeq = p.Ack-1, p.Ack-1, p.Ack-1
		} else if ra, underflow := relativeSeq(peer.startSeq, p.Ack, peer.ackSeq, peer.ackWraps); !underflow {
			relAck = ra
			// update_ack_seq; acks in RSTs are not trusted.
			if d := seqDelta(p.Ack, peer.ackSeq); !fl.rst && !(p.Ack == 0 && d > tooLargeSeqDelta) && d > 0 {
				peer.updateAckSeq(p.Ack)
			}
		}
	}
	t.updateLastSeq(c, endp, isOrig, seqOnePast, fl, n)

	raised, doClose, endp, peer := t.updateState(c, endp, peer, isOrig, fl, n, ts)
	if fl.ack {
		// After the state machine, so a gap the ack reveals is judged by
		// the states this packet left (Zeek's peer->AckReceived).
		c.ackReceived(peer, endp, relAck, c.partial)
	}
	// Only a segment captured in full reaches the reassembler; a packet
	// built without its raw bytes (Raw nil) counts as captured.
	if n > 0 && (p.Raw == nil || len(p.Payload) >= n) && !fl.rst && !seqUnderflow {
		dataSeq := relSeq
		if fl.syn {
			dataSeq++
		}
		c.dataSent(endp, peer, dataSeq, n)
	}
	if doClose {
		t.connectionClosed(c, endp, peer)
	}
	// The ConnSize analyzer counts the packet after the TCP analyzer, with
	// the direction the packet had on arrival.
	cs := &c.resp
	if isOrig {
		cs = &c.orig
	}
	cs.pkts++
	cs.ipBytes += uint64(p.IPLen)
	c.firstSeen |= sideBit(isOrig)
	return raised && c.orig.state == StateEstablished && c.resp.state == StateEstablished
}

// sideBit is the firstSeen bit of the originator (1) or the responder (2).
func sideBit(isOrig bool) uint8 {
	if isOrig {
		return 1
	}
	return 2
}

// updateState is the state machine part of TCPSessionAdapter::Process
// (UpdateStateMachine): it returns whether connection_established was
// raised, whether the connection closes, and the sender and receiver
// endpoints (swapped when the packet flipped the roles).
func (t *Tracker) updateState(c *Conn, endp, peer *endpoint, isOrig bool, fl tcpFlags, n int,
	ts int64) (raised, doClose bool, sender, receiver *endpoint) {
	switch endp.state {
	case StateInactive:
		var flipped bool
		raised, doClose, flipped = t.updateInactive(c, endp, peer, isOrig, fl, n, ts)
		if flipped {
			endp, peer = &c.orig, &c.resp
			t.applyExpected(c)
		}
	case StateSynSent, StateSynAckSent:
		if fl.fin {
			t.setState(c, endp, peer, StateClosed)
			doClose = true
		}
		if fl.rst {
			t.setState(c, endp, peer, StateReset)
			doClose = true
		}
	case StateEstablished, StatePartial:
		if fl.syn && endp.state == StatePartial && peer.state == StateInactive && !fl.ack {
			t.setState(c, endp, peer, StateSynSent) // SYN_after_partial
		}
		if fl.fin && !fl.rst {
			t.setState(c, endp, peer, StateClosed)
			if peer.state == StateReset && peer.prevState == StateClosed {
				t.setState(c, peer, endp, StateClosed) // FIN then RST was a normal close
			}
			doClose = true
		}
		if fl.rst {
			t.setState(c, endp, peer, StateReset)
			doClose = true
		}
	case StateClosed:
		if fl.rst && peer.state != StateClosed {
			t.setState(c, endp, peer, StateReset)
			if !endp.didClose {
				doClose = true // RST after FIN
			}
		}
	case StateReset:
	}
	return raised, doClose, endp, peer
}

// updateLastSeq is Zeek's update_last_seq, including its retransmission
// accounting (history 'T').
func (t *Tracker) updateLastSeq(c *Conn, e *endpoint, orig bool, last uint32, fl tcpFlags, n int) {
	d := seqDelta(last, e.lastSeq)
	switch {
	case (fl.syn || fl.rst) && (d > tooLargeSeqDelta || d < -tooLargeSeqDelta):
		// Implausible jump on a SYN or RST: ignored.
	case fl.fin && e.lastSeq == e.startSeq+1:
		// Only the SYN and now the FIN seen: trust the FIN even backwards.
		e.updateLastSeq(last)
	case e.state == StateReset:
		// No sequence number after a RST is trusted.
	case d > 0:
		e.updateLastSeq(last)
	case n > 0:
		c.scaledHistory(orig, 'T', &e.rxmtCnt, &e.rxmtThresh)
	}
}

// setState is TCP_Endpoint::SetState: leaving the handshake states while
// the peer is still in them switches the connection to the TCP inactivity
// timeout.
func (t *Tracker) setState(c *Conn, e, peer *endpoint, s State) {
	if s == e.state {
		return
	}
	if !isHandshake(s) && isHandshake(e.state) && isHandshake(peer.state) {
		t.setInactivityTimeout(c, int64(t.cfg.TCPInactivity))
	}
	e.prevState, e.state = e.state, s
}

// updateInactive is Zeek's UpdateInactiveState: the first packet from an
// endpoint. It reports whether connection_established was raised, whether
// the connection closes and whether the roles were flipped (the sender is
// then the originator).
func (t *Tracker) updateInactive(c *Conn, endp, peer *endpoint, isOrig bool, fl tcpFlags, n int,
	ts int64) (raised, doClose, flipped bool) {
	if fl.syn {
		if isOrig {
			if fl.ack {
				t.setState(c, endp, peer, StateSynAckSent)
			} else {
				t.setState(c, endp, peer, StateSynSent)
			}
			if t.cfg.AttemptDelay > 0 {
				t.timers.schedule(c, timerAttempt, ts+int64(t.cfg.AttemptDelay))
			}
		} else {
			if !fl.ack && peer.state == StateSynAckSent {
				// SYN/SYN-ACK reversal: the SYN-ACK was captured first.
				// Flip the roles and establish the connection.
				c.flipRoles()
				endp, peer, flipped = &c.orig, &c.resp, true
				t.setState(c, peer, endp, StateEstablished)
				c.partial = false
				c.firstSeen |= 1
			}
			if peer.state == StateSynSent {
				t.setState(c, peer, endp, StateEstablished)
			}
			t.setState(c, endp, peer, StateEstablished)
			raised = peer.state != StatePartial
		}
	}
	if fl.fin {
		t.setState(c, endp, peer, StateClosed)
		doClose = true
	}
	if fl.rst {
		t.setState(c, endp, peer, StateReset)
		// isOrig is the direction on arrival, as in Zeek (stale after a flip).
		reject := false
		if isOrig {
			// A SYN-ACK seen without its SYN, then reset: a reverse scan.
			reject = peer.state == StateEstablished
		} else {
			reject = peer.state == StateSynSent || peer.state == StateSynAckSent
		}
		doClose = true
		if reject {
			t.stats.Rejected++
			if t.cfg.Handler.Attempt != nil {
				c.fillAttempt(&t.attempt, AttemptRejected, t.now)
				t.cfg.Handler.Attempt(&t.attempt)
			}
		}
	}
	if endp.state == StateInactive { // no control flag changed the state
		switch {
		case !isOrig && n == 0 && c.orig.state == StateSynSent:
			// An ACK of the SYN before the SYN-ACK: not a partial connection.
		case fl.ack && peer.state == StateEstablished:
			// Missed the SYN but saw the SYN-ACK: established, no event.
			t.setState(c, endp, peer, StateEstablished)
			c.partial = false
			c.firstSeen |= sideBit(isOrig)
		default:
			t.setState(c, endp, peer, StatePartial)
		}
	}
	return raised, doClose, flipped
}

// connectionClosed is Zeek's ConnectionClosed without data-pending deferral:
// once the close is complete the analyzer timers are cancelled and the
// connection is removed CloseDelay after its last packet. An incomplete
// close (half-close) waits for the inactivity timeout.
func (t *Tracker) connectionClosed(c *Conn, endp, peer *endpoint) {
	if endp.didClose {
		return
	}
	endp.didClose = true
	if endp.state == StateReset || peer.didClose || peer.state == StateInactive {
		// CancelTimers, then the delete timer: the attempt timer's heap
		// entry becomes the close timer.
		t.timers.retarget(c, timerAttempt, timerClose, c.last+int64(t.cfg.CloseDelay))
	}
}

// setPartialStatus is TCPSessionAdapter::SetPartialStatus: a connection is
// partial when the originator's first packet is not a pure SYN, or the
// responder's first packet has no SYN.
func (c *Conn) setPartialStatus(isOrig bool, fl tcpFlags) {
	if isOrig {
		if c.firstSeen&1 == 0 {
			c.partial = !fl.syn || fl.ack
		}
	} else if c.firstSeen&2 == 0 && !c.partial {
		c.partial = !fl.syn
	}
}
