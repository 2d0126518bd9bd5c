package service

// Services by transport.
const (
	tcpServices = Set(1)<<HTTP | Set(1)<<SSL | Set(1)<<SSH | Set(1)<<DNS | Set(1)<<FTP | Set(1)<<SMTP
	udpServices = Set(1)<<DNS | Set(1)<<NTP
	lineProtos  = Set(1)<<FTP | Set(1)<<SMTP
)

// ignoreViolationsAfter is Zeek's DPD::ignore_violations_after: violations
// after this many payload bytes (both directions) no longer count.
const ignoreViolationsAfter = 10 * 1024

// Budgets that bound the work spent on a connection that never confirms.
const (
	maxCommandLines = 8  // originator lines examined for an FTP or SMTP command
	maxSSHPackets   = 32 // SSH binary packets walked per direction before giving up
	maxDatagrams    = 8  // UDP datagrams examined per direction
)

// Detector flags.
const (
	fBanner220  uint8 = 1 << iota // the responder greeted with 220 (FTP or SMTP) or 120 (FTP)
	fSSHOrig                      // the originator sent an SSH- banner
	fSSHResp                      // the responder sent an SSH- banner
	fSSH1                         // a banner announced protocol 1 (not 1.99)
	fExpectTLS                    // STARTTLS or AUTH TLS was sent: the next originator data may be a ClientHello
	fPartial                      // the connection is partial (SetPartial)
	fNTPRespReq                   // the pending NTP request came from the responder
	fCut                          // the current payload was cut by the capture (PacketLen)
)

// partialBlind are the services whose Zeek analyzers ignore the payload of a
// partial TCP connection (TCP()->IsPartial() in SSL, SSH and HTTP,
// ContentLine's skip-partial in SMTP). FTP and DNS analyze it.
const partialBlind = Set(1)<<HTTP | Set(1)<<SSL | Set(1)<<SSH | Set(1)<<SMTP

// dirState is one direction of a connection.
type dirState struct {
	st  stream
	off uint32 // in-order payload bytes seen so far (saturating)
	n   uint8  // UDP: datagrams examined; TCP originator: command lines examined
	mid bool   // TCP originator: inside a line (the next byte does not start one)
}

// replyState scans the responder's lines for FTP and SMTP reply codes.
type replyState struct {
	head    [4]byte // first bytes of the current line
	n       uint8   // bytes in head
	mid     bool    // past the head of the current line
	pending uint16  // FTP: code of an unfinished multi-line reply
}

// Detector identifies the application protocol of one connection from its
// payload, the way Zeek's dynamic protocol detection does, without looking
// at port numbers. It reports a service when Zeek's analyzer for it would
// raise analyzer_confirmation, at the same packet where that can be told from
// the traffic (see the package documentation for each protocol's rule).
//
// The zero value is ready to use. A Detector is a plain value of a few dozen
// bytes, meant to be embedded in the caller's per-connection state; it never
// allocates. It is not safe for concurrent use: feed it from the goroutine
// that owns the connection.
type Detector struct {
	active Set   // candidates still being analyzed
	conf   Set   // confirmed
	viol   Set   // confirmed, then violated
	watch  Set   // confirmed services still checked for violations
	off    Set   // services Restrict ruled out
	proto  uint8 // transport of the first payload (0: none yet)
	flags  uint8
	ntp    uint8 // kind of the pending NTP request (0: none; 1: modes 1-5; 6; 7)

	dir   [2]dirState // originator, responder
	ssh   [2]sshWalk
	reply replyState
	key   uint64 // NTP: the pending request's transmit timestamp or header key
}

