package service

import "encoding/binary"

// TLS record content types and handshake message types used here.
const (
	recChangeCipherSpec = 20
	recHandshake        = 22
	recApplicationData  = 23

	hsServerHello     = 2
	hsCertificate     = 11
	hsServerHelloDone = 14

	extSupportedVersions = 43
)

// Limits of the per-connection handshake buffer.
const (
	// MaxCertSize is the largest leaf certificate that is buffered and
	// parsed; a larger one ends the analysis with TLSCertTooLarge.
	MaxCertSize = 64 * 1024
	// maxServerHello bounds the buffered ServerHello body.
	maxServerHello = 16 * 1024
	// maxRecord bounds a record's length: 2^14 plus the largest expansion.
	maxRecord = 1<<14 + 2048
)

// TLSStatus is the certificate outcome of a TLS analysis.
type TLSStatus uint8

// Certificate outcomes. Only TLSCert yields a Cert.
const (
	TLSPending      TLSStatus = iota // no certificate decision yet
	TLSCert                          // the responder's leaf certificate was parsed
	TLSNoCert                        // no server certificate: empty list, or none before ServerHelloDone or ChangeCipherSpec (resumption)
	TLS13                            // TLS 1.3 was negotiated: the certificate is encrypted, nothing to log
	TLSSSLv2                         // the server answered in SSLv2, which is not analyzed
	TLSCertTooLarge                  // the leaf is larger than MaxCertSize
	TLSCertInvalid                   // the leaf does not parse as a certificate
)

var tlsStatusNames = [...]string{"pending", "cert", "no_cert", "tls13", "sslv2", "cert_too_large", "cert_invalid"}

// String returns a lower-case name for log fields.
func (s TLSStatus) String() string {
	if int(s) < len(tlsStatusNames) {
		return tlsStatusNames[s]
	}
	return "unknown"
}

// TLSAnomaly tells why a TLS analysis stopped before it was finished.
type TLSAnomaly uint8

// Anomalies. Input that causes one is counted and skipped, never fatal.
const (
	TLSNoAnomaly  TLSAnomaly = iota
	TLSOutOfOrder            // a segment started beyond the next expected byte (a gap or reordering)
	TLSMalformed             // a record or handshake message that does not parse
)

// Event is what one packet brought to light, a plain value. The zero Event
// reports nothing.
type Event struct {
	// Cert is set on the packet that completed the responder's leaf
	// certificate (cert_chain[0]). It is also available from TLS.Leaf. The
	// Cert is shared: do not modify it.
	Cert *Cert
	// Established is set on the packet where Zeek raises ssl_established:
	// the first complete encrypted record after both sides sent
	// ChangeCipherSpec, in practice the packet that carries the server's
	// Finished (zeek: ssl-dtls-analyzer.pac proc_ciphertext_record).
	Established bool
	// TLS13 is set on the packet with a ServerHello that negotiated TLS 1.3:
	// the certificate is encrypted and the analysis ends.
	TLS13 bool
}

// tlsDir is one direction's record layer.
type tlsDir struct {
	st     stream
	hdr    [5]byte
	hdrN   uint8
	ctype  uint8  // current record's content type
	cipher bool   // the current record is ciphertext
	enc    bool   // this side switched to encryption (ChangeCipherSpec, or TLS 1.3 application data)
	v2     bool   // the current record is an SSLv2 record (two-byte header)
	recs   uint8  // records seen, saturating
	left   uint32 // bytes left in the current record's body
}

