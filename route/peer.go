package route

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
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
// pool) to another peer when its peer fails.
func (k sendKind) movable() bool { return k == kindHashed || k == kindRoundRobin }

// meta packs what the router keeps about one queued event to re-route it,
// in 4 bytes to keep the per-event footprint small: partition+1 of a hashed
// event (0 for none) in bits 0-23 (partitions are at most 1<<20), the
// send kind in bits 24-25, and bit 26 when the event was re-routed here
// from a failed peer. The event's bytes are found by walking batch.buf.
type meta uint32

const (
	metaPartMask  = 1<<24 - 1
	metaKindShift = 24
	metaMoved     = 1 << 26
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

// batch is one frame's worth of events: buf holds wire.BatchHeaderRoom
// reserved bytes, then the encoded events. Once sealed it has a sequence
// number and frame (a sub-slice of buf) and is immutable.
type batch struct {
	buf    []byte
	metas  []meta
	last   int // offset of the last event in buf
	seq    uint64
	frame  []byte
	sentAt time.Time
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
	b.last = 0
	b.seq, b.frame, b.sentAt = 0, nil, time.Time{}
	b.writing, b.acked = false, false
}

func (b *batch) empty() bool { return len(b.metas) == 0 }

// each calls f with every event's encoding (aliasing buf) and meta.
func (b *batch) each(f func(raw []byte, m meta)) {
	rest := b.buf[wire.BatchHeaderRoom:]
	for _, m := range b.metas {
		_, _, next, err := wire.ReadEvent(rest)
		if err != nil {
			// buf holds only events this process encoded.
			panic("route: corrupt batch: " + err.Error())
		}
		n := len(rest) - len(next)
		f(rest[:n:n], m)
		rest = next
	}
}

// movedEvent is an event taken from a failed or departed peer: raw is its
// encoding, aliasing a batch no longer owned by any peer.
type movedEvent struct {
	raw  []byte
	part int32
	kind sendKind
}

// errRetry tells a sender that the peer it resolved left the rings between
// the routing-table load and the enqueue: resolve again.
var errRetry = errors.New("route: retry")

// peer is one remote member: its outbound queue, its connection and the
// goroutine that writes batches to it. The self peer has self set and no
// queue.
type peer struct {
	r      *Router
	name   string
	pool   string
	addr   string
	bootID uint64
	self   bool

	// Copied from the config, to keep the hot path on the peer's lines.
	limit, maxEvent, maxBatch int
	errFull                   error // ErrQueueFull for this peer, built once

	kickCh chan struct{} // cap 1: producers -> writer
	quitCh chan struct{} // closed when the peer is retired or the router closes
	quit   sync.Once

	mu sync.Mutex
	// state is the peer's lifecycle (lifecycle.go): written holding r.mu
	// and mu, read holding either.
	state       peerState
	cur         *batch   // open batch, appended to by senders
	ready       []*batch // sealed, not yet written
	inflight    []*batch // written, not yet acknowledged (ascending seq)
	count       int      // events in cur, ready and inflight
	nextSeq     uint64   // last sequence number sealed
	writtenSeq  uint64   // last sequence number moved to inflight
	firstAt     time.Time
	free        []*batch
	conn        net.Conn      // current outbound connection (also while dialing)
	gen         uint64        // connection generation, to ignore stale acks
	roomCh      chan struct{} // closed when room frees up; nil without waiters
	enq, done   uint64        // events ever added / removed, for Drain
	sent        uint64        // events accepted by send
	droppedFull uint64
	// writes and batches count write calls and the batch frames they
	// carry. They are counted in take, under mu and before the write is
	// issued, so that an acknowledgement (processed under mu after the
	// write) can never be observed before the write that carried it.
	writes, batches uint64
}

func newPeer(r *Router, p Peer, self bool) *peer {
	return &peer{
		r: r, name: p.Name, pool: p.Pool, addr: p.DataAddr, bootID: p.BootID, self: self,
		limit: r.cfg.QueueLimit, maxEvent: r.maxEvent, maxBatch: r.cfg.MaxBatchBytes,
		errFull: fmt.Errorf("%w: peer %s holds %d events", ErrQueueFull, p.Name, r.cfg.QueueLimit),
		kickCh:  make(chan struct{}, 1),
		quitCh:  make(chan struct{}),
		cur:     newBatch(),
	}
}

func (p *peer) kick() {
	select {
	case p.kickCh <- struct{}{}:
	default:
	}
}

func (p *peer) stop() { p.quit.Do(func() { close(p.quitCh) }) }

// admitLocked waits, with p.mu held, until the queue has room for one
// event of kind k. It returns with p.mu held when the error is nil and
// released otherwise.
func (p *peer) admitLocked(ctx context.Context, k sendKind) error {
	for {
		switch {
		case p.state == stateGone, p.state == stateSuspect && k.movable():
			p.mu.Unlock()
			return errRetry
		case p.count < p.limit:
			return nil
		case p.r.cfg.Full == FullDrop:
			p.droppedFull++
			p.mu.Unlock()
			return p.errFull
		}
		if p.roomCh == nil {
			p.roomCh = make(chan struct{})
		}
		ch := p.roomCh
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.quitCh:
			if p.r.closed.Load() {
				return ErrClosed
			}
			return errRetry
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
	}
}

// send encodes ev straight into the open batch. It returns errRetry when
// the peer left the rings and the event should be resolved again.
func (p *peer) send(ctx context.Context, k sendKind, part int32, ev wire.Event) error {
	p.mu.Lock()
	if p.state != stateUp && p.state != stateConnecting || p.count >= p.limit {
		if err := p.admitLocked(ctx, k); err != nil {
			return err
		}
	}
	b := p.cur
	off := len(b.buf)
	b.buf = wire.AppendEvent(b.buf, ev)
	return p.commitLocked(b, off, mkMeta(k, part, false))
}

// sendRaw appends an already encoded event. Re-routed events (force) are
// admitted beyond QueueLimit: they were accepted once already.
func (p *peer) sendRaw(ctx context.Context, raw []byte, m meta, force bool) error {
	p.mu.Lock()
	if force {
		if p.state == stateGone || p.state == stateSuspect && m.kind().movable() {
			p.mu.Unlock()
			return errRetry
		}
	} else if err := p.admitLocked(ctx, m.kind()); err != nil {
		return err
	}
	b := p.cur
	off := len(b.buf)
	b.buf = append(b.buf, raw...)
	return p.commitLocked(b, off, m)
}

// commitLocked records the event appended to b at off and releases p.mu.
func (p *peer) commitLocked(b *batch, off int, m meta) error {
	n := len(b.buf) - off
	if n > p.maxEvent {
		b.buf = b.buf[:off]
		p.mu.Unlock()
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, p.maxEvent)
	}
	b.last = off
	b.metas = append(b.metas, m)
	p.count++
	p.enq++
	if !m.moved() {
		p.sent++
	}
	kick := false
	if len(b.metas) == 1 {
		p.firstAt = time.Now()
		kick = len(p.ready) == 0
	}
	if len(b.buf)-wire.BatchHeaderRoom > p.maxBatch {
		p.cutLocked()
		kick = true
	}
	p.mu.Unlock()
	if kick {
		p.kick()
	}
	return nil
}

