package route

import (
	"errors"
	"fmt"
	"net"
	"time"

	"shoal/internal/wire"
)

// acceptLoop accepts inbound event connections until the listener closes.
func (r *Router) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := r.cfg.Transport.Accept()
		if err != nil {
			if r.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if ok, n := r.limit.allow("accept"); ok {
				r.log.Warn().Err(err).Dur("backoff", backoff).Int("suppressed", n).Msg("accept failed")
			}
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		src, err := r.admitInbound(c)
		if err != nil {
			_ = c.Close()
			if errors.Is(err, ErrClosed) {
				return
			}
			r.stats.inboundRefused.Add(1)
			if ok, n := r.limit.allow("refused " + src); ok {
				r.log.Warn().Err(err).Str("source", src).Int("suppressed", n).Msg("inbound connection refused")
			}
			continue
		}
		if !r.goRoutine(func() { r.serveInbound(c, src) }) {
			_ = c.Close()
			r.untrackInbound(c, src, true)
			return
		}
	}
}

// Inbound limits.
var (
	errTooManyInbound    = errors.New("route: too many inbound connections")
	errTooManyHandshakes = errors.New("route: too many handshakes from one source")
)

// sourceOf is the host part of a remote address (the whole address when it
// has no port).
func sourceOf(a net.Addr) string {
	s := a.String()
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}

// admitInbound registers a new inbound connection, within MaxInbound
// connections and MaxHandshakesPerSource handshakes from its source.
func (r *Router) admitInbound(c net.Conn) (src string, err error) {
	src = sourceOf(c.RemoteAddr())
	r.imu.Lock()
	defer r.imu.Unlock()
	switch {
	case r.closed.Load():
		return src, ErrClosed
	case len(r.inbound) >= r.cfg.MaxInbound:
		return src, fmt.Errorf("%w: %d", errTooManyInbound, len(r.inbound))
	case r.handshaking[src] >= r.cfg.MaxHandshakesPerSource:
		return src, fmt.Errorf("%w: %d from %s", errTooManyHandshakes, r.handshaking[src], src)
	}
	r.inbound[c] = struct{}{}
	r.handshaking[src]++
	return src, nil
}

// handshakeDone ends the handshake of a connection from src.
func (r *Router) handshakeDone(src string) {
	r.imu.Lock()
	defer r.imu.Unlock()
	if r.handshaking[src]--; r.handshaking[src] <= 0 {
		delete(r.handshaking, src)
	}
}

func (r *Router) untrackInbound(c net.Conn, src string, handshaking bool) {
	if handshaking {
		r.handshakeDone(src)
	}
	r.imu.Lock()
	defer r.imu.Unlock()
	delete(r.inbound, c)
}

// badFrame counts and logs, at a rate limit per source, a protocol
// violation on an inbound connection.
func (r *Router) badFrame(remote string, err error) {
	r.stats.badFrames.Add(1)
	if ok, n := r.limit.allow("bad_frame " + remote); ok {
		r.log.Warn().Err(err).Str("remote", remote).Int("suppressed", n).Msg("bad frame, closing connection")
	}
}

// serveInbound runs one inbound connection: hello exchange, then batches
// delivered in order, committed and acknowledged once per read burst.
func (r *Router) serveInbound(c net.Conn, src string) {
	defer c.Close()
	remote := c.RemoteAddr().String()
	fr := newFrameReader(c, maxHelloBody)
	from, ok := r.acceptHello(c, fr, src)
	r.handshakeDone(src)
	defer r.untrackInbound(c, src, false)
	if !ok {
		return
	}
	fr.limit(r.cfg.MaxFrameSize, r.cfg.FrameTimeout)
	log := r.log.With().Str("peer", from.Name).Str("remote", remote).Logger()
	log.Debug().Msg("inbound connection")

	var ans answer
	var ackBuf []byte
	var last uint64
	// A slow burst is answered in parts, so that a sender hears from a
	// receiver that is slow but alive before its ack timeout.
	progress := max(r.cfg.AckTimeout/4, time.Millisecond)
	var began time.Time
	for {
		for {
			f, ok, err := fr.parse()
			if err == nil && ok {
				var bt wire.Batch
				if bt, err = f.Batch(); err == nil && bt.Seq <= last {
					err = fmt.Errorf("%w: batch %d after %d", wire.ErrBadFrame, bt.Seq, last)
				}
				if err == nil {
					if !ans.pending() {
						began = time.Now()
					}
					r.deliverBatch(from, bt, &ans)
					last = bt.Seq
					if ans.size() < r.cfg.MaxFrameSize && time.Since(began) < progress {
						continue
					}
					break // a long or slow answer goes out now, at a batch boundary
				}
				err = badFrameError{err}
			}
			if err != nil {
				r.badFrame(src, err)
				return
			}
			break
		}
		if ans.pending() {
			r.commit(from, &ans)
			ackBuf = wire.AppendAck(ackBuf[:0], ans.ack)
			ans.reset()
			_ = c.SetWriteDeadline(time.Now().Add(r.handshakeTimeout()))
			if _, err := c.Write(ackBuf); err != nil {
				log.Debug().Err(err).Msg("ack write failed")
				return
			}
			r.stats.acksSent.Add(1)
			if fr.buffered() {
				continue // the burst was cut: parse the rest before reading
			}
		}
		if err := fr.fill(); err != nil {
			if errors.Is(err, errFrameTimeout) {
				r.stats.frameTimeouts.Add(1)
				if ok, n := r.limit.allow("frame_timeout " + src); ok {
					log.Warn().Err(err).Int("suppressed", n).Msg("frame timeout, closing connection")
				}
				return
			}
			log.Debug().Err(err).Msg("inbound connection closed")
			return
		}
	}
}