// TLS follows the TLS handshake of one TCP connection far enough to find
// the server's leaf certificate and the moment Zeek considers the session
// established. It reassembles each direction in order by sequence number
// without buffering (see stream), walks the record layer in both directions,
// and the responder's cleartext handshake messages across records and
// segments. Only the ServerHello and the leaf certificate are buffered, in
// one buffer of at most MaxCertSize bytes that is released once the
// certificate is parsed or the analysis ends.
//
// The zero value is ready. Feed it every packet of the connection starting
// with the one that carries the ClientHello (for example from the packet on
// which Detector confirms SSL, which is that one). A TLS is not safe for
// concurrent use.
type TLS struct {
	// Cache, if set, supplies certificates already parsed on other
	// connections (the Cert is then shared). The zero value parses each.
	Cache *CertCache

	dir [2]tlsDir

	// The responder's handshake message walker.
	hsHdr     [4]byte
	hsN       uint8
	hsType    uint8
	hsDone    bool // no more cleartext handshake messages to look at
	certPhase uint8
	accN      uint8
	hsLeft    uint32 // bytes left in the current handshake message
	acc       uint32
	certLen   uint32
	buf       []byte

	leaf        *Cert
	version     uint16
	status      TLSStatus
	anomaly     TLSAnomaly
	established bool
	done        bool
}

// Certificate message phases.
const (
	certListLen uint8 = iota
	certLenPhase
	certBody
	certRest
)

// Packet feeds one TCP packet of the connection: fromOrig tells whether the
// originator sent it, seq is the sequence number of the payload's first byte
// (as for Detector.Packet) and payload its TCP payload (read during the call
// only; leave out the payload of RST segments). Packets without payload cost
// nothing.
// ok reports whether ev holds anything.
func (s *TLS) Packet(fromOrig bool, seq uint32, payload []byte) (ev Event, ok bool) {
	if len(payload) == 0 || s.done {
		return Event{}, false
	}
	i := 0
	if !fromOrig {
		i = 1
	}
	data, inOrder := s.dir[i].st.feed(seq, payload)
	if !inOrder {
		s.stop(TLSOutOfOrder)
		return Event{}, false
	}
	s.records(i, data, &ev)
	return ev, ev.Cert != nil || ev.Established || ev.TLS13
}

// Leaf returns the responder's leaf certificate, if it was parsed.
func (s *TLS) Leaf() *Cert { return s.leaf }

// Status returns the certificate outcome so far.
func (s *TLS) Status() TLSStatus { return s.status }

// Anomaly returns why the analysis stopped early, if it did.
func (s *TLS) Anomaly() TLSAnomaly { return s.anomaly }

// Established reports whether ssl_established was raised.
func (s *TLS) Established() bool { return s.established }

// Version returns the version the ServerHello selected (0x0303 for TLS 1.2,
// 0x0304 for TLS 1.3), or 0 before it was seen.
func (s *TLS) Version() uint16 { return s.version }

// Done reports whether the analysis is over; further packets cost nothing.
func (s *TLS) Done() bool { return s.done }

func (s *TLS) stop(a TLSAnomaly) {
	if s.anomaly == TLSNoAnomaly {
		s.anomaly = a
	}
	s.finish()
}

func (s *TLS) finish() {
	s.done = true
	s.buf = nil
}

// is13 reports whether the negotiated version is TLS 1.3 or a draft of it:
// anything but SSLv2, SSLv3 and TLS 1.0-1.2, as Zeek decides.
func (s *TLS) is13() bool {
	switch s.version {
	case 0, 0x0002, 0x0300, 0x0301, 0x0302, 0x0303:
		return false
	}
	return true
}

// records walks the record layer of direction i over in-order data.
func (s *TLS) records(i int, data []byte, ev *Event) {
	d := &s.dir[i]
	for len(data) > 0 && !s.done {
		if d.left == 0 {
			if d.hdrN == 0 && d.recs == 0 && data[0]&0x80 != 0 {
				if i == 1 {
					s.status = TLSSSLv2 // SSLv2 server hello
					s.finish()
					return
				}
				d.v2 = true // SSLv2-compatible client hello
			}
			want := uint8(5)
			if d.v2 {
				want = 2
			}
			for d.hdrN < want && len(data) > 0 {
				d.hdr[d.hdrN] = data[0]
				d.hdrN++
				data = data[1:]
			}
			if d.hdrN < want {
				return
			}
			d.hdrN = 0
			if !s.header(d) {
				s.stop(TLSMalformed)
				return
			}
			if d.left == 0 {
				s.recordEnd(i, ev)
				continue
			}
		}
		n := min(uint32(len(data)), d.left)
		body := data[:n]
		data = data[n:]
		d.left -= n
		if i == 1 && !d.cipher && !d.v2 && d.ctype == recHandshake && !s.hsDone {
			s.handshake(body, ev)
		}
		if d.left == 0 && !s.done {
			s.recordEnd(i, ev)
		}
	}
}

