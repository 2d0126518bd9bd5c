package service

import (
	"bytes"
	"net/netip"
)

// FactKind says what a Fact reports. Each kind is one place where a Zeek
// protocol script hands a string to the Software framework
// (Software::found), taken from the payload the way Zeek's analyzer and base
// protocol script see it.
type FactKind uint8

// The facts. The host a fact describes is the originator for the client
// kinds (HTTPUserAgent, HTTPFlash, HTTPPlugin, SSHClient, FTPClient) and the
// responder for the server kinds; SMTPUserAgent carries its own path.
const (
	// HTTPUserAgent is a request's User-Agent header value
	// (http/software.zeek, HTTP::BROWSER).
	HTTPUserAgent FactKind = iota + 1
	// HTTPFlash is a request's Flash version as
	// http/software-browser-plugins.zeek builds it at the end of the request
	// message: "Flash/" + X-Flash-Version, or an X-Requested-With value that
	// contains "Flash", prefixed with "AdobeAIR-" when the request's
	// User-Agent contains "AdobeAIR" (HTTP::BROWSER_PLUGIN).
	HTTPFlash
	// HTTPPlugin is one browser plugin listed in the "&p=...;&" part of the
	// (unescaped) URI of a request answered by an Omniture server (a Server
	// header starting "Omniture"), reported when the transaction ends
	// (software-browser-plugins.zeek's log_http handler).
	HTTPPlugin
	// HTTPServer is a reply's Server header value (HTTP::SERVER).
	HTTPServer
	// HTTPPoweredBy is a reply's X-Powered-By header value (HTTP::APPSERVER).
	HTTPPoweredBy
	// HTTPSharePoint is a reply's MicrosoftSharePointTeamServices header
	// value, unprefixed (Zeek logs it as "SharePoint/" + value, an
	// HTTP::APPSERVER).
	HTTPSharePoint
	// SSHClient is the originator's SSH version line, e.g.
	// "SSH-2.0-OpenSSH_5.2" (ssh_client_version).
	SSHClient
	// SSHServer is the responder's SSH version line (ssh_server_version).
	SSHServer
	// FTPClient is the argument of an FTP CLNT command (ftp/software.zeek,
	// FTP::CLIENT).
	FTPClient
	// SMTPUserAgent is a mail message's user agent with the rest of what
	// smtp/software.zeek reads from the SMTP log record (Fact.Mail).
	SMTPUserAgent
	numFactKinds
)

var factNames = [numFactKinds]string{
	HTTPUserAgent: "http_user_agent", HTTPFlash: "http_flash", HTTPPlugin: "http_plugin",
	HTTPServer: "http_server", HTTPPoweredBy: "http_powered_by", HTTPSharePoint: "http_sharepoint",
	SSHClient: "ssh_client", SSHServer: "ssh_server", FTPClient: "ftp_client", SMTPUserAgent: "smtp_user_agent",
}

// String returns a lower-case name for log fields and tests.
func (k FactKind) String() string {
	if k < numFactKinds && k > 0 {
		return factNames[k]
	}
	return "unknown"
}

// Fact is one protocol fact. It is a plain value; Mail, when set, is owned by
// the Fact.
type Fact struct {
	Kind  FactKind
	Value string // the header value, version line, CLNT argument or user agent
	Mail  *Mail  // SMTPUserAgent only
}

// Mail is what smtp/software.zeek reads from the SMTP log record of one
// message that named its user agent.
type Mail struct {
	// UserAgent is the value of the message's last X-Mailer, User-Agent or
	// X-User-Agent header (SMTP::Info$user_agent).
	UserAgent string
	// UserAgentHeaders are the values of the message's User-Agent headers in
	// order (the ones smtp/software.zeek tests for webmail interfaces).
	UserAgentHeaders []string
	// Received are the addresses of the Received headers in order, each
	// one that differs from the one before (a header's second address, or
	// its only one, wrapped in brackets, parentheses, braces or spaces).
	// SMTP::Info$path is the responder, the originator, then these, without
	// the first if it is the originator.
	Received []netip.Addr
	// FirstReceived is the value of the last Received header of the message
	// (the earliest hop; SMTP::Info$first_received).
	FirstReceived string
}

