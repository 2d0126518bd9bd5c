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

// Frame reader sizes. A connection's buffer starts at initialReadBuf and
// grows only when it is full of bytes actually received: doubling toward
// readTarget while reads keep filling it, and beyond, up to the frame in
// progress, never ahead of the bytes that arrived. A length prefix alone
// never allocates.
const (
	initialReadBuf = 512
	readTarget     = 64 << 10
)

// maxHelloBody bounds a hello frame's body: proto, boot id, two uvarint
// lengths and two names of at most MaxNameLen bytes. It is the frame limit
// until the hello is verified.
const maxHelloBody = 2 + 8 + 2*(binary.MaxVarintLen64+wire.MaxNameLen)

// errFrameTimeout: a frame did not arrive whole within the frame timeout
// of its first byte.
var errFrameTimeout = errors.New("route: frame timeout")

// frameReader reads frames from a connection into one buffer. A frame
// returned by parse or next aliases the buffer and is valid until the next
// fill.
//
// With a frame timeout set, a frame must arrive whole within it of its
// first byte (a read deadline per frame); between frames the connection
// may stay idle. Without one (during the handshake) the connection's
// deadline is the caller's.
type frameReader struct {
	c    net.Conn
	buf  []byte
	r, w int
	max  int    // largest frame body accepted
	pos  uint64 // bytes parsed so far: identifies the frame in progress

	timeout  time.Duration
	inFrame  bool      // a read deadline is set for the frame at framePos
	framePos uint64    // pos of that frame
	readAt   time.Time // when the last read returned bytes
}

func newFrameReader(c net.Conn, max int) *frameReader {
	return &frameReader{c: c, buf: make([]byte, initialReadBuf), max: max}
}

// limit sets the largest frame body and the per-frame timeout (0: none;
// the caller manages the connection's deadline).
func (fr *frameReader) limit(max int, timeout time.Duration) {
	fr.max, fr.timeout = max, timeout
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
		n := fr.w - len(rest) - fr.r
		fr.r += n
		fr.pos += uint64(n)
		return f, true, nil
	case errors.Is(err, wire.ErrShort):
		return f, false, nil
	default:
		return f, false, badFrameError{err}
	}
}

// buffered reports whether unparsed bytes remain in the buffer.
func (fr *frameReader) buffered() bool { return fr.r < fr.w }

// fill reads once, first making room when the buffer is full.
func (fr *frameReader) fill() error {
	if fr.r == fr.w {
		fr.r, fr.w = 0, 0
	}
	if err := fr.arm(); err != nil {
		return err
	}
	switch {
	case fr.w == len(fr.buf):
		fr.makeRoom()
	case fr.r > 0 && fr.need() > len(fr.buf)-fr.r:
		// The frame in progress cannot fit where it starts: move it to
		// the front now rather than read into a small tail.
		fr.compact()
	}
	n, err := fr.c.Read(fr.buf[fr.w:])
	fr.w += n
	if n > 0 {
		fr.readAt = time.Now()
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	var ne net.Error
	if fr.inFrame && errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %d of a frame's bytes in %v", errFrameTimeout, fr.w-fr.r, fr.timeout)
	}
	return err
}

// arm sets the read deadline for the frame in progress, once per frame,
// and clears it between frames. A frame not seen partial at the last call
// began in the last read: its deadline runs from that read, but leaves
// the peer at least a quarter of the timeout from now, so that the time
// this node spent on the frames before it (a slow Deliver) is not charged
// to the peer.
func (fr *frameReader) arm() error {
	if fr.timeout <= 0 {
		return nil
	}
	partial := fr.w > fr.r
	switch {
	case partial && (!fr.inFrame || fr.framePos != fr.pos):
		fr.inFrame, fr.framePos = true, fr.pos
		d := fr.readAt.Add(fr.timeout)
		if floor := time.Now().Add(fr.timeout / 4); d.Before(floor) {
			d = floor
		}
		return fr.c.SetReadDeadline(d)
	case !partial && fr.inFrame:
		fr.inFrame = false
		return fr.c.SetReadDeadline(time.Time{})
	}
	return nil
}

// makeRoom frees or adds room in a full buffer. It grows the buffer (at
// most doubling it, so never beyond twice the bytes received) while it is
// below readTarget or holds only the frame in progress; otherwise it moves
// the unparsed bytes to the front.
func (fr *frameReader) makeRoom() {
	if fr.r > 0 && len(fr.buf) >= readTarget {
		fr.compact()
		return
	}
	limit := max(readTarget, fr.need())
	size := min(2*len(fr.buf), limit)
	if size <= len(fr.buf) {
		// Full of a frame that fits: unreachable, since parse would have
		// returned it; make room anyway rather than read nothing.
		size = len(fr.buf) + initialReadBuf
	}
	nb := make([]byte, size)
	fr.w = copy(nb, fr.buf[fr.r:fr.w])
	fr.r, fr.buf = 0, nb
}

// need is the size of the frame in progress, header included, once its
// length prefix has arrived (parse has checked it against max), else 0.
func (fr *frameReader) need() int {
	if fr.w-fr.r < 4 {
		return 0
	}
	return wire.HeaderSize + int(binary.BigEndian.Uint32(fr.buf[fr.r:]))
}

func (fr *frameReader) compact() {
	fr.w = copy(fr.buf, fr.buf[fr.r:fr.w])
	fr.r = 0
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
