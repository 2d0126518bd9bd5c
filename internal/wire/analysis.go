package wire

import (
	"encoding/binary"
	"net/netip"
)

// Event types of the known-services, known-certs and scan analyses.
const (
	TypeServiceSeen     Type = 3 // worker -> datanode (hashed by host)
	TypeKnownService    Type = 4 // datanode -> manager: a known_services.log record
	TypeCertSeen        Type = 5 // worker -> datanode (hashed by host)
	TypeKnownCert       Type = 6 // datanode -> manager: a known_certs.log record
	TypeScanAttempt     Type = 7 // worker -> datanode (hashed by scanner)
	TypeNotice          Type = 8 // datanode -> manager: a notice.log record
	TypeScannerReported Type = 9 // datanode -> every worker: stop sending for this scanner
)

// Service reports that Host answered on Port/Proto, speaking Service ("" when
// no protocol was identified). It is both the candidate a worker sends
// (TypeServiceSeen) and, as KnownService, the record a datanode logs.
type Service struct {
	TS      int64 // unix nanoseconds, network time
	Host    netip.Addr
	Port    uint16
	Proto   uint8 // 6 tcp, 17 udp
	Service string
}

// ServiceSeen is a known-services candidate, sent to the host's owner.
type ServiceSeen Service

// KnownService is a known_services.log record.
type KnownService Service

func (e Service) append(b []byte) []byte {
	b = binary.AppendVarint(b, e.TS)
	b = AppendAddr(b, e.Host)
	b = binary.AppendUvarint(b, uint64(e.Port))
	b = append(b, e.Proto)
	return AppendString(b, e.Service)
}

func (e *Service) decode(b []byte) error {
	r := NewReader(b)
	e.TS = r.Varint("ts")
	e.Host = r.Addr("host")
	e.Port = r.U16("port")
	e.Proto = r.U8("proto")
	e.Service = r.Str("service")
	return r.Done()
}

// WireType implements Event.
func (ServiceSeen) WireType() Type { return TypeServiceSeen }

// AppendWire implements Event.
func (e ServiceSeen) AppendWire(b []byte) []byte { return Service(e).append(b) }

// DecodeWire implements Decoder.
func (e *ServiceSeen) DecodeWire(b []byte) error { return (*Service)(e).decode(b) }

// WireType implements Event.
func (KnownService) WireType() Type { return TypeKnownService }

// AppendWire implements Event.
func (e KnownService) AppendWire(b []byte) []byte { return Service(e).append(b) }

// DecodeWire implements Decoder.
func (e *KnownService) DecodeWire(b []byte) error { return (*Service)(e).decode(b) }

// Cert reports the leaf certificate a server (Host:Port) presented in a TLS
// handshake completed at TS.
type Cert struct {
	TS      int64
	Host    netip.Addr
	Port    uint16
	SHA1    [20]byte
	Subject string
	Issuer  string
	Serial  string
}

// CertSeen is a known-certs candidate, sent to the host's owner.
type CertSeen Cert

// KnownCert is a known_certs.log record.
type KnownCert Cert

func (e Cert) append(b []byte) []byte {
	b = binary.AppendVarint(b, e.TS)
	b = AppendAddr(b, e.Host)
	b = binary.AppendUvarint(b, uint64(e.Port))
	b = append(b, e.SHA1[:]...)
	b = AppendString(b, e.Subject)
	b = AppendString(b, e.Issuer)
	return AppendString(b, e.Serial)
}

func (e *Cert) decode(b []byte) error {
	r := NewReader(b)
	e.TS = r.Varint("ts")
	e.Host = r.Addr("host")
	e.Port = r.U16("port")
	r.Fixed("sha1", e.SHA1[:])
	e.Subject = r.Str("subject")
	e.Issuer = r.Str("issuer")
	e.Serial = r.Str("serial")
	return r.Done()
}

// WireType implements Event.
func (CertSeen) WireType() Type { return TypeCertSeen }

// AppendWire implements Event.
func (e CertSeen) AppendWire(b []byte) []byte { return Cert(e).append(b) }

// DecodeWire implements Decoder.
func (e *CertSeen) DecodeWire(b []byte) error { return (*Cert)(e).decode(b) }

