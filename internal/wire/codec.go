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

// Reader decodes the fields of one event payload in order. The first error
// sticks; later reads return zero values, so a decoder reads every field and
// checks Done once at the end:
//
//	r := wire.NewReader(b)
//	e.TS = r.Varint("ts")
//	e.Host = r.Addr("host")
//	return r.Done()
//
// A Reader never panics on malformed input. The zero value reads nothing.
type Reader struct {
	b   []byte
	err error
}

// NewReader returns a Reader over b. Strings and byte slices it returns
// are copies: b is not retained beyond the Reader.
func NewReader(b []byte) Reader { return Reader{b: b} }

// Fail records err (wrapped with what) unless an error is already recorded,
// and stops reading.
func (r *Reader) Fail(what string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", err, what)
	}
	r.b = nil
}

// Err returns the first error recorded.
func (r *Reader) Err() error { return r.err }

// Varint reads a signed varint.
func (r *Reader) Varint(what string) int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.Fail(what, ErrShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint(what string) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.Fail(what, ErrShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// U16 reads an unsigned varint that must fit 16 bits.
func (r *Reader) U16(what string) uint16 {
	v := r.Uvarint(what)
	if v > math.MaxUint16 {
		r.Fail(what, ErrBadValue)
		return 0
	}
	return uint16(v)
}

// U8 reads one byte.
func (r *Reader) U8(what string) uint8 {
	if len(r.b) < 1 {
		r.Fail(what, ErrShort)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// Bool reads one byte that must be 0 or 1.
func (r *Reader) Bool(what string) bool {
	switch r.U8(what) {
	case 0:
		return false
	case 1:
		return true
	}
	r.Fail(what, ErrBadValue)
	return false
}

// F64 reads a float64 written by AppendF64.
func (r *Reader) F64(what string) float64 {
	if len(r.b) < 8 {
		r.Fail(what, ErrShort)
		return 0
	}
	v := math.Float64frombits(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

// Addr reads an address written by AppendAddr.
func (r *Reader) Addr(what string) netip.Addr {
	if r.err != nil {
		return netip.Addr{}
	}
	a, rest, err := ReadAddr(r.b)
	if err != nil {
		r.Fail(what, err)
		return netip.Addr{}
	}
	r.b = rest
	return a
}

// Str reads a string written by AppendString (at most MaxString bytes).
func (r *Reader) Str(what string) string {
	n := r.Uvarint(what)
	if r.err != nil {
		return ""
	}
	if n > MaxString {
		r.Fail(what, ErrBadValue)
		return ""
	}
	if uint64(len(r.b)) < n {
		r.Fail(what, ErrShort)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// Bytes reads a uvarint length and returns a copy of that many bytes (nil
// for none).
func (r *Reader) Bytes(what string) []byte {
	s := r.Str(what)
	if r.err != nil || s == "" {
		return nil
	}
	return []byte(s)
}

// Fixed fills dst with the next len(dst) bytes.
func (r *Reader) Fixed(what string, dst []byte) {
	if len(r.b) < len(dst) {
		r.Fail(what, ErrShort)
		return
	}
	copy(dst, r.b)
	r.b = r.b[len(dst):]
}

// Done returns the first error, or an error for trailing bytes.
func (r *Reader) Done() error {
	if r.err == nil && len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadValue, len(r.b))
	}
	return r.err
}

// AppendF64 appends f as 8 big-endian bytes of its IEEE 754 bits.
func AppendF64(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}

// AppendBool appends one byte, 1 for true.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}
