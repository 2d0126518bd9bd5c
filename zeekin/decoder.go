package zeekin

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"

	"shoal/zeeklog"
)

// format is the encoding of one log stream.
type format uint8

const (
	formatUnknown format = iota
	formatTSV
	formatJSON
)

// outcome says what decoder.line made of a line.
type outcome uint8

const (
	outHeader  outcome = iota // a "#" header or footer line: nothing to deliver
	outRecord                 // a row: the Record is set
	outSkipped                // ignored on purpose (counted in Stats.Skipped)
	outError                  // rejected: the *LineError says why
)

// Column tables. Each kind has a list of the columns it reads; cols maps
// each to its position in "#fields" (-1 if absent).
const (
	cTS = iota
	cUID
	cOrigH
	cOrigP
	cRespH
	cRespP
	cProto
	cService
	cDuration
	cOrigBytes
	cRespBytes
	cConnState
	cLocalOrig
	cLocalResp
	cMissedBytes
	cHistory
	cOrigPkts
	cOrigIPBytes
	cRespPkts
	cRespIPBytes
	cIPProto
	nConnCols
)

var connCols = [nConnCols]string{
	cTS: "ts", cUID: "uid", cOrigH: "id.orig_h", cOrigP: "id.orig_p", cRespH: "id.resp_h",
	cRespP: "id.resp_p", cProto: "proto", cService: "service", cDuration: "duration",
	cOrigBytes: "orig_bytes", cRespBytes: "resp_bytes", cConnState: "conn_state",
	cLocalOrig: "local_orig", cLocalResp: "local_resp", cMissedBytes: "missed_bytes",
	cHistory: "history", cOrigPkts: "orig_pkts", cOrigIPBytes: "orig_ip_bytes",
	cRespPkts: "resp_pkts", cRespIPBytes: "resp_ip_bytes", cIPProto: "ip_proto",
}

// connRequired are the conn.log columns a worker's analyses cannot do
// without: the endpoint tuple, the time, and the state the known-hosts and
// scan rules look at.
var connRequired = []int{cTS, cOrigH, cOrigP, cRespH, cRespP, cProto, cConnState, cHistory}

const (
	sTS = iota
	sUID
	sOrigH
	sOrigP
	sRespH
	sRespP
	sEstablished
	sServerName
	sFps
	sFuids
	sSubject
	sIssuer
	nSSLCols
)

var sslCols = [nSSLCols]string{
	sTS: "ts", sUID: "uid", sOrigH: "id.orig_h", sOrigP: "id.orig_p", sRespH: "id.resp_h",
	sRespP: "id.resp_p", sEstablished: "established", sServerName: "server_name",
	sFps: "cert_chain_fps", sFuids: "cert_chain_fuids", sSubject: "subject", sIssuer: "issuer",
}

var sslRequired = []int{sTS, sRespH, sRespP, sEstablished}

const (
	xTS = iota
	xFingerprint
	xID
	xSerial
	xSubject
	xIssuer
	xNotBefore
	xNotAfter
	nX509Cols
)

var x509Cols = [nX509Cols]string{
	xTS: "ts", xFingerprint: "fingerprint", xID: "id", xSerial: "certificate.serial",
	xSubject: "certificate.subject", xIssuer: "certificate.issuer",
	xNotBefore: "certificate.not_valid_before", xNotAfter: "certificate.not_valid_after",
}

var x509Required = []int{xSerial, xSubject, xIssuer}

// decoder turns the lines of one log stream into records. It detects the
// format (TSV when the first line is a "#" header, JSON when it is an
// object), reads TSV headers, locates columns by "#fields", and keeps the
// state needed between lines. A new "#separator" line starts a new header
// block, so concatenated logs read correctly. It is pure: no I/O.
type decoder struct {
	path string // for messages
	hint Kind   // from the file name; used when the content does not say

	format   format
	kind     Kind
	rejected bool // unknown layout: rows are skipped until a new header block
	byFileID bool // ssl/x509: the v3 layout (file ids instead of fingerprints)

	// TSV header state.
	sep      []byte
	setSep   byte
	empty    []byte
	unset    []byte
	logPath  string
	fields   []string
	closed   bool
	fieldsAt int   // line of "#fields"
	cols     []int // column positions for kind, -1 if absent
	vals     [][]byte
}

