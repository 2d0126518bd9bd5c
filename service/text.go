package service

import "bytes"

// This file holds the line-oriented protocols: HTTP, FTP and SMTP.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasPrefixFold reports whether p starts with the lower-case ASCII prefix,
// ignoring case. A p shorter than prefix matches when it is a prefix of it:
// the rest may be in the next segment.
func hasPrefixFold(p []byte, prefix string) bool {
	for i := 0; i < len(prefix); i++ {
		if i == len(p) {
			return true
		}
		if lower(p[i]) != prefix[i] {
			return false
		}
	}
	return true
}

func trimSpace(p []byte) []byte {
	for len(p) > 0 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\r' || p[0] == '\n') {
		p = p[1:]
	}
	return p
}

func trimCRLF(p []byte) []byte {
	for len(p) > 0 && (p[0] == '\r' || p[0] == '\n') {
		p = p[1:]
	}
	return p
}

// knownMethods are accepted on request lines that carry no HTTP version
// (HTTP/0.9) or that the segment cuts before the version.
var knownMethods = [...]string{
	"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "TRACE", "PATCH",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH",
}

func isKnownMethod(m []byte) bool {
	for _, k := range knownMethods {
		if string(m) == k {
			return true
		}
	}
	return false
}

// isHTTPRequest reports whether p starts with an HTTP request line, and
// whether that line has no version (HTTP/0.9, whose replies have no status
// line). A request line is the
// point at which Zeek's HTTP analyzer confirms (HTTP_Analyzer::HTTP_Request):
// a method token, a space, a URI, a space and "HTTP/d.d". A line without a
// version (HTTP/0.9), or one the segment cuts short, needs a well-known
// method.
func isHTTPRequest(p []byte) (ok, v09 bool) {
	i := 0
	for i < len(p) && i <= 24 && (p[i] >= 'A' && p[i] <= 'Z' || p[i] == '-' || p[i] == '_') {
		i++
	}
	if i == 0 || i > 24 || i == len(p) || p[i] != ' ' {
		return false, false
	}
	method := p[:i]
	j := i + 1
	k := j
	for k < len(p) && p[k] > ' ' && p[k] < 0x7f {
		k++
	}
	if k == j {
		return false, false
	}
	if k == len(p) { // the line continues in the next segment
		return isKnownMethod(method), false
	}
	switch p[k] {
	case '\r', '\n':
		return isKnownMethod(method), true // HTTP/0.9 simple request
	case ' ':
	default:
		return false, false
	}
	v := p[k+1:]
	if len(v) < 8 {
		return hasPrefixFold(v, "http/") && isKnownMethod(method), false
	}
	return hasPrefixFold(v, "http/") && isDigit(v[5]) && v[6] == '.' && isDigit(v[7]), false
}

// isHTTPReply reports whether p (leading empty lines removed) can start an
// HTTP reply line. Zeek raises "not a http reply line" otherwise.
func isHTTPReply(p []byte) bool { return hasPrefixFold(p, "http/") }

// greeting classifies the responder's first line for FTP and SMTP: 220 for
// "220" followed by a space, tab or '-', 120 for FTP's "120" followed by a
// non-digit, 0 otherwise (Zeek's dpd_ftp_server and dpd_smtp_server).
func greeting(p []byte) int {
	p = trimSpace(p)
	if len(p) < 4 {
		return 0
	}
	switch {
	case p[0] == '2' && p[1] == '2' && p[2] == '0' && (p[3] == ' ' || p[3] == '\t' || p[3] == '-'):
		return 220
	case p[0] == '1' && p[1] == '2' && p[2] == '0' && !isDigit(p[3]):
		return 120
	}
	return 0
}

// replies scans the responder's data line by line and checks each line's
// reply code the way Zeek's FTP and SMTP analyzers do: FTP raises a violation
// for a line without a numeric code outside a multi-line reply, SMTP for any
// line whose code is not within 100-599.
func (d *Detector) replies(p []byte) {
	r := &d.reply
	for len(p) > 0 && (d.active|d.watch)&lineProtos != 0 {
		if r.mid {
			j := bytes.IndexByte(p, '\n')
			if j < 0 {
				return
			}
			p = p[j+1:]
			r.mid = false
			continue
		}
		for len(p) > 0 && r.n < 4 && p[0] != '\r' && p[0] != '\n' {
			r.head[r.n] = p[0]
			r.n++
			p = p[1:]
		}
		if r.n < 4 && len(p) == 0 {
			return // the head continues in the next segment
		}
		d.replyLine(r.head[:r.n])
		r.n = 0
		r.mid = true
	}
}

// replyLine checks the first (up to four) bytes of one reply line.
func (d *Detector) replyLine(h []byte) {
	if len(h) == 0 {
		return // empty lines are skipped
	}
	code := 0
	if len(h) >= 3 && isDigit(h[0]) && isDigit(h[1]) && isDigit(h[2]) {
		code = int(h[0]-'0')*100 + int(h[1]-'0')*10 + int(h[2]-'0')
	}
	r := &d.reply
	if (d.active | d.watch).Has(FTP) {
		switch {
		case r.pending != 0:
			if code == int(r.pending) && len(h) == 4 && h[3] == ' ' {
				r.pending = 0
			}
		case code > 0 && len(h) == 4 && h[3] == '-':
			r.pending = uint16(code)
		case code == 0:
			d.bad(FTP)
		}
	}
	if (d.active | d.watch).Has(SMTP) && (code < 100 || code > 599) {
		d.bad(SMTP)
	}
}