// header checks a complete record header and starts the record. The record
// layer version must be SSLv3 or TLS 1.0-1.2, as Zeek requires
// (determine_ssl_record_layer), and the content type a known one.
func (s *TLS) header(d *tlsDir) bool {
	h := d.hdr
	if d.v2 {
		d.left = uint32(h[0]&0x7f)<<8 | uint32(h[1])
		d.ctype, d.cipher = 0, false
		return d.left > 0
	}
	if h[0] < 20 || h[0] > 24 || h[1] != 3 || h[2] > 3 {
		return false
	}
	d.ctype = h[0]
	d.left = uint32(h[3])<<8 | uint32(h[4])
	if d.left > maxRecord {
		return false
	}
	if !d.enc && d.ctype == recApplicationData && s.is13() {
		d.enc = true // TLS 1.3: encryption shows with the first application data
	}
	d.cipher = d.enc
	return true
}

// recordEnd finishes the current record of direction i.
func (s *TLS) recordEnd(i int, ev *Event) {
	d := &s.dir[i]
	if d.recs < 255 {
		d.recs++
	}
	if d.v2 {
		d.v2 = false
		return
	}
	if d.cipher {
		if s.dir[0].enc && s.dir[1].enc && !s.established {
			s.established = true
			ev.Established = true
			s.finish()
		}
		return
	}
	if d.ctype == recChangeCipherSpec {
		d.enc = true
		if i == 1 {
			s.endHandshake()
		}
	}
}

// endHandshake notes that the server sent no more cleartext handshake
// messages; a certificate that did not come by then is not coming.
func (s *TLS) endHandshake() {
	s.hsDone = true
	if s.status == TLSPending {
		s.status = TLSNoCert
	}
	s.buf = nil
}

// handshake walks the responder's handshake messages, which may span
// records and segments, in the bodies of its cleartext handshake records.
func (s *TLS) handshake(b []byte, ev *Event) {
	for len(b) > 0 && !s.hsDone && !s.done {
		if s.hsLeft == 0 {
			for s.hsN < 4 && len(b) > 0 {
				s.hsHdr[s.hsN] = b[0]
				s.hsN++
				b = b[1:]
			}
			if s.hsN < 4 {
				return
			}
			s.hsN = 0
			s.hsType = s.hsHdr[0]
			s.hsLeft = uint32(s.hsHdr[1])<<16 | uint32(s.hsHdr[2])<<8 | uint32(s.hsHdr[3])
			if !s.startMessage() {
				s.stop(TLSMalformed)
				return
			}
			if s.hsLeft == 0 {
				s.endMessage(ev)
			}
			continue
		}
		n := min(uint32(len(b)), s.hsLeft)
		chunk := b[:n]
		b = b[n:]
		s.hsLeft -= n
		switch s.hsType {
		case hsServerHello:
			s.buf = append(s.buf, chunk...)
		case hsCertificate:
			s.certBytes(chunk, ev)
		}
		if s.hsLeft == 0 && !s.done {
			s.endMessage(ev)
		}
	}
}

