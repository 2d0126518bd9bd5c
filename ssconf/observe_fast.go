package ssconf

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"shoal/sumstats"
)

// fastParser decodes the common observation line straight into an
// Observation: the fixed schema, strings without escapes, no nulls, no
// duplicate fields. Anything else — including every malformed line — makes
// it decline, and ParseObservation falls back to parseObservationJSON,
// whose encoding/json decoding is the reference (so errors are its errors).
// The fast path never accepts a line the reference rejects, and gives the
// same Observation (checked by FuzzParseObservation).
type fastParser struct {
	b   []byte
	i   int
	err bool // declined
	// intern, when set, maps stream names to strings already allocated.
	intern map[string]string
}

// maxSkipDepth bounds the nesting of unknown fields the fast path skips;
// deeper ones go to the reference.
const maxSkipDepth = 32

// Fields of a line, as bits of fastParser.parse's seen set.
const (
	fStream = 1 << iota
	fKey
	fValue
	fTS
	fRepeat
)

// parse decodes line, already trimmed of white space; ok is false when the
// fast path declines.
func (p *fastParser) parse(line []byte) (o Observation, ok bool) {
	p.b, p.i, p.err = line, 0, false
	if !p.byte('{') {
		return o, false
	}
	o.Repeat = 1
	seen := 0
	p.ws()
	if p.peek() == '}' {
		return o, false // no stream: the reference says so
	}
	for !p.err {
		name := p.plainString()
		p.ws()
		p.expect(':')
		p.ws()
		bit := 0
		switch string(name) {
		case "stream":
			bit = fStream
			s := p.plainString()
			if len(s) == 0 {
				p.err = true
			}
			o.Stream = p.internString(s)
		case "key":
			bit = fKey
			o.Key = p.key()
		case "value":
			bit = fValue
			o.Value = p.value()
		case "ts":
			bit = fTS
			o.TS = p.ts()
		case "repeat":
			bit = fRepeat
			n, err := strconv.ParseInt(string(p.number()), 10, 64)
			if err != nil || n < 1 || n > MaxRepeat {
				p.err = true
			}
			o.Repeat = int(n)
		default:
			p.skip(0)
		}
		if seen&bit != 0 {
			return o, false // duplicate: the reference takes the last one
		}
		seen |= bit
		p.ws()
		if p.peek() == '}' {
			p.i++
			break
		}
		p.expect(',')
		p.ws()
	}
	if p.err || p.i != len(p.b) || seen&(fStream|fKey|fValue) != fStream|fKey|fValue {
		return o, false
	}
	return o, true
}

func (p *fastParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// byte consumes c if it is next.
func (p *fastParser) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *fastParser) expect(c byte) {
	if !p.byte(c) {
		p.err = true
	}
}

// ws skips JSON white space.
func (p *fastParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// plainString reads a string without escapes or control characters and
// with valid UTF-8 (what encoding/json decodes to the same bytes) and
// returns its content; anything else declines.
func (p *fastParser) plainString() []byte {
	if p.err || !p.byte('"') {
		p.err = true
		return nil
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				p.err = true // encoding/json replaces invalid bytes
			}
			return s
		case c == '\\' || c < 0x20:
			p.err = true
			return nil
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	p.err = true
	return nil
}

func (p *fastParser) internString(b []byte) string {
	if p.intern == nil {
		return string(b)
	}
	if s, ok := p.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(p.intern) < 64 {
		p.intern[s] = s
	}
	return s
}

// number reads a JSON number and returns its bytes.
func (p *fastParser) number() []byte {
	start := p.i
	p.byte('-')
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		p.err = true
		return nil
	}
	if p.byte('.') && !p.digits() {
		p.err = true
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if !p.digits() {
			p.err = true
		}
	}
	return p.b[start:p.i]
}

// digits consumes [0-9]* and reports whether there was one.
func (p *fastParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// key reads {"host": ..., "str": ...}.
func (p *fastParser) key() sumstats.Key {
	var k sumstats.Key
	var host, str bool
	p.members(func(name []byte) {
		switch string(name) {
		case "host":
			s := p.plainString()
			a, err := netip.ParseAddr(string(s))
			if host || err != nil || a.Zone() != "" {
				p.err = true
			}
			k.Host, host = a.Unmap(), true
		case "str":
			s := p.plainString()
			if str {
				p.err = true
			}
			k.Str, str = string(s), true
		default:
			p.err = true
		}
	})
	if !k.Host.IsValid() && k.Str == "" {
		p.err = true
	}
	return k
}

// value reads {"num": n} or {"dbl": x} or {"str": s}.
func (p *fastParser) value() sumstats.Observation {
	var v sumstats.Observation
	n := 0
	p.members(func(name []byte) {
		n++
		switch string(name) {
		case "num":
			u, err := strconv.ParseUint(string(p.number()), 10, 64)
			if err != nil {
				p.err = true
			}
			v = sumstats.Num(u)
		case "dbl":
			f, err := strconv.ParseFloat(string(p.number()), 64)
			if err != nil {
				p.err = true
			}
			v = sumstats.Dbl(f)
		case "str":
			v = sumstats.Str(string(p.plainString()))
		default:
			p.err = true
		}
	})
	if n != 1 {
		p.err = true
	}
	return v
}

// members reads an object whose member values field consumes.
func (p *fastParser) members(field func(name []byte)) {
	p.expect('{')
	p.ws()
	if p.byte('}') {
		return
	}
	for !p.err {
		name := p.plainString()
		p.ws()
		p.expect(':')
		p.ws()
		if p.err {
			return
		}
		field(name)
		p.ws()
		if p.byte('}') {
			return
		}
		p.expect(',')
		p.ws()
	}
}

// ts reads epoch seconds as the reference does.
func (p *fastParser) ts() time.Time {
	f, err := strconv.ParseFloat(string(p.number()), 64)
	if err != nil || f < 0 || f > maxTS {
		p.err = true
		return time.Time{}
	}
	return epochTime(f)
}

// skip validates and skips any JSON value.
func (p *fastParser) skip(depth int) {
	if depth > maxSkipDepth {
		p.err = true
		return
	}
	switch c := p.peek(); {
	case c == '{':
		p.i++
		p.ws()
		if p.byte('}') {
			return
		}
		for !p.err {
			p.skipString()
			p.ws()
			p.expect(':')
			p.ws()
			p.skip(depth + 1)
			p.ws()
			if p.byte('}') {
				return
			}
			p.expect(',')
			p.ws()
		}
	case c == '[':
		p.i++
		p.ws()
		if p.byte(']') {
			return
		}
		for !p.err {
			p.skip(depth + 1)
			p.ws()
			if p.byte(']') {
				return
			}
			p.expect(',')
			p.ws()
		}
	case c == '"':
		p.skipString()
	case c == '-' || c >= '0' && c <= '9':
		p.number()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
				p.i += len(lit)
				return
			}
		}
		p.err = true
	}
}

// skipString validates and skips a string, escapes included.
func (p *fastParser) skipString() {
	if !p.byte('"') {
		p.err = true
		return
	}
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch {
		case c == '"':
			return
		case c < 0x20:
			p.err = true
			return
		case c == '\\':
			if p.i >= len(p.b) {
				p.err = true
				return
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(p.b)-p.i < 4 {
					p.err = true
					return
				}
				for _, h := range p.b[p.i : p.i+4] {
					if !isHex(h) {
						p.err = true
						return
					}
				}
				p.i += 4
			default:
				p.err = true
				return
			}
		}
	}
	p.err = true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