// cutLocked seals the open batch, which has just grown past MaxBatchBytes.
// When it holds more than the event that overflowed it, that event starts
// the next batch, so no frame exceeds MaxBatchBytes unless one event does.
func (p *peer) cutLocked() {
	b := p.cur
	p.cur = p.newBatchLocked()
	if len(b.metas) > 1 {
		nb := p.cur
		nb.last = len(nb.buf)
		nb.buf = append(nb.buf, b.buf[b.last:]...)
		nb.metas = append(nb.metas, b.metas[len(b.metas)-1])
		b.buf = b.buf[:b.last]
		b.metas = b.metas[:len(b.metas)-1]
		p.firstAt = time.Now()
	}
	p.sealLocked(b)
}

func (p *peer) newBatchLocked() *batch {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b
	}
	return newBatch()
}

// sealLocked gives b its sequence number and frame and queues it.
func (p *peer) sealLocked(b *batch) {
	p.nextSeq++
	b.seq = p.nextSeq
	frame, err := wire.PutBatchHeader(b.buf, b.seq, len(b.metas))
	if err != nil {
		// b.buf always starts with the reserved room and is bounded by
		// MaxBatchBytes plus one event: an error is a broken invariant.
		panic("route: seal batch: " + err.Error())
	}
	b.frame = frame
	p.ready = append(p.ready, b)
}

// hasReady reports whether a sealed batch waits to be written.
func (p *peer) hasReady() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready) > 0
}

// flushDeadline is when the open batch must be written at the latest.
func (p *peer) flushDeadline() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstAt.Add(p.r.cfg.FlushDelay)
}

// take seals the open batch and moves every sealed batch to inflight,
// appending them to bs, marked as being written. gen guards against a
// connection that was replaced meanwhile.
func (p *peer) take(bs []*batch, gen uint64, now time.Time) []*batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen != gen || p.state != stateUp {
		return bs
	}
	if !p.cur.empty() {
		b := p.cur
		p.cur = p.newBatchLocked()
		p.sealLocked(b)
	}
	for _, b := range p.ready {
		b.sentAt = now
		b.writing = true
		bs = append(bs, b)
		p.inflight = append(p.inflight, b)
		p.writtenSeq = b.seq
	}
	if len(p.ready) > 0 {
		p.writes++
		p.batches += uint64(len(p.ready))
	}
	clear(p.ready)
	p.ready = p.ready[:0]
	return bs
}