// kindFromName guesses the log kind from a file name such as "conn.log",
// "ssl.2024-01-01-00-00-00.log" or "x509.log.gz".
func kindFromName(path string) Kind {
	base := filepath.Base(path)
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	return kindFromPath(base)
}

func kindFromPath(p string) Kind {
	switch p {
	case "conn":
		return KindConn
	case "ssl":
		return KindSSL
	case "x509":
		return KindX509
	}
	return KindUnknown
}

func newDecoder(path string, hint Kind) *decoder {
	d := &decoder{path: path, hint: hint}
	d.resetHeader()
	return d
}

// resetHeader restores the TSV defaults before a header block.
func (d *decoder) resetHeader() {
	d.sep = []byte{'\t'}
	d.setSep = ','
	d.empty = []byte("(empty)")
	d.unset = []byte("-")
	d.logPath = ""
	d.fields = nil
	d.closed = false
	d.cols = nil
	d.rejected = false
	if d.format == formatTSV {
		d.kind = KindUnknown
	}
}

// line decodes one line (without its newline) at 1-based line number n.
// The line is only read during the call.
func (d *decoder) line(b []byte, n int) (Record, outcome, *LineError) {
	b = bytes.TrimSuffix(b, []byte{'\r'})
	if bytes.HasPrefix(b, []byte("### BTest")) {
		return Record{}, outHeader, nil
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return Record{}, outSkipped, nil
	}
	if d.format == formatUnknown {
		switch b[0] {
		case '#':
			d.format = formatTSV
		case '{':
			d.format = formatJSON
		default:
			d.rejected = true
			return Record{}, outError, badLayout(d.path, n, "neither a Zeek TSV header (#separator) nor a JSON object")
		}
	}
	if d.format == formatJSON {
		if d.rejected {
			return Record{}, outSkipped, nil
		}
		return d.jsonLine(b, n)
	}
	if b[0] == '#' {
		if err := d.directive(b, n); err != nil {
			return Record{}, outError, err
		}
		return Record{}, outHeader, nil
	}
	if d.rejected {
		return Record{}, outSkipped, nil
	}
	if d.fields == nil {
		d.rejected = true
		return Record{}, outError, badLayout(d.path, n, "record before #fields header")
	}
	if d.closed {
		return Record{}, outError, malformed(d.path, n, "record after #close")
	}
	return d.tsvRow(b, n)
}

// directive applies one TSV header or footer line.
func (d *decoder) directive(b []byte, n int) *LineError {
	if rest, ok := bytes.CutPrefix(b, []byte("#separator ")); ok {
		d.resetHeader()
		sep := zeeklog.Unescape(string(rest))
		if sep == "" || strings.ContainsAny(sep, "\n") {
			d.rejected = true
			return badLayout(d.path, n, "bad #separator %q", rest)
		}
		d.sep = []byte(sep)
		return nil
	}
	key, val, found := bytes.Cut(b, d.sep)
	if !found {
		key, val, found = bytes.Cut(b, []byte{' '})
	}
	switch string(key) {
	case "#set_separator":
		s := zeeklog.Unescape(string(val))
		if len(s) != 1 {
			d.rejected = true
			return badLayout(d.path, n, "unsupported #set_separator %q (want one byte)", val)
		}
		d.setSep = s[0]
	case "#empty_field":
		d.empty = []byte(zeeklog.Unescape(string(val)))
	case "#unset_field":
		d.unset = []byte(zeeklog.Unescape(string(val)))
	case "#path":
		d.logPath = string(val)
	case "#close", "#end":
		d.closed = true
	case "#fields":
		if !found || len(val) == 0 {
			d.rejected = true
			return badLayout(d.path, n, "empty #fields")
		}
		d.fields = d.fields[:0]
		for _, f := range bytes.Split(val, d.sep) {
			d.fields = append(d.fields, string(f))
		}
		d.fieldsAt = n
		d.closed = false
		return d.layout(n)
	}
	return nil
}

