package scan

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// ErrBadState is wrapped by State.DecodeBinary and Detector.DecodeBinary for
// input that is not a valid encoded State.
var ErrBadState = errors.New("scan: bad state encoding")

// stateVersion is the first byte of an encoded State.
const stateVersion = 1

// ScannerState is the exported state of one scanner: its simple-scan
// Scan_Info (when Attempts is not empty) and its suppression (when
// SuppressedUntil is not zero). It is plain data; Export returns fresh
// slices.
type ScannerState struct {
	Scanner         netip.Addr
	FirstSeen       time.Time    // network time of its first attempt (first_seen)
	LastSeen        time.Time    // network time of its last attempt (read_expire counts from here)
	Attempts        []Target     // unique attempts, sorted (compareTarget); port_counts derive from them
	DarkHosts       []netip.Addr // remembered darknet victims, sorted, at most DarkHostThreshold
	SuppressedUntil time.Time    // ignored until then (known_scanners); zero if not suppressed
}

// State is the mergeable, serialisable state of a Detector or of part of
// it: one ScannerState per scanner, sorted by address. It is plain data.
type State struct {
	Scanners []ScannerState
}

func compareTarget(a, b Target) int {
	if c := a.Victim.Compare(b.Victim); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Proto, b.Proto); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}

// Export returns the state of the scanners for which keep returns true
// (every scanner if keep is nil), including suppressed scanners. Expired
// entries that Observe or Expire has not removed yet are included. The
// result shares nothing with d.
func (d *Detector) Export(keep func(scanner netip.Addr) bool) State {
	byAddr := make(map[netip.Addr]*ScannerState)
	var order []netip.Addr
	get := func(a netip.Addr) *ScannerState {
		if ss := byAddr[a]; ss != nil {
			return ss
		}
		ss := &ScannerState{Scanner: a}
		byAddr[a] = ss
		order = append(order, a)
		return ss
	}
	for a, s := range d.attacks {
		if keep != nil && !keep(a) {
			continue
		}
		ss := get(a)
		ss.FirstSeen, ss.LastSeen = fromNanos(s.first), fromNanos(s.last)
		ss.Attempts = slices.SortedFunc(slices.Values(s.targets.list), compareTarget)
		if len(s.dark) > 0 {
			ss.DarkHosts = slices.SortedFunc(slices.Values(s.dark), netip.Addr.Compare)
		}
	}
	for a, u := range d.supp.until {
		if keep != nil && !keep(a) {
			continue
		}
		get(a).SuppressedUntil = fromNanos(u)
	}
	slices.SortFunc(order, netip.Addr.Compare)
	st := State{Scanners: make([]ScannerState, 0, len(order))}
	for _, a := range order {
		st.Scanners = append(st.Scanners, *byAddr[a])
	}
	return st
}

// Remove deletes the state and suppression of every scanner for which match
// returns true (for example the scanners this node no longer owns) and
// returns how many scanners it removed.
func (d *Detector) Remove(match func(scanner netip.Addr) bool) int {
	gone := make(map[netip.Addr]struct{})
	for a, s := range d.attacks {
		if match(a) {
			d.removeScanner(s)
			gone[a] = struct{}{}
		}
	}
	for a := range d.supp.until {
		if match(a) {
			d.supp.remove(a)
			gone[a] = struct{}{}
		}
	}
	d.supp.q.compact(len(d.supp.until), d.supp.live)
	return len(gone)
}

