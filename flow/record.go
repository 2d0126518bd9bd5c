package flow

import (
	"net/netip"
	"time"

	"shoal/packet"
)

// RemoveReason tells why a connection was removed.
type RemoveReason uint8

// The reasons a connection is removed.
const (
	RemovedInactive RemoveReason = iota // no packet for the protocol's inactivity timeout
	RemovedAttempt                      // the attempt timer found the responder silent
	RemovedClosed                       // CloseDelay after a complete close
	RemovedReused                       // a new connection started on its 5-tuple
	RemovedEvicted                      // Config.MaxFlows was reached
	RemovedFinished                     // end of input (Tracker.Finish)
)

var removeReasonNames = [...]string{
	RemovedInactive: "inactive", RemovedAttempt: "attempt", RemovedClosed: "closed", RemovedReused: "reused",
	RemovedEvicted: "evicted", RemovedFinished: "finished",
}

// String names the reason.
func (r RemoveReason) String() string {
	if int(r) < len(removeReasonNames) {
		return removeReasonNames[r]
	}
	return "unknown"
}

// Record is a connection's conn.log record, built when Zeek raises
// connection_state_remove. Local/remote columns are left to the caller.
//
// Zeek prints duration, orig_bytes and resp_bytes as unset ("-") when the
// duration is not positive; a writer should do the same when Duration <= 0.
type Record struct {
	ID                 uint64    // Conn.ID
	UID                UID       // the connection's uid (conn.log's uid column)
	TS                 time.Time // timestamp of the first packet
	Orig, Resp         netip.Addr
	OrigPort, RespPort uint16 // ICMP: type and counterpart type (or code)
	Proto              uint8  // packet.ProtoTCP, ProtoUDP, ProtoICMP or ProtoICMPv6 (conn.log's ip_proto)
	Service            Services
	Duration           time.Duration // last packet - first packet
	OrigBytes          uint64        // TCP: from sequence numbers as Zeek computes them; UDP/ICMP: payload bytes
	RespBytes          uint64
	State              ConnState
	MissedBytes        uint64 // bytes of content gaps (TCP data acknowledged but never seen)
	History            History
	OrigPkts           uint64
	OrigIPBytes        uint64 // sum of IP lengths
	RespPkts           uint64
	RespIPBytes        uint64
	// TunnelParents are the uids of the innermost tunnels the connection
	// was seen in (conn.log's tunnel_parents), in the order they were
	// first used; empty for a connection outside any tunnel. The slice is
	// the Tracker's: valid only during the Removed call, copy it to keep it.
	TunnelParents []UID
	// OrigTCP and RespTCP are the final TCP endpoint states (StateInactive
	// for other protocols); OrigActive and RespActive tell whether each
	// side sent anything (Conn.Active).
	OrigTCP, RespTCP       State
	OrigActive, RespActive bool
	Reason                 RemoveReason
}

// ProtoName returns conn.log's proto column: "tcp", "udp" or "icmp"
// (ICMPv6 included), "unknown_transport" otherwise.
func (r *Record) ProtoName() string { return protoName(r.Proto) }

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

// AttemptKind distinguishes the two kinds of failed connection attempt.
type AttemptKind uint8

// The attempt kinds.
const (
	// AttemptUnanswered is Zeek's connection_attempt: the attempt timer
	// (AttemptDelay after the SYN) found the responder still silent.
	AttemptUnanswered AttemptKind = iota
	// AttemptRejected is Zeek's connection_rejected: a RST answered the
	// SYN (or the originator reset a connection whose SYN-ACK was seen
	// without its SYN).
	AttemptRejected
)

// String returns "attempt" or "rejected".
func (k AttemptKind) String() string {
	if k == AttemptRejected {
		return "rejected"
	}
	return "attempt"
}

// Attempt is a connection_attempt or connection_rejected event. TS is
// network time when it was raised.
type Attempt struct {
	Kind               AttemptKind
	TS                 time.Time
	Orig, Resp         netip.Addr
	OrigPort, RespPort uint16
	Proto              uint8
	History            History
}

