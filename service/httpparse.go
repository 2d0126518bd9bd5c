package service

import "strings"

// This file holds the line-level parsers of Zeek's HTTP and MIME analyzers
// (HTTP.cc HTTP_RequestLine, ParseRequest, HTTP_ReplyLine; MIME.cc
// MIME_Header, MIME_get_token) and unescape_URI.

// isHTTPTokenChar is Zeek's is_HTTP_token_char (RFC 2616 token).
func isHTTPTokenChar(c byte) bool {
	return c > 31 && c < 127 && !strings.ContainsRune(" \t()<>@,;:\\\"/[]?={}", rune(c))
}

// isURIChar reports whether c may appear in a request URI as Zeek's
// ParseRequest scans it: RFC 3986 reserved and unreserved characters and '%'.
func isURIChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte(":/?#[]@!$&'()*+,;=-_.!~*'()%", c) >= 0
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && isSpace(p[i]) {
		i++
	}
	return i
}

// parseRequestLine splits a request line into method, URI and version ("1.1",
// "1.0", ...; "" for HTTP/0.9; "?" when "HTTP/" is followed by no valid
// version). ok is false for a line that is not a request line.
func parseRequestLine(line []byte) (method, uri []byte, version string, ok bool) {
	m := 0
	for m < len(line) && isHTTPTokenChar(line[m]) {
		m++
	}
	if m == 0 {
		return nil, nil, "", false
	}
	rest := skipSpace(line, m)
	if rest == m {
		return nil, nil, "", false
	}
	end := rest
	for end < len(line) && isURIChar(line[end]) {
		end++
	}
	if end >= len(line) && hasPrefix(line[rest:], "HTTP/") {
		end = rest // missing URI
	}
	vs := end
	for ; vs < len(line); vs++ {
		end = vs
		vs = skipSpace(line, vs)
		if hasPrefix(line[vs:], "HTTP/") {
			break
		}
	}
	uri = line[rest:end]
	if vs >= len(line) {
		if m < 3 || len(uri) == 0 {
			return nil, nil, "", false
		}
		return line[:m], uri, "", true
	}
	version = "?"
	if v := line[vs+5:]; vs+8 <= len(line) && isDigit(v[0]) && v[1] == '.' && isDigit(v[2]) {
		version = string(v[:3])
	}
	return line[:m], uri, version, true
}

func hasPrefix(p []byte, s string) bool { return len(p) >= len(s) && string(p[:len(s)]) == s }

// parseStatusLine parses a status line: "HTTP/", a version, white space and
// a three-digit code (0 when the digits are missing); the reason phrase is
// optional. ok is false for a line that is not a status line.
func parseStatusLine(line []byte) (code int, version string, ok bool) {
	if !hasPrefix(line, "HTTP/") {
		return 0, "", false
	}
	rest := line[5:]
	if len(rest) >= 3 && isDigit(rest[0]) && rest[1] == '.' && isDigit(rest[2]) {
		version = string(rest[:3])
	}
	i := 0
	for i < len(rest) && rest[i] != ' ' && rest[i] != '\t' {
		i++
	}
	if i >= len(rest) {
		return 0, "", false
	}
	i = skipSpace(rest, i)
	if i+3 > len(rest) {
		return 0, "", false
	}
	if c := rest[i:]; isDigit(c[0]) && isDigit(c[1]) && isDigit(c[2]) {
		code = int(c[0]-'0')*100 + int(c[1]-'0')*10 + int(c[2]-'0')
	}
	return code, version, true
}

// skipComments skips linear white space and parenthesized comments
// (MIME_skip_lws_comments).
func skipComments(p []byte, i int) int {
	for i < len(p) {
		switch p[i] {
		case ' ', '\t':
			i++
		case '(':
			i += commentLen(p[i:])
		default:
			return i
		}
	}
	return len(p)
}

// commentLen returns the length of the comment p starts with, nested
// parentheses and backslash escapes included (MIME_skip_comments); all of p
// when it is not closed.
func commentLen(p []byte) int {
	depth := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		case '\\':
			i++
		}
	}
	return len(p)
}

// splitHeader splits a MIME header line into its field name and value
// (MIME_Header): the name is a run of printable characters other than ':',
// the value follows the ':' with leading white space removed.
func splitHeader(line []byte) (name, value []byte, ok bool) {
	i := skipComments(line, 0)
	for i < len(line) && !isFieldNameChar(line[i]) {
		j := skipComments(line, i)
		if j == i {
			j++
		}
		i = j
	}
	if i >= len(line) {
		return nil, nil, false
	}
	j := i
	for j < len(line) && isFieldNameChar(line[j]) {
		j++
	}
	name = line[i:j]
	k := skipComments(line, j)
	if k >= len(line) || line[k] != ':' {
		return nil, nil, false
	}
	return name, line[skipSpace(line, k+1):], true
}

func isFieldNameChar(c byte) bool { return c >= 33 && c <= 126 && c != ':' }

// isMIMETokenChar: printable, not a tspecial (RFC 2045).
func isMIMETokenChar(c byte) bool {
	return c >= 33 && c <= 126 && strings.IndexByte("()<>@,;:\\\"/[]?=", c) < 0
}

// mimeToken returns the first token of a header value (MIME_get_token).
func mimeToken(v []byte) []byte {
	i := skipComments(v, 0)
	for i < len(v) {
		if isMIMETokenChar(v[i]) {
			j := i
			for j < len(v) && isMIMETokenChar(v[j]) {
				j++
			}
			return v[i:j]
		}
		j := skipComments(v, i)
		if j == i {
			j++
		}
		i = j
	}
	return nil
}

// parseLength reads a Content-Length value as Zeek does (atoi_n on the
// first token): leading digits; 0 when the token does not start with one;
// -1 (no length) for a negative value.
func parseLength(v []byte) int64 {
	t := mimeToken(v)
	if len(t) > 0 && t[0] == '-' {
		return -1
	}
	var n int64
	for _, c := range t {
		if !isDigit(c) {
			break
		}
		if n > 1<<50 {
			return 1 << 50
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// UnescapeURI decodes %XX and %uXXXX escapes the way Zeek's unescape_URI
// does: "%%" drops the first '%', an invalid escape is kept as is, and a
// %u escape whose first byte is 0 yields one byte. It returns a new slice.
func UnescapeURI(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		i++
		switch {
		case i == len(s):
			return append(out, '%')
		case i+1 == len(s):
			return append(out, '%', s[i])
		case s[i] == '%':
			i-- // ignore the first '%'
			continue
		}
		if h, ok := unhex(s[i]); ok {
			if l, ok := unhex(s[i+1]); ok {
				out = append(out, h<<4|l)
				i++
				continue
			}
		}
		if len(s)-i >= 5 && s[i] == 'u' {
			a, ok1 := unhex(s[i+1])
			b, ok2 := unhex(s[i+2])
			c, ok3 := unhex(s[i+3])
			d, ok4 := unhex(s[i+4])
			if ok1 && ok2 && ok3 && ok4 {
				if s[i+1] != '0' || s[i+2] != '0' {
					out = append(out, a<<4|b)
				}
				out = append(out, c<<4|d)
				i += 4
				continue
			}
		}
		out = append(out, '%', s[i])
	}
	return out
}
