package services

import (
	"encoding/binary"
	"net/netip"

	"shoal/internal/wire"
)

// Wire types of the module's events. The numbers are part of the protocol.
const (
	TypeSeen   wire.Type = 3 // worker -> datanode, hashed by host
	TypeRecord wire.Type = 4 // datanode -> manager: a known_services.log row
)

// Info reports that Host answered on Port/Proto, speaking Service ("" when
// no protocol was identified), at network time TS (unix nanoseconds).
type Info struct {
	TS      int64
	Host    netip.Addr
	Port    uint16
	Proto   uint8 // 6 tcp, 17 udp
	Service string
}

// Seen is a known-services candidate, sent to the host's owner.
type Seen Info

// Record is a known_services.log row.
type Record Info

func (e Info) append(b []byte) []byte {
	b = binary.AppendVarint(b, e.TS)
	b = wire.AppendAddr(b, e.Host)
	b = binary.AppendUvarint(b, uint64(e.Port))
	b = append(b, e.Proto)
	return wire.AppendString(b, e.Service)
}

func (e *Info) decode(b []byte) error {
	r := wire.NewReader(b)
	e.TS = r.Varint("ts")
	e.Host = r.Addr("host")
	e.Port = r.U16("port")
	e.Proto = r.U8("proto")
	e.Service = r.Str("service")
	return r.Done()
}

// WireType implements wire.Event.
func (Seen) WireType() wire.Type { return TypeSeen }

// AppendWire implements wire.Event.
func (e Seen) AppendWire(b []byte) []byte { return Info(e).append(b) }

// DecodeWire implements wire.Decoder.
func (e *Seen) DecodeWire(b []byte) error { return (*Info)(e).decode(b) }

// WireType implements wire.Event.
func (Record) WireType() wire.Type { return TypeRecord }

// AppendWire implements wire.Event.
func (e Record) AppendWire(b []byte) []byte { return Info(e).append(b) }

// DecodeWire implements wire.Decoder.
func (e *Record) DecodeWire(b []byte) error { return (*Info)(e).decode(b) }

// key identifies one (host, port, proto, service) of Known::services.
type key struct {
	host    netip.Addr
	port    uint16
	proto   uint8
	service string
}

func (e Info) key() key { return key{e.Host, e.Port, e.Proto, e.Service} }

func compareKey(a, b key) int {
	if c := a.host.Compare(b.host); c != 0 {
		return c
	}
	if a.port != b.port {
		return int(a.port) - int(b.port)
	}
	if a.proto != b.proto {
		return int(a.proto) - int(b.proto)
	}
	switch {
	case a.service < b.service:
		return -1
	case a.service > b.service:
		return 1
	}
	return 0
}

func appendKey(b []byte, k key) []byte {
	b = wire.AppendAddr(b, k.host)
	b = binary.AppendUvarint(b, uint64(k.port))
	b = append(b, k.proto)
	return wire.AppendString(b, k.service)
}

func readKey(r *wire.Reader) key {
	return key{host: r.Addr("host"), port: r.U16("port"), proto: r.U8("proto"), service: r.Str("service")}
}

// hostPart is the partition of a host among n.
func hostPart(h netip.Addr, n int) int {
	k := h.As16()
	return partition(k[:], n)
}
