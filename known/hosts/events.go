package hosts

import (
	"encoding/binary"
	"net/netip"
	"time"

	"shoal/internal/wire"
)

// Wire types of the module's events. The numbers are part of the protocol.
const (
	TypeSeen   wire.Type = 1 // worker -> datanode, hashed by host
	TypeRecord wire.Type = 2 // datanode -> manager: a known_hosts.log row
)

// Seen reports that Host took part in a TCP handshake that completed at
// network time TS (unix nanoseconds), as originator or responder. A worker
// sends it to the datanode that owns the host.
type Seen struct {
	TS   int64
	Host netip.Addr
}

// Record is a known_hosts.log row: Host was first seen at TS (unix
// nanoseconds). The owning datanode sends it to a manager.
type Record struct {
	TS   int64
	Host netip.Addr
}

// WireType implements wire.Event.
func (Seen) WireType() wire.Type { return TypeSeen }

// AppendWire implements wire.Event: varint ts, then the address.
func (e Seen) AppendWire(b []byte) []byte { return appendTSAddr(b, e.TS, e.Host) }

// DecodeWire implements wire.Decoder.
func (e *Seen) DecodeWire(b []byte) (err error) {
	e.TS, e.Host, err = decodeTSAddr(b)
	return err
}

// WireType implements wire.Event.
func (Record) WireType() wire.Type { return TypeRecord }

// AppendWire implements wire.Event: varint ts, then the address.
func (e Record) AppendWire(b []byte) []byte { return appendTSAddr(b, e.TS, e.Host) }

// DecodeWire implements wire.Decoder.
func (e *Record) DecodeWire(b []byte) (err error) {
	e.TS, e.Host, err = decodeTSAddr(b)
	return err
}

func appendTSAddr(b []byte, ts int64, a netip.Addr) []byte {
	b = binary.AppendVarint(b, ts)
	return wire.AppendAddr(b, a)
}

func decodeTSAddr(b []byte) (int64, netip.Addr, error) {
	r := wire.NewReader(b)
	ts := r.Varint("ts")
	a := r.Addr("host")
	return ts, a, r.Done()
}

// hostKey is the partition key of a host: its 16-byte form.
func hostKey(h netip.Addr) [16]byte { return h.As16() }

// nanoTime converts unix nanoseconds to a time.
func nanoTime(ns int64) time.Time { return time.Unix(0, ns) }