// Bounds on what a connection's fact analysis keeps.
const (
	// MaxFactLine is the longest line kept: longer request lines and header
	// values are cut to this length (the rest of the line is skipped, never
	// taken for the next line).
	MaxFactLine = 8 * 1024
	// maxPending bounds the HTTP requests waiting for their replies.
	maxPending = 64
	// maxMailPath bounds Mail.Received (Zeek's max_path_length is 1000).
	maxMailPath = 64
	// maxMailAgents bounds Mail.UserAgentHeaders.
	maxMailAgents = 8
)

// Facts extracts the Facts of one TCP connection: HTTP headers and Flash
// versions, SSH version lines, FTP CLNT arguments and SMTP user agents. It
// follows the connection's Detector: a protocol's facts are extracted only
// where the Detector confirmed it (SSH: where both sides sent an "SSH-"
// version line, as Zeek's signatures require), so partial connections and
// violated protocols yield nothing, as in Zeek.
//
// The zero value is ready. Feed every packet to the Detector first, then the
// same packet to Facts.Packet; at connection removal call Finish, which
// reports what Zeek reports for messages the end of the connection
// interrupted. A Facts is 48 bytes, meant to be embedded in the caller's
// per-connection state; it allocates only for the protocols it follows,
// and only buffers the part of a line that a segment boundary cut. It is
// not safe for concurrent use.
type Facts struct {
	dir   [2]stream
	http  *httpFacts
	ssh   *sshFacts
	lines *lineFacts
	cut   uint32
	flags uint8
}

// Facts flags.
const (
	factSeenOrig uint8 = 1 << iota // the originator sent data
	factSeenResp                   // the responder sent data
	factMidOrig                    // the originator's next byte continues a line
	factMidResp                    // the responder's next byte continues a line
	factBroken                     // a TCP gap or reordering ended the analysis
)

// OutOfOrder reports whether a TCP gap or reordering ended the analysis.
func (f *Facts) OutOfOrder() bool { return f.flags&factBroken != 0 }

// Cut returns how many lines were longer than MaxFactLine and cut.
func (f *Facts) Cut() uint32 { return f.cut }

// Packet feeds one packet, after d has seen it, and appends the facts it
// brought to out. proto, fromOrig, seq and payload are as for
// Detector.Packet. Facts are reported at the packet where Zeek raises the
// event that hands them to the Software framework; the caller stamps them
// with the packet's time. payload is only read during the call.
func (f *Facts) Packet(d *Detector, proto uint8, fromOrig bool, seq uint32, payload []byte, out []Fact) []Fact {
	if proto != protoTCP || len(payload) == 0 || f.flags&factBroken != 0 {
		return out
	}
	i := 0
	if !fromOrig {
		i = 1
	}
	data, ok := f.dir[i].feed(seq, payload)
	if !ok {
		f.flags |= factBroken
		return out
	}
	if len(data) == 0 {
		return out
	}
	first := f.flags&(factSeenOrig<<i) == 0
	f.flags |= factSeenOrig << i
	if first && fromOrig && f.http == nil && d.conf.Has(HTTP) {
		f.http = &httpFacts{}
	}
	if f.http != nil {
		if d.viol.Has(HTTP) {
			f.http.stop()
		}
		out = f.http.data(f, fromOrig, data, out)
	}
	out = f.sshData(d, i, first, data, out)
	if d.conf&lineProtos != 0 && f.lines == nil {
		f.lines = &lineFacts{}
	}
	if f.lines != nil {
		out = f.lines.data(f, d, i, data, out)
	} else if (d.active|d.conf)&lineProtos != 0 {
		f.track(i, data)
	}
	return out
}

// Finish reports what the end of the connection completes: HTTP messages
// it interrupted (Zeek's http_message_done and log_http at connection
// removal) and a mail message that had no reply yet (SMTP's finalize hook).
func (f *Facts) Finish(out []Fact) []Fact {
	if f.http != nil {
		out = f.http.finish(f, out)
	}
	if f.lines != nil {
		out = f.lines.finish(f, out)
	}
	return out
}

