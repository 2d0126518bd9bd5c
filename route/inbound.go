package route

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"shoal/internal/wire"
)

// frameReader reads frames from a connection into one growing buffer. A
// frame returned by parse or next aliases the buffer and is valid until the
// next fill.
type frameReader struct {
	c    net.Conn
	buf  []byte
	r, w int
	max  int
}

func newFrameReader(c net.Conn, max, size int) *frameReader {
	return &frameReader{c: c, buf: make([]byte, size), max: max}
}

// badFrameError marks a protocol violation by the remote side, as opposed
// to an I/O error.
type badFrameError struct{ err error }

func (e badFrameError) Error() string { return e.err.Error() }
func (e badFrameError) Unwrap() error { return e.err }

// parse returns the next buffered frame, or ok == false when more bytes
// are needed.
func (fr *frameReader) parse() (f wire.Frame, ok bool, err error) {
	f, rest, err := wire.ParseFrame(fr.buf[fr.r:fr.w], fr.max)
	switch {
	case err == nil:
		fr.r = fr.w - len(rest)
		return f, true, nil
	case errors.Is(err, wire.ErrShort):
		return f, false, nil
	default:
		return f, false, badFrameError{err}
	}
}

// fill reads once, first making room for the frame in progress.
func (fr *frameReader) fill() error {
	if fr.r == fr.w {
		fr.r, fr.w = 0, 0
	}
	need := wire.HeaderSize
	if fr.w-fr.r >= 4 {
		// parse has checked the prefix against max.
		need += int(binary.BigEndian.Uint32(fr.buf[fr.r:]))
	}
	switch {
	case need > len(fr.buf):
		nb := make([]byte, max(need, 2*len(fr.buf)))
		fr.w = copy(nb, fr.buf[fr.r:fr.w])
		fr.r, fr.buf = 0, nb
	case need > len(fr.buf)-fr.r || fr.w == len(fr.buf):
		fr.w = copy(fr.buf, fr.buf[fr.r:fr.w])
		fr.r = 0
	}
	n, err := fr.c.Read(fr.buf[fr.w:])
	fr.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// next returns the next frame, reading as needed.
func (fr *frameReader) next() (wire.Frame, error) {
	for {
		f, ok, err := fr.parse()
		if err != nil || ok {
			return f, err
		}
		if err := fr.fill(); err != nil {
			return f, err
		}
	}
}

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
		if !r.trackInbound(c) || !r.goRoutine(func() { r.serveInbound(c) }) {
			_ = c.Close()
			r.untrackInbound(c)
			return
		}
	}
}

func (r *Router) trackInbound(c net.Conn) bool {
	r.imu.Lock()
	defer r.imu.Unlock()
	if r.closed.Load() {
		return false
	}
	r.inbound[c] = struct{}{}
	return true
}

func (r *Router) untrackInbound(c net.Conn) {
	r.imu.Lock()
	defer r.imu.Unlock()
	delete(r.inbound, c)
}

// badFrame counts and logs, at a rate limit, a protocol violation on an
// inbound connection.
func (r *Router) badFrame(remote string, err error) {
	r.stats.badFrames.Add(1)
	if ok, n := r.limit.allow("bad_frame " + remote); ok {
		r.log.Warn().Err(err).Str("remote", remote).Int("suppressed", n).Msg("bad frame, closing connection")
	}
}

// serveInbound runs one inbound connection: hello exchange, then batches
// delivered in order and acknowledged once per read burst.
func (r *Router) serveInbound(c net.Conn) {
	defer r.untrackInbound(c)
	defer c.Close()
	remote := c.RemoteAddr().String()
	fr := newFrameReader(c, r.cfg.MaxFrameSize, 64<<10)
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
		if errors.As(err, new(badFrameError)) {
			r.badFrame(remote, err)
		} else {
			r.log.Debug().Err(err).Str("remote", remote).Msg("inbound handshake failed")
		}
		return
	}
	if err := r.cfg.Transport.Verify(c, Peer{Name: h.Name, Pool: h.Pool, BootID: h.BootID}); err != nil {
		r.stats.refused.Add(1)
		if ok, n := r.limit.allow("refused " + remote); ok {
			r.log.Warn().Err(err).Str("remote", remote).Str("peer", h.Name).Str("pool", h.Pool).Int("suppressed", n).
				Msg("inbound connection refused")
		}
		return
	}
	from := h.Name
	if _, err := c.Write(wire.AppendHello(nil, r.hello)); err != nil {
		r.log.Debug().Err(err).Str("remote", remote).Msg("inbound handshake failed")
		return
	}
	_ = c.SetDeadline(time.Time{})
	log := r.log.With().Str("peer", from).Str("remote", remote).Logger()
	log.Debug().Msg("inbound connection")

	deliver := r.cfg.Deliver
	var ackBuf []byte
	var last uint64
	for {
		acked := false
		for {
			f, ok, err := fr.parse()
			if err == nil && ok {
				var bt wire.Batch
				if bt, err = f.Batch(); err == nil && bt.Seq <= last {
					err = fmt.Errorf("%w: batch %d after %d", wire.ErrBadFrame, bt.Seq, last)
				}
				if err == nil {
					it := bt.Events()
					for it.Next() {
						deliver(from, it.Type(), it.Payload())
					}
					r.stats.received.Add(uint64(bt.Count))
					last, acked = bt.Seq, true
					continue
				}
				err = badFrameError{err}
			}
			if err != nil {
				r.badFrame(remote, err)
				return
			}
			break
		}
		if acked {
			ackBuf = wire.AppendAck(ackBuf[:0], last)
			_ = c.SetWriteDeadline(time.Now().Add(r.handshakeTimeout()))
			if _, err := c.Write(ackBuf); err != nil {
				log.Debug().Err(err).Msg("ack write failed")
				return
			}
			r.stats.acksSent.Add(1)
		}
		if err := fr.fill(); err != nil {
			log.Debug().Err(err).Msg("inbound connection closed")
			return
		}
	}
}