// written ends the write of bs; those already acknowledged are recycled.
func (p *peer) written(bs []*batch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range bs {
		b.writing = false
		if b.acked {
			p.freeLocked(b)
		}
	}
}

// ackTimedOut reports whether the oldest unacknowledged batch is older
// than AckTimeout.
func (p *peer) ackTimedOut(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inflight) > 0 && now.Sub(p.inflight[0].sentAt) > p.r.cfg.AckTimeout
}

// ack frees every inflight batch with a sequence number <= seq and returns
// them in acked (reused) for the caller to inspect and recycle.
func (p *peer) ack(seq, gen uint64, acked []*batch) ([]*batch, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.gen {
		return acked, 0, nil // a stale connection: its batches were taken
	}
	if seq > p.writtenSeq {
		return acked, 0, fmt.Errorf("%w: ack %d beyond last batch %d", wire.ErrBadFrame, seq, p.writtenSeq)
	}
	i, n := 0, 0
	for ; i < len(p.inflight) && p.inflight[i].seq <= seq; i++ {
		acked = append(acked, p.inflight[i])
		n += len(p.inflight[i].metas)
	}
	if i == 0 {
		return acked, 0, nil
	}
	rest := copy(p.inflight, p.inflight[i:])
	clear(p.inflight[rest:])
	p.inflight = p.inflight[:rest]
	p.count -= n
	p.done += uint64(n)
	if p.roomCh != nil {
		close(p.roomCh)
		p.roomCh = nil
	}
	return acked, n, nil
}

// recycle keeps a few acknowledged batch buffers for reuse; one still
// being written is recycled by the writer when its write returns.
func (p *peer) recycle(bs []*batch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range bs {
		if b.writing {
			b.acked = true
			continue
		}
		p.freeLocked(b)
	}
}

func (p *peer) freeLocked(b *batch) {
	if len(p.free) >= 4 || cap(b.buf) > 2*p.r.cfg.MaxBatchBytes+wire.BatchHeaderRoom || p.state != stateUp {
		return
	}
	b.reset()
	p.free = append(p.free, b)
}

// evacuateLocked empties the queue of p, which has just become suspect or
// gone (p.mu held). Movable events are returned in moved; the others are
// requeued in order on the peer itself (suspect: sent again on reconnect)
// or returned in kept (gone). The batches are abandoned, never recycled,
// since the writer may still be reading them.
func (p *peer) evacuateLocked(moved, kept []movedEvent) ([]movedEvent, []movedEvent, int) {
	to := p.state
	all := make([]*batch, 0, len(p.inflight)+len(p.ready)+1)
	all = append(append(append(all, p.inflight...), p.ready...), p.cur)
	p.inflight, p.ready = nil, nil
	p.cur = newBatch()
	p.free = nil
	taken := 0
	var requeue []movedEvent
	for _, b := range all {
		b.each(func(raw []byte, m meta) {
			e := movedEvent{raw: raw, part: m.part(), kind: m.kind()}
			taken++
			switch {
			case e.kind.movable():
				moved = append(moved, e)
			case to == stateGone:
				kept = append(kept, e)
			default:
				requeue = append(requeue, e)
			}
		})
	}
	p.done += uint64(taken)
	p.count = 0
	for _, e := range requeue {
		p.cur.last = len(p.cur.buf)
		p.cur.buf = append(p.cur.buf, e.raw...)
		p.cur.metas = append(p.cur.metas, mkMeta(e.kind, e.part, false))
	}
	p.count = len(requeue)
	p.enq += uint64(len(requeue))
	if len(requeue) > 0 {
		p.firstAt = time.Now()
	}
	if p.roomCh != nil {
		close(p.roomCh)
		p.roomCh = nil
	}
	return moved, kept, taken - len(requeue)
}

// setConn records the outbound connection (while dialing too) so that
// Close and retirement can break it.
func (p *peer) setConn(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == stateGone || p.r.closed.Load() {
		return false
	}
	p.conn = c
	return true
}

func (p *peer) clearConn(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == c {
		p.conn = nil
	}
}

// closeConn breaks the current connection, if any.
func (p *peer) closeConn() {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// status reports the state and the queue for Peers.
func (p *peer) status() (state peerState, queued, unacked int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.inflight {
		unacked += len(b.metas)
	}
	return p.state, p.count - unacked, unacked
}

// drainPos returns the events ever added and removed.
func (p *peer) drainPos() (enq, done uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.enq, p.done
}
