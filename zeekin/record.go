package zeekin

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Sentinel errors. Errors from this package wrap one of these (or an I/O
// error from the operating system); test them with errors.Is.
var (
	// ErrMalformed reports one bad line: a field count that disagrees with
	// "#fields", a value that does not parse, bad JSON, a line cut short at
	// the end of a file, or an overlong line. The line is counted in
	// Stats.Malformed and skipped; processing continues with the next line.
	ErrMalformed = errors.New("zeekin: malformed line")
	// ErrLayout reports a log that is not one this package reads: an unknown
	// "#fields" layout, a missing required column, or a first line that is
	// neither a Zeek TSV header nor a JSON object. The file (or, for a
	// followed file, that instance of it) is not processed.
	ErrLayout = errors.New("zeekin: unknown log layout")
	// ErrConfig reports an invalid FollowConfig.
	ErrConfig = errors.New("zeekin: invalid config")
)

// LineError is a problem at one line of one file. Its message has the form
// "path:line: text"; it wraps ErrMalformed or ErrLayout. It is immutable
// once returned and safe to share.
type LineError struct {
	Path string // the file as given (or the followed path)
	Line int    // 1-based line number
	Msg  string
	Err  error // ErrMalformed or ErrLayout
}

// Error implements error.
func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg) }

// Unwrap returns ErrMalformed or ErrLayout.
func (e *LineError) Unwrap() error { return e.Err }

func malformed(path string, line int, format string, args ...any) *LineError {
	return &LineError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

func badLayout(path string, line int, format string, args ...any) *LineError {
	return &LineError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...), Err: ErrLayout}
}

// Kind is the log a file holds. A plain value, safe to share.
type Kind uint8

// The logs this package reads.
const (
	KindUnknown Kind = iota // not (yet) known
	KindConn                // conn.log
	KindSSL                 // ssl.log
	KindX509                // x509.log
)

var kindNames = [...]string{KindUnknown: "unknown", KindConn: "conn", KindSSL: "ssl", KindX509: "x509"}

// String returns "conn", "ssl", "x509" or "unknown".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ConnFields is a bit set naming Conn fields; Conn.Set holds the fields that
// were present (not "-", not omitted from JSON) in the row. A plain value.
type ConnFields uint32

// The Conn fields that can be unset.
const (
	HasTS ConnFields = 1 << iota
	HasUID
	HasOrigH
	HasOrigP
	HasRespH
	HasRespP
	HasProto
	HasService
	HasDuration
	HasOrigBytes
	HasRespBytes
	HasConnState
	HasLocalOrig
	HasLocalResp
	HasMissedBytes
	HasHistory
	HasOrigPkts
	HasOrigIPBytes
	HasRespPkts
	HasRespIPBytes
	HasIPProto
)

// Conn is one conn.log row. Any field may be unset in the log ("-" in TSV,
// omitted in JSON); Set says which were present, and an unset field holds
// its zero value. Masked btest timestamps ("XXXXXXXXXX.XXXXXX") read as
// unset. A Conn handed to a Handler is fresh: the receiver may keep it.
// It is plain data, not safe for concurrent mutation.
type Conn struct {
	TS          time.Time     // ts: the connection's first packet (UTC)
	UID         string        // uid
	OrigH       netip.Addr    // id.orig_h
	OrigP       uint16        // id.orig_p
	RespH       netip.Addr    // id.resp_h
	RespP       uint16        // id.resp_p
	Proto       string        // proto: "tcp", "udp", "icmp" or "unknown_transport"
	Service     []string      // service, split on ","; nil if unset, empty for "(empty)"
	Duration    time.Duration // duration, to the microsecond
	OrigBytes   uint64        // orig_bytes
	RespBytes   uint64        // resp_bytes
	ConnState   string        // conn_state: S0, S1, SF, REJ, ...
	LocalOrig   bool          // local_orig
	LocalResp   bool          // local_resp
	MissedBytes uint64        // missed_bytes
	History     string        // history
	OrigPkts    uint64        // orig_pkts
	OrigIPBytes uint64        // orig_ip_bytes
	RespPkts    uint64        // resp_pkts
	RespIPBytes uint64        // resp_ip_bytes
	IPProto     uint8         // ip_proto (current Zeek only)
	Set         ConnFields    // fields present in the row
}

// Has reports whether all fields in f were present in the row.
func (c *Conn) Has(f ConnFields) bool { return c.Set&f == f }

