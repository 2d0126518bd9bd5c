package zeekin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

// Zeek's JSON writer (LogAscii::use_json=T) writes one object per line with
// the record's fields flattened to dotted names ("id.orig_h") and leaves
// unset fields out. These structs pick out the fields this package reads;
// a nil pointer (or empty RawMessage) means absent or null.

type sniffJSON struct {
	ConnState   json.RawMessage `json:"conn_state"`
	History     json.RawMessage `json:"history"`
	Established json.RawMessage `json:"established"`
	Fps         json.RawMessage `json:"cert_chain_fps"`
	Fuids       json.RawMessage `json:"cert_chain_fuids"`
	Serial      json.RawMessage `json:"certificate.serial"`
}

type connJSON struct {
	TS          json.RawMessage `json:"ts"`
	UID         *string         `json:"uid"`
	OrigH       *string         `json:"id.orig_h"`
	OrigP       *uint16         `json:"id.orig_p"`
	RespH       *string         `json:"id.resp_h"`
	RespP       *uint16         `json:"id.resp_p"`
	Proto       *string         `json:"proto"`
	Service     json.RawMessage `json:"service"`
	Duration    *float64        `json:"duration"`
	OrigBytes   *uint64         `json:"orig_bytes"`
	RespBytes   *uint64         `json:"resp_bytes"`
	ConnState   *string         `json:"conn_state"`
	LocalOrig   *bool           `json:"local_orig"`
	LocalResp   *bool           `json:"local_resp"`
	MissedBytes *uint64         `json:"missed_bytes"`
	History     *string         `json:"history"`
	OrigPkts    *uint64         `json:"orig_pkts"`
	OrigIPBytes *uint64         `json:"orig_ip_bytes"`
	RespPkts    *uint64         `json:"resp_pkts"`
	RespIPBytes *uint64         `json:"resp_ip_bytes"`
	IPProto     *uint8          `json:"ip_proto"`
}

type sslJSON struct {
	TS          json.RawMessage `json:"ts"`
	UID         *string         `json:"uid"`
	OrigH       *string         `json:"id.orig_h"`
	OrigP       *uint16         `json:"id.orig_p"`
	RespH       *string         `json:"id.resp_h"`
	RespP       *uint16         `json:"id.resp_p"`
	Established *bool           `json:"established"`
	ServerName  *string         `json:"server_name"`
	Fps         []string        `json:"cert_chain_fps"`
	Fuids       []string        `json:"cert_chain_fuids"`
	Subject     *string         `json:"subject"`
	Issuer      *string         `json:"issuer"`
}

type x509JSON struct {
	TS          json.RawMessage `json:"ts"`
	Fingerprint *string         `json:"fingerprint"`
	ID          *string         `json:"id"`
	Serial      *string         `json:"certificate.serial"`
	Subject     *string         `json:"certificate.subject"`
	Issuer      *string         `json:"certificate.issuer"`
	NotBefore   json.RawMessage `json:"certificate.not_valid_before"`
	NotAfter    json.RawMessage `json:"certificate.not_valid_after"`
}

func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// jsonLine decodes one JSON line, deciding the kind from the first object.
func (d *decoder) jsonLine(b []byte, n int) (Record, outcome, *LineError) {
	if b[0] != '{' {
		return Record{}, outError, malformed(d.path, n, "not a JSON object")
	}
	if d.kind == KindUnknown {
		var s sniffJSON
		if err := json.Unmarshal(b, &s); err != nil {
			return Record{}, outError, malformed(d.path, n, "bad JSON: %v", err)
		}
		switch {
		case present(s.Serial):
			d.kind = KindX509
		case present(s.Established) || present(s.Fps) || present(s.Fuids):
			d.kind = KindSSL
		case present(s.ConnState) || present(s.History):
			d.kind = KindConn
		default:
			d.kind = d.hint
		}
		if d.kind == KindUnknown {
			d.rejected = true
			return Record{}, outError, badLayout(d.path, n,
				"unknown JSON layout: no conn_state, history, established or certificate.serial key")
		}
	}
	var rec Record
	var err error
	switch d.kind {
	case KindConn:
		rec.Kind = KindConn
		rec.Conn, err = connFromJSON(b)
	case KindSSL:
		rec.Kind = KindSSL
		rec.SSL, err = sslFromJSON(b)
	case KindX509:
		rec.Kind = KindX509
		rec.X509, err = x509FromJSON(b)
	}
	if err != nil {
		return Record{}, outError, malformed(d.path, n, "%s log: %v", d.kind, err)
	}
	if rec.Kind == KindSSL && len(rec.SSL.Chain) == 0 {
		return Record{}, outSkipped, nil
	}
	return rec, outRecord, nil
}

