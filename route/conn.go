package route

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"shoal/internal/wire"
)

// errQuit ends a peer's goroutine: the peer was retired or the router closed.
var errQuit = errors.New("route: peer retired")

// errBadHello: the peer answered the handshake as someone else.
var errBadHello = errors.New("route: unexpected hello")

// errRefused: the transport refused the identity the peer answered with.
var errRefused = errors.New("route: peer refused")

// errAckTimeout: a batch stayed unacknowledged longer than AckTimeout.
var errAckTimeout = errors.New("route: ack timeout")

// run is the peer's goroutine: dial, handshake, write batches until the
// connection breaks, then fail over and reconnect with backoff until the
// peer is retired or the router closes.
func (p *peer) run() {
	r := p.r
	backoff := r.cfg.ReconnectInterval
	failed := false
	for {
		c, fr, err := p.connect()
		if err == nil {
			gen, ok := r.recover(p, c, failed)
			if !ok {
				_ = c.Close()
				return
			}
			backoff = r.cfg.ReconnectInterval
			err = p.serve(c, fr, gen)
			_ = c.Close()
			p.clearConn(c)
		}
		if p.quitting() {
			return
		}
		r.suspect(p, err)
		failed = true
		if !p.sleep(backoff) {
			return
		}
		backoff = min(2*backoff, maxReconnectBackoffFactor*r.cfg.ReconnectInterval)
	}
}

func (p *peer) quitting() bool {
	select {
	case <-p.quitCh:
		return true
	default:
		return false
	}
}

// sleep waits d, or returns false when the peer quits.
func (p *peer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.quitCh:
		return false
	}
}

// handshakeTimeout bounds dialing, the transport's handshake and the
// hello exchange, and every write.
func (r *Router) handshakeTimeout() time.Duration {
	return max(r.cfg.HandshakeTimeout, 10*time.Millisecond)
}

// connect dials the peer and exchanges hellos; the peer must answer with
// the name and boot id the view holds for it.
func (p *peer) connect() (net.Conn, *frameReader, error) {
	r := p.r
	ctx, cancel := context.WithTimeout(r.ctx, r.handshakeTimeout())
	defer cancel()
	c, err := r.cfg.Transport.Dial(ctx, Peer{Name: p.name, Pool: p.pool, DataAddr: p.addr, BootID: p.bootID})
	if err != nil {
		return nil, nil, fmt.Errorf("route: dial %s: %w", p.addr, err)
	}
	if !p.setConn(c) {
		_ = c.Close()
		return nil, nil, errQuit
	}
	fail := func(err error) (net.Conn, *frameReader, error) {
		_ = c.Close()
		p.clearConn(c)
		return nil, nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	if _, err := c.Write(wire.AppendHello(nil, r.hello)); err != nil {
		return fail(fmt.Errorf("route: hello to %s: %w", p.addr, err))
	}
	fr := newFrameReader(c, maxHelloBody)
	f, err := fr.next()
	if err != nil {
		return fail(fmt.Errorf("route: hello from %s: %w", p.addr, err))
	}
	h, err := f.Hello()
	if err != nil {
		return fail(fmt.Errorf("route: hello from %s: %w", p.addr, err))
	}
	if h.Name != p.name || h.BootID != p.bootID || h.Pool != p.pool || h.Proto != wire.Proto {
		r.stats.refused.Add(1)
		return fail(fmt.Errorf("%w: %s answered as %q of %q boot %d proto %d, want %q of %q boot %d proto %d",
			errBadHello, p.addr, h.Name, h.Pool, h.BootID, h.Proto, p.name, p.pool, p.bootID, wire.Proto))
	}
	if err := r.cfg.Transport.Verify(c, Peer{Name: h.Name, Pool: h.Pool, BootID: h.BootID}); err != nil {
		r.stats.refused.Add(1)
		return fail(fmt.Errorf("%w: %s: %w", errRefused, p.addr, err))
	}
	_ = c.SetDeadline(time.Time{})
	fr.limit(r.maxAck, r.cfg.FrameTimeout)
	return c, fr, nil
}

// serve writes batches to c until it breaks. A reader goroutine consumes
// acknowledgements.
func (p *peer) serve(c net.Conn, fr *frameReader, gen uint64) error {
	r := p.r
	errCh := make(chan error, 1)
	if !r.goRoutine(func() { errCh <- p.readAcks(fr, gen) }) {
		return errQuit
	}
	defer func() {
		_ = c.Close()
		<-errCh
	}()
	check := min(max(r.cfg.AckTimeout/4, time.Millisecond), 250*time.Millisecond)
	ticker := time.NewTicker(check)
	defer ticker.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var lastWrite time.Time
	var bufs [][]byte
	var bs []*batch
	for {
		now := time.Now()
		at, ok := p.nextWrite(now, lastWrite)
		if ok && !at.After(now) {
			if bs = p.take(bs[:0], gen, now); len(bs) > 0 {
				if err := p.write(c, bs, bufs[:0], now); err != nil {
					return err
				}
				clear(bs)
				lastWrite = time.Now()
				continue
			}
			ok = false // replaced or retired: wait for the reader to end
		}
		if ok {
			timer.Reset(at.Sub(now))
		}
		select {
		case <-p.kickCh:
		case <-timer.C:
		case now := <-ticker.C:
			if p.ackTimedOut(now) {
				return fmt.Errorf("%w: peer %s", errAckTimeout, p.name)
			}
		case err := <-errCh:
			errCh <- err // for the deferred wait
			return err
		case <-p.quitCh:
			return errQuit
		}
		timer.Stop()
	}
}

// write writes the frames of bs to c in one write or writev call.
func (p *peer) write(c net.Conn, bs []*batch, bufs [][]byte, now time.Time) error {
	_ = c.SetWriteDeadline(now.Add(p.r.handshakeTimeout()))
	var err error
	if len(bs) == 1 {
		_, err = c.Write(bs[0].frame)
	} else {
		for _, b := range bs {
			bufs = append(bufs, b.frame)
		}
		nb := net.Buffers(bufs)
		_, err = nb.WriteTo(c)
		clear(bufs)
	}
	p.written(bs)
	if err != nil {
		return fmt.Errorf("route: write to %s: %w", p.name, err)
	}
	return nil
}

// readAcks consumes the peer's acknowledgements until the connection
// breaks; anything but a well-formed ack of what was written is a protocol
// error.
func (p *peer) readAcks(fr *frameReader, gen uint64) error {
	r := p.r
	var a wire.Ack
	var res ackResult
	for {
		f, err := fr.next()
		if err != nil {
			if errors.Is(err, errFrameTimeout) {
				r.stats.frameTimeouts.Add(1)
			}
			return fmt.Errorf("route: read from %s: %w", p.name, err)
		}
		if a, err = f.Ack(a.Runs); err == nil {
			res.reset()
			now := time.Now()
			if err = p.ack(&a, gen, now, &res); err == nil {
				r.settle(p, &res, now)
				continue
			}
		}
		r.stats.badFrames.Add(1)
		return fmt.Errorf("route: from %s: %w", p.name, err)
	}
}
