package flow

// Content gaps: Zeek's TCP_Reassembler (src/analyzer/protocol/tcp/
// TCP_Reassembler.cc, src/Reassem.cc) reduced to sequence numbers. Zeek
// reassembles every TCP connection (dpd_reassemble_first_packets); a gap is
// data the peer acknowledged that was never seen: it is counted in
// missed_bytes and marked 'G' or 'g' in the history, but only while both
// endpoints are established or cleanly closing. Nothing here keeps payload
// bytes: an endpoint keeps the next in-order byte, how far the peer's
// acknowledgements trimmed, and the ranges that arrived beyond a hole.

// Zeek's limits on data buffered while nothing was acknowledged
// (tcp_max_initial_window, tcp_max_above_hole_without_any_acks).
const (
	tcpMaxInitialWindow        = 16384
	tcpMaxAboveHoleWithoutAcks = 16384
	maxOOORanges               = 64 // holes kept per direction; beyond, the oldest data is forgotten
)

type seqRange struct{ lo, hi uint64 }

// reasm is one direction's reassembly state. Sequence numbers are
// relative: 1 is the first data byte.
type reasm struct {
	last, trim        uint64 // last_reassem_seq, trim_seq
	skip              bool   // skip_deliveries: gave up on this direction
	gapCnt, gapThresh uint32 // scaled history 'G'
	inited            bool
}

// ooo holds the out-of-order ranges of both directions of a connection,
// allocated only when data arrives beyond a hole.
type ooo struct{ r [2][]seqRange }

func (r *reasm) init() {
	if !r.inited {
		r.last, r.trim, r.gapThresh, r.inited = 1, 1, 1, true
	}
}

// oooOf returns the out-of-order ranges of e's direction (nil if none).
func (c *Conn) oooOf(e *endpoint) *[]seqRange {
	if c.ooo == nil {
		return nil
	}
	if e == &c.orig {
		return &c.ooo.r[0]
	}
	return &c.ooo.r[1]
}

// isClean is Zeek's is_clean: established, or closed after being
// established.
func isClean(e *endpoint) bool {
	return e.state == StateEstablished || (e.state == StateClosed && e.prevState == StateEstablished)
}

// gap reports len bytes missing from e's stream at seq (TCP_Reassembler::Gap).
func (c *Conn) gap(e, peer *endpoint, n uint64) {
	if n == 0 || !isClean(e) || !isClean(peer) {
		return
	}
	c.missed += n
	c.scaledHistory(e == &c.orig, 'G', &e.reasm.gapCnt, &e.reasm.gapThresh)
}

// dataSent is TCP_Reassembler::DataSent for n payload bytes of e starting
// at relative sequence number seq (the segment was captured in full).
func (c *Conn) dataSent(e, peer *endpoint, seq uint64, n int) {
	r := &e.reasm
	r.init()
	if r.skip || n <= 0 {
		return
	}
	upper := seq + uint64(n)
	ack := (uint64(e.ackWraps)<<32 | uint64(e.ackSeq)) - uint64(e.startSeq)
	if seq < ack {
		if upper <= ack {
			return // already delivered and acknowledged
		}
		seq = ack
	}
	if upper <= r.trim {
		return
	}
	seq = max(seq, r.trim)
	switch {
	case seq <= r.last && upper > r.last:
		r.last = upper
		c.absorb(e)
		if e.noDataAcked() && e.size64(peer) > tcpMaxInitialWindow {
			c.trimTo(e, r.last) // the peer's acks are likely not being seen
		}
	case seq > r.last:
		c.addOOO(e, seqRange{seq, upper})
	}
	if e.noDataAcked() && c.undelivered(e) > tcpMaxAboveHoleWithoutAcks {
		r.skip = true
		if o := c.oooOf(e); o != nil {
			*o = (*o)[:0]
		}
	}
}

// ackReceived is TCP_Reassembler::AckReceived: the peer acknowledged e's
// stream up to relative sequence number seq.
func (c *Conn) ackReceived(e, peer *endpoint, seq uint64, partial bool) {
	r := &e.reasm
	r.init()
	if e.finCnt > 0 && seq >= e.finSeq {
		seq = e.finSeq - 1
	}
	if seq <= r.trim {
		return
	}
	if seq > r.last && !(seq <= 2 && partial) {
		c.undeliveredTo(e, peer, seq)
	}
	c.trimTo(e, seq)
}

// undeliveredTo is TCP_Reassembler::Undelivered: everything below seq that
// was not seen is a gap; ranges that arrived beyond holes are delivered.
func (c *Conn) undeliveredTo(e, peer *endpoint, seq uint64) {
	r := &e.reasm
	if !r.skip {
		if o := c.oooOf(e); o != nil {
			for len(*o) > 0 && (*o)[0].lo < seq {
				b := (*o)[0]
				c.gap(e, peer, b.lo-r.last)
				r.last = b.lo
				c.absorb(e)
			}
		}
		if seq > r.last {
			c.gap(e, peer, seq-r.last)
		}
	}
	r.last = max(r.last, seq)
}

// absorb advances the in-order edge over the out-of-order ranges it
// reached, dropping them.
func (c *Conn) absorb(e *endpoint) {
	o := c.oooOf(e)
	if o == nil {
		return
	}
	r := &e.reasm
	i := 0
	for i < len(*o) && (*o)[i].lo <= r.last {
		r.last = max(r.last, (*o)[i].hi)
		i++
	}
	*o = append((*o)[:0], (*o)[i:]...)
}

// trimTo is Reassembler::TrimToSeq's trimming: data below seq is
// forgotten.
func (c *Conn) trimTo(e *endpoint, seq uint64) {
	r := &e.reasm
	if seq <= r.trim {
		return
	}
	r.trim = seq
	if o := c.oooOf(e); o != nil {
		i := 0
		for i < len(*o) && (*o)[i].hi <= seq {
			i++
		}
		*o = append((*o)[:0], (*o)[i:]...)
		if len(*o) > 0 && (*o)[0].lo < seq {
			(*o)[0].lo = seq
		}
	}
}

// undelivered is NumUndeliveredBytes: from the in-order edge to the end of
// the last range received.
func (c *Conn) undelivered(e *endpoint) uint64 {
	o := c.oooOf(e)
	if o == nil || len(*o) == 0 {
		return 0
	}
	return (*o)[len(*o)-1].hi - e.reasm.last
}

// addOOO inserts a range that arrived beyond a hole, merging it with the
// ranges it touches.
func (c *Conn) addOOO(e *endpoint, s seqRange) {
	if c.ooo == nil {
		c.ooo = &ooo{}
	}
	o := c.oooOf(e)
	out := (*o)[:0:0]
	placed := false
	for _, x := range *o {
		switch {
		case x.hi < s.lo:
			out = append(out, x)
		case s.hi < x.lo:
			if !placed {
				out, placed = append(out, s), true
			}
			out = append(out, x)
		default:
			s = seqRange{min(s.lo, x.lo), max(s.hi, x.hi)}
		}
	}
	if !placed {
		out = append(out, s)
	}
	if len(out) > maxOOORanges {
		out = out[len(out)-maxOOORanges:] // keep the newest part of the stream
	}
	*o = out
}