// layout decides the kind and locates the columns after "#fields".
func (d *decoder) layout(n int) *LineError {
	d.rejected = true // until proven otherwise
	idx := make(map[string]int, len(d.fields))
	for i, f := range d.fields {
		if _, dup := idx[f]; dup {
			return badLayout(d.path, n, "duplicate column %q in #fields", f)
		}
		idx[f] = i
	}
	has := func(name string) bool { _, ok := idx[name]; return ok }
	kind := kindFromPath(d.logPath)
	if kind == KindUnknown {
		switch {
		case has("certificate.serial"):
			kind = KindX509
		case has("established") || has("cert_chain_fps") || has("cert_chain_fuids"):
			kind = KindSSL
		case has("conn_state") || has("history"):
			kind = KindConn
		case d.logPath == "":
			kind = d.hint
		}
	}
	var names []string
	var required []int
	switch kind {
	case KindConn:
		names, required = connCols[:], connRequired
	case KindSSL:
		names, required = sslCols[:], sslRequired
	case KindX509:
		names, required = x509Cols[:], x509Required
	default:
		p := d.logPath
		if p == "" {
			p = "none"
		}
		return badLayout(d.path, n, "unknown #fields layout (#path %s): not a conn, ssl or x509 log", p)
	}
	cols := make([]int, len(names))
	for i, name := range names {
		cols[i] = -1
		if j, ok := idx[name]; ok {
			cols[i] = j
		}
	}
	for _, c := range required {
		if cols[c] < 0 {
			return badLayout(d.path, n, "%s log layout: missing required column %q", kind, names[c])
		}
	}
	switch kind {
	case KindSSL:
		switch {
		case cols[sFps] >= 0:
			d.byFileID = false
		case cols[sFuids] >= 0:
			d.byFileID = true
		default:
			return badLayout(d.path, n, "unknown ssl log layout: neither cert_chain_fps (current Zeek) nor cert_chain_fuids (Zeek 3)")
		}
	case KindX509:
		switch {
		case cols[xFingerprint] >= 0:
			d.byFileID = false
		case cols[xID] >= 0:
			d.byFileID = true
		default:
			return badLayout(d.path, n, "unknown x509 log layout: neither fingerprint (current Zeek) nor id (Zeek 3)")
		}
	}
	d.kind, d.cols, d.rejected = kind, cols, false
	return nil
}

// tsvRow splits and decodes one TSV record.
func (d *decoder) tsvRow(b []byte, n int) (Record, outcome, *LineError) {
	d.vals = d.vals[:0]
	for {
		i := bytes.Index(b, d.sep)
		if i < 0 {
			d.vals = append(d.vals, b)
			break
		}
		d.vals = append(d.vals, b[:i])
		b = b[i+len(d.sep):]
		if len(d.vals) > len(d.fields) {
			break
		}
	}
	if len(d.vals) != len(d.fields) {
		got := "more than " + strconv.Itoa(len(d.fields))
		if len(d.vals) < len(d.fields) {
			got = strconv.Itoa(len(d.vals))
		}
		return Record{}, outError, malformed(d.path, n, "%s log row has %s fields, #fields (line %d) has %d",
			d.kind, got, d.fieldsAt, len(d.fields))
	}
	t := tsvRow{d: d}
	var rec Record
	switch d.kind {
	case KindConn:
		rec = Record{Kind: KindConn, Conn: t.conn()}
	case KindSSL:
		rec = Record{Kind: KindSSL, SSL: t.ssl()}
	case KindX509:
		rec = Record{Kind: KindX509, X509: t.x509()}
	}
	if t.err != "" {
		return Record{}, outError, malformed(d.path, n, "%s", t.err)
	}
	if rec.Kind == KindSSL && len(rec.SSL.Chain) == 0 {
		return Record{}, outSkipped, nil
	}
	return rec, outRecord, nil
}
