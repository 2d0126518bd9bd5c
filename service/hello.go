package service

import "encoding/binary"

// isClientHello reports whether p starts with a TLS ClientHello or an
// SSLv2-compatible CLIENT-HELLO: Zeek's SSL analyzer confirms at a client
// hello whose version it supports (proc_client_hello). Every field present
// in p is checked; a hello the segment cuts short is judged on its start.
func isClientHello(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	if p[0]&0x80 != 0 {
		return isSSLv2ClientHello(p)
	}
	if len(p) < 11 || p[0] != 0x16 || p[1] != 3 || p[2] > 3 || p[5] != 1 {
		return false
	}
	recLen := int(binary.BigEndian.Uint16(p[3:]))
	if recLen < 4+41 || recLen > 1<<14 {
		return false
	}
	hsLen := int(p[6])<<16 | int(p[7])<<8 | int(p[8])
	if hsLen < 41 || p[9] != 3 || p[10] > 4 {
		return false
	}
	// The hello's body, as far as this record and segment hold it.
	b := p[9:]
	if n := min(hsLen, recLen-4); len(b) > n {
		b = b[:n]
	}
	complete := len(b) == hsLen
	pos := 2 + 32 // version, random
	if pos >= len(b) {
		return true
	}
	sid := int(b[pos])
	if sid > 32 {
		return false
	}
	pos += 1 + sid
	if pos+2 > len(b) {
		return !complete
	}
	cs := int(binary.BigEndian.Uint16(b[pos:]))
	if cs < 2 || cs%2 != 0 {
		return false
	}
	pos += 2 + cs
	if pos >= len(b) {
		return !complete
	}
	comp := int(b[pos])
	if comp < 1 {
		return false
	}
	pos += 1 + comp
	if pos >= len(b) {
		return pos == len(b) || !complete
	}
	if pos+2 > len(b) {
		return !complete
	}
	ext := int(binary.BigEndian.Uint16(b[pos:]))
	pos += 2
	if complete && pos+ext != len(b) {
		return false
	}
	end := min(pos+ext, len(b))
	for pos+4 <= end {
		pos += 4 + int(binary.BigEndian.Uint16(b[pos+2:]))
	}
	return !complete || pos == end
}

// isSSLv2ClientHello checks an SSLv2 CLIENT-HELLO with a two-byte record
// header: message type 1, a version Zeek accepts (SSLv2, SSLv3, TLS 1.0-1.2),
// cipher specs in 3-byte units, a 0 or 16 byte session id, a 16-32 byte
// challenge, and lengths that add up to the record length.
func isSSLv2ClientHello(p []byte) bool {
	if len(p) < 11 || p[2] != 1 {
		return false
	}
	recLen := int(p[0]&0x7f)<<8 | int(p[1])
	switch binary.BigEndian.Uint16(p[3:]) {
	case 0x0002, 0x0300, 0x0301, 0x0302, 0x0303:
	default:
		return false
	}
	cs := int(binary.BigEndian.Uint16(p[5:]))
	sid := int(binary.BigEndian.Uint16(p[7:]))
	ch := int(binary.BigEndian.Uint16(p[9:]))
	return cs > 0 && cs%3 == 0 && (sid == 0 || sid == 16) && ch >= 16 && ch <= 32 && recLen == 9+cs+sid+ch
}