// SSL is one ssl.log row, reduced to what the certificate join needs. A
// value handed out is fresh; the receiver may keep it. Plain data.
type SSL struct {
	TS          time.Time      // ts: when Zeek first saw the TLS session
	UID         string         // uid ("" if absent)
	Orig        netip.AddrPort // id.orig_h/id.orig_p (invalid if absent)
	Resp        netip.AddrPort // id.resp_h/id.resp_p: the server
	Established bool           // established
	ServerName  string         // server_name (SNI), "" if unset
	// Chain lists the server's certificate chain, leaf first: SHA-256
	// fingerprints (current Zeek, cert_chain_fps) or file ids (Zeek <= 3,
	// cert_chain_fuids, see ByFileID). Empty when no certificate was seen.
	Chain    []string
	ByFileID bool   // Chain holds file ids (the v3 layout)
	Subject  string // subject of the leaf (v3 layout only)
	Issuer   string // issuer of the leaf (v3 layout only)
}

// X509 is one x509.log row, reduced to what the certificate join needs. A
// value handed out is fresh; the receiver may keep it. Plain data.
type X509 struct {
	TS             time.Time // ts: when the certificate was seen
	Fingerprint    string    // fingerprint: SHA-256 hex (current Zeek); "" in the v3 layout
	FileID         string    // id: the file id (v3 layout); "" in the current layout
	Serial         string    // certificate.serial, hex as Zeek prints it
	Subject        string    // certificate.subject
	Issuer         string    // certificate.issuer
	NotValidBefore time.Time // certificate.not_valid_before (zero if absent)
	NotValidAfter  time.Time // certificate.not_valid_after (zero if absent)
}

// Cert is a server certificate seen on a TLS connection: an ssl.log row
// joined with the x509.log row of its leaf certificate. A Cert handed to a
// Handler is fresh: the receiver may keep it. It is plain data.
type Cert struct {
	// TS is the ts of the ssl.log row: when Zeek first saw the TLS session
	// (its client hello), which is earlier than the ssl_established time that
	// Zeek's known_certs.log uses. Neither log records that time.
	TS          time.Time
	UID         string         // uid of the connection
	Orig        netip.AddrPort // the client (invalid if ssl.log lacked it)
	Host        netip.Addr     // the server: ssl.log id.resp_h
	Port        uint16         // the server port: ssl.log id.resp_p
	Established bool           // ssl.log established

	Subject string // leaf certificate.subject, as Zeek prints it
	Issuer  string // leaf certificate.issuer
	Serial  string // leaf certificate.serial
	// Fingerprint is the leaf's SHA-256 fingerprint in lower-case hex
	// (current Zeek); "" for the v3 layout, whose logs carry no hash.
	Fingerprint string
	FileID      string    // the leaf's file id (v3 layout only)
	X509TS      time.Time // ts of the x509.log row
}

// Key identifies the certificate for deduplication (pure): "sha256:" and the
// fingerprint when the log has one, otherwise "serial:" with the issuer and
// serial, which RFC 5280 makes unique per certificate authority.
func (c *Cert) Key() string {
	if c.Fingerprint != "" {
		return "sha256:" + c.Fingerprint
	}
	return "serial:" + c.Issuer + "\x00" + c.Serial
}

// Record is one decoded row: exactly one of Conn, SSL and X509 is set,
// according to Kind. The pointed-to row is fresh; the receiver may keep it.
type Record struct {
	Kind Kind
	Conn *Conn
	SSL  *SSL
	X509 *X509
}

// Stats counts what a reader did. Counters only grow. A plain value: the
// readers return copies.
type Stats struct {
	Files     int    // files opened; a rotated, truncated or replaced file counts again
	Lines     uint64 // lines read, header lines included
	Records   uint64 // rows decoded (conn, ssl and x509)
	Conns     uint64 // Conn records delivered
	Certs     uint64 // Cert records delivered
	Malformed uint64 // lines rejected with an ErrMalformed error
	Skipped   uint64 // lines ignored: blank lines, rows of a file with an unknown layout, ssl rows without certificates
	Rejected  int    // files (or instances of a followed file) not processed: unknown layout
	Unjoined  uint64 // ssl rows whose leaf x509 row never came (or was evicted from the bounded buffer)
	Rotations uint64 // Follow: rotations, truncations and replacements seen
}

func (s *Stats) add(o Stats) {
	s.Files += o.Files
	s.Lines += o.Lines
	s.Records += o.Records
	s.Conns += o.Conns
	s.Certs += o.Certs
	s.Malformed += o.Malformed
	s.Skipped += o.Skipped
	s.Rejected += o.Rejected
	s.Unjoined += o.Unjoined
	s.Rotations += o.Rotations
}
