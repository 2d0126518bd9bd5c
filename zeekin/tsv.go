package zeekin

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"shoal/zeeklog"
)

// tsvRow decodes the values of one split TSV record (decoder.vals) for the
// decoder's kind. The first problem is kept in err; later ones are ignored.
type tsvRow struct {
	d   *decoder
	err string
}

// raw returns the still-escaped value of column c of the kind's table and
// whether it is present (the column exists and the value is not unset).
func (t *tsvRow) raw(c int) ([]byte, bool) {
	i := t.d.cols[c]
	if i < 0 {
		return nil, false
	}
	v := t.d.vals[i]
	if bytes.Equal(v, t.d.unset) {
		return nil, false
	}
	return v, true
}

func (t *tsvRow) fail(c int, what string, v []byte, err error) {
	if t.err == "" {
		t.err = fmt.Sprintf("column %s: %s %q: %v", t.d.fields[t.d.cols[c]], what, v, err)
	}
}

func (t *tsvRow) time(c int) (time.Time, bool) {
	v, ok := t.raw(c)
	if !ok || isMasked(v) {
		return time.Time{}, false
	}
	ts, err := parseTime(v)
	if err != nil {
		t.fail(c, "bad time", v, err)
		return time.Time{}, false
	}
	return ts, true
}

func (t *tsvRow) interval(c int) (time.Duration, bool) {
	v, ok := t.raw(c)
	if !ok || isMasked(v) {
		return 0, false
	}
	d, err := parseInterval(v)
	if err != nil {
		t.fail(c, "bad interval", v, err)
		return 0, false
	}
	return d, true
}

func (t *tsvRow) uint(c, bits int) (uint64, bool) {
	v, ok := t.raw(c)
	if !ok {
		return 0, false
	}
	n, err := parseUint(v, bits)
	if err != nil {
		t.fail(c, "bad number", v, err)
		return 0, false
	}
	return n, true
}

func (t *tsvRow) addr(c int) (netip.Addr, bool) {
	v, ok := t.raw(c)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := parseAddr(v)
	if err != nil {
		t.fail(c, "bad address", v, err)
		return netip.Addr{}, false
	}
	return a, true
}

func (t *tsvRow) bool(c int) (bool, bool) {
	v, ok := t.raw(c)
	if !ok {
		return false, false
	}
	switch string(v) {
	case "T":
		return true, true
	case "F":
		return false, true
	}
	t.fail(c, "bad bool", v, fmt.Errorf("want T or F"))
	return false, false
}

// str returns the unescaped string; the empty-field marker reads as "".
func (t *tsvRow) str(c int) (string, bool) {
	v, ok := t.raw(c)
	if !ok {
		return "", false
	}
	if bytes.Equal(v, t.d.empty) {
		return "", true
	}
	return zeeklog.Unescape(string(v)), true
}

// interned holds the values that recur on almost every conn.log row, so
// that decoding them does not allocate.
var interned = func() map[string]string {
	m := map[string]string{}
	for _, v := range []string{
		"tcp", "udp", "icmp", "unknown_transport",
		"S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
		"dns", "http", "ssl", "ssh", "ftp", "ftp-data", "smtp", "ntp", "dhcp",
	} {
		m[v] = v
	}
	return m
}()

// enum is str for values that are usually one of a few (proto, conn_state).
func (t *tsvRow) enum(c int) (string, bool) {
	v, ok := t.raw(c)
	if !ok {
		return "", false
	}
	if s, ok := interned[string(v)]; ok {
		return s, true
	}
	return t.str(c)
}

// list returns the elements of a set, vector, or comma-separated string,
// each unescaped; the empty-field marker reads as an empty, non-nil list.
func (t *tsvRow) list(c int) ([]string, bool) {
	v, ok := t.raw(c)
	if !ok {
		return nil, false
	}
	if bytes.Equal(v, t.d.empty) {
		return []string{}, true
	}
	n := bytes.Count(v, []byte{t.d.setSep}) + 1
	out := make([]string, 0, n)
	for e := range bytes.SplitSeq(v, []byte{t.d.setSep}) {
		if s, ok := interned[string(e)]; ok {
			out = append(out, s)
			continue
		}
		out = append(out, zeeklog.Unescape(string(e)))
	}
	return out, true
}

