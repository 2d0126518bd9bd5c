package service

import (
	"bytes"
	"net/netip"
	"strconv"
)

// maxFTPLine bounds the control-connection line the FTP follower keeps;
// longer lines are skipped (Zeek's FTP::max_command_length is 100).
const maxFTPLine = 512

// FTPData is a data connection an FTP control connection announced: the
// connection from Orig to Resp:RespPort that Zeek's FTP script expects
// (Analyzer::schedule_analyzer with FTP_DATA) and logs with the service
// "ftp-data". Passive tells a PASV/EPSV reply from a PORT/EPRT command.
type FTPData struct {
	Orig, Resp netip.Addr
	RespPort   uint16
	Passive    bool
}

// FTPDataService is conn.log's service name for an FTP data connection.
const FTPDataService = "ftp-data"

// ftpDir is one direction of the control connection: its in-order bytes
// cut into lines.
type ftpDir struct {
	st   stream
	line []byte
	skip bool // inside a line longer than maxFTPLine
}

// FTPControl follows an FTP control connection for the data connections it
// announces, as Zeek's FTP script does: a PORT or EPRT command from the
// client (the server will connect to the address it names), a 227 (PASV)
// or 229 (EPSV) reply from the server (the client will connect to it).
// Feed it every packet of a connection the Detector confirmed as FTP. The
// zero value is ready; it allocates only a line buffer per direction. It
// is not safe for concurrent use.
type FTPControl struct {
	dir [2]ftpDir
}

// Packet feeds one packet: fromOrig tells the direction, seq is the
// sequence number of the payload's first byte, client and server are the
// control connection's originator and responder. fn gets each data
// connection a complete line announces. payload is only read during the
// call.
func (f *FTPControl) Packet(fromOrig bool, seq uint32, payload []byte, client, server netip.Addr, fn func(FTPData)) {
	d := &f.dir[1]
	if fromOrig {
		d = &f.dir[0]
	}
	data, ok := d.st.feed(seq, payload)
	if !ok {
		return
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		chunk := data
		if i >= 0 {
			chunk = data[:i]
			data = data[i+1:]
		} else {
			data = nil
		}
		if !d.skip {
			if len(d.line)+len(chunk) > maxFTPLine {
				d.skip, d.line = true, d.line[:0]
			} else {
				d.line = append(d.line, chunk...)
			}
		}
		if i < 0 {
			return
		}
		if !d.skip {
			if dc, ok := ftpLine(fromOrig, bytes.TrimRight(d.line, "\r"), client, server); ok {
				fn(dc)
			}
		}
		d.line, d.skip = d.line[:0], false
	}
}

// ftpLine interprets one complete control line.
func ftpLine(fromOrig bool, line []byte, client, server netip.Addr) (FTPData, bool) {
	line = trimSpace(line)
	if fromOrig {
		if len(line) < 5 || (line[4] != ' ' && line[4] != '\t') {
			return FTPData{}, false
		}
		arg := trimSpace(line[5:])
		var ap netip.AddrPort
		var ok bool
		switch {
		case equalFold(line[:4], "PORT"):
			ap, ok = ParseFTPPort(string(arg))
		case equalFold(line[:4], "EPRT"):
			ap, ok = ParseFTPEPRT(string(arg))
		}
		if !ok {
			return FTPData{}, false
		}
		return FTPData{Orig: server, Resp: ap.Addr(), RespPort: ap.Port()}, true
	}
	if len(line) < 4 || (line[3] != ' ' && line[3] != '-') {
		return FTPData{}, false
	}
	var ap netip.AddrPort
	var ok bool
	switch string(line[:3]) {
	case "227":
		ap, ok = ParseFTPPASV(string(line[4:]))
	case "229":
		ap, ok = ParseFTPEPSV(string(line[4:]))
		if ok && !ap.Addr().IsValid() {
			ap = netip.AddrPortFrom(server, ap.Port())
		}
	}
	if !ok {
		return FTPData{}, false
	}
	return FTPData{Orig: client, Resp: ap.Addr(), RespPort: ap.Port(), Passive: true}, true
}

// ParseFTPPort parses "h1,h2,h3,h4,p1,p2" (a PORT argument, or the
// address of a 227 reply) as Zeek's parse_ftp_port does: six decimal
// numbers 0-255 separated by commas, leading blanks allowed before each.
func ParseFTPPort(s string) (netip.AddrPort, bool) {
	var n [6]int
	for i := range n {
		for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
			s = s[1:]
		}
		j := 0
		for j < len(s) && j < 4 && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == 0 {
			return netip.AddrPort{}, false
		}
		v, _ := strconv.Atoi(s[:j])
		if v > 255 {
			return netip.AddrPort{}, false
		}
		n[i], s = v, s[j:]
		if i < 5 {
			if len(s) == 0 || s[0] != ',' {
				return netip.AddrPort{}, false
			}
			s = s[1:]
		}
	}
	a := netip.AddrFrom4([4]byte{byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])})
	return netip.AddrPortFrom(a, uint16(n[4]<<8|n[5])), true
}

// ParseFTPPASV parses the text of a 227 reply as Zeek's parse_ftp_pasv
// does: the address after "(", or after "PORT", or the comma-separated
// list that starts at the digits before the first comma.
func ParseFTPPASV(s string) (netip.AddrPort, bool) {
	if i := bytes.IndexByte([]byte(s), '('); i >= 0 {
		return ParseFTPPort(s[i+1:])
	}
	if i := bytes.Index([]byte(s), []byte("PORT")); i >= 0 {
		return ParseFTPPort(s[min(i+5, len(s)):])
	}
	i := bytes.IndexByte([]byte(s), ',')
	if i < 0 {
		return netip.AddrPort{}, false
	}
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	return ParseFTPPort(s[i:])
}

// ParseFTPEPSV parses the text of a 229 reply, "(|||port|)" with any
// delimiter: only a port; the address is the zero Addr (the server's).
func ParseFTPEPSV(s string) (netip.AddrPort, bool) {
	i := bytes.IndexByte([]byte(s), '(')
	if i < 0 || len(s) < i+5 {
		return netip.AddrPort{}, false
	}
	s = s[i+1:]
	d := s[0]
	if s[1] != d || s[2] != d {
		return netip.AddrPort{}, false
	}
	s = s[3:]
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	p, err := strconv.ParseUint(s[:j], 10, 16)
	if err != nil || j >= len(s) || s[j] != d {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(netip.Addr{}, uint16(p)), true
}

// ParseFTPEPRT parses an EPRT argument, "|1|132.235.1.2|6275|" or
// "|2|::1|6275|" with any delimiter (RFC 2428).
func ParseFTPEPRT(s string) (netip.AddrPort, bool) {
	if len(s) < 2 {
		return netip.AddrPort{}, false
	}
	d := string(s[0])
	parts := bytes.Split([]byte(s[1:]), []byte(d))
	if len(parts) < 4 {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(string(parts[1]))
	if err != nil {
		return netip.AddrPort{}, false
	}
	switch string(parts[0]) {
	case "1":
		if !a.Is4() {
			return netip.AddrPort{}, false
		}
	case "2":
		if !a.Is6() {
			return netip.AddrPort{}, false
		}
	default:
		return netip.AddrPort{}, false
	}
	p, err := strconv.ParseUint(string(parts[2]), 10, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(p)), true
}