func badJSON(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("key %s: %s is not a %s", te.Field, te.Value, te.Type)
	}
	return fmt.Errorf("bad JSON: %w", err)
}

// jsonTime parses a time as Zeek's JSON writer prints it: epoch seconds
// (JSON::TS_EPOCH, the default), epoch milliseconds (an integer of 12 or
// more digits, JSON::TS_MILLIS), or an RFC 3339 string (JSON::TS_ISO8601).
func jsonTime(raw json.RawMessage, key string) (time.Time, bool, error) {
	if !present(raw) {
		return time.Time{}, false, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, false, fmt.Errorf("key %s: %w", key, err)
		}
		if isMasked([]byte(s)) {
			return time.Time{}, false, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("key %s: bad time %q", key, s)
		}
		return t.UTC(), true, nil
	}
	if len(raw) >= 12 && !bytes.ContainsAny(raw, ".eE-") {
		ms, err := parseUint(raw, 63)
		if err != nil || ms/1000 > uint64(maxSeconds) {
			return time.Time{}, false, fmt.Errorf("key %s: bad time %s", key, raw)
		}
		return time.UnixMilli(int64(ms)).UTC(), true, nil
	}
	t, err := parseTime(raw)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("key %s: bad time %s: %w", key, raw, err)
	}
	return t, true, nil
}

func jsonAddr(p *string, key string) (netip.Addr, bool, error) {
	if p == nil {
		return netip.Addr{}, false, nil
	}
	a, err := parseAddr([]byte(*p))
	if err != nil {
		return netip.Addr{}, false, fmt.Errorf("key %s: bad address %q", key, *p)
	}
	return a, true, nil
}

func connFromJSON(b []byte) (*Conn, error) {
	var j connJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, badJSON(err)
	}
	c := &Conn{}
	ts, ok, err := jsonTime(j.TS, "ts")
	if err != nil {
		return nil, err
	}
	if ok {
		c.TS, c.Set = ts, c.Set|HasTS
	}
	if c.OrigH, ok, err = jsonAddr(j.OrigH, "id.orig_h"); err != nil {
		return nil, err
	} else if ok {
		c.Set |= HasOrigH
	}
	if c.RespH, ok, err = jsonAddr(j.RespH, "id.resp_h"); err != nil {
		return nil, err
	} else if ok {
		c.Set |= HasRespH
	}
	for _, req := range []struct {
		ok   bool
		name string
	}{{present(j.TS), "ts"}, {j.OrigH != nil, "id.orig_h"}, {j.OrigP != nil, "id.orig_p"},
		{j.RespH != nil, "id.resp_h"}, {j.RespP != nil, "id.resp_p"}, {j.Proto != nil, "proto"}} {
		if !req.ok {
			return nil, fmt.Errorf("missing required key %s", req.name)
		}
	}
	setStr(j.UID, &c.UID, &c.Set, HasUID)
	setU16(j.OrigP, &c.OrigP, &c.Set, HasOrigP)
	setU16(j.RespP, &c.RespP, &c.Set, HasRespP)
	setStr(j.Proto, &c.Proto, &c.Set, HasProto)
	if present(j.Service) {
		svc, err := jsonList(j.Service)
		if err != nil {
			return nil, fmt.Errorf("key service: %w", err)
		}
		c.Service, c.Set = svc, c.Set|HasService
	}
	if j.Duration != nil {
		f := *j.Duration
		if math.IsNaN(f) || math.Abs(f) >= float64(maxSeconds) {
			return nil, fmt.Errorf("key duration: out of range")
		}
		c.Duration = time.Duration(math.Round(f*1e6)) * time.Microsecond
		c.Set |= HasDuration
	}
	setU64(j.OrigBytes, &c.OrigBytes, &c.Set, HasOrigBytes)
	setU64(j.RespBytes, &c.RespBytes, &c.Set, HasRespBytes)
	setStr(j.ConnState, &c.ConnState, &c.Set, HasConnState)
	setBool(j.LocalOrig, &c.LocalOrig, &c.Set, HasLocalOrig)
	setBool(j.LocalResp, &c.LocalResp, &c.Set, HasLocalResp)
	setU64(j.MissedBytes, &c.MissedBytes, &c.Set, HasMissedBytes)
	setStr(j.History, &c.History, &c.Set, HasHistory)
	setU64(j.OrigPkts, &c.OrigPkts, &c.Set, HasOrigPkts)
	setU64(j.OrigIPBytes, &c.OrigIPBytes, &c.Set, HasOrigIPBytes)
	setU64(j.RespPkts, &c.RespPkts, &c.Set, HasRespPkts)
	setU64(j.RespIPBytes, &c.RespIPBytes, &c.Set, HasRespIPBytes)
	if j.IPProto != nil {
		c.IPProto, c.Set = *j.IPProto, c.Set|HasIPProto
	}
	return c, nil
}