// Merge adds the state s (from Export on another node, or decoded) to d:
//
//   - per scanner, the union of the attempts, the earliest first_seen, the
//     latest last access and the union of the darknet victims (kept to
//     DarkHostThreshold), so port counts and every threshold decision equal
//     those of one Detector that observed both streams;
//   - the later of the suppression deadlines;
//   - a scanner suppressed after the merge keeps no attack state, as after
//     a notice.
//
// Entries already expired at d's network time are skipped. Merge does not
// raise notices: a merged scanner over its threshold is reported at its next
// new attempt, as simple-scan would. Invalid entries (no address, no
// attempts and no suppression) are skipped. s is not modified.
func (d *Detector) Merge(s State) {
	d.expire(d.now)
	timeout := int64(d.cfg.ScanTimeout)
	for i := range s.Scanners {
		in := &s.Scanners[i]
		if !in.Scanner.IsValid() {
			continue
		}
		addr := in.Scanner.Unmap().WithZone("")
		if !in.SuppressedUntil.IsZero() {
			if u := nanos(in.SuppressedUntil); u > d.now {
				d.supp.set(addr, u)
			}
		}
		if d.supp.active(addr, d.now) {
			if cur := d.attacks[addr]; cur != nil {
				d.removeScanner(cur)
			}
			continue
		}
		if len(in.Attempts) == 0 || in.FirstSeen.IsZero() || in.LastSeen.IsZero() {
			continue
		}
		first, last := nanos(in.FirstSeen), nanos(in.LastSeen)
		if last < first {
			last = first
		}
		if last+timeout <= d.now {
			continue
		}
		d.mergeScanner(addr, first, last, in)
	}
}

func (d *Detector) mergeScanner(addr netip.Addr, first, last int64, in *ScannerState) {
	cur := d.attacks[addr]
	if cur == nil {
		if len(d.attacks) >= d.cfg.MaxScanners {
			d.removeScanner(d.root.next)
			d.stats.Evicted++
		}
		cur = &scanner{addr: addr, first: first, last: last}
		d.attacks[addr] = cur
		d.insertSorted(cur)
	} else {
		cur.first = min(cur.first, first)
		if last > cur.last {
			cur.last = last
			d.unlink(cur)
			d.insertSorted(cur)
		}
	}
	for _, t := range in.Attempts {
		if !t.Victim.IsValid() {
			continue
		}
		t.Victim = t.Victim.Unmap().WithZone("")
		t.Proto = normProto(t.Proto)
		if cur.targets.add(t) {
			cur.ports.inc(portKey{t.Port, t.Proto})
		}
	}
	for _, v := range in.DarkHosts {
		v = v.Unmap().WithZone("")
		if len(cur.dark) < d.cfg.DarkHostThreshold && v.IsValid() && !cur.hasDark(v) {
			cur.dark = append(cur.dark, v)
		}
	}
	if cur.targets.len() == 0 { // every attempt was invalid
		d.removeScanner(cur)
	}
}

// AppendBinary appends the encoding of the whole state of d (Export(nil))
// to b and returns the extended buffer. It implements encoding.BinaryAppender.
func (d *Detector) AppendBinary(b []byte) ([]byte, error) {
	st := d.Export(nil)
	return st.AppendBinary(b)
}

// DecodeBinary decodes an encoded State and merges it into d (on a new
// Detector that restores the encoded one). On an error wrapping ErrBadState,
// d is unchanged. b is not retained.
func (d *Detector) DecodeBinary(b []byte) error {
	var st State
	if err := st.DecodeBinary(b); err != nil {
		return err
	}
	d.Merge(st)
	return nil
}

// Encoding (all integers unsigned varints unless noted):
//
//	version byte (1)
//	count of scanners
//	per scanner, in ascending address order:
//	  addr                 (1 byte length 4 or 16, then the bytes)
//	  flags byte           (bit 0: attack state, bit 1: suppressed)
//	  attack state:        first (zig-zag varint Unix ns), last-first,
//	                       count of attempts, each: addr, port (2 bytes BE), proto byte
//	                       (ascending order, no duplicates),
//	                       count of dark hosts, each addr (ascending, no duplicates)
//	  suppressed:          until (zig-zag varint Unix ns)
const (
	flagAttack     = 1 << 0
	flagSuppressed = 1 << 1
)

