package service

import "bytes"

// This file follows HTTP/1.x messages the way Zeek's HTTP analyzer frames
// them (analyzer/protocol/http/HTTP.cc): request and status lines, MIME
// headers (a line starting with a space or tab continues the previous
// header; Zeek raises http_header when a header is complete), and bodies
// delimited by Content-Length, chunked transfer coding (HTTP/1.1 only), or
// the end of the connection. Bodies are skipped, not buffered.

// HTTP direction states.
const (
	hLine       uint8 = iota // expecting a request or status line
	hHeaders                 // in the header block
	hBody                    // skipping remain body bytes
	hChunkSize               // expecting a chunk-size line
	hChunkData               // skipping remain chunk bytes
	hChunkCRLF               // expecting the CRLF after a chunk
	hTrailer                 // in the trailer after the last chunk
	hUntilClose              // the body runs to the end of the connection
	hStop                    // nothing more to parse in this direction
)

// Header names that matter here (compared without regard to case).
const (
	hdrOther uint8 = iota
	hdrUserAgent
	hdrFlashVersion
	hdrRequestedWith
	hdrServer
	hdrPoweredBy
	hdrSharePoint
	hdrContentLength
	hdrTransferEncoding
	hdrContentEncoding
	hdrConnection
)

var reqHeaders = map[string]uint8{
	"user-agent": hdrUserAgent, "x-flash-version": hdrFlashVersion, "x-requested-with": hdrRequestedWith,
	"content-length": hdrContentLength, "transfer-encoding": hdrTransferEncoding,
	"content-encoding": hdrContentEncoding,
}

var respHeaders = map[string]uint8{
	"server": hdrServer, "x-powered-by": hdrPoweredBy, "microsoftsharepointteamservices": hdrSharePoint,
	"content-length": hdrContentLength, "transfer-encoding": hdrTransferEncoding,
	"content-encoding": hdrContentEncoding, "connection": hdrConnection,
}

// httpRequest is what a request leaves for its reply.
type httpRequest struct {
	head bool   // HEAD: the reply has no body
	uri  string // unescaped URI, only kept when it may list plugins
}

// httpMsg is one direction's message in progress.
type httpMsg struct {
	state   uint8
	lb      lineBuf
	remain  int64
	v11     bool // the message's version is HTTP/1.1
	clen    int64
	chunked bool
	gzip    bool
	hdr     uint8  // kind of the header being assembled
	val     []byte // its value (interesting headers only)
	ongoing bool   // a message started and was not done yet
	// request only
	ua, flash string
	// reply only
	code     int
	omniture bool
}

// httpFacts is the HTTP part of a connection's Facts.
type httpFacts struct {
	msg     [2]httpMsg // request, reply
	pending []httpRequest
	close   bool // a reply said "Connection: close" (Zeek's connection_close, sticky)
}

func (h *httpFacts) stop() { h.msg[0].state, h.msg[1].state = hStop, hStop }

// data parses one direction's in-order data.
func (h *httpFacts) data(f *Facts, fromOrig bool, p []byte, out []Fact) []Fact {
	i := 0
	if !fromOrig {
		i = 1
	}
	m := &h.msg[i]
	for len(p) > 0 {
		switch m.state {
		case hStop, hUntilClose:
			return out
		case hBody, hChunkData:
			n := int64(len(p))
			if n > m.remain {
				n = m.remain
			}
			p = p[n:]
			m.remain -= n
			if m.remain == 0 {
				if m.state == hBody {
					out = h.done(f, i, out)
				} else {
					m.state = hChunkCRLF
				}
			}
			continue
		}
		line, rest, ok := m.lb.next(f, p)
		if !ok {
			return out
		}
		p = rest
		if i == 0 {
			out = h.requestLine(f, m, line, out)
		} else {
			out = h.replyLine(f, m, line, out)
		}
	}
	return out
}