// track keeps line framing for a direction no line protocol parses yet.
func (f *Facts) track(i int, data []byte) {
	mid := factMidOrig << i
	if j := bytes.LastIndexByte(data, '\n'); j >= 0 && j == len(data)-1 {
		f.flags &^= mid
	} else {
		f.flags |= mid
	}
}

// takeMid reports whether direction i's next byte continues a line, and
// forgets it.
func (f *Facts) takeMid(i int) bool {
	mid := factMidOrig << i
	was := f.flags&mid != 0
	f.flags &^= mid
	return was
}

// lineBuf assembles the lines of one direction across segments. A line that
// fits in one segment is returned in place; only the part a segment boundary
// cuts is copied, and at most MaxFactLine bytes of it.
type lineBuf struct {
	buf  []byte
	long bool // the buffered line went over MaxFactLine
}

// next returns the next complete line of p without its line end (LF, or CR
// LF) and the rest of p. ok is false when p ends inside a line, whose bytes
// are kept for the next call. The line may alias p or the buffer: use it
// before the next call.
func (b *lineBuf) next(f *Facts, p []byte) (line, rest []byte, ok bool) {
	j := bytes.IndexByte(p, '\n')
	if j < 0 {
		b.keep(p)
		return nil, nil, false
	}
	line, rest = p[:j], p[j+1:]
	if len(b.buf) > 0 || b.long {
		b.keep(line)
		line = b.buf
		if b.long {
			f.cut++
		}
		b.buf, b.long = b.buf[:0], false
		if cap(b.buf) > 2*MaxFactLine {
			b.buf = nil
		}
	} else if len(line) > MaxFactLine {
		line = line[:MaxFactLine]
		f.cut++
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest, true
}

func (b *lineBuf) keep(p []byte) {
	room := MaxFactLine - len(b.buf)
	if len(p) > room {
		p = p[:room]
		b.long = true
	}
	b.buf = append(b.buf, p...)
}

// sshFacts holds the two SSH version lines until both sides sent one.
type sshFacts struct {
	line [2][]byte
	done [2]bool // reported, or given up
}

// sshData follows the SSH version exchange: Zeek's signatures want
// "SSH-1." or "SSH-2." (any case) at the start of both directions; the
// analyzer then raises ssh_client_version and ssh_server_version with each
// side's first line. Both are reported once the second side started.
func (f *Facts) sshData(d *Detector, i int, first bool, data []byte, out []Fact) []Fact {
	if first && f.ssh == nil && d.flags&(fSSHOrig|fSSHResp) != 0 && isSSHVersion(data) {
		f.ssh = &sshFacts{}
	}
	s := f.ssh
	if s == nil {
		return out
	}
	if first && !isSSHVersion(data) {
		s.done[i] = true // this side does not speak SSH
	}
	if !s.done[i] && (s.line[i] == nil || s.line[i][len(s.line[i])-1] != '\n') {
		j := bytes.IndexByte(data, '\n')
		if j >= 0 {
			data = data[:j+1]
		}
		s.line[i] = append(s.line[i], data...)
		if len(s.line[i]) > maxSSHBanner+1 {
			s.done[i] = true
		}
	}
	if d.flags&(fSSHOrig|fSSHResp) != fSSHOrig|fSSHResp {
		return out
	}
	for k := range 2 {
		l := s.line[k]
		if s.done[k] || len(l) == 0 || l[len(l)-1] != '\n' {
			continue
		}
		s.done[k] = true
		l = l[:len(l)-1]
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
		kind := SSHClient
		if k == 1 {
			kind = SSHServer
		}
		out = append(out, Fact{Kind: kind, Value: string(l)})
		s.line[k] = nil
	}
	return out
}

// isSSHVersion matches Zeek's SSH signature: /^[sS][sS][hH]-[12]\./ (a
// segment that ends earlier is given the benefit of the doubt).
func isSSHVersion(p []byte) bool {
	if !hasPrefixFold(p, "ssh-") {
		return false
	}
	if len(p) > 4 && p[4] != '1' && p[4] != '2' {
		return false
	}
	return len(p) <= 5 || p[5] == '.'
}
