package software

import (
	"regexp"
	"strconv"
	"strings"
)

// This file reproduces the string built-ins of Zeek's script language that
// Software::parse is written with (strings.bif: split_string*, sub, gsub,
// strip; base/utils/numbers.zeek: extract_count). Zeek's patterns are
// matched by a DFA: at each position the longest match, and the search
// takes the first position with a non-empty match. Go's regexp in Longest
// mode gives the same leftmost-longest match.

// zre is a Zeek pattern.
type zre struct {
	re       *regexp.Regexp
	anchored bool // starts with ^: only a match at the start of the subject counts
}

func pattern(expr string) zre {
	re := regexp.MustCompile(expr)
	re.Longest()
	return zre{re: re, anchored: strings.HasPrefix(expr, "^")}
}

// in is Zeek's "pattern in string": a match anywhere.
func (p zre) in(s string) bool { return p.re.MatchString(s) }

// find returns the first non-empty, longest match in s at or after pos.
func (p zre) find(s string, pos int) (start, end int, ok bool) {
	for pos < len(s) {
		if p.anchored && pos > 0 {
			return 0, 0, false
		}
		loc := p.re.FindStringIndex(s[pos:])
		if loc == nil {
			return 0, 0, false
		}
		if loc[1] > loc[0] {
			return pos + loc[0], pos + loc[1], true
		}
		pos += loc[0] + 1 // Zeek skips empty matches
	}
	return 0, 0, false
}

// split is strings.bif's do_split_string: the pieces between matches, with
// the matches themselves when inclSep, splitting at most max times (0: no
// limit). A match at the end leaves an empty last piece.
func (p zre) split(s string, inclSep bool, max int) []string {
	var out []string
	for n := 0; ; n++ {
		start, end, ok := p.find(s, 0)
		if !ok || (max > 0 && n >= max) {
			return append(out, s)
		}
		out = append(out, s[:start])
		if inclSep {
			out = append(out, s[start:end])
		}
		s = s[end:]
	}
}

// splitAll is split_string_all.
func (p zre) splitAll(s string) []string { return p.split(s, true, 0) }

// sub replaces the first match (sub) or every match (gsub, all).
func (p zre) sub(s, repl string, all bool) string {
	var b strings.Builder
	last := 0
	for pos := 0; pos < len(s); {
		start, end, ok := p.find(s, pos)
		if !ok {
			break
		}
		b.WriteString(s[last:start])
		b.WriteString(repl)
		last, pos = end, end
		if !all {
			break
		}
	}
	if last == 0 && b.Len() == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// strip is Zeek's strip: leading and trailing white space removed.
func strip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r'
	})
}

var digits = pattern(`[0-9]+`)

// extractCount is extract_count: the first run of digits as a count
// (to_count: strtoull, which saturates), 0 without digits.
func extractCount(s string) uint64 {
	start, end, ok := digits.find(s, 0)
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(s[start:end], 10, 64)
	if err != nil {
		return ^uint64(0)
	}
	return n
}

// at returns parts[i], or "" and false when there is no such element (Zeek's
// "i in parts").
func at(parts []string, i int) (string, bool) {
	if i < len(parts) {
		return parts[i], true
	}
	return "", false
}