// Packet feeds one packet of the connection to the Detector: proto is the IP
// protocol (6 TCP, 17 UDP; others are ignored), fromOrig tells whether the
// originator sent it, seq is the TCP sequence number of the payload's first
// byte (for a SYN that carries data, the segment's number plus one; ignored
// for UDP) and payload the transport payload. Feed every packet of the
// connection in capture order, except the payload of RST segments, which
// Zeek does not analyze; packets without payload are accepted and cost
// nothing. payload is only read during the call.
//
// It returns the service this packet confirmed, at most once per service
// and connection. If two services were confirmed by the same packet (which
// real traffic does not do), only the first is returned; Services holds
// both.
func (d *Detector) Packet(proto uint8, fromOrig bool, seq uint32, payload []byte) (Confirmation, bool) {
	if len(payload) == 0 {
		return Confirmation{}, false
	}
	if d.proto == 0 {
		switch proto {
		case protoTCP:
			d.active = tcpServices &^ d.off
		case protoUDP:
			d.active = udpServices &^ d.off
		default:
			return Confirmation{}, false
		}
		d.proto = proto
	}
	if proto != d.proto || d.active|d.watch == 0 {
		return Confirmation{}, false
	}
	if proto == protoTCP {
		return d.tcp(fromOrig, seq, payload)
	}
	return d.udp(fromOrig, payload)
}

// Restrict limits the Detector to the services in allowed (the analyzers
// loaded and not disabled, AnalyzerConfig.Services); call it before the
// first packet. The zero value detects every service.
func (d *Detector) Restrict(allowed Set) { d.off = ^allowed }

// PacketLen is Packet for a payload the capture may have cut short:
// wireLen is its length as sent (the transport payload length), at least
// len(payload). A UDP DNS message cut by the capture is confirmed as Zeek
// confirms it: once its header, questions and answers fit in the captured
// bytes. Otherwise it is Packet.
func (d *Detector) PacketLen(proto uint8, fromOrig bool, seq uint32, payload []byte, wireLen int) (Confirmation, bool) {
	if wireLen > len(payload) {
		d.flags |= fCut
		defer func() { d.flags &^= fCut }()
	}
	return d.Packet(proto, fromOrig, seq, payload)
}

// SetPartial tells the Detector whether the TCP connection is partial in
// Zeek's sense (TCPSessionAdapter::IsPartial): the originator's first packet
// was not a pure SYN, or the responder's first packet carried no SYN, and no
// later handshake repaired that. The connection tracker, which follows Zeek's
// TCP state machine, knows; call it before feeding the payload it applies
// to. Zeek's HTTP, SSL, SSH and SMTP analyzers ignore the payload of partial
// connections, so payload fed while partial rules those out. The zero value
// is "not partial".
func (d *Detector) SetPartial(partial bool) {
	if partial {
		d.flags |= fPartial
	} else {
		d.flags &^= fPartial
	}
}

// Services returns the confirmed services that were not violated later:
// what Zeek's known-services script logs for the connection.
func (d *Detector) Services() Set { return d.conf &^ d.viol }

// Confirmed returns every confirmed service, violated ones included.
func (d *Detector) Confirmed() Set { return d.conf }

// Violated returns the services that were confirmed and then violated, which
// Zeek marks with a leading "-" and never logs as known services.
func (d *Detector) Violated() Set { return d.viol }

// Done reports whether the Detector has nothing left to learn from this
// connection; further calls to Packet return at once.
func (d *Detector) Done() bool { return d.proto != 0 && d.active|d.watch == 0 }

// OutOfOrder reports whether a TCP direction stopped being analyzed because a
// segment arrived beyond the next expected byte (a gap or reordering).
func (d *Detector) OutOfOrder() bool { return d.dir[0].st.broken() || d.dir[1].st.broken() }

// result collects the first confirmation of one Packet call.
type result struct {
	c  Confirmation
	ok bool
}

// confirm marks svc confirmed and records it in r if it is the first of the call.
func (d *Detector) confirm(r *result, svc Service, deferred bool) {
	if d.conf.Has(svc) {
		return
	}
	d.conf = d.conf.Add(svc)
	d.active &^= svc.bit()
	if !r.ok {
		r.c, r.ok = Confirmation{Service: svc, Deferred: deferred}, true
	}
}

