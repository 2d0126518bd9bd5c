package site

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ErrBadNets is returned (wrapped) by ParseNets for an unparsable list.
var ErrBadNets = errors.New("site: bad network list")

// ErrBadMode is returned (wrapped) by ParseMode for an unknown mode name.
var ErrBadMode = errors.New("site: bad host tracking mode")

// Nets is an immutable set of IP prefixes (IPv4 and IPv6). The zero value is
// the empty set. Prefixes are stored masked, sorted and without prefixes that
// another member already covers, so two Nets with the same members print the
// same String. Nets is safe for concurrent use.
type Nets struct {
	v4 []netip.Prefix // sorted, masked, IPv4 only
	v6 []netip.Prefix // sorted, masked, IPv6 only (no IPv4-mapped)
}

// privateNets are the blocks that Zeek >= 6.0 adds to Site::local_nets when
// Site::private_address_space_is_local is T (SEMANTICS.md §0).
var privateNets = NewNets(
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/24"),
	netip.MustParsePrefix("239.0.0.0/8"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("255.255.255.255/32"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("2001::/23"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
)

// PrivateNets returns the private and special-purpose blocks that Zeek >= 6.0
// treats as local by default: 10/8, 172.16/12, 192.168/16, 100.64/10, 127/8,
// 169.254/16, 224.0.0.0/24, 239/8, 240/4, 255.255.255.255/32, ::/128, ::1/128,
// 2001::/23, fc00::/7 and fe80::/10.
func PrivateNets() Nets { return privateNets }

// NewNets returns the set of the given prefixes. Invalid prefixes are ignored;
// host bits are masked off and IPv4-mapped IPv6 prefixes become IPv4 ones.
func NewNets(prefixes ...netip.Prefix) Nets {
	var n Nets
	for _, p := range prefixes {
		p, ok := canonical(p)
		if !ok {
			continue
		}
		if p.Addr().Is4() {
			n.v4 = append(n.v4, p)
		} else {
			n.v6 = append(n.v6, p)
		}
	}
	n.v4 = normalize(n.v4)
	n.v6 = normalize(n.v6)
	return n
}

// ParseNets parses a comma-separated list of CIDR prefixes such as
// "10.0.0.0/8, 2001:db8::/32". A bare address stands for a single host
// (/32 or /128). Host bits are masked off. An empty list, an empty entry or an
// unparsable entry is an error wrapping ErrBadNets that names the entry.
func ParseNets(s string) (Nets, error) {
	if strings.TrimSpace(s) == "" {
		return Nets{}, fmt.Errorf("%w: empty list", ErrBadNets)
	}
	parts := strings.Split(s, ",")
	prefixes := make([]netip.Prefix, 0, len(parts))
	for i, part := range parts {
		entry := strings.TrimSpace(part)
		if entry == "" {
			return Nets{}, fmt.Errorf("%w: entry %d is empty", ErrBadNets, i+1)
		}
		p, err := parseEntry(entry)
		if err != nil {
			return Nets{}, fmt.Errorf("%w: entry %d %q: %w", ErrBadNets, i+1, entry, err)
		}
		prefixes = append(prefixes, p)
	}
	return NewNets(prefixes...), nil
}

func parseEntry(entry string) (netip.Prefix, error) {
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, errors.New("zones are not allowed")
		}
		return p, nil
	}
	a, err := netip.ParseAddr(entry)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("zones are not allowed")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// canonical masks p and turns an IPv4-mapped IPv6 prefix into an IPv4 one.
func canonical(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return netip.Prefix{}, false
	}
	a, bits := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() {
		if bits < 96 {
			// Covers more than the mapped space; keep it as IPv6.
			return netip.PrefixFrom(a, bits).Masked(), true
		}
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), true
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// normalize sorts ps and drops every prefix that an earlier one covers.
func normalize(ps []netip.Prefix) []netip.Prefix {
	if len(ps) == 0 {
		return nil
	}
	slices.SortFunc(ps, comparePrefix)
	out := ps[:0]
	for _, p := range ps {
		if len(out) > 0 {
			last := out[len(out)-1]
			// Sorted by address then length: a covering prefix comes first.
			if last.Bits() <= p.Bits() && last.Contains(p.Addr()) {
				continue
			}
		}
		out = append(out, p)
	}
	return slices.Clip(out)
}

// Contains reports whether a falls inside one of the prefixes. IPv4-mapped
// IPv6 addresses are matched as IPv4 and zones are ignored.
func (n Nets) Contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	list := n.v6
	if a.Is4() {
		list = n.v4
	}
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Len returns the number of prefixes in the canonical form.
func (n Nets) Len() int { return len(n.v4) + len(n.v6) }

// Prefixes returns a fresh copy of the prefixes, IPv4 first, each sorted.
func (n Nets) Prefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, n.Len())
	out = append(out, n.v4...)
	return append(out, n.v6...)
}

// Union returns the set holding the prefixes of both n and o.
func (n Nets) Union(o Nets) Nets {
	return NewNets(append(n.Prefixes(), o.Prefixes()...)...)
}

// String returns the canonical form: masked prefixes, IPv4 before IPv6, each
// sorted by address then length, joined by ",". It is stable and so suitable
// for hashing settings. The empty set prints as "".
func (n Nets) String() string {
	var b strings.Builder
	for i, p := range n.Prefixes() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Mode selects which hosts an analysis tracks (Zeek's Host enum). The zero
// value is LocalHosts, Zeek's default for Known::host_tracking.
type Mode uint8

// The host tracking modes.
const (
	LocalHosts  Mode = iota // LOCAL_HOSTS: addresses inside the local nets
	RemoteHosts             // REMOTE_HOSTS: addresses outside the local nets
	AllHosts                // ALL_HOSTS: every address
	NoHosts                 // NO_HOSTS: nothing
)

var modeNames = [...]string{LocalHosts: "local", RemoteHosts: "remote", AllHosts: "all", NoHosts: "none"}

// ParseMode parses "local", "remote", "all" or "none" (case-insensitive; the
// Zeek names LOCAL_HOSTS, REMOTE_HOSTS, ALL_HOSTS and NO_HOSTS are accepted
// too). Anything else is an error wrapping ErrBadMode.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "local", "local_hosts":
		return LocalHosts, nil
	case "remote", "remote_hosts":
		return RemoteHosts, nil
	case "all", "all_hosts":
		return AllHosts, nil
	case "none", "no_hosts":
		return NoHosts, nil
	}
	return 0, fmt.Errorf("%w: %q (want local, remote, all or none)", ErrBadMode, s)
}

// String returns "local", "remote", "all" or "none" ("mode(N)" if invalid).
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (m Mode) MarshalText() ([]byte, error) {
	if int(m) >= len(modeNames) {
		return nil, fmt.Errorf("%w: %d", ErrBadMode, uint8(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseMode.
func (m *Mode) UnmarshalText(text []byte) error {
	v, err := ParseMode(string(text))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Matches reports whether a is selected by mode m with n as the local nets
// (Zeek's addr_matches_host): LocalHosts matches local addresses, RemoteHosts
// non-local ones, AllHosts everything and NoHosts nothing.
func (n Nets) Matches(a netip.Addr, m Mode) bool {
	switch m {
	case AllHosts:
		return true
	case LocalHosts:
		return n.Contains(a)
	case RemoteHosts:
		return !n.Contains(a)
	default:
		return false
	}
}