// command kinds.
const (
	cmdUnknown = iota
	cmdShared  // valid in both FTP and SMTP
	cmdFTP
	cmdSMTP
	cmdFTPTLS  // AUTH TLS/SSL: FTP, and the connection switches to TLS
	cmdSMTPTLS // STARTTLS
)

var ftpCommands = [...]string{
	"USER", "PASS", "ACCT", "CWD", "CDUP", "SMNT", "REIN", "PORT", "PASV", "TYPE", "STRU", "MODE",
	"RETR", "STOR", "STOU", "APPE", "ALLO", "REST", "RNFR", "RNTO", "ABOR", "DELE", "RMD", "MKD",
	"PWD", "LIST", "NLST", "SITE", "SYST", "STAT", "FEAT", "OPTS", "PBSZ", "PROT", "EPSV", "EPRT",
	"LPRT", "LPSV", "LANG", "MDTM", "SIZE", "MLSD", "MLST", "CLNT", "HOST", "CCC", "ADAT", "XPWD",
	"XCWD", "XMKD", "XRMD", "XCUP",
}

var smtpCommands = [...]string{
	"EHLO", "HELO", "MAIL", "RCPT", "DATA", "RSET", "VRFY", "EXPN", "BDAT", "TURN", "ETRN", "ATRN",
}

func equalFold(w []byte, s string) bool {
	if len(w) != len(s) {
		return false
	}
	for i := range w {
		if lower(w[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// classify returns the kind of the command line's first word; complete is
// false when the word may continue in the next segment.
func classify(line []byte) (kind int, complete bool) {
	line = trimSpace(line)
	w := 0
	for w < len(line) && w <= 8 && (line[w]|0x20 >= 'a' && line[w]|0x20 <= 'z') {
		w++
	}
	if w == len(line) {
		return cmdUnknown, false
	}
	word, rest := line[:w], line[w:]
	if w == 0 || w > 8 || (rest[0] != ' ' && rest[0] != '\r' && rest[0] != '\n' && rest[0] != '\t') {
		return cmdUnknown, true
	}
	switch {
	case equalFold(word, "AUTH"):
		arg := trimSpace(rest)
		if hasPrefixFold(arg, "tls") || hasPrefixFold(arg, "ssl") {
			if len(arg) < 3 {
				return cmdUnknown, false
			}
			return cmdFTPTLS, true
		}
		if hasPrefixFold(arg, "gssapi") || hasPrefixFold(arg, "kerberos") {
			return cmdFTP, len(arg) >= 3
		}
		if len(arg) == 0 {
			return cmdShared, true
		}
		return cmdSMTP, true
	case equalFold(word, "STARTTLS"):
		return cmdSMTPTLS, true
	case equalFold(word, "HELP"), equalFold(word, "NOOP"), equalFold(word, "QUIT"):
		return cmdShared, true
	}
	for _, c := range smtpCommands {
		if equalFold(word, c) {
			return cmdSMTP, true
		}
	}
	for _, c := range ftpCommands {
		if equalFold(word, c) {
			return cmdFTP, true
		}
	}
	return cmdUnknown, true
}

// commands scans the originator's lines for FTP and SMTP commands. Zeek's
// FTP analyzer confirms at the first command line, its SMTP analyzer at the
// first valid command; here a command only one of the two protocols knows
// decides between them, once the responder greeted with 220. Lines whose
// first word the segment cuts short are skipped.
func (d *Detector) commands(r *result, ds *dirState, p []byte) {
	for len(p) > 0 && (d.active|d.watch)&lineProtos != 0 {
		if ds.mid {
			j := bytes.IndexByte(p, '\n')
			if j < 0 {
				return
			}
			p = p[j+1:]
			ds.mid = false
			continue
		}
		line := p
		if j := bytes.IndexByte(p, '\n'); j >= 0 {
			line = p[:j+1]
		}
		p = p[len(line):]
		ds.mid = line[len(line)-1] != '\n'
		kind, complete := classify(line)
		if !complete {
			continue
		}
		d.command(r, ds, kind)
	}
}

func (d *Detector) command(r *result, ds *dirState, kind int) {
	if d.active&lineProtos != 0 && d.flags&fBanner220 != 0 {
		switch kind {
		case cmdFTP, cmdFTPTLS:
			if d.active.Has(FTP) {
				d.confirm(r, FTP, false)
				d.watch |= FTP.bit()
			}
			d.active &^= SMTP.bit()
		case cmdSMTP, cmdSMTPTLS:
			if d.active.Has(SMTP) {
				d.confirm(r, SMTP, false)
				d.watch |= SMTP.bit()
			}
			d.active &^= FTP.bit()
		}
		if ds.n < maxCommandLines {
			ds.n++
		}
		if d.active&lineProtos != 0 && ds.n >= maxCommandLines {
			d.active &^= lineProtos
		}
	}
	if (kind == cmdFTPTLS && d.conf.Has(FTP)) || (kind == cmdSMTPTLS && d.conf.Has(SMTP)) {
		// The rest is TLS: Zeek hands it to its SSL analyzer.
		d.watch &^= lineProtos
		d.flags |= fExpectTLS
		if !d.conf.Has(SSL) {
			d.active |= SSL.bit() &^ d.off
		}
	}
}
