package software

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// ErrCorrupt is returned (wrapped) for an Info or a partition state that
// does not decode.
var ErrCorrupt = errors.New("software: corrupt encoding")

// stateVersion is the first byte of an exported partition.
const stateVersion = 1

// Info flag bits.
const (
	infoHasPort  = 1
	infoForceLog = 2
)

// AppendInfo appends the binary encoding of i to b and returns the extended
// slice. The encoding is canonical: equal Infos encode equally.
func AppendInfo(b []byte, i *Info) []byte {
	b = binary.AppendVarint(b, i.TS.UnixNano())
	b = appendAddr(b, i.Host)
	var flags byte
	if i.HasPort {
		flags |= infoHasPort
	}
	if i.ForceLog {
		flags |= infoForceLog
	}
	b = append(b, flags, byte(i.Port>>8), byte(i.Port), byte(i.Type), byte(i.Version.Set))
	for _, p := range [...]struct {
		f Fields
		n uint64
	}{{HasMajor, i.Version.Major}, {HasMinor, i.Version.Minor}, {HasMinor2, i.Version.Minor2}, {HasMinor3, i.Version.Minor3}} {
		if i.Version.Has(p.f) {
			b = binary.AppendUvarint(b, p.n)
		}
	}
	if i.Version.Has(HasAddl) {
		b = appendString(b, i.Version.Addl)
	}
	b = appendString(b, i.Name)
	return appendString(b, i.Unparsed)
}

// DecodeInfo decodes an Info from the start of b and returns the rest. The
// Info does not alias b.
func DecodeInfo(b []byte) (Info, []byte, error) {
	d := decoder{b: b}
	i := d.info()
	if d.err != nil {
		return Info{}, nil, d.err
	}
	return i, d.b, nil
}

// Export returns the state of partition part in a canonical encoding
// (equal states encode equally); an empty partition encodes as well.
func (o *Owner) Export(part int) []byte {
	b := []byte{stateVersion}
	p := o.parts[part]
	if p == nil {
		return binary.AppendUvarint(binary.AppendVarint(b, 0), 0)
	}
	b = binary.AppendVarint(b, unixNano(p.clock))
	addrs := make([]netip.Addr, 0, len(p.hosts))
	for a := range p.hosts {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	b = binary.AppendUvarint(b, uint64(len(addrs)))
	for _, a := range addrs {
		h := p.hosts[a]
		b = appendAddr(b, a)
		b = binary.AppendVarint(b, h.created.UnixNano())
		names := make([]string, 0, len(h.names))
		for n := range h.names {
			names = append(names, n)
		}
		slices.Sort(names)
		b = binary.AppendUvarint(b, uint64(len(names)))
		for _, n := range names {
			s := h.names[n]
			b = appendString(b, n)
			seen := make([]string, 0, len(s.seen))
			for v := range s.seen {
				seen = append(seen, v)
			}
			slices.Sort(seen)
			b = binary.AppendUvarint(b, uint64(len(seen)))
			for _, v := range seen {
				b = appendString(b, v)
			}
			b = AppendInfo(b, &s.last)
		}
	}
	return b
}

func decodePartition(b []byte) (*partition, error) {
	if len(b) == 0 || b[0] != stateVersion {
		return nil, fmt.Errorf("%w: state version", ErrCorrupt)
	}
	d := decoder{b: b[1:]}
	p := &partition{hosts: map[netip.Addr]*hostSoftware{}}
	if c := d.varint(); c != 0 {
		p.clock = time.Unix(0, c)
	}
	for nh := d.count(); nh > 0 && d.err == nil; nh-- {
		a := d.addr()
		h := &hostSoftware{created: time.Unix(0, d.varint()), names: map[string]*versionSet{}}
		for nn := d.count(); nn > 0 && d.err == nil; nn-- {
			name := d.string()
			s := &versionSet{seen: map[string]struct{}{}}
			for nv := d.count(); nv > 0 && d.err == nil; nv-- {
				s.seen[d.string()] = struct{}{}
			}
			s.last = d.info()
			h.names[name] = s
		}
		p.hosts[a] = h
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

// unixNano is t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case a.Is4():
		v := a.As4()
		return append(append(b, 4), v[:]...)
	case a.Is6():
		v := a.As16()
		return append(append(b, 16), v[:]...)
	}
	return append(b, 0)
}

// decoder reads an encoding, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads an element count, which cannot exceed the bytes left.
func (d *decoder) count() uint64 {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("count")
		return 0
	}
	return n
}

func (d *decoder) bytes(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail("length")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return strings.Clone(string(d.bytes(d.uvarint()))) }

func (d *decoder) addr() netip.Addr {
	n := d.bytes(1)
	if d.err != nil {
		return netip.Addr{}
	}
	switch n[0] {
	case 0:
		return netip.Addr{}
	case 4:
		if v := d.bytes(4); d.err == nil {
			return netip.AddrFrom4([4]byte(v))
		}
		return netip.Addr{}
	case 16:
		if v := d.bytes(16); d.err == nil {
			return netip.AddrFrom16([16]byte(v))
		}
		return netip.Addr{}
	}
	d.fail("address length")
	return netip.Addr{}
}

func (d *decoder) info() Info {
	var i Info
	i.TS = time.Unix(0, d.varint())
	i.Host = d.addr()
	h := d.bytes(5)
	if d.err != nil {
		return Info{}
	}
	if h[0]&^(infoHasPort|infoForceLog) != 0 || Type(h[3]) >= numTypes || Fields(h[4])&^(HasMajor|HasMinor|HasMinor2|HasMinor3|HasAddl) != 0 {
		d.fail("info header")
		return Info{}
	}
	i.HasPort, i.ForceLog = h[0]&infoHasPort != 0, h[0]&infoForceLog != 0
	i.Port, i.Type, i.Version.Set = uint16(h[1])<<8|uint16(h[2]), Type(h[3]), Fields(h[4])
	if !i.HasPort && i.Port != 0 {
		d.fail("port without flag")
		return Info{}
	}
	v := &i.Version
	for _, p := range [...]struct {
		f Fields
		n *uint64
	}{{HasMajor, &v.Major}, {HasMinor, &v.Minor}, {HasMinor2, &v.Minor2}, {HasMinor3, &v.Minor3}} {
		if v.Has(p.f) {
			*p.n = d.uvarint()
		}
	}
	if v.Has(HasAddl) {
		v.Addl = d.string()
	}
	i.Name = d.string()
	i.Unparsed = d.string()
	return i
}
