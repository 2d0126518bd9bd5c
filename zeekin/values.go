package zeekin

import (
	"errors"
	"math"
	"net/netip"
	"strconv"
	"time"
)

var (
	errNumber = errors.New("not a decimal number")
	errRange  = errors.New("out of range")
)

// maxSeconds bounds the seconds of a time or interval so that nanoseconds
// fit an int64 (about 292 years).
const maxSeconds = math.MaxInt64/int64(time.Second) - 1

// parseDecimal parses Zeek's "%.6f" form of a time or interval: an optional
// '-', digits, and an optional '.' with up to nine significant fraction
// digits (more are truncated). Exponent forms fall back to ParseFloat.
func parseDecimal(b []byte) (neg bool, sec, nsec int64, err error) {
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 {
		return false, 0, 0, errNumber
	}
	i := 0
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		if sec > maxSeconds/10 {
			return false, 0, 0, errRange
		}
		sec = sec*10 + int64(b[i]-'0')
	}
	intDigits := i
	if i < len(b) && b[i] == '.' {
		i++
		scale := int64(1e8)
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			nsec += int64(b[i]-'0') * scale
			scale /= 10
		}
		if intDigits == 0 && i == intDigits+1 {
			return false, 0, 0, errNumber // a lone "."
		}
	}
	if i != len(b) {
		if b[i] != 'e' && b[i] != 'E' {
			return false, 0, 0, errNumber
		}
		f, ferr := strconv.ParseFloat(string(b), 64)
		if ferr != nil || math.IsInf(f, 0) || math.IsNaN(f) || f >= float64(maxSeconds) {
			return false, 0, 0, errNumber
		}
		whole, frac := math.Modf(f)
		sec = int64(whole)
		nsec = int64(math.Round(frac*1e6)) * 1000
		if nsec >= 1e9 {
			sec, nsec = sec+1, nsec-1e9
		}
	}
	if sec > maxSeconds {
		return false, 0, 0, errRange
	}
	return neg, sec, nsec, nil
}

// parseTime parses an epoch time in seconds such as "1300475168.783842".
func parseTime(b []byte) (time.Time, error) {
	neg, sec, nsec, err := parseDecimal(b)
	if err != nil {
		return time.Time{}, err
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// parseInterval parses an interval in seconds such as "0.061329".
func parseInterval(b []byte) (time.Duration, error) {
	neg, sec, nsec, err := parseDecimal(b)
	if err != nil {
		return 0, err
	}
	d := time.Duration(sec)*time.Second + time.Duration(nsec)
	if neg {
		d = -d
	}
	return d, nil
}

// isMasked reports whether b is a btest-masked value: only 'X' and '.'
// (at least one 'X'), as in "XXXXXXXXXX.XXXXXX".
func isMasked(b []byte) bool {
	x := false
	for _, c := range b {
		switch c {
		case 'X':
			x = true
		case '.':
		default:
			return false
		}
	}
	return x
}

// parseUint parses a decimal count that fits in bits bits.
func parseUint(b []byte, bits int) (uint64, error) {
	if len(b) == 0 || len(b) > 20 {
		return 0, errNumber
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errNumber
		}
		if v > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, errRange
		}
		v = v*10 + uint64(c-'0')
	}
	if bits < 64 && v>>bits != 0 {
		return 0, errRange
	}
	return v, nil
}

// parseAddr parses an IPv4 or IPv6 address; IPv4-mapped IPv6 addresses
// are unmapped, as Zeek prints them.
func parseAddr(b []byte) (netip.Addr, error) {
	a, err := netip.ParseAddr(string(b))
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, errors.New("zones are not allowed")
	}
	return a.Unmap(), nil
}

// unescapeJSON decodes the "\xNN" sequences that Zeek's JSON writer puts in
// place of bytes that are not valid UTF-8; everything else is kept.
func unescapeJSON(s string) string {
	j := -1
	for i := 0; i+3 < len(s); i++ {
		if s[i] == '\\' && s[i+1] == 'x' && isHex(s[i+2]) && isHex(s[i+3]) {
			j = i
			break
		}
	}
	if j < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	out = append(out, s[:j]...)
	for i := j; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' && isHex(s[i+2]) && isHex(s[i+3]) {
			out = append(out, unhex(s[i+2])<<4|unhex(s[i+3]))
			i += 3
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