// acceptHello reads the peer's hello within the handshake deadline, lets
// the transport verify it, and answers with this node's hello.
func (r *Router) acceptHello(c net.Conn, fr *frameReader, src string) (Sender, bool) {
	_ = c.SetDeadline(time.Now().Add(r.handshakeTimeout()))
	var h wire.Hello
	f, err := fr.next()
	if err == nil {
		if h, err = f.Hello(); err == nil && h.Proto != wire.Proto {
			err = fmt.Errorf("%w: protocol %d, want %d", wire.ErrVersion, h.Proto, wire.Proto)
		}
		if err != nil {
			err = badFrameError{err}
		}
	}
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, new(badFrameError)):
			r.badFrame(src, err)
		case errors.As(err, &ne) && ne.Timeout():
			r.stats.handshakeTimeouts.Add(1)
			if ok, n := r.limit.allow("handshake_timeout " + src); ok {
				r.log.Warn().Err(err).Str("source", src).Int("suppressed", n).Msg("handshake timeout, closing connection")
			}
		default:
			r.log.Debug().Err(err).Str("source", src).Msg("inbound handshake failed")
		}
		return Sender{}, false
	}
	if err := r.cfg.Transport.Verify(c, Peer{Name: h.Name, Pool: h.Pool, BootID: h.BootID}); err != nil {
		r.stats.refused.Add(1)
		if ok, n := r.limit.allow("refused " + src); ok {
			r.log.Warn().Err(err).Str("source", src).Str("peer", h.Name).Str("pool", h.Pool).Int("suppressed", n).
				Msg("inbound hello refused")
		}
		return Sender{}, false
	}
	if _, err := c.Write(wire.AppendHello(nil, r.hello)); err != nil {
		r.log.Debug().Err(err).Str("source", src).Msg("inbound handshake failed")
		return Sender{}, false
	}
	_ = c.SetDeadline(time.Time{})
	return Sender{Name: h.Name, Pool: h.Pool}, true
}

// deliverBatch runs Deliver for every event of bt and records the
// outcomes in ans.
func (r *Router) deliverBatch(from Sender, bt wire.Batch, ans *answer) {
	if !ans.pending() {
		ans.ack.First = bt.Seq
	}
	ans.ack.Last = bt.Seq
	deliver := r.cfg.Deliver
	it := bt.Events()
	for it.Next() {
		ans.add(deliver(from, it.Type(), it.Payload()))
	}
}

// commit runs the Commit hook for the events ans answers OK; when it
// fails, they are answered busy instead. It fills in the ring checksum and
// counts the outcomes.
func (r *Router) commit(from Sender, ans *answer) {
	if ans.ok > 0 && r.cfg.Commit != nil {
		if err := r.cfg.Commit(from); err != nil {
			r.stats.commitFailed.Add(1)
			if ok, n := r.limit.allow("commit"); ok {
				r.log.Warn().Err(err).Str("peer", from.Name).Int("events", ans.ok).Int("suppressed", n).
					Msg("commit failed, answering busy")
			}
			ans.allBusy()
		}
	}
	ans.ack.Ring = r.ownRing()
	r.stats.received.Add(uint64(ans.ok))
	r.stats.answeredBusy.Add(uint64(ans.busy))
	r.stats.answeredNotOwner.Add(uint64(ans.notOwner))
}

// ownRing is the checksum of this node's ring for its own pool.
func (r *Router) ownRing() uint64 {
	if pt := r.table.Load().pool(r.self.pool); pt != nil && pt.ring != nil {
		return pt.ring.Checksum()
	}
	return 0
}

// answer accumulates the outcomes of the batches of one read burst into
// one ack. It is reused.
type answer struct {
	ack                wire.Ack
	ok, busy, notOwner int
	spare              []wire.Run
}

func (a *answer) pending() bool { return a.ack.First != 0 }

func (a *answer) reset() {
	a.ack = wire.Ack{Runs: a.ack.Runs[:0]}
	a.ok, a.busy, a.notOwner = 0, 0, 0
}

// size bounds the encoded size of the ack so far.
func (a *answer) size() int { return 64 + 21*len(a.ack.Runs) }

// add records the outcome of the next event.
func (a *answer) add(o Outcome) {
	i := a.ack.Events
	a.ack.Events++
	switch o {
	case OK:
		a.ok++
		return
	case Busy:
		a.busy++
	default:
		o = NotOwner // anything else from Deliver is a refusal to own
		a.notOwner++
	}
	a.appendRun(i, 1, o)
}

func (a *answer) appendRun(start, n uint64, o Outcome) {
	if n == 0 {
		return
	}
	if k := len(a.ack.Runs); k > 0 {
		if l := &a.ack.Runs[k-1]; l.Outcome == o && l.Start+l.Len == start {
			l.Len += n
			return
		}
	}
	a.ack.Runs = append(a.ack.Runs, wire.Run{Start: start, Len: n, Outcome: o})
}

// allBusy answers busy every event answered OK (the commit failed).
func (a *answer) allBusy() {
	runs := a.ack.Runs
	a.ack.Runs, a.spare = a.spare[:0], runs
	pos := uint64(0)
	for _, r := range runs {
		a.appendRun(pos, r.Start-pos, Busy)
		a.appendRun(r.Start, r.Len, r.Outcome)
		pos = r.Start + r.Len
	}
	a.appendRun(pos, a.ack.Events-pos, Busy)
	a.busy += a.ok
	a.ok = 0
}
