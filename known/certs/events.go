package certs

import (
	"encoding/binary"
	"net/netip"

	"shoal/internal/wire"
)

// Wire types of the module's events. The numbers are part of the protocol.
const (
	TypeSeen   wire.Type = 5 // worker -> datanode, hashed by host
	TypeRecord wire.Type = 6 // datanode -> manager: a known_certs.log row
)

// Info reports the leaf certificate a server (Host:Port) presented in a
// TLS handshake completed at TS (unix nanoseconds).
type Info struct {
	TS      int64
	Host    netip.Addr
	Port    uint16
	SHA1    [20]byte
	Subject string
	Issuer  string
	Serial  string
}

// Seen is a known-certs candidate, sent to the host's owner.
type Seen Info

// Record is a known_certs.log row.
type Record Info

func (e Info) append(b []byte) []byte {
	b = binary.AppendVarint(b, e.TS)
	b = wire.AppendAddr(b, e.Host)
	b = binary.AppendUvarint(b, uint64(e.Port))
	b = append(b, e.SHA1[:]...)
	b = wire.AppendString(b, e.Subject)
	b = wire.AppendString(b, e.Issuer)
	return wire.AppendString(b, e.Serial)
}

func (e *Info) decode(b []byte) error {
	r := wire.NewReader(b)
	e.TS = r.Varint("ts")
	e.Host = r.Addr("host")
	e.Port = r.U16("port")
	r.Fixed("sha1", e.SHA1[:])
	e.Subject = r.Str("subject")
	e.Issuer = r.Str("issuer")
	e.Serial = r.Str("serial")
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

// key identifies one (host, leaf certificate) of Known::certs.
type key struct {
	host netip.Addr
	sha1 [20]byte
}

func compareKey(a, b key) int {
	if c := a.host.Compare(b.host); c != 0 {
		return c
	}
	for i := range a.sha1 {
		if a.sha1[i] != b.sha1[i] {
			return int(a.sha1[i]) - int(b.sha1[i])
		}
	}
	return 0
}

func appendKey(b []byte, k key) []byte { return append(wire.AppendAddr(b, k.host), k.sha1[:]...) }

func readKey(r *wire.Reader) key {
	var k key
	k.host = r.Addr("host")
	r.Fixed("sha1", k.sha1[:])
	return k
}