// jsonList reads conn.log's service: a comma-separated string (its Zeek
// type) or, leniently, an array of strings.
func jsonList(raw json.RawMessage) ([]string, error) {
	if raw[0] == '[' {
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, err
		}
		for i := range l {
			l[i] = unescapeJSON(l[i])
		}
		return l, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if s == "" {
		return []string{}, nil
	}
	return strings.Split(unescapeJSON(s), ","), nil
}

func setStr(p *string, dst *string, set *ConnFields, bit ConnFields) {
	if p != nil {
		*dst, *set = unescapeJSON(*p), *set|bit
	}
}

func setU16(p *uint16, dst *uint16, set *ConnFields, bit ConnFields) {
	if p != nil {
		*dst, *set = *p, *set|bit
	}
}

func setU64(p *uint64, dst *uint64, set *ConnFields, bit ConnFields) {
	if p != nil {
		*dst, *set = *p, *set|bit
	}
}

func setBool(p *bool, dst *bool, set *ConnFields, bit ConnFields) {
	if p != nil {
		*dst, *set = *p, *set|bit
	}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return unescapeJSON(*p)
}

func sslFromJSON(b []byte) (*SSL, error) {
	var j sslJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, badJSON(err)
	}
	s := &SSL{UID: str(j.UID), ServerName: str(j.ServerName), Subject: str(j.Subject), Issuer: str(j.Issuer)}
	var ok bool
	var err error
	if s.TS, ok, err = jsonTime(j.TS, "ts"); err != nil {
		return nil, err
	} else if !ok && !present(j.TS) {
		return nil, errors.New("missing required key ts")
	}
	if j.RespH == nil || j.RespP == nil || j.Established == nil {
		return nil, errors.New("missing required key id.resp_h, id.resp_p or established")
	}
	rh, _, err := jsonAddr(j.RespH, "id.resp_h")
	if err != nil {
		return nil, err
	}
	s.Resp = netip.AddrPortFrom(rh, *j.RespP)
	oh, ok, err := jsonAddr(j.OrigH, "id.orig_h")
	if err != nil {
		return nil, err
	}
	if ok && j.OrigP != nil {
		s.Orig = netip.AddrPortFrom(oh, *j.OrigP)
	}
	s.Established = *j.Established
	switch {
	case j.Fps != nil:
		s.Chain = j.Fps
	case j.Fuids != nil:
		s.Chain, s.ByFileID = j.Fuids, true
	}
	for i := range s.Chain {
		s.Chain[i] = unescapeJSON(s.Chain[i])
	}
	return s, nil
}

func x509FromJSON(b []byte) (*X509, error) {
	var j x509JSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, badJSON(err)
	}
	x := &X509{Fingerprint: str(j.Fingerprint), Subject: str(j.Subject), Issuer: str(j.Issuer)}
	if x.Fingerprint == "" {
		x.FileID = str(j.ID)
	}
	if x.Fingerprint == "" && x.FileID == "" {
		return nil, errors.New("missing required key fingerprint (or id)")
	}
	if j.Serial == nil {
		return nil, errors.New("missing required key certificate.serial")
	}
	x.Serial = str(j.Serial)
	var err error
	if x.TS, _, err = jsonTime(j.TS, "ts"); err != nil {
		return nil, err
	}
	if x.NotValidBefore, _, err = jsonTime(j.NotBefore, "certificate.not_valid_before"); err != nil {
		return nil, err
	}
	if x.NotValidAfter, _, err = jsonTime(j.NotAfter, "certificate.not_valid_after"); err != nil {
		return nil, err
	}
	return x, nil
}
