package ingest

import (
	"net/netip"

	"shoal/packet"
)

// connKind is what a generated connection does.
type connKind uint8

const (
	connProbe      connKind = iota // a scanner's SYN; nobody answers
	connUnanswered                 // a client's SYN; nobody answers
	connRejected                   // a client's SYN answered by RST-ACK
	connTCP                        // handshake, messages, FIN exchange or RST
	connDNS                        // a UDP query and its answer
)

// closeKind is how a complete TCP connection ends.
type closeKind uint8

const (
	closeClientFIN closeKind = iota
	closeServerFIN
	closeClientRST
	closeServerRST
)

// Phases of a connection.
const (
	phSYN uint8 = iota
	phSYNACK
	phACK
	phData
	phClose0
	phClose1
	phClose2
)

// mark tags the byte of a message whose segment makes an analysis decide.
type mark uint8

const (
	markNone        mark = iota
	markConfirm          // the service is identified (analyzer_confirmation)
	markEstablished      // TLS 1.2: ssl_established, the certificate is known
)

// event is what an emitted packet means to the ground truth.
type event uint8

const (
	evNone        event = iota
	evSYN               // an attempt starts (unanswered SYN or probe)
	evEstablished       // a handshake completed (the SYN-ACK)
	evRejected          // a SYN was rejected (the RST-ACK)
	evConfirm           // a TCP service was identified
	evTLS               // ssl_established with the server's certificate
	evDNSAnswer         // a DNS flow's last packet: the service counts once it is removed
)

// Timing within a connection.
const (
	segGap    = 12_000    // ns between back-to-back segments (a 1500-byte frame at 1 Gb/s)
	maxThink  = 2_000_000 // ns a server may take before answering
	mss       = 1460      // payload bytes per segment
	maxMsgs   = 16
	frameHdr  = 14 // Ethernet header
	minFrame  = 60
	tcpHdrLen = 20
	udpHdrLen = 8
)

// msg is one application message; data is shared and never modified.
type msg struct {
	data   []byte
	server bool
	mark   mark
	markAt int32 // offset in data of the byte that carries mark
}

// genConn is a connection under way. Its next packet is due at at (ns of
// schedule time); idx orders connections with equal times.
type genConn struct {
	at, idx    int64
	hi         int32 // index in the run's heap
	kind       connKind
	close      closeKind
	phase      uint8
	nmsg, cur  uint8
	slot       uint8 // the client's favorite slot of the server
	off        int32 // offset in msgs[cur]
	orig       int32 // client or scanner index
	server     int32 // server index, or the victim's local host index for a probe
	rtt, think int64
	src, dst   netip.Addr
	sport      uint16
	dport      uint16
	oseq, rseq uint32 // next sequence number of the originator and the responder
	msgs       [maxMsgs]msg
}

// add appends a message.
func (c *genConn) add(data []byte, server bool, m mark, at int) {
	if int(c.nmsg) == maxMsgs {
		panic("ingest: too many messages in a generated connection") // broken template, not input
	}
	c.msgs[c.nmsg] = msg{data: data, server: server, mark: m, markAt: int32(at)}
	c.nmsg++
}

// build fills *p with the connection's next packet (all but TS, WireLen and
// the frame size fields), advances the connection and returns what the
// packet means and whether the connection is done. c.at moves to the next
// packet's time.
func (c *genConn) build(p *packet.Packet) (ev event, done bool) {
	switch c.kind {
	case connProbe, connUnanswered:
		c.tcp(p, false, packet.FlagSYN, c.oseq, 0, nil)
		if c.kind == connProbe {
			p.Window = 1024
		}
		return evSYN, true
	case connDNS:
		return c.dns(p)
	}
	switch c.phase {
	case phSYN:
		c.tcp(p, false, packet.FlagSYN, c.oseq, 0, nil)
		c.oseq++
		c.phase = phSYNACK
		c.at += c.rtt / 2
		return evNone, false
	case phSYNACK:
		if c.kind == connRejected {
			c.tcp(p, true, packet.FlagRST|packet.FlagACK, 0, c.oseq, nil)
			return evRejected, true
		}
		c.tcp(p, true, packet.FlagSYN|packet.FlagACK, c.rseq, c.oseq, nil)
		c.rseq++
		c.phase = phACK
		c.at += c.rtt / 2
		return evEstablished, false
	case phACK:
		c.tcp(p, false, packet.FlagACK, c.oseq, c.rseq, nil)
		c.phase = phData
		c.after(false)
		return evNone, false
	case phData:
		return c.data(p), false
	}
	return c.closing(p)
}

