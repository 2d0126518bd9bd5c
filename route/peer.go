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

// errRetry tells a sender that the peer it resolved left the rings between
// the routing-table load and the enqueue: resolve again.
var errRetry = errors.New("route: retry")

// peer is one remote member: its outbound queue, its connection and the
// goroutine that writes batches to it. The self peer has self set and no
// queue.
//
// Queue order: events answered busy (retry) go out first, once the busy
// backoff has passed; then the closed batches (ready) and the open one
// (cur). Sequence numbers are given when a batch is taken for writing, so
// they ascend in write order on every connection.
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

	kickCh chan struct{} // cap 1: producers and the ack reader -> writer
	quitCh chan struct{} // closed when the peer is retired or the router closes
	quit   sync.Once

	mu sync.Mutex
	// state is the peer's lifecycle (lifecycle.go): written holding r.mu
	// and mu, read holding either.
	state      peerState
	cur        *batch   // open batch, appended to by senders
	ready      []*batch // closed at MaxBatchBytes, not yet written
	retry      []*batch // events answered busy, written first after busyUntil
	inflight   []*batch // written, not yet answered (ascending seq)
	count      int      // events in cur, ready, retry and inflight
	nextSeq    uint64   // last sequence number given
	writtenSeq uint64   // last sequence number moved to inflight
	firstAt    time.Time
	free       []*batch
	conn       net.Conn      // current outbound connection (also while dialing)
	gen        uint64        // connection generation, to ignore stale acks
	roomCh     chan struct{} // closed when room frees up; nil without waiters
	enq, done  uint64        // events ever added / removed, for Drain
	// lastAnswer is when the peer last acknowledged anything: the ack
	// timeout runs from it (or from the oldest write, if later), so a
	// peer that keeps answering, if only busy, is never timed out.
	lastAnswer time.Time
	// busyUntil: no batch is written before it (backoff after a busy
	// answer); busyBackoff is the current backoff, 0 when not backing off.
	busyUntil   time.Time
	busyBackoff time.Duration
	// rate estimates the events per second written to the peer (an
	// exponentially weighted average over writes); lastTake is when the
	// writer last took batches.
	rate     float64
	lastTake time.Time

	sent        uint64 // events accepted by send
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
// the peer left the rings and the event should be resolved again. tr is
// the event's tracker, or nil.
func (p *peer) send(ctx context.Context, k sendKind, part int32, ev wire.Event, tr Tracker) error {
	p.mu.Lock()
	if !p.state.inRings() || p.count >= p.limit {
		if err := p.admitLocked(ctx, k); err != nil {
			return err
		}
	}
	b := p.cur
	off := len(b.buf)
	b.buf = wire.AppendEvent(b.buf, ev)
	return p.commitLocked(b, off, mkMeta(k, part, false), tr)
}

// sendRaw appends an already encoded event. Re-routed events (force) are
// admitted beyond QueueLimit: they were accepted once already.
func (p *peer) sendRaw(ctx context.Context, raw []byte, m meta, tr Tracker, force bool) error {
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
	return p.commitLocked(b, off, m, tr)
}

// commitLocked records the event appended to b at off and releases p.mu.
func (p *peer) commitLocked(b *batch, off int, m meta, tr Tracker) error {
	n := len(b.buf) - off
	if n > p.maxEvent {
		b.buf = b.buf[:off]
		p.mu.Unlock()
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, p.maxEvent)
	}
	b.last = off
	if tr != nil {
		m |= metaTracked
		b.trackers = append(b.trackers, tr)
	}
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
	if b.size() > p.maxBatch {
		p.cutLocked()
		kick = true
	}
	p.mu.Unlock()
	if kick {
		p.kick()
	}
	return nil
}

// cutLocked closes the open batch, which has just grown past
// MaxBatchBytes. When it holds more than the event that overflowed it,
// that event starts the next batch, so no frame exceeds MaxBatchBytes
// unless one event does.
func (p *peer) cutLocked() {
	b := p.cur
	p.cur = p.newBatchLocked()
	if len(b.metas) > 1 {
		last := b.metas[len(b.metas)-1]
		var tr Tracker
		if last.tracked() {
			tr = b.trackers[len(b.trackers)-1]
			b.trackers[len(b.trackers)-1] = nil
			b.trackers = b.trackers[:len(b.trackers)-1]
		}
		p.cur.add(b.buf[b.last:], last, tr)
		b.buf = b.buf[:b.last]
		b.metas = b.metas[:len(b.metas)-1]
		p.firstAt = time.Now()
	}
	p.ready = append(p.ready, b)
}