// requestLine handles one line of the originator's stream.
func (h *httpFacts) requestLine(f *Facts, m *httpMsg, line []byte, out []Fact) []Fact {
	switch m.state {
	case hLine:
		if len(line) == 0 {
			return out // Zeek: empty_http_request, tolerated
		}
		method, uri, version, ok := parseRequestLine(line)
		if !ok {
			m.state = hStop // Zeek: "not a http request line"
			return out
		}
		*m = httpMsg{lb: m.lb, state: hHeaders, ongoing: true, clen: -1, v11: version == "1.1"}
		if version == "" {
			h.msg[1].state = hStop // HTTP/0.9: the server answers with raw data
		}
		if len(h.pending) < maxPending {
			r := httpRequest{head: equalFold(method, "HEAD")}
			if bytes.IndexByte(uri, '%') >= 0 || bytes.Contains(uri, []byte("&p=")) {
				if u := UnescapeURI(uri); bytes.Contains(u, []byte("&p=")) {
					r.uri = string(u)
				}
			}
			h.pending = append(h.pending, r)
		}
		return out
	case hChunkSize:
		return h.chunkSize(f, 0, m, line, out)
	case hChunkCRLF:
		m.state = hChunkSize
		return out
	}
	return h.headerLine(f, 0, m, line, out)
}

// replyLine handles one line of the responder's stream.
func (h *httpFacts) replyLine(f *Facts, m *httpMsg, line []byte, out []Fact) []Fact {
	switch m.state {
	case hLine:
		if len(line) == 0 {
			return out
		}
		code, version, ok := parseStatusLine(line)
		if !ok {
			m.state = hStop // Zeek: "not a http reply line"
			return out
		}
		*m = httpMsg{lb: m.lb, state: hHeaders, ongoing: true, clen: -1, v11: version == "1.1", code: code}
		return out
	case hChunkSize:
		return h.chunkSize(f, 1, m, line, out)
	case hChunkCRLF:
		m.state = hChunkSize
		return out
	}
	return h.headerLine(f, 1, m, line, out)
}

// headerLine handles a line of a header block (or of a chunked trailer).
func (h *httpFacts) headerLine(f *Facts, i int, m *httpMsg, line []byte, out []Fact) []Fact {
	if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
		if m.hdr != hdrOther && len(m.val)+len(line) <= MaxFactLine {
			m.val = append(m.val, line...) // MIME continuation: the line as is
		}
		return out
	}
	out = h.endHeader(m, i, out)
	if len(line) == 0 {
		if m.state == hTrailer {
			return h.done(f, i, out)
		}
		return h.endHeaders(f, i, m, out)
	}
	name, value, ok := splitHeader(line)
	if !ok {
		return out
	}
	table := reqHeaders
	if i == 1 {
		table = respHeaders
	}
	var lname [40]byte
	if len(name) > len(lname) || m.state == hTrailer {
		return out
	}
	for k, c := range name {
		lname[k] = lower(c)
	}
	m.hdr = table[string(lname[:len(name)])]
	if m.hdr != hdrOther {
		m.val = append(m.val[:0], value...)
	}
	return out
}

// endHeader completes the header being assembled: Zeek's http_header.
func (h *httpFacts) endHeader(m *httpMsg, i int, out []Fact) []Fact {
	kind := m.hdr
	m.hdr = hdrOther
	if kind == hdrOther {
		return out
	}
	v := m.val
	switch kind {
	case hdrUserAgent:
		m.ua = string(v)
		return append(out, Fact{Kind: HTTPUserAgent, Value: m.ua})
	case hdrFlashVersion:
		m.flash = "Flash/" + string(v)
	case hdrRequestedWith:
		if bytes.Contains(v, []byte("Flash")) {
			m.flash = string(v)
		}
	case hdrServer:
		if bytes.HasPrefix(v, []byte("Omniture")) {
			m.omniture = true
		}
		return append(out, Fact{Kind: HTTPServer, Value: string(v)})
	case hdrPoweredBy:
		return append(out, Fact{Kind: HTTPPoweredBy, Value: string(v)})
	case hdrSharePoint:
		return append(out, Fact{Kind: HTTPSharePoint, Value: string(v)})
	case hdrContentLength:
		m.clen = parseLength(v)
	case hdrTransferEncoding:
		if equalFold(mimeToken(v), "chunked") && m.v11 {
			m.chunked = true
		}
	case hdrContentEncoding:
		t := mimeToken(v)
		if equalFold(t, "gzip") || equalFold(t, "x-gzip") || equalFold(t, "deflate") {
			m.gzip = true
		}
	case hdrConnection:
		if i == 1 && equalFold(mimeToken(v), "close") {
			h.close = true
		}
	}
	return out
}