// tcp fills a TCP segment from the originator (or the responder if
// fromServer).
func (c *genConn) tcp(p *packet.Packet, fromServer bool, flags uint8, seq, ack uint32, payload []byte) {
	*p = packet.Packet{Src: c.src, Dst: c.dst, SrcPort: c.sport, DstPort: c.dport, Proto: packet.ProtoTCP,
		Flags: flags, Seq: seq, Ack: ack, Window: 64240, PayloadLen: len(payload), Payload: payload}
	if fromServer {
		p.Src, p.Dst, p.SrcPort, p.DstPort, p.Window = c.dst, c.src, c.dport, c.sport, 65160
	}
}

// after moves c.at past a packet sent by the server (or the client) to
// the time of the next one: a segment gap if the same side sends next,
// half a round trip (plus the server's think time) if the other side does.
func (c *genConn) after(server bool) {
	// The next message's sender, or after the last message the closer.
	next := c.close == closeServerFIN || c.close == closeServerRST
	if c.cur < c.nmsg {
		next = c.msgs[c.cur].server
	}
	switch {
	case next == server:
		c.at += segGap
	case next:
		c.at += c.rtt/2 + c.think
	default:
		c.at += c.rtt / 2
	}
}

// data sends the next segment of the current message.
func (c *genConn) data(p *packet.Packet) event {
	m := &c.msgs[c.cur]
	n := min(mss, len(m.data)-int(c.off))
	payload := m.data[c.off : int(c.off)+n]
	flags := packet.FlagACK
	if int(c.off)+n == len(m.data) {
		flags |= packet.FlagPSH
	}
	ev := evNone
	if m.mark != markNone && m.markAt >= c.off && int(m.markAt) < int(c.off)+n {
		ev = evConfirm
		if m.mark == markEstablished {
			ev = evTLS
		}
	}
	if m.server {
		c.tcp(p, true, flags, c.rseq, c.oseq, payload)
		c.rseq += uint32(n)
	} else {
		c.tcp(p, false, flags, c.oseq, c.rseq, payload)
		c.oseq += uint32(n)
	}
	c.off += int32(n)
	if int(c.off) < len(m.data) {
		c.at += segGap
		return ev
	}
	c.cur++
	c.off = 0
	if c.cur == c.nmsg {
		c.phase = phClose0
	}
	c.after(m.server)
	return ev
}

// closing sends the FIN exchange or the RST.
func (c *genConn) closing(p *packet.Packet) (event, bool) {
	server := c.close == closeServerFIN || c.close == closeServerRST
	if c.close == closeClientRST || c.close == closeServerRST {
		if server {
			c.tcp(p, true, packet.FlagRST|packet.FlagACK, c.rseq, c.oseq, nil)
		} else {
			c.tcp(p, false, packet.FlagRST|packet.FlagACK, c.oseq, c.rseq, nil)
		}
		return evNone, true
	}
	// The closer sends FIN, the peer FIN-ACK, the closer the last ACK.
	fin := packet.FlagFIN | packet.FlagACK
	switch c.phase {
	case phClose0, phClose2:
		flags := fin
		if c.phase == phClose2 {
			flags = packet.FlagACK
		}
		if server {
			c.tcp(p, true, flags, c.rseq, c.oseq, nil)
		} else {
			c.tcp(p, false, flags, c.oseq, c.rseq, nil)
		}
		if c.phase == phClose2 {
			return evNone, true
		}
	default:
		if server {
			c.tcp(p, false, fin, c.oseq, c.rseq, nil)
		} else {
			c.tcp(p, true, fin, c.rseq, c.oseq, nil)
		}
	}
	if c.phase == phClose0 {
		if server {
			c.rseq++
		} else {
			c.oseq++
		}
	} else if server {
		c.oseq++
	} else {
		c.rseq++
	}
	c.phase++
	c.at += c.rtt / 2
	return evNone, false
}

// dns sends the query, then the answer.
func (c *genConn) dns(p *packet.Packet) (event, bool) {
	m := &c.msgs[c.cur]
	*p = packet.Packet{Src: c.src, Dst: c.dst, SrcPort: c.sport, DstPort: c.dport, Proto: packet.ProtoUDP,
		PayloadLen: len(m.data), Payload: m.data}
	if m.server {
		p.Src, p.Dst, p.SrcPort, p.DstPort = c.dst, c.src, c.dport, c.sport
	}
	c.cur++
	if c.cur == c.nmsg {
		return evDNSAnswer, true
	}
	c.at += c.rtt + c.think
	return evNone, false
}

// frameSizes sets p's IP header, IP and wire lengths from its payload
// length. Generated packets have no Raw bytes.
func frameSizes(p *packet.Packet) {
	l4 := tcpHdrLen
	if p.Proto == packet.ProtoUDP {
		l4 = udpHdrLen
	}
	ip := 20
	if p.Src.Is6() {
		ip = 40
	}
	p.HdrLen = ip
	p.IPLen = ip + l4 + p.PayloadLen
	p.WireLen = max(minFrame, frameHdr+p.IPLen)
}
