package service

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// This file follows the line protocols for their facts: the FTP client's
// CLNT command (FTP.cc: a command is the first word of a line, upper-cased,
// its argument the rest after white space), and the top-level headers of
// each SMTP message (SMTP.cc hands the lines between the 354 reply to DATA
// and the "." line to the MIME analyzer; base/protocols/smtp/main.zeek
// keeps the user agent and the Received path). Zeek switches to TLS after
// FTP's "AUTH TLS" is accepted (234) and after SMTP's STARTTLS (220); the
// facts stop there. SMTP CHUNKING (BDAT) messages are not followed.

// lineFacts is the FTP/SMTP part of a connection's Facts.
type lineFacts struct {
	lb   [2]lineBuf
	skip [2]bool // discard up to the next line end (the analysis began mid-line)

	ftpAuth bool // "AUTH TLS" sent: a 234 reply switches to TLS
	ftpStop bool

	smtpStop   bool
	startTLS   bool // STARTTLS sent: a 220 reply switches to TLS
	expectData bool // DATA sent: a 354 reply starts the message
	inData     bool
	inHeader   bool
	awaitReply bool // the message ended: its log record is written at the next reply
	mail       *Mail
	hdr        uint8
	val        []byte
}

// Mail header kinds.
const (
	mailOther     uint8 = iota
	mailAgent           // X-Mailer, X-User-Agent
	mailUserAgent       // User-Agent
	mailReceived
)

// data parses one direction's in-order data line by line.
func (l *lineFacts) data(f *Facts, d *Detector, i int, p []byte, out []Fact) []Fact {
	if f.takeMid(i) {
		l.skip[i] = true
	}
	for len(p) > 0 {
		if l.skip[i] {
			j := bytes.IndexByte(p, '\n')
			if j < 0 {
				return out
			}
			p, l.skip[i] = p[j+1:], false
			continue
		}
		line, rest, ok := l.lb[i].next(f, p)
		if !ok {
			return out
		}
		p = rest
		if i == 0 {
			out = l.clientLine(f, d, line, out)
		} else {
			out = l.serverLine(f, d, line, out)
		}
	}
	return out
}

// clientLine handles one originator line.
func (l *lineFacts) clientLine(f *Facts, d *Detector, line []byte, out []Fact) []Fact {
	if d.conf.Has(SMTP) && !l.smtpStop {
		if l.inData {
			return l.dataLine(f, line, out)
		}
		cmd, _ := command(line)
		switch {
		case equalFold(cmd, "DATA"):
			l.expectData = true
		case equalFold(cmd, "STARTTLS"):
			l.startTLS = true
		case equalFold(cmd, "BDAT"):
			l.smtpStop = true
		}
		return out
	}
	if d.conf.Has(FTP) && !l.ftpStop {
		cmd, arg := command(line)
		if len(cmd) < 3 {
			return out
		}
		for _, c := range cmd {
			if c < 0x21 || c > 0x7e {
				return out // not an FTP command: Zeek ignores the line
			}
		}
		switch {
		case equalFold(cmd, "CLNT"):
			out = append(out, Fact{Kind: FTPClient, Value: string(arg)})
		case equalFold(cmd, "AUTH"):
			l.ftpAuth = string(arg) == "TLS"
		}
	}
	return out
}

// command splits a command line into its first word and the rest after
// white space (util::get_word and skip_whitespace).
func command(line []byte) (cmd, arg []byte) {
	i := skipSpace(line, 0)
	j := i
	for j < len(line) && !isSpace(line[j]) {
		j++
	}
	return line[i:j], line[skipSpace(line, j):]
}

// serverLine handles one responder line: its reply code moves the state.
func (l *lineFacts) serverLine(f *Facts, d *Detector, line []byte, out []Fact) []Fact {
	code := 0
	if len(line) >= 3 && isDigit(line[0]) && isDigit(line[1]) && isDigit(line[2]) {
		code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	}
	if d.conf.Has(FTP) && l.ftpAuth && code == 234 {
		l.ftpStop = true
	}
	if !d.conf.Has(SMTP) || l.smtpStop {
		return out
	}
	if l.awaitReply {
		l.awaitReply = false
		out = l.report(out)
	}
	switch {
	case l.startTLS && code == 220:
		l.smtpStop = true
	case l.expectData && code == 354:
		l.expectData, l.inData, l.inHeader = false, true, true
		l.mail = &Mail{}
		l.hdr = mailOther
	}
	return out
}

// dataLine handles a line of a message.
func (l *lineFacts) dataLine(f *Facts, line []byte, out []Fact) []Fact {
	if len(line) == 1 && line[0] == '.' {
		l.endHeader()
		l.inData, l.inHeader, l.awaitReply = false, false, true
		return out
	}
	if !l.inHeader {
		return out
	}
	if len(line) > 0 && line[0] == '.' {
		line = line[1:] // dot-stuffing
	}
	if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
		if l.hdr != mailOther && len(l.val)+len(line) <= MaxFactLine {
			l.val = append(l.val, line...)
		}
		return out
	}
	l.endHeader()
	if len(line) == 0 {
		l.inHeader = false
		return out
	}
	name, value, ok := splitHeader(line)
	if !ok {
		return out
	}
	switch {
	case equalFold(name, "X-MAILER"), equalFold(name, "X-USER-AGENT"):
		l.hdr = mailAgent
	case equalFold(name, "USER-AGENT"):
		l.hdr = mailUserAgent
	case equalFold(name, "RECEIVED"):
		l.hdr = mailReceived
	default:
		return out
	}
	l.val = append(l.val[:0], value...)
	return out
}