// startMessage prepares for a handshake message whose header was read.
func (s *TLS) startMessage() bool {
	switch s.hsType {
	case hsServerHello:
		if s.version != 0 {
			s.hsType = 0xff // a second ServerHello: skip it
			return true
		}
		if s.hsLeft < 38 || s.hsLeft > maxServerHello {
			return false
		}
		s.buf = make([]byte, 0, s.hsLeft)
	case hsCertificate:
		if s.status != TLSPending {
			s.hsType = 0xff
			return true
		}
		s.certPhase, s.acc, s.accN = certListLen, 0, 0
	}
	return true
}

// endMessage handles a complete handshake message.
func (s *TLS) endMessage(ev *Event) {
	switch s.hsType {
	case hsServerHello:
		v, ok := serverHelloVersion(s.buf)
		s.buf = s.buf[:0]
		if !ok {
			s.stop(TLSMalformed)
			return
		}
		s.version = v
		if s.is13() {
			s.status = TLS13
			ev.TLS13 = true
			s.finish()
		}
	case hsCertificate:
		if s.status == TLSPending {
			s.stop(TLSMalformed) // the message ended inside the leaf
		}
	case hsServerHelloDone:
		s.endHandshake()
	}
}

// certBytes consumes part of the body of the server's Certificate message:
// the list length, the leaf's length and the leaf, which is buffered and
// parsed; the rest of the chain is skipped.
func (s *TLS) certBytes(b []byte, ev *Event) {
	for len(b) > 0 {
		switch s.certPhase {
		case certListLen, certLenPhase:
			s.acc = s.acc<<8 | uint32(b[0])
			s.accN++
			b = b[1:]
			if s.accN < 3 {
				continue
			}
			v, remaining := s.acc, s.hsLeft+uint32(len(b))
			s.acc, s.accN = 0, 0
			switch {
			case v > remaining:
				s.stop(TLSMalformed)
				return
			case s.certPhase == certListLen && v == 0:
				s.status, s.certPhase = TLSNoCert, certRest
			case s.certPhase == certListLen:
				s.certPhase = certLenPhase
			case v == 0:
				s.status, s.certPhase = TLSCertInvalid, certRest
			case v > MaxCertSize:
				s.status, s.certPhase = TLSCertTooLarge, certRest
			default:
				s.certLen, s.certPhase = v, certBody
				if uint32(cap(s.buf)) < v {
					s.buf = make([]byte, 0, v)
				}
				s.buf = s.buf[:0]
			}
		case certBody:
			n := min(int(s.certLen)-len(s.buf), len(b))
			s.buf = append(s.buf, b[:n]...)
			b = b[n:]
			if len(s.buf) < int(s.certLen) {
				continue
			}
			if c, err := s.Cache.parse(s.buf); err != nil {
				s.status = TLSCertInvalid
			} else {
				s.status, s.leaf, ev.Cert = TLSCert, c, c
			}
			s.buf, s.certPhase = nil, certRest
		default:
			return
		}
	}
}

// serverHelloVersion returns the version a ServerHello body selects: its
// server_version, or the supported_versions extension's value (TLS 1.3).
func serverHelloVersion(b []byte) (uint16, bool) {
	if len(b) < 38 {
		return 0, false
	}
	v := binary.BigEndian.Uint16(b)
	pos := 2 + 32
	sid := int(b[pos])
	pos++
	if sid > 32 || pos+sid+3 > len(b) {
		return 0, false
	}
	pos += sid + 3 // session id, cipher suite, compression method
	if pos == len(b) {
		return v, true
	}
	if pos+2 > len(b) {
		return 0, false
	}
	ext := int(binary.BigEndian.Uint16(b[pos:]))
	pos += 2
	if pos+ext != len(b) {
		return 0, false
	}
	for pos+4 <= len(b) {
		typ := binary.BigEndian.Uint16(b[pos:])
		l := int(binary.BigEndian.Uint16(b[pos+2:]))
		pos += 4
		if pos+l > len(b) {
			return 0, false
		}
		if typ == extSupportedVersions && l == 2 {
			v = binary.BigEndian.Uint16(b[pos:])
		}
		pos += l
	}
	return v, pos == len(b)
}