// endHeaders decides how the body is delimited (HTTP_Entity::SubmitAllHeaders).
func (h *httpFacts) endHeaders(f *Facts, i int, m *httpMsg, out []Fact) []Fact {
	expectBody := true // requests: maybe; replies: by method and code
	if i == 1 {
		if m.code >= 100 && m.code < 200 || m.code == 204 || m.code == 304 ||
			(len(h.pending) > 0 && h.pending[0].head) {
			expectBody = false
		}
		if !expectBody {
			return h.done(f, i, out)
		}
	}
	switch {
	case m.chunked:
		m.state = hChunkSize
	case m.clen > 0:
		m.state, m.remain = hBody, m.clen
	case m.clen == 0:
		return h.done(f, i, out)
	case h.close || m.gzip || (i == 1 && expectBody):
		m.state = hUntilClose
	default:
		return h.done(f, i, out)
	}
	return out
}

// chunkSize handles a chunk-size line: hex digits, then extensions.
func (h *httpFacts) chunkSize(f *Facts, i int, m *httpMsg, line []byte, out []Fact) []Fact {
	var n int64
	for _, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto parsed
		}
		if n > 1<<40 {
			m.state = hStop
			return out
		}
		n = n<<4 | int64(d)
	}
parsed:
	if n > 0 {
		m.state, m.remain = hChunkData, n
		return out
	}
	m.state = hTrailer
	return out
}

// done ends direction i's message: http_message_done, and for a reply
// log_http (unless it was informational).
func (h *httpFacts) done(f *Facts, i int, out []Fact) []Fact {
	m := &h.msg[i]
	if !m.ongoing {
		return out
	}
	m.ongoing = false
	if m.state != hStop {
		m.state = hLine
	}
	if i == 0 {
		if m.flash != "" {
			v := m.flash
			if bytes.Contains([]byte(m.ua), []byte("AdobeAIR")) {
				v = "AdobeAIR-" + v
			}
			out = append(out, Fact{Kind: HTTPFlash, Value: v})
		}
		return out
	}
	if m.code >= 100 && m.code < 200 {
		return out // the real reply is still to come
	}
	if len(h.pending) == 0 {
		return out
	}
	req := h.pending[0]
	h.pending = h.pending[1:]
	if len(h.pending) == 0 {
		h.pending = h.pending[:0:0]
	}
	if m.omniture && req.uri != "" {
		out = appendPlugins(out, req.uri)
	}
	return out
}

// finish ends the messages the end of the connection interrupted.
func (h *httpFacts) finish(f *Facts, out []Fact) []Fact {
	for i := range 2 {
		m := &h.msg[i]
		if m.state == hHeaders || m.state == hTrailer {
			out = h.endHeader(m, i, out)
		}
		out = h.done(f, i, out)
	}
	return out
}

// appendPlugins reports the plugins of an Omniture request URI:
// split_string_n(uri, /&p=([^&]{5,});&/, T, 1), the match without "&p=" and
// ";&", split at /[[:blank:]]*;[[:blank:]]*/.
func appendPlugins(out []Fact, uri string) []Fact {
	for i := 0; i+3 <= len(uri); i++ {
		if uri[i] != '&' || uri[i+1] != 'p' || uri[i+2] != '=' {
			continue
		}
		k := i + 3
		for k < len(uri) && uri[k] != '&' {
			k++
		}
		run := uri[i+3 : k]
		if k == len(uri) || len(run) < 6 || run[len(run)-1] != ';' {
			continue
		}
		list := run[:len(run)-1]
		start := 0
		for j := 0; j <= len(list); j++ {
			if j < len(list) && list[j] != ';' {
				continue
			}
			piece := list[start:j]
			if start > 0 {
				piece = trimBlankLeft(piece)
			}
			if j < len(list) {
				piece = trimBlankRight(piece)
			}
			out = append(out, Fact{Kind: HTTPPlugin, Value: piece})
			start = j + 1
		}
		return out
	}
	return out
}

func trimBlankLeft(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

func trimBlankRight(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
