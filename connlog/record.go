package connlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"shoal/flow"
	"shoal/packet"
	"shoal/site"
	"shoal/zeeklog"
)

// ErrBadRecord is wrapped by the decoders for bytes that are not a valid
// record.
var ErrBadRecord = errors.New("connlog: bad record encoding")

// Bounds the decoder enforces.
const (
	maxText    = 1 << 10 // service and history
	maxParents = 64
)

// ConnRecord is a conn.log row as a worker ships it to a manager: every
// column decided on the worker (local_orig and local_resp included), so
// that the manager only renders it and the same connection always renders
// the same line. It is a plain value.
type ConnRecord struct {
	TS                 time.Time
	UID                flow.UID
	Orig, Resp         netip.Addr
	OrigPort, RespPort uint16
	IPProto            uint8  // ip_proto; proto is derived from it
	Service            string // lower case, comma-separated; "" for none
	Duration           time.Duration
	OrigBytes          uint64
	RespBytes          uint64
	State              flow.ConnState
	// LocalSet tells whether local nets were configured (local_orig and
	// local_resp are unset otherwise); LocalOrig and LocalResp are them.
	LocalSet, LocalOrig, LocalResp bool
	MissedBytes                    uint64
	History                        string
	OrigPkts, OrigIPBytes          uint64
	RespPkts, RespIPBytes          uint64
	TunnelParents                  []flow.UID
}

// Local flag bits in the encoding.
const (
	localSet uint8 = 1 << iota
	localOrig
	localResp
)

// AppendRecord appends the encoding of r's conn.log record to b, deciding
// local_orig and local_resp with local, and returns the extended slice. It
// does not allocate when b has room: it is the worker's per-connection
// path.
func AppendRecord(b []byte, r *flow.Record, local site.Nets) []byte {
	b = binary.AppendVarint(b, r.TS.UnixNano())
	b = appendUID(b, r.UID)
	b = appendAddrPort(b, r.Orig, r.OrigPort)
	b = appendAddrPort(b, r.Resp, r.RespPort)
	b = append(b, r.Proto)
	// Service: the names joined with ",", each as the tracker holds it
	// (lower case already: the analyzers name services that way).
	n := 0
	for i := range r.Service.Len() {
		n += len(r.Service.At(i)) + 1
	}
	b = binary.AppendUvarint(b, uint64(max(n-1, 0)))
	for i := range r.Service.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLower(b, r.Service.At(i))
	}
	b = binary.AppendVarint(b, int64(r.Duration))
	b = binary.AppendUvarint(b, r.OrigBytes)
	b = binary.AppendUvarint(b, r.RespBytes)
	b = append(b, byte(r.State))
	var lf uint8
	if local.Len() > 0 {
		lf = localSet
		if local.Contains(r.Orig) {
			lf |= localOrig
		}
		if local.Contains(r.Resp) {
			lf |= localResp
		}
	}
	b = append(b, lf)
	b = binary.AppendUvarint(b, r.MissedBytes)
	h := r.History.Bytes()
	b = binary.AppendUvarint(b, uint64(len(h)))
	b = append(b, h...)
	for _, v := range [...]uint64{r.OrigPkts, r.OrigIPBytes, r.RespPkts, r.RespIPBytes} {
		b = binary.AppendUvarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(r.TunnelParents)))
	for _, u := range r.TunnelParents {
		b = appendUID(b, u)
	}
	return b
}

func appendLower(b []byte, s string) []byte {
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

func appendUID(b []byte, u flow.UID) []byte {
	b = binary.BigEndian.AppendUint32(b, u.Hi)
	return binary.BigEndian.AppendUint64(b, u.Lo)
}

func appendAddrPort(b []byte, a netip.Addr, port uint16) []byte {
	if a.Is4() {
		b = append(b, 4)
		v := a.As4()
		b = append(b, v[:]...)
	} else {
		b = append(b, 6)
		v := a.As16()
		b = append(b, v[:]...)
	}
	return binary.BigEndian.AppendUint16(b, port)
}

// reader decodes fields in order; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrBadRecord, what)
	}
	r.b = nil
}