// WireType implements Event.
func (KnownCert) WireType() Type { return TypeKnownCert }

// AppendWire implements Event.
func (e KnownCert) AppendWire(b []byte) []byte { return Cert(e).append(b) }

// DecodeWire implements Decoder.
func (e *KnownCert) DecodeWire(b []byte) error { return (*Cert)(e).decode(b) }

// ScanAttempt is one unanswered or rejected connection attempt, sent to the
// datanode that owns Scanner.
type ScanAttempt struct {
	TS      int64
	Scanner netip.Addr
	Victim  netip.Addr
	Port    uint16
	Proto   uint8
}

// WireType implements Event.
func (ScanAttempt) WireType() Type { return TypeScanAttempt }

// AppendWire implements Event.
func (e ScanAttempt) AppendWire(b []byte) []byte {
	b = binary.AppendVarint(b, e.TS)
	b = AppendAddr(b, e.Scanner)
	b = AppendAddr(b, e.Victim)
	b = binary.AppendUvarint(b, uint64(e.Port))
	return append(b, e.Proto)
}

// DecodeWire implements Decoder.
func (e *ScanAttempt) DecodeWire(b []byte) error {
	r := NewReader(b)
	e.TS = r.Varint("ts")
	e.Scanner = r.Addr("scanner")
	e.Victim = r.Addr("victim")
	e.Port = r.U16("port")
	e.Proto = r.U8("proto")
	return r.Done()
}

// Notice is a notice.log record. Zero addresses and HasPort=false are unset
// fields.
type Notice struct {
	TS          int64
	Note        string
	Msg         string
	Sub         string
	Src, Dst    netip.Addr
	Port        uint16
	Proto       uint8
	HasPort     bool
	Identifier  string
	SuppressFor int64  // nanoseconds
	PeerDescr   string // the node that raised it
}

// WireType implements Event.
func (Notice) WireType() Type { return TypeNotice }

// AppendWire implements Event.
func (e Notice) AppendWire(b []byte) []byte {
	b = binary.AppendVarint(b, e.TS)
	b = AppendString(b, e.Note)
	b = AppendString(b, e.Msg)
	b = AppendString(b, e.Sub)
	b = AppendAddr(b, e.Src)
	b = AppendAddr(b, e.Dst)
	b = binary.AppendUvarint(b, uint64(e.Port))
	b = append(b, e.Proto)
	if e.HasPort {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = AppendString(b, e.Identifier)
	b = binary.AppendVarint(b, e.SuppressFor)
	return AppendString(b, e.PeerDescr)
}

// DecodeWire implements Decoder.
func (e *Notice) DecodeWire(b []byte) error {
	r := NewReader(b)
	e.TS = r.Varint("ts")
	e.Note = r.Str("note")
	e.Msg = r.Str("msg")
	e.Sub = r.Str("sub")
	e.Src = r.Addr("src")
	e.Dst = r.Addr("dst")
	e.Port = r.U16("port")
	e.Proto = r.U8("proto")
	switch r.U8("has_port") {
	case 0:
		e.HasPort = false
	case 1:
		e.HasPort = true
	default:
		r.Fail("has_port", ErrBadValue)
	}
	e.Identifier = r.Str("identifier")
	e.SuppressFor = r.Varint("suppress_for")
	e.PeerDescr = r.Str("peer_descr")
	return r.Done()
}

// ScannerReported tells workers that Scanner was reported at TS: they stop
// sending its attempts until Until (unix nanoseconds).
type ScannerReported struct {
	TS      int64
	Scanner netip.Addr
	Until   int64
}

// WireType implements Event.
func (ScannerReported) WireType() Type { return TypeScannerReported }

// AppendWire implements Event.
func (e ScannerReported) AppendWire(b []byte) []byte {
	b = binary.AppendVarint(b, e.TS)
	b = AppendAddr(b, e.Scanner)
	return binary.AppendVarint(b, e.Until)
}

// DecodeWire implements Decoder.
func (e *ScannerReported) DecodeWire(b []byte) error {
	r := NewReader(b)
	e.TS = r.Varint("ts")
	e.Scanner = r.Addr("scanner")
	e.Until = r.Varint("until")
	return r.Done()
}