// endHeader completes the mail header being assembled (mime_one_header).
func (l *lineFacts) endHeader() {
	kind := l.hdr
	l.hdr = mailOther
	m := l.mail
	if kind == mailOther || m == nil {
		return
	}
	v := string(l.val)
	switch kind {
	case mailAgent, mailUserAgent:
		m.UserAgent = v
		if kind == mailUserAgent && len(m.UserAgentHeaders) < maxMailAgents {
			m.UserAgentHeaders = append(m.UserAgentHeaders, v)
		}
	case mailReceived:
		m.FirstReceived = v
		if ip, ok := smtpHeaderAddr(l.val); ok && len(m.Received) < maxMailPath &&
			(len(m.Received) == 0 || m.Received[len(m.Received)-1] != ip) {
			m.Received = append(m.Received, ip)
		}
	}
}

// report hands over the finished message if it named its user agent.
func (l *lineFacts) report(out []Fact) []Fact {
	m := l.mail
	l.mail = nil
	if m == nil || m.UserAgent == "" {
		return out
	}
	return append(out, Fact{Kind: SMTPUserAgent, Value: m.UserAgent, Mail: m})
}

// finish reports a message the end of the connection interrupted (SMTP's
// finalize hook writes its log record).
func (l *lineFacts) finish(f *Facts, out []Fact) []Fact {
	if l.inData || l.awaitReply {
		l.endHeader()
		l.inData, l.awaitReply = false, false
		return l.report(out)
	}
	return out
}

// ipAddrRE is Zeek's ip_addr_regex (base/utils/addrs.zeek), matched
// leftmost-longest as Zeek's DFA matcher does.
var ipAddrRE = func() *regexp.Regexp {
	const (
		dec = `(?:[0-9]{1}|[0-9]{2}|0[0-9]{2}|1[0-9]{2}|2[0-4][0-9]|25[0-5])`
		v4  = dec + `\.` + dec + `\.` + dec + `\.` + dec
		hex = `[0-9A-Fa-f]{1,4}`
	)
	// lead returns hextets(:hextet){k}:: followed by up to max more
	// hextets (none when max < 0).
	lead := func(k, max int) string {
		s := hex + fmt.Sprintf(`(?::%s){%d}::`, hex, k)
		if max >= 0 {
			s += fmt.Sprintf(`(?:%s(?::%s){0,%d})?`, hex, hex, max)
		}
		return s
	}
	alts := []string{
		v4,
		fmt.Sprintf(`(?:%s:){7}%s`, hex, hex),
		fmt.Sprintf(`::(?:%s(?::%s){0,6})?`, hex, hex),
		fmt.Sprintf(`(?:%s:){6}%s`, hex, v4),
		fmt.Sprintf(`::(?:%s(?::%s){0,4})?%s`, hex, hex, v4),
	}
	for k := 0; k <= 6; k++ {
		alts = append(alts, lead(k, 5-k))
	}
	for k := 0; k <= 4; k++ {
		alts = append(alts, lead(k, 3-k)+v4)
	}
	re := regexp.MustCompile(`(?:` + strings.Join(alts, `)|(?:`) + `)`)
	re.Longest()
	return re
}()

// smtpHeaderAddr is find_address_in_smtp_header: the second address that
// extract_ip_addresses(header, T) finds, or its only one.
func smtpHeaderAddr(h []byte) (netip.Addr, bool) {
	var found [2]netip.Addr
	n := 0
	prev := 0 // end of the previous match
	for rest := 0; rest < len(h) && n < 2; {
		loc := ipAddrRE.FindIndex(h[rest:])
		if loc == nil {
			break
		}
		s, e := rest+loc[0], rest+loc[1]
		before, after := h[prev:s], h[e:]
		next := after
		if m := ipAddrRE.FindIndex(after); m != nil {
			next = after[:m[0]]
		}
		if a, err := netip.ParseAddr(string(h[s:e])); err == nil && wrapped(before, next) {
			found[n] = a
			n++
		}
		prev, rest = e, e
	}
	switch n {
	case 2:
		return found[1], true
	case 1:
		return found[0], true
	}
	return netip.Addr{}, false
}

// wrapped is extract_ip_addresses' check_wrapping: the pieces before and
// after the address (up to the neighbouring matches) are both empty, or end
// and start with matching brackets, parentheses, braces or spaces.
func wrapped(before, after []byte) bool {
	if len(before) == 0 && len(after) == 0 {
		return true
	}
	if len(before) == 0 || len(after) == 0 {
		return false
	}
	b, a := before[len(before)-1], after[0]
	return b == '[' && a == ']' || b == '(' && a == ')' || b == '{' && a == '}' || b == ' ' && a == ' '
}