// bad records that svc's analyzer would have seen a protocol violation: a
// candidate is dropped, a watched confirmed service becomes violated.
func (d *Detector) bad(svc Service) {
	b := svc.bit()
	if d.active&b != 0 {
		d.active &^= b
	}
	if d.watch&b != 0 {
		d.watch &^= b
		d.viol |= b
	}
}

func satAdd(a uint32, n int) uint32 {
	if s := a + uint32(n); s >= a && n >= 0 && n <= 1<<30 {
		return s
	}
	return ^uint32(0)
}

func (d *Detector) tcp(fromOrig bool, seq uint32, payload []byte) (Confirmation, bool) {
	i := 0
	if !fromOrig {
		i = 1
	}
	ds := &d.dir[i]
	data, ok := ds.st.feed(seq, payload)
	if !ok {
		d.active, d.watch = 0, 0
		return Confirmation{}, false
	}
	if len(data) == 0 {
		return Confirmation{}, false
	}
	off := ds.off
	ds.off = satAdd(off, len(data))
	if d.flags&fPartial != 0 {
		d.active &^= partialBlind
		d.watch &^= partialBlind
	}
	if uint64(d.dir[0].off)+uint64(d.dir[1].off) > ignoreViolationsAfter {
		d.watch = 0
	}
	var r result

	if fromOrig {
		if d.dir[1].off == 0 {
			d.active &^= lineProtos // FTP and SMTP servers speak first
		}
		d.origTCP(&r, off, data)
	} else {
		if d.dir[0].off == 0 {
			d.active &^= HTTP.bit() | SSL.bit() | DNS.bit() // clients speak first
		}
		d.respTCP(off, data)
	}
	if d.active&SSH.bit() != 0 {
		d.sshTCP(&r, i, off, data)
	}
	return r.c, r.ok
}

// origTCP runs the originator-side checks of the TCP protocols.
func (d *Detector) origTCP(r *result, off uint32, data []byte) {
	if d.flags&fExpectTLS != 0 {
		d.flags &^= fExpectTLS
		if isClientHello(data) {
			d.confirm(r, SSL, false)
		}
		d.active &^= SSL.bit()
		return
	}
	if off == 0 {
		if d.active.Has(SSL) {
			if isClientHello(data) {
				d.confirm(r, SSL, false)
			} else {
				d.active &^= SSL.bit()
			}
		}
		if d.active.Has(DNS) {
			if isDNSOverTCP(data) {
				d.confirm(r, DNS, false)
			} else {
				d.active &^= DNS.bit()
			}
		}
	}
	if d.active.Has(HTTP) {
		if t := trimSpace(data); len(t) > 0 {
			if ok, v09 := isHTTPRequest(t); ok {
				d.confirm(r, HTTP, false)
				if !v09 {
					d.watch |= HTTP.bit() // its reply must start with a status line
				}
			} else {
				d.active &^= HTTP.bit()
			}
		}
	}
	if (d.active|d.watch)&lineProtos != 0 {
		d.commands(r, &d.dir[0], data)
	}
}

// respTCP runs the responder-side checks of the TCP protocols.
func (d *Detector) respTCP(off uint32, data []byte) {
	if d.watch.Has(HTTP) {
		if t := trimCRLF(data); len(t) > 0 {
			if !isHTTPReply(t) {
				d.bad(HTTP)
			}
			d.watch &^= HTTP.bit()
		}
	}
	if d.active&lineProtos != 0 && off == 0 {
		switch greeting(data) {
		case 220:
			d.flags |= fBanner220
		case 120:
			d.flags |= fBanner220
			d.active &^= SMTP.bit()
		default:
			d.active &^= lineProtos
		}
	}
	if (d.active|d.watch)&lineProtos != 0 {
		d.replies(data)
	}
}
