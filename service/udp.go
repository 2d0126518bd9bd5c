package service

import "encoding/binary"

// This file holds DNS (UDP and TCP), NTP and the UDP dispatch.

func (d *Detector) udp(fromOrig bool, payload []byte) (Confirmation, bool) {
	i := 0
	if !fromOrig {
		i = 1
	}
	ds := &d.dir[i]
	if ds.n >= maxDatagrams {
		if d.dir[1-i].n >= maxDatagrams {
			d.active = 0
		}
		return Confirmation{}, false
	}
	ds.n++
	ds.off = satAdd(ds.off, len(payload))
	var r result
	if d.active.Has(DNS) && (isDNS(payload) || (d.flags&fCut != 0 && isCutDNS(payload))) {
		d.confirm(&r, DNS, false)
		d.active &^= NTP.bit()
	}
	if d.active.Has(NTP) {
		// Either side may ask: Zeek's NTP analyzer flips the roles when the
		// originator turns out to be the server.
		reqFromResp := d.flags&fNTPRespReq != 0
		if d.ntp != 0 && fromOrig == reqFromResp && ntpReply(payload, d.ntp, d.key) {
			// Zeek confirms at the request (ntp-analyzer.pac confirms every
			// parsed message); the reply is what shows it was NTP.
			d.confirm(&r, NTP, true)
			d.active &^= DNS.bit()
		} else if key, kind, ok := ntpRequest(payload); ok {
			d.key, d.ntp = key, kind
			if fromOrig {
				d.flags &^= fNTPRespReq
			} else {
				d.flags |= fNTPRespReq
			}
		}
	}
	return r.c, r.ok
}

// maxDNSQuestions is Zeek's dns_max_queries: more questions are a violation.
const maxDNSQuestions = 25

// maxDNSRecords bounds the records walked in one message.
const maxDNSRecords = 512

// isDNS reports whether m is one complete, well-formed DNS message: a
// header with a known opcode and a clear Z bit, at most 25 questions, at
// least one record, and questions and resource records that exactly fill the
// message with valid names. Zeek's DNS analyzer confirms at the first message
// whose questions and answers parse (DNS_Interpreter::ParseMessage); this is
// stricter because no port number vouches for the traffic.
func isDNS(m []byte) bool {
	if len(m) < 12 || len(m) > 65535 {
		return false
	}
	flags := binary.BigEndian.Uint16(m[2:])
	switch (flags >> 11) & 0xf { // opcode
	case 0, 1, 2, 4, 5, 6:
	default:
		return false
	}
	if flags&0x0040 != 0 { // Z
		return false
	}
	qd := int(binary.BigEndian.Uint16(m[4:]))
	rr := int(binary.BigEndian.Uint16(m[6:])) + int(binary.BigEndian.Uint16(m[8:])) + int(binary.BigEndian.Uint16(m[10:]))
	if qd > maxDNSQuestions || qd+rr == 0 || qd+rr > maxDNSRecords {
		return false
	}
	pos := 12
	for range qd {
		var ok bool
		if pos, ok = skipName(m, pos); !ok || pos+4 > len(m) {
			return false
		}
		pos += 4
	}
	for range rr {
		var ok bool
		if pos, ok = skipName(m, pos); !ok || pos+10 > len(m) {
			return false
		}
		pos += 10 + int(binary.BigEndian.Uint16(m[pos+8:]))
		if pos > len(m) {
			return false
		}
	}
	return pos == len(m)
}

// isCutDNS reports whether m, a DNS message the capture cut short, has a
// well-formed header and its questions and answers within the captured
// bytes: what Zeek's DNS analyzer parses before it confirms
// (DNS_Interpreter::ParseMessage), the authority and additional sections
// being allowed to fall in the lost part.
func isCutDNS(m []byte) bool {
	if len(m) < 12 {
		return false
	}
	flags := binary.BigEndian.Uint16(m[2:])
	switch (flags >> 11) & 0xf {
	case 0, 1, 2, 4, 5, 6:
	default:
		return false
	}
	qd := int(binary.BigEndian.Uint16(m[4:]))
	an := int(binary.BigEndian.Uint16(m[6:]))
	if flags&0x0040 != 0 || qd > maxDNSQuestions || qd+an == 0 || qd+an > maxDNSRecords {
		return false
	}
	pos := 12
	for range qd {
		var ok bool
		if pos, ok = skipName(m, pos); !ok || pos+4 > len(m) {
			return false
		}
		pos += 4
	}
	for range an {
		var ok bool
		if pos, ok = skipName(m, pos); !ok || pos+10 > len(m) {
			return false
		}
		if pos += 10 + int(binary.BigEndian.Uint16(m[pos+8:])); pos > len(m) {
			return false
		}
	}
	return true
}