// size is TCP_Endpoint::Size: the bytes an endpoint sent, from its sequence
// numbers (the highest of the last sequence number sent and the last one the
// peer acknowledged), without the SYN and FIN octets.
func (e *endpoint) size64(peer *endpoint) uint64 {
	if e.prevState == StateSynSent && e.state == StateReset && peer.state == StateInactive && !e.noDataAcked() {
		// A half-open connection discovered and aborted.
		return 0
	}
	last := uint64(e.seqWraps)<<32 | uint64(e.lastSeq)
	ack := uint64(e.ackWraps)<<32 | uint64(e.ackSeq)
	var size uint64
	if last > ack {
		size = last - uint64(e.startSeq)
	} else {
		size = ack - uint64(e.startSeq)
	}
	if size != 0 {
		size-- // the SYN octet
	}
	if e.finCnt > 0 && size != 0 {
		size-- // the FIN octet
	}
	return size
}

func (e *endpoint) noDataAcked() bool {
	ack := uint64(e.ackWraps)<<32 | uint64(e.ackSeq)
	start := uint64(e.startSeq)
	return ack == start || ack == start+1
}

// bytes returns what conn.log calls orig_bytes or resp_bytes for e.
func (c *Conn) bytes(e, peer *endpoint) uint64 {
	if c.proto == packet.ProtoTCP {
		return e.size64(peer)
	}
	return e.size
}

// connState is conn_state() of zeek: scripts/base/protocols/conn/main.zeek.
func (c *Conn) connState() ConnState {
	switch c.proto {
	case packet.ProtoTCP:
	case packet.ProtoUDP:
		switch {
		case c.orig.active && c.resp.active:
			return ConnSF
		case c.orig.active:
			return ConnS0
		case c.resp.active:
			return ConnSHR
		}
		return ConnOTH
	default:
		return ConnOTH
	}
	os, rs := c.orig.state, c.resp.state
	oInactive := os == StateInactive || os == StatePartial
	rInactive := rs == StateInactive || rs == StatePartial
	switch {
	case rs == StateReset:
		if os == StateSynSent || os == StateSynAckSent ||
			(os == StateReset && c.orig.size64(&c.resp) == 0 && c.resp.size64(&c.orig) == 0) {
			return ConnREJ
		}
		if oInactive {
			return ConnRSTRH
		}
		return ConnRSTR
	case os == StateReset:
		if rInactive {
			if rstos0(&c.hist) {
				return ConnRSTOS0
			}
			return ConnOTH
		}
		return ConnRSTO
	case rs == StateClosed && os == StateClosed:
		return ConnSF
	case os == StateClosed:
		if rInactive {
			return ConnSH
		}
		return ConnS2
	case rs == StateClosed:
		if oInactive {
			return ConnSHR
		}
		return ConnS3
	case os == StateSynSent && rs == StateInactive:
		return ConnS0
	case os == StateEstablished && rs == StateEstablished:
		return ConnS1
	}
	return ConnOTH
}

// fillRecord writes c's conn.log record into r.
func (c *Conn) fillRecord(r *Record, reason RemoveReason) {
	*r = Record{
		ID: c.id, TS: c.startTS,
		Orig: c.orig.addr, OrigPort: c.orig.port, Resp: c.resp.addr, RespPort: c.resp.port,
		Proto: c.proto, Service: c.services,
		Duration:  time.Duration(c.last - c.start),
		OrigBytes: c.bytes(&c.orig, &c.resp), RespBytes: c.bytes(&c.resp, &c.orig),
		State: c.connState(), History: c.hist, MissedBytes: c.missed,
		OrigPkts: c.orig.pkts, OrigIPBytes: c.orig.ipBytes, RespPkts: c.resp.pkts, RespIPBytes: c.resp.ipBytes,
		OrigTCP: c.orig.state, RespTCP: c.resp.state, OrigActive: c.Active(true), RespActive: c.Active(false),
		Reason: reason,
	}
	if c.tun != nil && len(c.tun.parents) > 0 {
		r.TunnelParents = c.tun.parents
	}
}

// fillAttempt writes an attempt event for c into a.
func (c *Conn) fillAttempt(a *Attempt, kind AttemptKind, now time.Time) {
	*a = Attempt{Kind: kind, TS: now, Orig: c.orig.addr, OrigPort: c.orig.port, Resp: c.resp.addr,
		RespPort: c.resp.port, Proto: c.proto, History: c.hist}
}
