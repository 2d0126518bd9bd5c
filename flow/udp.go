package flow

import "shoal/packet"

// processUDP is Zeek's UDPAnalyzer::DeliverPacket for a datagram of c
// (checksums are not validated): ConnSize counts it, the sender becomes
// active, its payload is added to its size and the history records the
// first datagram of each direction ('D', 'd').
func (t *Tracker) processUDP(c *Conn, isOrig bool, p *packet.Packet, ts int64) {
	e := &c.resp
	if isOrig {
		e = &c.orig
	}
	e.pkts++
	e.ipBytes += uint64(p.IPLen)
	c.last = ts
	if isOrig {
		c.checkHistory(histUDPOrigData, 'D')
	} else {
		c.checkHistory(histUDPRespData, 'd')
	}
	e.active = true
	e.size += uint64(p.PayloadLen)
}

// processICMP is Zeek's ICMPAnalyzer::DeliverPacket for a message of c:
// ConnSize counts it, the sender becomes active and the message body (after
// the 8-byte header) is added to its size. ICMP has no history letters.
func (t *Tracker) processICMP(c *Conn, isOrig bool, p *packet.Packet, ts int64) {
	e := &c.resp
	if isOrig {
		e = &c.orig
	}
	e.pkts++
	e.ipBytes += uint64(p.IPLen)
	c.last = ts
	e.active = true
	e.size += uint64(p.PayloadLen)
}

// icmpPorts returns the "ports" Zeek gives an ICMP message: its type, and
// the type of its counterpart (echo request <-> reply, ...) or, for a
// one-way message, its code (zeek: ICMP4_counterpart / ICMP6_counterpart).
// One-way messages are keyed by direction.
func icmpPorts(proto uint8, typ, code uint16) (sport, dport uint16, oneWay bool) {
	if proto == packet.ProtoICMP {
		switch typ {
		case 8:
			return typ, 0, false // echo -> echo reply
		case 0:
			return typ, 8, false
		case 13:
			return typ, 14, false // timestamp
		case 14:
			return typ, 13, false
		case 15:
			return typ, 16, false // information
		case 16:
			return typ, 15, false
		case 10:
			return typ, 9, false // router solicitation -> advertisement
		case 9:
			return typ, 10, false
		case 17:
			return typ, 18, false // address mask
		case 18:
			return typ, 17, false
		}
		return typ, code, true
	}
	switch typ {
	case 128:
		return typ, 129, false // echo
	case 129:
		return typ, 128, false
	case 133:
		return typ, 134, false // router solicitation -> advertisement
	case 134:
		return typ, 133, false
	case 135:
		return typ, 136, false // neighbor solicitation -> advertisement
	case 136:
		return typ, 135, false
	case 130:
		return typ, 131, false // MLD query -> report
	case 131:
		return typ, 130, false
	case 139:
		return typ, 140, false // node information
	case 140:
		return typ, 139, false
	case 144:
		return typ, 145, false // home agent address discovery
	case 145:
		return typ, 144, false
	}
	return typ, code, true
}
