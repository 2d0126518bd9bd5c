package route

import (
	"time"

	"shoal/internal/wire"
)

// sendKind is how an event chose its peer; it decides what happens to the
// event when the peer fails or leaves.
type sendKind uint8

const (
	kindDirect     sendKind = iota // Send(node): waits for that peer, dropped when it leaves
	kindHashed                     // SendHashed: re-routed by partition to the new owner
	kindRoundRobin                 // SendRoundRobin: re-routed to the next member
	kindBroadcast                  // Broadcast: like direct
)

// movable reports whether an event of this kind follows its key (or the
// pool) to another peer when its peer fails or answers not-owner.
func (k sendKind) movable() bool { return k == kindHashed || k == kindRoundRobin }

// meta packs what the router keeps about one queued event to re-route it,
// in 4 bytes to keep the per-event footprint small: partition+1 of a hashed
// event (0 for none) in bits 0-23 (partitions are at most 1<<20), the
// send kind in bits 24-25, bit 26 when the event was re-routed here from a
// failed peer, bit 27 when it is tracked (its Tracker is the batch's
// next in trackers), and in bits 28-31 how often it was answered
// not-owner (saturating at maxTries). The event's bytes are found by
// walking batch.buf.
type meta uint32

const (
	metaPartMask   = 1<<24 - 1
	metaKindShift  = 24
	metaMoved      = 1 << 26
	metaTracked    = 1 << 27
	metaTriesShift = 28
	// maxTries is the most not-owner answers an event can carry.
	maxTries = 15
)

func mkMeta(k sendKind, part int32, moved bool) meta {
	m := meta(uint32(part+1)&metaPartMask) | meta(k)<<metaKindShift
	if moved {
		m |= metaMoved
	}
	return m
}

func (m meta) kind() sendKind { return sendKind(m>>metaKindShift) & 3 }
func (m meta) part() int32    { return int32(m&metaPartMask) - 1 }
func (m meta) moved() bool    { return m&metaMoved != 0 }
func (m meta) tracked() bool  { return m&metaTracked != 0 }
func (m meta) tries() uint8   { return uint8(m >> metaTriesShift) }

// withTries returns m carrying n not-owner answers.
func (m meta) withTries(n uint8) meta {
	return m&^(0xf<<metaTriesShift) | meta(min(n, maxTries))<<metaTriesShift
}

// batch is one frame's worth of events: buf holds wire.BatchHeaderRoom
// reserved bytes, then the encoded events. It gets its sequence number and
// frame (a sub-slice of buf) when it is taken for writing, and is immutable
// from then on.
type batch struct {
	buf      []byte
	metas    []meta
	trackers []Tracker // of the tracked events, in order; nil when none
	last     int       // offset of the last event in buf
	seq      uint64
	frame    []byte
	sentAt   time.Time
	// writing: the writer may still be reading frame (an ack can beat the
	// write call's return); acked: freed while writing, so the writer
	// recycles it. Both guarded by the peer's mu.
	writing, acked bool
}

func newBatch() *batch {
	return &batch{buf: wire.ReserveBatchHeader(make([]byte, 0, 4096))}
}

func (b *batch) reset() {
	b.buf = wire.ReserveBatchHeader(b.buf[:0])
	b.metas = b.metas[:0]
	clear(b.trackers)
	b.trackers = b.trackers[:0]
	b.last = 0
	b.seq, b.frame, b.sentAt = 0, nil, time.Time{}
	b.writing, b.acked = false, false
}

func (b *batch) empty() bool { return len(b.metas) == 0 }

// size is the bytes of the encoded events.
func (b *batch) size() int { return len(b.buf) - wire.BatchHeaderRoom }

// add appends an encoded event with its meta and tracker (nil: untracked).
func (b *batch) add(raw []byte, m meta, tr Tracker) {
	b.last = len(b.buf)
	b.buf = append(b.buf, raw...)
	if tr != nil {
		m |= metaTracked
		b.trackers = append(b.trackers, tr)
	} else {
		m &^= metaTracked
	}
	b.metas = append(b.metas, m)
}

// each calls f with every event's encoding (aliasing buf), meta and
// tracker (nil when untracked).
func (b *batch) each(f func(raw []byte, m meta, tr Tracker)) {
	rest := b.buf[wire.BatchHeaderRoom:]
	ti := 0
	for _, m := range b.metas {
		_, _, next, err := wire.ReadEvent(rest)
		if err != nil {
			// buf holds only events this process encoded.
			panic("route: corrupt batch: " + err.Error())
		}
		n := len(rest) - len(next)
		var tr Tracker
		if m.tracked() {
			tr = b.trackers[ti]
			ti++
		}
		f(rest[:n:n], m, tr)
		rest = next
	}
}

// movedEvent is an event taken from a peer to be sent elsewhere (its peer
// failed or left, or answered not-owner). raw is its encoding: it aliases
// an abandoned batch, or is a private copy; tr is its tracker or nil.
type movedEvent struct {
	raw   []byte
	part  int32
	kind  sendKind
	tries uint8 // not-owner answers so far
	tr    Tracker
}

// meta is the event's meta as queued on a new peer.
func (e movedEvent) meta() meta { return mkMeta(e.kind, e.part, true).withTries(e.tries) }
