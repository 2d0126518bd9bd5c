// Package service owns the payload analyzers a worker runs on each
// connection: service identification (what Zeek's dynamic protocol detection
// and known-services script see), the TLS handshake analysis that yields
// the server certificates of known_certs.log, and the protocol facts
// (headers, version lines, commands) that software.log is built from.
//
// # Service identification
//
// A Detector, embedded by value in the connection tracker's per-flow state,
// is fed every packet of its connection and reports each service once, at
// the packet where Zeek's analyzer for it raises analyzer_confirmation. It
// looks at payload only, never at port numbers, so one port can carry
// several services (one per connection, as in Zeek's sslh test). Where Zeek
// confirms on the strength of a port (an HTTP request on port 80), the
// Detector demands a stricter parse instead. Per protocol:
//
//   - HTTP: an originator request line (method, URI, HTTP/d.d; without a
//     version or cut by the segment end, a well-known method). Violation: the
//     responder's first line is not an HTTP status line.
//   - SSL: a TLS ClientHello or an SSLv2-compatible CLIENT-HELLO from the
//     originator, also after FTP "AUTH TLS" or SMTP STARTTLS.
//   - SSH: "SSH-" banners from both sides, then the first SSH_MSG_NEWKEYS
//     (SSH1: the client's SESSION_KEY), found by walking the cleartext
//     binary packets.
//   - FTP and SMTP: a 220 (FTP also 120) greeting from the responder, then
//     the first originator command only one of the two knows (USER, EHLO,
//     ...). Violation: a reply line without a numeric code (FTP, outside a
//     multi-line reply) or with a code outside 100-599 (SMTP).
//   - DNS: a complete, well-formed message (UDP datagram, or behind TCP's
//     length prefix), query or response.
//   - NTP: a request (client or symmetric mode with a transmit timestamp,
//     control or private mode) answered by a matching reply from the other
//     side.
//     Zeek confirms at the request; the Detector reports it with the reply
//     and marks it Deferred (see Confirmation).
//
// Violations after 10 KiB of payload are ignored (Zeek's
// DPD::ignore_violations_after), and Zeek's HTTP, SSL, SSH and SMTP
// analyzers ignore partial connections (SetPartial).
//
//	var d service.Detector // in the per-flow struct; the zero value is ready
//	d.SetPartial(flowIsPartial) // when the tracker knows it
//	if c, ok := d.Packet(p.Proto, fromOrig, p.Seq, p.Payload); ok {
//		// c.Service was confirmed at p.TS (unless c.Deferred)
//	}
//	// at connection removal: d.Services() for Zeek's second check
//
// # TLS certificates
//
// A TLS follows one connection's handshake from its ClientHello: it orders
// each direction by sequence number, walks the record layer of both sides
// and the server's handshake messages across records and segments, parses
// the server's leaf certificate (ParseCert: crypto/x509 plus OpenSSL's
// one-line name and serial formats, as Zeek prints them) and reports the
// packet where Zeek raises ssl_established. A CertCache shared by a
// goroutine's TLS analyses parses a certificate seen on many connections
// once.
//
//	var s service.TLS // allocate when the Detector confirms SSL; feed that packet too
//	ev, ok := s.Packet(fromOrig, p.Seq, p.Payload)
//	if ok && ev.Established && s.Leaf() != nil {
//		// known_certs row: ts = p.TS, host = responder, s.Leaf().Subject, ...
//	}
//
// gopacket's reassembly package is not used. Its Assembler owns a
// connection table keyed by gopacket flows, duplicating the tracker's, takes
// gopacket layers and capture info per packet, allocates per connection and
// per out-of-order page, and keeps buffered data until flushed by time. The
// analyses here need much less: the bytes of each direction once and in
// order, and only until the certificate and ssl_established are found. So
// each direction is ordered by sequence number without buffering
// (retransmitted bytes are trimmed; a segment beyond the next expected byte
// ends the analysis and is counted), the record and handshake layers are
// walked as streams, and only the ServerHello and the leaf certificate are
// copied into one bounded buffer (MaxCertSize) that is released as soon as
// the certificate is parsed or the analysis ends.
//
// # Protocol facts
//
// A Facts, beside the Detector in the per-flow state, extracts what Zeek's
// protocol scripts hand to the Software framework (Software::found): HTTP
// User-Agent, Server, X-Powered-By and MicrosoftSharePointTeamServices
// headers, Flash versions and the plugins a request to an Omniture server
// lists, SSH version lines, the FTP client's CLNT argument and the user
// agent and Received path of each SMTP message. It follows the protocols
// the Detector confirmed, frames HTTP messages as Zeek's HTTP analyzer does
// (Content-Length, chunked coding, to the end of the connection) and skips
// bodies without buffering them.
//
//	var f service.Facts // in the per-flow struct; the zero value is ready
//	f.SetEndpoints(orig, resp)
//	facts = f.Packet(&d, p.Proto, fromOrig, p.Seq, p.Payload, facts[:0]) // after d.Packet
//	// at connection removal: facts = f.Finish(facts[:0])
//
// Malformed input is never fatal: it ends a connection's analysis, and the
// Detector's, TLS's and Facts' outcomes can be summed with Counters.
//
// The package is pure: no I/O, no goroutines, no clocks; timestamps stay
// with the caller. Nothing in it is safe for concurrent use; each Detector
// and TLS belongs to the goroutine that owns its connection.
package service
