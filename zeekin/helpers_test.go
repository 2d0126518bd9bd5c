package zeekin

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"shoal/internal/zeekdata"
	"strconv"
	"strings"
	"testing"
	"time"

	"shoal/zeeklog"
)

// zeekDir returns the shared Zeek reference directory (../shared/zeek next
// to the module root), found by walking up to the directory with go.mod.
func zeekDir(t testing.TB) string {
	t.Helper()
	return zeekdata.Path(t)
}

// expected returns the path of a baseline file under zeek/expected.
func expected(t testing.TB, parts ...string) string {
	t.Helper()
	return filepath.Join(append([]string{zeekDir(t), "expected"}, parts...)...)
}

// result collects what a reader delivered.
type result struct {
	conns  []*Conn
	certs  []*Cert
	errs   []error
	stats  Stats
	retErr error
}

func (r *result) handler() Handler {
	return Handler{
		Conn:  func(c *Conn) { r.conns = append(r.conns, c) },
		Cert:  func(c *Cert) { r.certs = append(r.certs, c) },
		Error: func(err error) { r.errs = append(r.errs, err) },
	}
}

func readAll(t testing.TB, paths ...string) *result {
	t.Helper()
	r := &result{}
	r.stats, r.retErr = ReadFiles(context.Background(), paths, r.handler())
	return r
}

// placeholderTS stands in for masked times when a baseline is converted.
var placeholderTS = time.Date(2020, 1, 2, 3, 4, 5, 678901000, time.UTC)

// valueFromTSV turns a TSV cell of the given Zeek type into a zeeklog.Value
// (masked times become placeholderTS).
func valueFromTSV(typ, raw string) (zeeklog.Value, error) {
	if raw == "-" {
		return zeeklog.Unset(), nil
	}
	text := func(s string) string {
		if s == "(empty)" {
			return ""
		}
		return zeeklog.Unescape(s)
	}
	switch typ {
	case "time":
		if isMasked([]byte(raw)) {
			return zeeklog.Time(placeholderTS), nil
		}
		ts, err := parseTime([]byte(raw))
		return zeeklog.Time(ts), err
	case "interval":
		d, err := parseInterval([]byte(raw))
		return zeeklog.Interval(d), err
	case "addr":
		a, err := netip.ParseAddr(raw)
		return zeeklog.Addr(a), err
	case "port":
		p, err := strconv.ParseUint(raw, 10, 16)
		return zeeklog.Port(uint16(p)), err
	case "count":
		n, err := strconv.ParseUint(raw, 10, 64)
		return zeeklog.Count(n), err
	case "bool":
		return zeeklog.Bool(raw == "T"), nil
	case "enum":
		return zeeklog.Enum(text(raw)), nil
	case "string":
		return zeeklog.String(text(raw)), nil
	}
	if strings.HasPrefix(typ, "set[") || strings.HasPrefix(typ, "vector[") {
		if raw == "(empty)" {
			return zeeklog.StringSet(nil), nil
		}
		parts := strings.Split(raw, ",")
		for i, p := range parts {
			parts[i] = zeeklog.Unescape(p)
		}
		return zeeklog.StringSet(parts), nil
	}
	return zeeklog.Value{}, fmt.Errorf("unsupported type %q", typ)
}

// toJSON rewrites the TSV log src as a Zeek JSON log (through zeeklog's
// writer) in dir, keeping the base name, and returns the new path.
func toJSON(t testing.TB, src, dir string) string {
	t.Helper()
	l, err := zeeklog.ReadTSVFile(src)
	if err != nil {
		t.Fatal(err)
	}
	fields := make([]zeeklog.Field, len(l.Fields))
	for i := range l.Fields {
		fields[i] = zeeklog.Field{Name: l.Fields[i], Type: l.Types[i]}
	}
	dst := filepath.Join(dir, filepath.Base(src))
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := zeeklog.New(f, l.Path, fields, zeeklog.FormatJSON, placeholderTS)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range l.Rows {
		vals := make([]zeeklog.Value, len(row))
		for i, raw := range row {
			if vals[i], err = valueFromTSV(l.Types[i], raw); err != nil {
				t.Fatalf("%s: %s=%q: %v", src, l.Fields[i], raw, err)
			}
		}
		if err := w.Write(vals...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(placeholderTS); err != nil {
		t.Fatal(err)
	}
	return dst
}

// connColumn renders field name of c the way Zeek's TSV writer does ("-"
// when unset), for comparison with the baseline text.
func connColumn(c *Conn, name string) string {
	u := func(bit ConnFields, s string) string {
		if !c.Has(bit) {
			return "-"
		}
		return s
	}
	n := func(bit ConnFields, v uint64) string { return u(bit, strconv.FormatUint(v, 10)) }
	b := func(bit ConnFields, v bool) string {
		if v {
			return u(bit, "T")
		}
		return u(bit, "F")
	}
	micros := func(d time.Duration) string {
		return fmt.Sprintf("%d.%06d", d/time.Second, (d%time.Second)/time.Microsecond)
	}
	switch name {
	case "ts":
		return u(HasTS, micros(time.Duration(c.TS.UnixMicro())*time.Microsecond))
	case "uid":
		return u(HasUID, c.UID)
	case "id.orig_h":
		return u(HasOrigH, c.OrigH.String())
	case "id.orig_p":
		return n(HasOrigP, uint64(c.OrigP))
	case "id.resp_h":
		return u(HasRespH, c.RespH.String())
	case "id.resp_p":
		return n(HasRespP, uint64(c.RespP))
	case "proto":
		return u(HasProto, c.Proto)
	case "service":
		if c.Has(HasService) && len(c.Service) == 0 {
			return "(empty)"
		}
		return u(HasService, strings.Join(c.Service, ","))
	case "duration":
		return u(HasDuration, micros(c.Duration))
	case "orig_bytes":
		return n(HasOrigBytes, c.OrigBytes)
	case "resp_bytes":
		return n(HasRespBytes, c.RespBytes)
	case "conn_state":
		return u(HasConnState, c.ConnState)
	case "local_orig":
		return b(HasLocalOrig, c.LocalOrig)
	case "local_resp":
		return b(HasLocalResp, c.LocalResp)
	case "missed_bytes":
		return n(HasMissedBytes, c.MissedBytes)
	case "history":
		return u(HasHistory, c.History)
	case "orig_pkts":
		return n(HasOrigPkts, c.OrigPkts)
	case "orig_ip_bytes":
		return n(HasOrigIPBytes, c.OrigIPBytes)
	case "resp_pkts":
		return n(HasRespPkts, c.RespPkts)
	case "resp_ip_bytes":
		return n(HasRespIPBytes, c.RespIPBytes)
	case "ip_proto":
		return n(HasIPProto, uint64(c.IPProto))
	}
	return "?"
}
