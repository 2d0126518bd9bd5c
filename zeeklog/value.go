package zeeklog

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

// Sentinel errors. Errors returned by this package wrap one of these; test
// them with errors.Is.
var (
	// ErrFormat reports an unknown log format name.
	ErrFormat = errors.New("zeeklog: unknown format")
	// ErrField reports an invalid field list (bad name, unknown type, duplicate).
	ErrField = errors.New("zeeklog: invalid field")
	// ErrPath reports an invalid log path (the stream name, e.g. "known_hosts").
	ErrPath = errors.New("zeeklog: invalid path")
	// ErrValueCount reports a Write with the wrong number of values.
	ErrValueCount = errors.New("zeeklog: wrong number of values")
	// ErrType reports a value whose kind does not fit its field's type.
	ErrType = errors.New("zeeklog: value does not match field type")
	// ErrClosed reports use of a Writer after Close.
	ErrClosed = errors.New("zeeklog: writer closed")
	// ErrMalformed reports input that is not a well-formed Zeek log. Reader
	// errors are *SyntaxError values that match ErrMalformed with errors.Is.
	ErrMalformed = errors.New("zeeklog: malformed log")
)

// Format selects the output encoding of a Writer. It is a plain value, safe
// to copy and share.
type Format string

// The supported formats.
const (
	// FormatTSV is Zeek's default ASCII writer output: a tab-separated file
	// with a "#"-prefixed header and a "#close" footer.
	FormatTSV Format = "tsv"
	// FormatJSON is Zeek's ASCII writer with LogAscii::use_json=T: one JSON
	// object per line, no header.
	FormatJSON Format = "json"
)

// ParseFormat returns the Format named by s ("tsv" or "json", any case).
// It is a pure function, safe for concurrent use.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "tsv":
		return FormatTSV, nil
	case "json":
		return FormatJSON, nil
	}
	return "", fmt.Errorf("zeeklog: format %q (want tsv or json): %w", s, ErrFormat)
}

// Field is one column of a log: its name as written in "#fields" and its Zeek
// type as written in "#types". Supported types: time, interval, addr, port,
// count, int, double, string, enum, bool, and set[T] / vector[T] of any of
// those scalar types (set elements are given as strings; see StringSet).
// Field is plain data, safe to copy and share.
type Field struct {
	Name string
	Type string
}

// kind tags the content of a Value.
type kind uint8

const (
	kindUnset kind = iota
	kindTime
	kindInterval
	kindAddr
	kindPort
	kindCount
	kindInt
	kindDouble
	kindString
	kindEnum
	kindBool
	kindSet
)

var scalarKinds = map[string]kind{
	"time":     kindTime,
	"interval": kindInterval,
	"addr":     kindAddr,
	"port":     kindPort,
	"count":    kindCount,
	"int":      kindInt,
	"double":   kindDouble,
	"string":   kindString,
	"enum":     kindEnum,
	"bool":     kindBool,
}

// fieldKind maps a Zeek type name to the kind of Value it takes.
func fieldKind(typ string) (kind, bool) {
	if k, ok := scalarKinds[typ]; ok {
		return k, true
	}
	for _, prefix := range []string{"set[", "vector["} {
		if inner, ok := strings.CutPrefix(typ, prefix); ok {
			inner, ok = strings.CutSuffix(inner, "]")
			if !ok {
				return 0, false
			}
			if _, ok := scalarKinds[inner]; ok {
				return kindSet, true
			}
			return 0, false
		}
	}
	return 0, false
}

// accepts reports whether a field of kind fk can hold a value of kind vk.
// Strings and enums are interchangeable: Zeek renders both the same way.
func accepts(fk, vk kind) bool {
	if vk == kindUnset || fk == vk {
		return true
	}
	text := func(k kind) bool { return k == kindString || k == kindEnum }
	return text(fk) && text(vk)
}

// Value is one field of a record: a small tagged union built by the
// constructors below (Time, Addr, Port, ...). The zero Value is Unset().
// Values are immutable and safe to copy and share between goroutines, and
// the constructors are pure functions, safe for concurrent use. A StringSet
// keeps the caller's slice, so do not modify it until the Write that uses
// it has returned.
type Value struct {
	kind kind
	num  uint64 // count, port, bool (0/1), int and time/interval micros (int64 bits), double (float64 bits)
	str  string
	addr netip.Addr
	set  []string
}

// Unset returns the value of an optional field that has no value; it is
// written as "-" in TSV and omitted in JSON.
func Unset() Value { return Value{} }

// Time returns a time value, rounded to the nearest microsecond. The zero
// time.Time is Unset().
func Time(t time.Time) Value {
	if t.IsZero() {
		return Value{}
	}
	return Value{kind: kindTime, num: uint64(t.Round(time.Microsecond).UnixMicro())}
}

// Interval returns an interval value, rounded to the nearest microsecond.
func Interval(d time.Duration) Value {
	return Value{kind: kindInterval, num: uint64(d.Round(time.Microsecond) / time.Microsecond)}
}

// Addr returns an address value. IPv4-mapped IPv6 addresses are written as
// IPv4 (as Zeek does) and zones are dropped. The invalid zero netip.Addr is
// Unset().
func Addr(a netip.Addr) Value {
	if !a.IsValid() {
		return Value{}
	}
	return Value{kind: kindAddr, addr: a.Unmap().WithZone("")}
}

// Port returns a port value; Zeek logs only the number.
func Port(p uint16) Value { return Value{kind: kindPort, num: uint64(p)} }

// Count returns an unsigned counter value.
func Count(n uint64) Value { return Value{kind: kindCount, num: n} }

// Int returns a signed integer value.
func Int(n int64) Value { return Value{kind: kindInt, num: uint64(n)} }

// Double returns a floating-point value (Zeek type double).
func Double(f float64) Value { return Value{kind: kindDouble, num: math.Float64bits(f)} }

// String returns a string value; arbitrary bytes are allowed and escaped on
// output.
func String(s string) Value { return Value{kind: kindString, str: s} }

// Enum returns an enum value such as "tcp" or "Scan::Port_Scan".
func Enum(s string) Value { return Value{kind: kindEnum, str: s} }

// Bool returns a boolean value, written as T or F in TSV.
func Bool(b bool) Value {
	v := Value{kind: kindBool}
	if b {
		v.num = 1
	}
	return v
}

// StringSet returns a set or vector value whose elements are written in the
// given order. A nil or empty slice is the empty set ("(empty)" in TSV, []
// in JSON), not Unset(). The slice is not copied: it must not change until
// the Write that uses the Value has returned.
func StringSet(elems []string) Value { return Value{kind: kindSet, set: elems} }

// IsUnset reports whether v is Unset().
func (v Value) IsUnset() bool { return v.kind == kindUnset }

func (v Value) micros() int64 { return int64(v.num) }