// skipName returns the offset after the domain name at pos. Labels are at
// most 63 bytes, the name at most 255; a compression pointer must point
// backwards into the message, after the header.
func skipName(m []byte, pos int) (int, bool) {
	total := 0
	for {
		if pos >= len(m) {
			return 0, false
		}
		b := int(m[pos])
		switch b >> 6 {
		case 0:
			if b == 0 {
				return pos + 1, true
			}
			total += b + 1
			if total > 255 {
				return 0, false
			}
			pos += 1 + b
		case 3:
			if pos+1 >= len(m) {
				return 0, false
			}
			target := (b&0x3f)<<8 | int(m[pos+1])
			if target < 12 || target >= pos {
				return 0, false
			}
			return pos + 2, true
		default:
			return 0, false // extended label types are obsolete
		}
	}
}

// isDNSOverTCP reports whether p starts with a complete, well-formed DNS
// message behind its two-byte length prefix.
func isDNSOverTCP(p []byte) bool {
	if len(p) < 2+12 {
		return false
	}
	l := int(binary.BigEndian.Uint16(p))
	return l >= 12 && 2+l <= len(p) && isDNS(p[2:2+l])
}

// NTP request kinds kept in Detector.ntp.
const (
	ntpStd  uint8 = 1 // modes 1-5: the key is the transmit timestamp
	ntpCtl  uint8 = 6 // mode 6: the key is sequence and opcode
	ntpPriv uint8 = 7 // mode 7: the key is implementation and request code
)

// ntpStdLen reports whether n is a plausible length for an NTP message of
// modes 1-5: the 48-byte header, optionally followed by a MAC (20 or 24
// bytes) or by extension fields (32-bit aligned).
func ntpStdLen(n int) bool {
	switch {
	case n == 48, n == 68, n == 72:
		return true
	case n > 72 && n <= 1024 && (n-48)%4 == 0:
		return true
	}
	return false
}

func ntpVersion(b byte) bool {
	v := (b >> 3) & 7
	return v >= 1 && v <= 4
}

// ntpRequest parses an originator's NTP message that expects an answer: a
// client (mode 3) or symmetric active (mode 1) message with a transmit
// timestamp, a control (mode 6) or a private (mode 7) request.
func ntpRequest(p []byte) (key uint64, kind uint8, ok bool) {
	if len(p) < 8 || !ntpVersion(p[0]) {
		return 0, 0, false
	}
	switch p[0] & 7 {
	case 1, 3:
		if !ntpStdLen(len(p)) {
			return 0, 0, false
		}
		ts := binary.BigEndian.Uint64(p[40:])
		return ts, ntpStd, ts != 0
	case 6:
		if len(p) < 12 || p[1]&0x80 != 0 {
			return 0, 0, false
		}
		if 12+int(binary.BigEndian.Uint16(p[10:])) > len(p) {
			return 0, 0, false
		}
		return uint64(binary.BigEndian.Uint16(p[2:]))<<8 | uint64(p[1]&0x1f), ntpCtl, true
	case 7:
		if p[0]&0x80 != 0 {
			return 0, 0, false
		}
		return uint64(p[2])<<8 | uint64(p[3]), ntpPriv, true
	}
	return 0, 0, false
}

// ntpReply reports whether p answers the pending request: a server (mode 4)
// or symmetric passive (mode 2) message whose origin timestamp echoes the
// request's transmit timestamp, or a control or private response with the
// request's key.
func ntpReply(p []byte, kind uint8, key uint64) bool {
	if len(p) < 8 || !ntpVersion(p[0]) {
		return false
	}
	mode := p[0] & 7
	switch kind {
	case ntpStd:
		return (mode == 4 || mode == 2) && ntpStdLen(len(p)) && binary.BigEndian.Uint64(p[24:]) == key
	case ntpCtl:
		return mode == 6 && len(p) >= 12 && p[1]&0x80 != 0 &&
			uint64(binary.BigEndian.Uint16(p[2:]))<<8|uint64(p[1]&0x1f) == key
	case ntpPriv:
		return mode == 7 && p[0]&0x80 != 0 && uint64(p[2])<<8|uint64(p[3]) == key
	}
	return false
}