func (r *reader) bytes(n int, what string) []byte {
	if n < 0 || len(r.b) < n {
		r.fail(what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(what string) uint8 {
	if v := r.bytes(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) uvarint(what string) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(what string) int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) text(what string) string {
	n := r.uvarint(what)
	if n > maxText {
		r.fail(what)
		return ""
	}
	return string(r.bytes(int(n), what))
}

func (r *reader) uid(what string) flow.UID {
	v := r.bytes(12, what)
	if v == nil {
		return flow.UID{}
	}
	return flow.UID{Hi: binary.BigEndian.Uint32(v), Lo: binary.BigEndian.Uint64(v[4:])}
}

func (r *reader) addrPort(what string) (netip.Addr, uint16) {
	var a netip.Addr
	switch r.u8(what) {
	case 4:
		if v := r.bytes(4, what); v != nil {
			a = netip.AddrFrom4([4]byte(v))
		}
	case 6:
		if v := r.bytes(16, what); v != nil {
			a = netip.AddrFrom16([16]byte(v))
		}
	default:
		r.fail(what)
	}
	var port uint16
	if v := r.bytes(2, what); v != nil {
		port = binary.BigEndian.Uint16(v)
	}
	return a, port
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	return r.err
}

// DecodeRecord decodes a conn.log record made by AppendRecord. b is not
// retained.
func DecodeRecord(b []byte) (ConnRecord, error) {
	r := reader{b: b}
	var c ConnRecord
	c.TS = time.Unix(0, r.varint("ts"))
	c.UID = r.uid("uid")
	c.Orig, c.OrigPort = r.addrPort("orig")
	c.Resp, c.RespPort = r.addrPort("resp")
	c.IPProto = r.u8("ip_proto")
	c.Service = r.text("service")
	c.Duration = time.Duration(r.varint("duration"))
	c.OrigBytes = r.uvarint("orig_bytes")
	c.RespBytes = r.uvarint("resp_bytes")
	if c.State = flow.ConnState(r.u8("conn_state")); c.State > flow.ConnSHR {
		r.fail("conn_state")
	}
	lf := r.u8("local")
	c.LocalSet, c.LocalOrig, c.LocalResp = lf&localSet != 0, lf&localOrig != 0, lf&localResp != 0
	c.MissedBytes = r.uvarint("missed_bytes")
	c.History = r.text("history")
	c.OrigPkts, c.OrigIPBytes = r.uvarint("orig_pkts"), r.uvarint("orig_ip_bytes")
	c.RespPkts, c.RespIPBytes = r.uvarint("resp_pkts"), r.uvarint("resp_ip_bytes")
	if n := r.uvarint("tunnel_parents"); n > maxParents {
		r.fail("tunnel_parents")
	} else if n > 0 {
		c.TunnelParents = make([]flow.UID, n)
		for i := range c.TunnelParents {
			c.TunnelParents[i] = r.uid("tunnel_parents")
		}
	}
	if err := r.done(); err != nil {
		return ConnRecord{}, err
	}
	if c.UID.IsZero() {
		return ConnRecord{}, fmt.Errorf("%w: zero uid", ErrBadRecord)
	}
	return c, nil
}

// protoName is conn.log's proto column for an IP protocol.
func protoName(p uint8) string {
	switch p {
	case packet.ProtoTCP:
		return "tcp"
	case packet.ProtoUDP:
		return "udp"
	case packet.ProtoICMP, packet.ProtoICMPv6:
		return "icmp"
	}
	return "unknown_transport"
}

// Row appends the record's conn.log values (ConnFields) to dst.
func (c *ConnRecord) Row(dst []zeeklog.Value) []zeeklog.Value {
	service := zeeklog.Unset()
	if c.Service != "" {
		service = zeeklog.String(c.Service)
	}
	duration, ob, rb := zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset()
	if c.Duration > 0 { // Zeek sets these only for a positive duration
		duration = zeeklog.Interval(c.Duration)
		ob, rb = zeeklog.Count(c.OrigBytes), zeeklog.Count(c.RespBytes)
	}
	lo, lr := zeeklog.Unset(), zeeklog.Unset()
	if c.LocalSet {
		lo, lr = zeeklog.Bool(c.LocalOrig), zeeklog.Bool(c.LocalResp)
	}
	history := zeeklog.Unset()
	if c.History != "" {
		history = zeeklog.String(c.History)
	}
	parents := zeeklog.Unset()
	if len(c.TunnelParents) > 0 {
		ps := make([]string, len(c.TunnelParents))
		for i, u := range c.TunnelParents {
			ps[i] = u.String()
		}
		parents = zeeklog.StringSet(ps)
	}
	return append(dst,
		zeeklog.Time(c.TS), zeeklog.String(c.UID.String()),
		zeeklog.Addr(c.Orig), zeeklog.Port(c.OrigPort), zeeklog.Addr(c.Resp), zeeklog.Port(c.RespPort),
		zeeklog.Enum(protoName(c.IPProto)), service, duration, ob, rb, zeeklog.String(c.State.String()),
		lo, lr, zeeklog.Count(c.MissedBytes), history,
		zeeklog.Count(c.OrigPkts), zeeklog.Count(c.OrigIPBytes), zeeklog.Count(c.RespPkts), zeeklog.Count(c.RespIPBytes),
		parents, zeeklog.Count(uint64(c.IPProto)),
	)
}

// AppendTunnel appends the encoding of a tunnel.log event to b.
func AppendTunnel(b []byte, ev *flow.TunnelEvent) []byte {
	b = binary.AppendVarint(b, ev.TS.UnixNano())
	b = appendUID(b, ev.UID)
	b = appendAddrPort(b, ev.Orig, ev.OrigPort)
	b = appendAddrPort(b, ev.Resp, ev.RespPort)
	return append(b, byte(ev.Type), byte(ev.Action), ev.Proto)
}

// DecodeTunnel decodes a tunnel.log event made by AppendTunnel.
func DecodeTunnel(b []byte) (flow.TunnelEvent, error) {
	r := reader{b: b}
	var ev flow.TunnelEvent
	ev.TS = time.Unix(0, r.varint("ts"))
	ev.UID = r.uid("uid")
	ev.Orig, ev.OrigPort = r.addrPort("orig")
	ev.Resp, ev.RespPort = r.addrPort("resp")
	if ev.Type = packet.TunnelType(r.u8("tunnel_type")); ev.Type == packet.TunnelNone || ev.Type > packet.TunnelGeneve {
		r.fail("tunnel_type")
	}
	if ev.Action = flow.TunnelAction(r.u8("action")); ev.Action > flow.TunnelExpire {
		r.fail("action")
	}
	ev.Proto = r.u8("proto")
	if err := r.done(); err != nil {
		return flow.TunnelEvent{}, err
	}
	return ev, nil
}