func (p *peer) newBatchLocked() *batch {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b
	}
	return newBatch()
}

// unsentLocked reports whether any event waits to be written.
func (p *peer) unsentLocked() bool {
	return len(p.retry) > 0 || len(p.ready) > 0 || !p.cur.empty()
}

// lingerMinEvents: the writer waits for a batch to fill only if, at the
// peer's event rate, FlushDelay gathers at least this many events.
const lingerMinEvents = 8

// rateAlpha is the weight of the newest sample in the event rate.
const rateAlpha = 0.25

// nextWrite reports when the writer should write next, given when it last
// wrote; ok is false when nothing waits. Events answered busy wait for the
// backoff; a full batch or a retry goes at once; an open batch goes at
// once from an idle writer or at a low event rate, and otherwise once its
// oldest event has waited FlushDelay, so that it fills.
func (p *peer) nextWrite(now, lastWrite time.Time) (at time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.unsentLocked():
		return time.Time{}, false
	case now.Before(p.busyUntil):
		return p.busyUntil, true
	case len(p.retry) > 0 || len(p.ready) > 0:
		return now, true
	}
	fd := p.r.cfg.FlushDelay
	if now.Sub(lastWrite) >= fd || p.rate*fd.Seconds() < lingerMinEvents {
		return now, true
	}
	return p.firstAt.Add(fd), true
}

// noteRateLocked folds n events taken at now into the rate estimate.
func (p *peer) noteRateLocked(n int, now time.Time) {
	if !p.lastTake.IsZero() {
		dt := max(now.Sub(p.lastTake).Seconds(), 1e-5)
		p.rate += rateAlpha * (float64(n)/dt - p.rate)
	}
	p.lastTake = now
}

// take moves every batch waiting to be written to inflight, in write order
// (retries first), giving each its sequence number and frame, and appends
// them to bs marked as being written. It takes nothing during a busy
// backoff. gen guards against a connection that was replaced meanwhile.
func (p *peer) take(bs []*batch, gen uint64, now time.Time) []*batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen != gen || p.state != stateUp || now.Before(p.busyUntil) {
		return bs
	}
	n := len(bs)
	bs = append(bs, p.retry...)
	clear(p.retry)
	p.retry = p.retry[:0]
	bs = append(bs, p.ready...)
	clear(p.ready)
	p.ready = p.ready[:0]
	if !p.cur.empty() {
		bs = append(bs, p.cur)
		p.cur = p.newBatchLocked()
	}
	events := 0
	for _, b := range bs[n:] {
		events += len(b.metas)
		p.nextSeq++
		b.seq = p.nextSeq
		frame, err := wire.PutBatchHeader(b.buf, b.seq, len(b.metas))
		if err != nil {
			// b.buf always starts with the reserved room and is bounded by
			// MaxBatchBytes plus one event: an error is a broken invariant.
			panic("route: seal batch: " + err.Error())
		}
		b.frame = frame
		b.sentAt = now
		b.writing = true
		p.inflight = append(p.inflight, b)
		p.writtenSeq = b.seq
	}
	if len(bs) > n {
		p.writes++
		p.batches += uint64(len(bs) - n)
		p.noteRateLocked(events, now)
	}
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

// ackTimedOut reports whether the peer has left a written batch
// unanswered for longer than AckTimeout: since the oldest unanswered write
// or the last answer, whichever is later.
func (p *peer) ackTimedOut(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.inflight) == 0 {
		return false
	}
	since := p.inflight[0].sentAt
	if p.lastAnswer.After(since) {
		since = p.lastAnswer
	}
	return now.Sub(since) > p.r.cfg.AckTimeout
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
	all := make([]*batch, 0, len(p.retry)+len(p.inflight)+len(p.ready)+1)
	all = append(append(append(append(all, p.retry...), p.inflight...), p.ready...), p.cur)
	p.retry, p.inflight, p.ready = nil, nil, nil
	p.cur = newBatch()
	p.free = nil
	p.busyUntil, p.busyBackoff = time.Time{}, 0
	taken := 0
	var requeue []movedEvent
	for _, b := range all {
		b.each(func(raw []byte, m meta, tr Tracker) {
			e := movedEvent{raw: raw, part: m.part(), kind: m.kind(), tries: m.tries(), tr: tr}
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
	for _, e := range requeue {
		p.cur.add(e.raw, mkMeta(e.kind, e.part, false), e.tr)
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
