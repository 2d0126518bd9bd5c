package flow

import "shoal/packet"

// process handles one packet at the current encapsulation depth.
func (t *Tracker) process(p *packet.Packet) {
	l4OK := true
	if t.cfg.Checksums {
		var ipOK bool
		if ipOK, l4OK = p.Checksums(); !ipOK {
			t.stats.BadChecksums++
			return
		}
		if !l4OK {
			t.stats.BadChecksums++
		}
	}
	ts := p.TS.UnixNano()
	switch p.Proto {
	case packet.ProtoTCP:
		t.tcpPacket(p, ts, l4OK)
	case packet.ProtoUDP:
		t.udpPacket(p, ts, l4OK)
	case packet.ProtoICMP, packet.ProtoICMPv6:
		t.icmpPacket(p, ts, l4OK)
	case packet.ProtoIPIP, packet.ProtoIPv6:
		t.stats.Ignored++
		if t.cfg.Tunnel.Disabled {
			t.stats.Other++
			return
		}
		t.ipTunnel(p, packet.TunnelIP, packet.DecapIPinIP(p.Proto, p.Payload))
	case packet.ProtoGRE:
		t.stats.Ignored++
		if t.cfg.Tunnel.Disabled {
			t.stats.Other++
			return
		}
		t.ipTunnel(p, packet.TunnelGRE, packet.DecapGRE(p.Payload))
	default:
		t.stats.Ignored++
		t.stats.Other++
	}
}

func (t *Tracker) udpPacket(p *packet.Packet, ts int64, l4OK bool) {
	t.stats.Ignored++
	t.stats.UDP.Packets++
	sport, dport := p.SrcPort, p.DstPort
	k := makeKey(p.Src, sport, p.Dst, dport, p.Proto, false)
	c, h := t.lookup(&k)
	if c == nil {
		flip := t.udpPorts.has(sport) && !t.udpPorts.has(dport) && !isBroadcast(p.Dst)
		c = t.create(k, h, p, sport, dport, flip, int64(t.cfg.UDPInactivity))
	} else {
		t.touch(c)
		t.checkEncap(c)
	}
	isOrig := p.Src == c.orig.addr && sport == c.orig.port
	if !l4OK {
		c.badChecksum(isOrig)
		return
	}
	t.processUDP(c, isOrig, p, ts)
	t.analyze(c, isOrig, p)
	if !t.cfg.Tunnel.Disabled {
		t.forwardUDP(c, p) // last: c may be gone once inner packets were processed
	}
}

func (t *Tracker) icmpPacket(p *packet.Packet, ts int64, l4OK bool) {
	t.stats.Ignored++
	t.stats.ICMP.Packets++
	sport, dport, oneWay := icmpPorts(p.Proto, p.SrcPort, p.DstPort)
	k := makeKey(p.Src, sport, p.Dst, dport, p.Proto, oneWay)
	c, h := t.lookup(&k)
	if c == nil {
		c = t.create(k, h, p, sport, dport, false, int64(t.cfg.ICMPInactivity))
	} else {
		t.touch(c)
		t.checkEncap(c)
	}
	if !l4OK {
		return
	}
	isOrig := p.Src == c.orig.addr && sport == c.orig.port
	t.processICMP(c, isOrig, p, ts)
	t.analyze(c, isOrig, p)
}

func (t *Tracker) tcpPacket(p *packet.Packet, ts int64, l4OK bool) {
	t.stats.Packets++
	k := makeKey(p.Src, p.SrcPort, p.Dst, p.DstPort, p.Proto, false)
	c, h := t.lookup(&k)
	if c != nil && c.isReuse(p) {
		t.remove(c, RemovedReused)
		c = nil
	}
	if c == nil {
		// TCPAnalyzer::WantConnection: a connection not starting with a pure
		// SYN is reversed when it comes from a likely server port.
		flip := false
		if (p.Flags&packet.FlagSYN == 0 || p.Flags&packet.FlagACK != 0) && t.serverPorts.has(p.SrcPort) {
			flip = true
			if t.serverPorts.has(p.DstPort) {
				flip = p.Flags&packet.FlagSYN == 0 && p.SrcPort < p.DstPort
			}
		}
		c = t.create(k, h, p, p.SrcPort, p.DstPort, flip && !isBroadcast(p.Dst), int64(t.cfg.TCPInitialInactivity))
	} else {
		t.touch(c)
		t.checkEncap(c)
	}
	isOrig := p.Src == c.orig.addr && p.SrcPort == c.orig.port
	if !l4OK {
		c.badChecksum(isOrig)
		return
	}
	established := t.processTCP(c, isOrig, p, ts)
	t.analyze(c, p.Src == c.orig.addr && p.SrcPort == c.orig.port, p)
	if !established {
		return
	}
	t.stats.Established++
	t.established = Established{
		TS:   t.now,
		Orig: c.orig.addr, OrigPort: c.orig.port,
		Resp: c.resp.addr, RespPort: c.resp.port,
	}
	t.estSet = true
	if h := t.cfg.Handler.Established; h != nil {
		h(&t.established)
	}
}
