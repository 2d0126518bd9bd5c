package zeeklog

import (
	"math"
	"net/netip"
	"strconv"
	"unicode/utf8"
)

// The TSV header constants, as written by Zeek's ASCII writer.
const (
	separator    = '\t'
	setSeparator = ','
	emptyField   = "(empty)"
	unsetField   = "-"
	openTimeFmt  = "2006-01-02-15-04-05"
)

const hexDigits = "0123456789abcdef"

func appendHexEscape(b []byte, c byte) []byte {
	return append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0x0f])
}

// appendMicros appends m microseconds as seconds with exactly six decimals,
// using integer arithmetic only (so -1 is "-0.000001").
func appendMicros(b []byte, m int64) []byte {
	u := uint64(m)
	if m < 0 {
		b = append(b, '-')
		u = -u // two's complement: correct even for math.MinInt64
	}
	b = strconv.AppendUint(b, u/1e6, 10)
	frac := u % 1e6
	var digits [7]byte
	digits[0] = '.'
	for i := 6; i >= 1; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(b, digits[:]...)
}

// appendAddr writes a like Zeek's IPAddr::AsString (inet_ntop): IPv4 dotted
// quad, IPv6 in compressed form, and IPv4-compatible IPv6 (::a.b.c.d with a
// non-zero seventh group) with an embedded dotted quad as glibc prints it.
func appendAddr(b []byte, a netip.Addr) []byte {
	if a.Is6() {
		s := a.As16()
		zero := true
		for _, x := range s[:12] {
			if x != 0 {
				zero = false
				break
			}
		}
		if zero && (s[12] != 0 || s[13] != 0) {
			b = append(b, ':', ':')
			return netip.AddrFrom4([4]byte{s[12], s[13], s[14], s[15]}).AppendTo(b)
		}
	}
	return a.AppendTo(b)
}

// appendDoubleTSV writes f like Zeek's ODesc::Add(double, no_exp=true): at
// most six decimals without trailing zeros, and ".0" after integral values.
func appendDoubleTSV(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "nan"...)
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'f', 6, 64)
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	if b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	if len(b)-start == 2 && b[start] == '-' && b[start+1] == '0' {
		b = append(b[:start], '0') // a tiny negative value rounds to "-0"; write "0.0", not "-0.0"
	}
	if math.Abs(f-math.RoundToEven(f)) <= 1e-9 {
		b = append(b, '.', '0')
	}
	return b
}

// appendDoubleJSON writes f as a JSON number the way rapidjson does for
// finite values (shortest round-trip form, ".0" after integral values);
// NaN and infinities become null.
func appendDoubleJSON(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-7 || abs >= 1e21) {
		return strconv.AppendFloat(b, f, 'e', -1, 64)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, '.', '0')
}

// appendTSVString writes s escaped as Zeek's ASCII writer does (UTF-8 mode).
// Inside a set the set separator is escaped as well.
func appendTSVString(b []byte, s string, inSet bool) []byte {
	switch s {
	case "":
		return append(b, emptyField...)
	case unsetField, emptyField:
		b = appendHexEscape(b, s[0])
		return append(b, s[1:]...)
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c < 0x20 || c == 0x7f || (inSet && c == setSeparator):
			b = appendHexEscape(b, c)
		case c < utf8.RuneSelf:
			b = append(b, c)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size <= 1 {
				b = appendHexEscape(b, c)
			} else {
				b = append(b, s[i:i+size]...)
				i += size
				continue
			}
		}
		i++
	}
	return b
}

// appendTSVValue writes one field of a TSV record.
func appendTSVValue(b []byte, v *Value) []byte {
	switch v.kind {
	case kindUnset:
		return append(b, unsetField...)
	case kindTime, kindInterval:
		return appendMicros(b, v.micros())
	case kindAddr:
		return appendAddr(b, v.addr)
	case kindPort, kindCount:
		return strconv.AppendUint(b, v.num, 10)
	case kindInt:
		return strconv.AppendInt(b, int64(v.num), 10)
	case kindDouble:
		return appendDoubleTSV(b, math.Float64frombits(v.num))
	case kindString, kindEnum:
		return appendTSVString(b, v.str, false)
	case kindBool:
		if v.num != 0 {
			return append(b, 'T')
		}
		return append(b, 'F')
	case kindSet:
		if len(v.set) == 0 {
			return append(b, emptyField...)
		}
		for i, e := range v.set {
			if i > 0 {
				b = append(b, setSeparator)
			}
			b = appendTSVString(b, e, true)
		}
		return b
	}
	panic("zeeklog: unknown value kind") // unreachable: kinds come from the constructors
}

// appendJSONString writes s as a JSON string the way Zeek's JSON formatter
// does: valid UTF-8 is kept, bytes that are not valid UTF-8 become the text
// \xNN (so "\\xNN" in the JSON source), and JSON's own escapes apply.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size <= 1 {
				b = append(b, '\\', '\\', 'x', hexDigits[c>>4], hexDigits[c&0x0f])
				i++
				continue
			}
			b = append(b, s[i:i+size]...)
			i += size
			continue
		}
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&0x0f])
			} else {
				b = append(b, c)
			}
		}
		i++
	}
	return append(b, '"')
}

// appendJSONValue writes the JSON value of a set (non-unset) field.
func appendJSONValue(b []byte, v *Value) []byte {
	switch v.kind {
	case kindTime, kindInterval:
		return appendMicros(b, v.micros())
	case kindAddr:
		b = append(b, '"')
		b = appendAddr(b, v.addr)
		return append(b, '"')
	case kindPort, kindCount:
		return strconv.AppendUint(b, v.num, 10)
	case kindInt:
		return strconv.AppendInt(b, int64(v.num), 10)
	case kindDouble:
		return appendDoubleJSON(b, math.Float64frombits(v.num))
	case kindString, kindEnum:
		return appendJSONString(b, v.str)
	case kindBool:
		if v.num != 0 {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case kindSet:
		b = append(b, '[')
		for i, e := range v.set {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, e)
		}
		return append(b, ']')
	}
	panic("zeeklog: unknown value kind") // unreachable: unset is skipped by the caller
}