func (t *tsvRow) conn() *Conn {
	c := &Conn{}
	if v, ok := t.time(cTS); ok {
		c.TS, c.Set = v, c.Set|HasTS
	}
	if v, ok := t.str(cUID); ok {
		c.UID, c.Set = v, c.Set|HasUID
	}
	if v, ok := t.addr(cOrigH); ok {
		c.OrigH, c.Set = v, c.Set|HasOrigH
	}
	if v, ok := t.uint(cOrigP, 16); ok {
		c.OrigP, c.Set = uint16(v), c.Set|HasOrigP
	}
	if v, ok := t.addr(cRespH); ok {
		c.RespH, c.Set = v, c.Set|HasRespH
	}
	if v, ok := t.uint(cRespP, 16); ok {
		c.RespP, c.Set = uint16(v), c.Set|HasRespP
	}
	if v, ok := t.enum(cProto); ok {
		c.Proto, c.Set = v, c.Set|HasProto
	}
	if v, ok := t.list(cService); ok {
		c.Service, c.Set = v, c.Set|HasService
	}
	if v, ok := t.interval(cDuration); ok {
		c.Duration, c.Set = v, c.Set|HasDuration
	}
	t.count(cOrigBytes, &c.OrigBytes, &c.Set, HasOrigBytes)
	t.count(cRespBytes, &c.RespBytes, &c.Set, HasRespBytes)
	if v, ok := t.enum(cConnState); ok {
		c.ConnState, c.Set = v, c.Set|HasConnState
	}
	if v, ok := t.bool(cLocalOrig); ok {
		c.LocalOrig, c.Set = v, c.Set|HasLocalOrig
	}
	if v, ok := t.bool(cLocalResp); ok {
		c.LocalResp, c.Set = v, c.Set|HasLocalResp
	}
	t.count(cMissedBytes, &c.MissedBytes, &c.Set, HasMissedBytes)
	if v, ok := t.str(cHistory); ok {
		c.History, c.Set = v, c.Set|HasHistory
	}
	t.count(cOrigPkts, &c.OrigPkts, &c.Set, HasOrigPkts)
	t.count(cOrigIPBytes, &c.OrigIPBytes, &c.Set, HasOrigIPBytes)
	t.count(cRespPkts, &c.RespPkts, &c.Set, HasRespPkts)
	t.count(cRespIPBytes, &c.RespIPBytes, &c.Set, HasRespIPBytes)
	if v, ok := t.uint(cIPProto, 8); ok {
		c.IPProto, c.Set = uint8(v), c.Set|HasIPProto
	}
	return c
}

func (t *tsvRow) count(col int, dst *uint64, set *ConnFields, bit ConnFields) {
	if v, ok := t.uint(col, 64); ok {
		*dst, *set = v, *set|bit
	}
}

func (t *tsvRow) ssl() *SSL {
	s := &SSL{ByFileID: t.d.byFileID}
	s.TS, _ = t.time(sTS)
	s.UID, _ = t.str(sUID)
	oh, okH := t.addr(sOrigH)
	op, okP := t.uint(sOrigP, 16)
	if okH && okP {
		s.Orig = netip.AddrPortFrom(oh, uint16(op))
	}
	rh, okH := t.addr(sRespH)
	rp, okP := t.uint(sRespP, 16)
	if t.err == "" && (!okH || !okP) {
		t.err = "id.resp_h or id.resp_p is unset"
	}
	s.Resp = netip.AddrPortFrom(rh, uint16(rp))
	est, ok := t.bool(sEstablished)
	if t.err == "" && !ok {
		t.err = "established is unset"
	}
	s.Established = est
	s.ServerName, _ = t.str(sServerName)
	chainCol := sFps
	if s.ByFileID {
		chainCol = sFuids
	}
	s.Chain, _ = t.list(chainCol)
	s.Subject, _ = t.str(sSubject)
	s.Issuer, _ = t.str(sIssuer)
	return s
}

func (t *tsvRow) x509() *X509 {
	x := &X509{}
	x.TS, _ = t.time(xTS)
	if t.d.byFileID {
		x.FileID, _ = t.str(xID)
	} else {
		x.Fingerprint, _ = t.str(xFingerprint)
	}
	if t.err == "" && x.FileID == "" && x.Fingerprint == "" {
		t.err = "certificate key (fingerprint or id) is unset"
	}
	var ok bool
	if x.Serial, ok = t.str(xSerial); !ok && t.err == "" {
		t.err = "certificate.serial is unset"
	}
	x.Subject, _ = t.str(xSubject)
	x.Issuer, _ = t.str(xIssuer)
	x.NotValidBefore, _ = t.time(xNotBefore)
	x.NotValidAfter, _ = t.time(xNotAfter)
	return x
}