// AppendBinary appends the encoding of s to b and returns the extended
// buffer. It implements encoding.BinaryAppender. The state is written in
// canonical form: scanners, attempts and dark hosts sorted and without
// duplicates (for a scanner listed twice the first entry wins), addresses
// unmapped, protocol 0 written as TCP, and entries with neither attempts
// nor a suppression (or without an address) left out. So equal states
// encode to equal bytes. It never fails.
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	scanners := canonical(s.Scanners)
	b = append(b, stateVersion)
	b = binary.AppendUvarint(b, uint64(len(scanners)))
	for i := range scanners {
		ss := &scanners[i]
		b = appendAddr(b, ss.Scanner)
		var flags byte
		if len(ss.Attempts) > 0 {
			flags |= flagAttack
		}
		if !ss.SuppressedUntil.IsZero() {
			flags |= flagSuppressed
		}
		b = append(b, flags)
		if flags&flagAttack != 0 {
			first, last := nanos(ss.FirstSeen), nanos(ss.LastSeen)
			b = binary.AppendVarint(b, first)
			b = binary.AppendUvarint(b, uint64(last-first))
			b = binary.AppendUvarint(b, uint64(len(ss.Attempts)))
			for _, t := range ss.Attempts {
				b = appendAddr(b, t.Victim)
				b = binary.BigEndian.AppendUint16(b, t.Port)
				b = append(b, t.Proto)
			}
			b = binary.AppendUvarint(b, uint64(len(ss.DarkHosts)))
			for _, v := range ss.DarkHosts {
				b = appendAddr(b, v)
			}
		}
		if flags&flagSuppressed != 0 {
			b = binary.AppendVarint(b, nanos(ss.SuppressedUntil))
		}
	}
	return b, nil
}

// canonical returns the canonical form of scanners (see
// State.AppendBinary) in fresh slices.
func canonical(in []ScannerState) []ScannerState {
	out := make([]ScannerState, 0, len(in))
	for _, ss := range in {
		if !ss.Scanner.IsValid() {
			continue
		}
		c := ScannerState{Scanner: ss.Scanner.Unmap().WithZone(""), SuppressedUntil: ss.SuppressedUntil}
		if len(ss.Attempts) > 0 && !ss.FirstSeen.IsZero() && !ss.LastSeen.IsZero() {
			for _, t := range ss.Attempts {
				if t.Victim.IsValid() {
					t.Victim = t.Victim.Unmap().WithZone("")
					t.Proto = normProto(t.Proto)
					c.Attempts = append(c.Attempts, t)
				}
			}
			slices.SortFunc(c.Attempts, compareTarget)
			c.Attempts = slices.Compact(c.Attempts)
			for _, v := range ss.DarkHosts {
				if v.IsValid() {
					c.DarkHosts = append(c.DarkHosts, v.Unmap().WithZone(""))
				}
			}
			slices.SortFunc(c.DarkHosts, netip.Addr.Compare)
			c.DarkHosts = slices.Compact(c.DarkHosts)
			if len(c.Attempts) > 0 {
				c.FirstSeen, c.LastSeen = fromNanos(nanos(ss.FirstSeen)), fromNanos(max(nanos(ss.FirstSeen), nanos(ss.LastSeen)))
			} else {
				c.DarkHosts = nil
			}
		}
		if len(c.Attempts) == 0 && c.SuppressedUntil.IsZero() {
			continue
		}
		if !c.SuppressedUntil.IsZero() {
			c.SuppressedUntil = fromNanos(nanos(c.SuppressedUntil))
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b ScannerState) int { return a.Scanner.Compare(b.Scanner) })
	return slices.CompactFunc(out, func(a, b ScannerState) bool { return a.Scanner == b.Scanner })
}

func appendAddr(b []byte, a netip.Addr) []byte {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		v := a.As4()
		b = append(b, 4)
		return append(b, v[:]...)
	}
	v := a.As16()
	b = append(b, 16)
	return append(b, v[:]...)
}

// decoder reads an encoded State; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (r *decoder) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at %d bytes from the end", ErrBadState, what, len(r.b))
	}
}

