package zeeklog

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"shoal/internal/zeekdata"
	"strconv"
	"strings"
	"testing"
	"time"
)

// zeekDir returns the shared Zeek reference directory (../shared/zeek next
// to the module root), found by walking up to the directory with go.mod.
func zeekDir(t testing.TB) string {
	t.Helper()
	return zeekdata.Path(t)
}

// baselineFiles lists the .log files of the known-hosts and known-services
// cases.
func baselineFiles(t testing.TB) []string {
	t.Helper()
	z := zeekDir(t)
	var files []string
	for _, c := range []string{"known-hosts", "known-services"} {
		m, err := filepath.Glob(filepath.Join(z, "expected", c, "*.log"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) != 12 {
		t.Fatalf("found %d baseline files, want 12: %v", len(files), files)
	}
	return files
}

var (
	openCloseRE = regexp.MustCompile(`(?m)^#(open|close)[\t ].*$`)
	btestRE     = regexp.MustCompile(`(?m)^### BTest.*\n`)
	tsColumnRE  = regexp.MustCompile(`(?m)^(-?[0-9]+\.[0-9]{6}|XXXXXXXXXX\.XXXXXX)\t`)
)

// maskLog drops btest's metadata line and masks the #open/#close dates, and
// with maskTS also a leading ts column.
func maskLog(s string, maskTS bool) string {
	s = btestRE.ReplaceAllString(s, "")
	s = openCloseRE.ReplaceAllString(s, "#$1 MASKED")
	if maskTS {
		s = tsColumnRE.ReplaceAllString(s, "TS\t")
	}
	return s
}

// parseTime reads a TSV time ("1300475168.783842") exactly.
func parseTime(s string) (time.Time, error) {
	sec, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 6 {
		return time.Time{}, fmt.Errorf("bad time %q", s)
	}
	neg := strings.HasPrefix(sec, "-")
	a, err := strconv.ParseInt(strings.TrimPrefix(sec, "-"), 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	b, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	m := a*1e6 + b
	if neg {
		m = -m
	}
	return time.UnixMicro(m), nil
}

// valueFromTSV turns a TSV cell of the given Zeek type back into a Value.
// Masked times become placeholder.
func valueFromTSV(typ, raw string, placeholder time.Time) (Value, error) {
	if raw == unsetField {
		return Unset(), nil
	}
	text := func(s string) string {
		if s == emptyField {
			return ""
		}
		return Unescape(s)
	}
	switch typ {
	case "time":
		if strings.HasPrefix(raw, "XXXX") {
			return Time(placeholder), nil
		}
		ts, err := parseTime(raw)
		return Time(ts), err
	case "addr":
		a, err := netip.ParseAddr(raw)
		return Addr(a), err
	case "port":
		p, err := strconv.ParseUint(raw, 10, 16)
		return Port(uint16(p)), err
	case "count":
		n, err := strconv.ParseUint(raw, 10, 64)
		return Count(n), err
	case "enum":
		return Enum(text(raw)), nil
	case "string":
		return String(text(raw)), nil
	case "set[string]":
		if raw == emptyField {
			return StringSet(nil), nil
		}
		parts := strings.Split(raw, ",")
		for i, p := range parts {
			parts[i] = text(p)
		}
		return StringSet(parts), nil
	}
	return Value{}, fmt.Errorf("test helper: unsupported type %q", typ)
}

// fieldsOf pairs a log's names and types.
func fieldsOf(l *Log) []Field {
	fs := make([]Field, len(l.Fields))
	for i := range l.Fields {
		fs[i] = Field{Name: l.Fields[i], Type: l.Types[i]}
	}
	return fs
}

// rowValues converts a TSV row to Values.
func rowValues(t testing.TB, l *Log, row []string, placeholder time.Time) []Value {
	t.Helper()
	vals := make([]Value, len(row))
	for i, raw := range row {
		v, err := valueFromTSV(l.Types[i], raw, placeholder)
		if err != nil {
			t.Fatalf("field %s value %q: %v", l.Fields[i], raw, err)
		}
		vals[i] = v
	}
	return vals
}
