package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Built-in event types. Numbers are part of the protocol: never reuse one.
const (
	TypeHostSeen  Type = 1 // worker -> datanode: a host completed a TCP handshake
	TypeKnownHost Type = 2 // datanode -> manager: a known_hosts.log record
)

// ErrShort is wrapped by decoders when input ends early.
var ErrShort = errors.New("wire: short buffer")

// ErrBadValue is wrapped by decoders for values that cannot be valid.
var ErrBadValue = errors.New("wire: bad value")

// HostSeen reports that Host took part in a TCP handshake that completed at
// network time TS (unix nanoseconds), as originator or responder. It is sent
// hashed by host to the datanode that owns the host.
type HostSeen struct {
	TS   int64
	Host netip.Addr
}

// KnownHost is a known_hosts.log record: Host was first seen at TS (unix
// nanoseconds). The owning datanode sends it to a manager.
type KnownHost struct {
	TS   int64
	Host netip.Addr
}

// WireType implements Event.
func (HostSeen) WireType() Type { return TypeHostSeen }

// AppendWire implements Event: varint ts, then the address.
func (e HostSeen) AppendWire(b []byte) []byte { return appendTSAddr(b, e.TS, e.Host) }

// DecodeWire implements Decoder.
func (e *HostSeen) DecodeWire(b []byte) (err error) {
	e.TS, e.Host, err = decodeTSAddr(b)
	return err
}

// WireType implements Event.
func (KnownHost) WireType() Type { return TypeKnownHost }

// AppendWire implements Event: varint ts, then the address.
func (e KnownHost) AppendWire(b []byte) []byte { return appendTSAddr(b, e.TS, e.Host) }

// DecodeWire implements Decoder.
func (e *KnownHost) DecodeWire(b []byte) (err error) {
	e.TS, e.Host, err = decodeTSAddr(b)
	return err
}

func appendTSAddr(b []byte, ts int64, a netip.Addr) []byte {
	b = binary.AppendVarint(b, ts)
	return AppendAddr(b, a)
}

func decodeTSAddr(b []byte) (int64, netip.Addr, error) {
	ts, n := binary.Varint(b)
	if n <= 0 {
		return 0, netip.Addr{}, fmt.Errorf("%w: timestamp", ErrShort)
	}
	a, rest, err := ReadAddr(b[n:])
	if err != nil {
		return 0, netip.Addr{}, err
	}
	if len(rest) != 0 {
		return 0, netip.Addr{}, fmt.Errorf("%w: %d trailing bytes", ErrBadValue, len(rest))
	}
	return ts, a, nil
}

// AppendAddr appends a: one length byte (0 invalid, 4 or 16) then the bytes.
// A zone is not encoded.
func AppendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return append(b, 0)
	case a.Is4():
		v := a.As4()
		return append(append(b, 4), v[:]...)
	default:
		v := a.As16()
		return append(append(b, 16), v[:]...)
	}
}

// ReadAddr decodes an address written by AppendAddr and returns the rest.
func ReadAddr(b []byte) (netip.Addr, []byte, error) {
	if len(b) < 1 {
		return netip.Addr{}, nil, fmt.Errorf("%w: address length", ErrShort)
	}
	n := int(b[0])
	b = b[1:]
	switch n {
	case 0:
		return netip.Addr{}, b, nil
	case 4, 16:
	default:
		return netip.Addr{}, nil, fmt.Errorf("%w: address length %d", ErrBadValue, n)
	}
	if len(b) < n {
		return netip.Addr{}, nil, fmt.Errorf("%w: address", ErrShort)
	}
	if n == 4 {
		return netip.AddrFrom4([4]byte(b[:4])), b[4:], nil
	}
	return netip.AddrFrom16([16]byte(b[:16])), b[16:], nil
}
