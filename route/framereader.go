package route

import (
	"encoding/binary"
	"errors"
	"io"
	"net"

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

// buffered reports whether unparsed bytes remain in the buffer.
func (fr *frameReader) buffered() bool { return fr.r < fr.w }