func (r *decoder) byte(what string) byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail(what)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *decoder) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *decoder) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length whose elements take at least minSize bytes each, so
// a hostile length cannot allocate more than the input justifies.
func (r *decoder) count(what string, minSize int) int {
	v := r.uvarint(what)
	if r.err != nil {
		return 0
	}
	if v > uint64(len(r.b)/minSize) {
		r.fail(what + " too large")
		return 0
	}
	return int(v)
}

func (r *decoder) addr(what string) netip.Addr {
	switch r.byte(what) {
	case 4:
		if len(r.b) < 4 {
			r.fail(what)
			return netip.Addr{}
		}
		a := netip.AddrFrom4([4]byte(r.b[:4]))
		r.b = r.b[4:]
		return a
	case 16:
		if len(r.b) < 16 {
			r.fail(what)
			return netip.Addr{}
		}
		a := netip.AddrFrom16([16]byte(r.b[:16]))
		r.b = r.b[16:]
		if a.Is4In6() {
			r.fail(what + " is IPv4-mapped")
		}
		return a
	default:
		r.fail(what + " length")
		return netip.Addr{}
	}
}

// DecodeBinary replaces s with the State encoded in b. The encoding must be
// canonical (as AppendBinary writes it: sorted, no duplicates, every scanner
// with attack state or a suppression, no bytes left over); anything else is
// an error wrapping ErrBadState, and s is then unchanged. b is not retained.
func (s *State) DecodeBinary(b []byte) error {
	r := decoder{b: b}
	if v := r.byte("version"); r.err == nil && v != stateVersion {
		return fmt.Errorf("%w: version %d (want %d)", ErrBadState, v, stateVersion)
	}
	n := r.count("scanner count", 6)
	out := State{Scanners: make([]ScannerState, 0, n)}
	for i := 0; i < n && r.err == nil; i++ {
		var ss ScannerState
		ss.Scanner = r.addr("scanner address")
		if i > 0 && r.err == nil && out.Scanners[i-1].Scanner.Compare(ss.Scanner) >= 0 {
			r.fail("scanners not in ascending order")
		}
		flags := r.byte("flags")
		if r.err == nil && (flags == 0 || flags&^(flagAttack|flagSuppressed) != 0) {
			r.fail("bad flags")
		}
		if flags&flagAttack != 0 {
			first := r.varint("first seen")
			span := r.uvarint("last seen")
			if r.err == nil && (span > uint64(1<<63-1) || first > 1<<63-1-int64(span)) {
				r.fail("last seen out of range")
			}
			ss.FirstSeen, ss.LastSeen = fromNanos(first), fromNanos(first+int64(span))
			nt := r.count("attempt count", 8)
			if r.err == nil && nt == 0 {
				r.fail("attack state without attempts")
			}
			ss.Attempts = make([]Target, 0, nt)
			for j := 0; j < nt && r.err == nil; j++ {
				t := Target{Victim: r.addr("victim")}
				if r.err == nil && len(r.b) < 3 {
					r.fail("port")
				}
				if r.err != nil {
					break
				}
				t.Port = binary.BigEndian.Uint16(r.b)
				t.Proto = r.b[2]
				r.b = r.b[3:]
				if t.Proto == 0 {
					r.fail("protocol 0")
				}
				if j > 0 && compareTarget(ss.Attempts[j-1], t) >= 0 {
					r.fail("attempts not in ascending order")
				}
				ss.Attempts = append(ss.Attempts, t)
			}
			nd := r.count("dark host count", 5)
			if nd > 0 {
				ss.DarkHosts = make([]netip.Addr, 0, nd)
			}
			for j := 0; j < nd && r.err == nil; j++ {
				v := r.addr("dark host")
				if j > 0 && r.err == nil && ss.DarkHosts[j-1].Compare(v) >= 0 {
					r.fail("dark hosts not in ascending order")
				}
				ss.DarkHosts = append(ss.DarkHosts, v)
			}
		}
		if flags&flagSuppressed != 0 {
			ss.SuppressedUntil = fromNanos(r.varint("suppressed until"))
		}
		out.Scanners = append(out.Scanners, ss)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return r.err
	}
	*s = out
	return nil
}
