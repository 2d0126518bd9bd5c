package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
)

// MaxString bounds every string field of an event; longer ones are refused
// by the decoder (and truncated by nobody: encoders trust their callers).
const MaxString = 1 << 20

// AppendString appends a uvarint length and the bytes of s.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// reader decodes the fields of one event payload in order. The first error
// sticks; later reads return zero values, so a decoder reads every field and
// checks err once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", err, what)
	}
	r.b = nil
}

func (r *reader) varint(what string) int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what, ErrShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint(what string) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what, ErrShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) u16(what string) uint16 {
	v := r.uvarint(what)
	if v > math.MaxUint16 {
		r.fail(what, ErrBadValue)
		return 0
	}
	return uint16(v)
}

func (r *reader) u8(what string) uint8 {
	if len(r.b) < 1 {
		r.fail(what, ErrShort)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) f64(what string) float64 {
	if len(r.b) < 8 {
		r.fail(what, ErrShort)
		return 0
	}
	v := math.Float64frombits(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) addr(what string) netip.Addr {
	if r.err != nil {
		return netip.Addr{}
	}
	a, rest, err := ReadAddr(r.b)
	if err != nil {
		r.fail(what, err)
		return netip.Addr{}
	}
	r.b = rest
	return a
}

func (r *reader) str(what string) string {
	n := r.uvarint(what)
	if r.err != nil {
		return ""
	}
	if n > MaxString {
		r.fail(what, ErrBadValue)
		return ""
	}
	if uint64(len(r.b)) < n {
		r.fail(what, ErrShort)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// bytes reads a uvarint length and returns a copy of that many bytes.
func (r *reader) bytes(what string) []byte {
	s := r.str(what)
	if r.err != nil || s == "" {
		return nil
	}
	return []byte(s)
}

func (r *reader) fixed(what string, dst []byte) {
	if len(r.b) < len(dst) {
		r.fail(what, ErrShort)
		return
	}
	copy(dst, r.b)
	r.b = r.b[len(dst):]
}

// done returns the first error, or an error for trailing bytes.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadValue, len(r.b))
	}
	return r.err
}

func appendF64(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}
