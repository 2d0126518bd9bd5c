package software

import (
	"strconv"
	"strings"
)

// Fields says which parts of a Version are set (each part of Zeek's
// Software::Version record is &optional).
type Fields uint8

// The parts of a Version.
const (
	HasMajor Fields = 1 << iota
	HasMinor
	HasMinor2
	HasMinor3
	HasAddl
)

// Version is Zeek's Software::Version: up to four numbers and an
// additional string, each of them optional. The zero value has no part set.
// It is a plain value.
type Version struct {
	Major, Minor, Minor2, Minor3 uint64
	Addl                         string
	Set                          Fields
}

// WithMajor returns v with Major set to n; the other With methods likewise.
func (v Version) WithMajor(n uint64) Version { v.Major, v.Set = n, v.Set|HasMajor; return v }

// WithMinor returns v with Minor set to n.
func (v Version) WithMinor(n uint64) Version { v.Minor, v.Set = n, v.Set|HasMinor; return v }

// WithMinor2 returns v with Minor2 set to n.
func (v Version) WithMinor2(n uint64) Version { v.Minor2, v.Set = n, v.Set|HasMinor2; return v }

// WithMinor3 returns v with Minor3 set to n.
func (v Version) WithMinor3(n uint64) Version { v.Minor3, v.Set = n, v.Set|HasMinor3; return v }

// WithAddl returns v with Addl set to s.
func (v Version) WithAddl(s string) Version { v.Addl, v.Set = s, v.Set|HasAddl; return v }

// Has reports whether the parts f are all set.
func (v Version) Has(f Fields) bool { return v.Set&f == f }

// Cmp compares two versions as Zeek's Software::cmp_versions does: part by
// part from Major to Minor3, a set part is greater than an unset one, and
// finally the Addl strings byte by byte. It returns -1, 0 or 1; 0 only when
// both versions have the same parts set to the same values.
func Cmp(a, b Version) int {
	for _, p := range [...]struct {
		f    Fields
		x, y uint64
	}{{HasMajor, a.Major, b.Major}, {HasMinor, a.Minor, b.Minor}, {HasMinor2, a.Minor2, b.Minor2}, {HasMinor3, a.Minor3, b.Minor3}} {
		ha, hb := a.Has(p.f), b.Has(p.f)
		switch {
		case ha && hb:
			if p.x < p.y {
				return -1
			}
			if p.x > p.y {
				return 1
			}
		case ha:
			return 1
		case hb:
			return -1
		}
	}
	ha, hb := a.Has(HasAddl), b.Has(HasAddl)
	switch {
	case ha && hb:
		return strings.Compare(a.Addl, b.Addl)
	case ha:
		return 1
	case hb:
		return -1
	}
	return 0
}

// String formats v as Zeek's software_fmt_version: "major.minor.minor2.minor3-addl"
// with the unset parts left out, and "0" for an unset major.
func (v Version) String() string {
	var b strings.Builder
	if v.Has(HasMajor) {
		b.WriteString(strconv.FormatUint(v.Major, 10))
	} else {
		b.WriteByte('0')
	}
	for _, p := range [...]struct {
		f Fields
		n uint64
	}{{HasMinor, v.Minor}, {HasMinor2, v.Minor2}, {HasMinor3, v.Minor3}} {
		if v.Has(p.f) {
			b.WriteByte('.')
			b.WriteString(strconv.FormatUint(p.n, 10))
		}
	}
	if v.Has(HasAddl) {
		b.WriteByte('-')
		b.WriteString(v.Addl)
	}
	return b.String()
}
