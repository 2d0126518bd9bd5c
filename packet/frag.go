package packet

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/google/gopacket/layers"
)

// Limits of IP fragment reassembly (see Decoder.Decode).
const (
	// MaxFragDatagrams is how many incomplete datagrams a Decoder holds.
	MaxFragDatagrams = 1024
	// FragTimeout drops an incomplete datagram whose newest fragment is
	// this much older (in network time) than the fragment being added.
	FragTimeout = time.Minute
	// maxFragPayload bounds a reassembled datagram's payload (IPv4's total
	// length is 16 bits; so is IPv6's payload length).
	maxFragPayload = 65535
	// maxFreeFrags is how many finished datagram buffers are kept for reuse.
	maxFreeFrags = 16
)

// fragKey identifies the datagram a fragment belongs to (RFC 791, RFC 8200).
type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8 // IPv4 only; IPv6 fragments are keyed by addresses and id
	v6       bool
}

type span struct{ start, end int }

// fragDatagram is one datagram being reassembled.
type fragDatagram struct {
	hdr    []byte // the IP header(s) before the fragment's payload, from the first fragment
	gotHdr bool   // the first fragment (offset 0) arrived: hdr is set
	data   []byte // payload bytes at their offsets
	spans  []span // received payload ranges, sorted and merged
	total  int    // payload length once the last fragment arrived, else -1
	last   int64  // network time of the newest fragment, ns
	first  int64  // when the datagram was started, ns (orders eviction)
	nhOff  int    // IPv6: offset in hdr of the next-header byte naming the fragment header
	next   uint8  // IPv6: the fragmentable part's first header
}

// reassembler holds the incomplete datagrams of one Decoder.
type reassembler struct {
	m     map[fragKey]*fragDatagram
	order []fragKey // keys by start, oldest first; keys of removed datagrams are skipped
	out   []byte    // the last reassembled datagram
	free  []*fragDatagram
	now   int64
}

// fragment4 handles an IPv4 fragment decoded into d.ip4.
func (d *Decoder) fragment4(p *Packet) error {
	ip := &d.ip4.IPv4
	wire := int(ip.Length) - int(ip.IHL)*4
	if len(ip.Payload) < wire || wire <= 0 {
		// Not captured in full (or empty): only a first fragment is
		// analyzed, as it is (useful for header-only traces).
		if ip.FragOffset != 0 || wire <= 0 {
			return ErrFragment
		}
		return d.firstFragmentAsIs(p)
	}
	k := fragKey{src: netip.AddrFrom4([4]byte(ip.SrcIP)).As16(), dst: netip.AddrFrom4([4]byte(ip.DstIP)).As16(),
		id: uint32(ip.Id), proto: uint8(ip.Protocol)}
	return d.addFragment(p, k, int(ip.FragOffset)*8, ip.Flags&layers.IPv4MoreFragments != 0,
		ip.Payload[:wire], ip.Contents, -1, 0)
}

// firstFragmentAsIs decodes a truncated first IPv4 fragment as an
// unfragmented packet.
func (d *Decoder) firstFragmentAsIs(p *Packet) error {
	ip := &d.ip4.IPv4
	p.Src = netip.AddrFrom4([4]byte(ip.SrcIP))
	p.Dst = netip.AddrFrom4([4]byte(ip.DstIP))
	p.Proto = uint8(ip.Protocol)
	p.IPLen = int(ip.Length)
	p.Raw, p.HdrLen = rawIP(ip.Contents, ip.Payload, p.IPLen), len(ip.Contents)
	wire := int(ip.Length) - int(ip.IHL)*4
	seg := ip.Payload
	switch p.Proto {
	case ProtoTCP:
		return decodeTCPHeader(seg, wire, p)
	case ProtoUDP:
		if len(seg) < 8 {
			return errNoTransport
		}
		p.SrcPort, p.DstPort = binary.BigEndian.Uint16(seg[0:2]), binary.BigEndian.Uint16(seg[2:4])
		p.PayloadLen = max(wire-8, 0)
		p.Payload = capBytes(seg[8:], p.PayloadLen)
	case ProtoICMP:
		if len(seg) < 8 {
			return errNoTransport
		}
		p.SrcPort, p.DstPort = uint16(seg[0]), uint16(seg[1])
		p.PayloadLen = max(wire-8, 0)
		p.Payload = capBytes(seg[8:], p.PayloadLen)
	default:
		p.PayloadLen = wire
		p.Payload = capBytes(seg, wire)
	}
	return nil
}

// fragment6 handles an IPv6 fragment whose header d.frag6 holds.
func (d *Decoder) fragment6(p *Packet) error {
	ip := &d.ip6.IPv6
	f := &d.frag6
	whole := ip.Contents[:cap(ip.Contents)-cap(f.Contents)] // fixed and unfragmentable headers
	end := 40 + int(ip.Length)
	fragEnd := len(whole) + 8 // payload starts after the fragment header
	if ip.Length == 0 || end > len(whole)+8+len(f.Payload) || end <= fragEnd {
		return ErrFragment // jumbogram, not captured in full, or empty
	}
	// The byte that names the fragment header: the fixed header's next
	// header, or the next-header field of the last extension before it.
	nhOff := 6
	if off := 40; off < len(whole) {
		for off < len(whole) {
			nhOff = off
			if off+1 >= len(whole) {
				return ErrFragment
			}
			off += int(whole[off+1])*8 + 8
		}
	}
	k := fragKey{src: [16]byte(ip.SrcIP), dst: [16]byte(ip.DstIP), id: f.id, v6: true}
	return d.addFragment(p, k, f.offset, f.more, f.Payload[:end-fragEnd], whole, nhOff, f.next)
}

// addFragment adds one fragment's payload and, when that completes its
// datagram, decodes the datagram into p.
func (d *Decoder) addFragment(p *Packet, k fragKey, offset int, more bool, payload, hdr []byte, nhOff int,
	next uint8) error {
	r := &d.frags
	ts := p.TS.UnixNano()
	r.now = max(r.now, ts)
	r.expire()
	end := offset + len(payload)
	if end > maxFragPayload-len(hdr) {
		if dg := r.m[k]; dg != nil {
			r.drop(k, dg)
		}
		return ErrFragment
	}
	dg := r.m[k]
	if dg == nil {
		dg = r.start(k)
	}
	dg.last = max(dg.last, ts)
	if offset == 0 && !dg.gotHdr {
		dg.gotHdr = true
		dg.hdr = append(dg.hdr[:0], hdr...)
		dg.nhOff, dg.next = nhOff, next
	}
	if !more && dg.total < 0 {
		dg.total = end
	}
	dg.put(offset, payload)
	if dg.total < 0 || !dg.gotHdr || len(dg.spans) != 1 || dg.spans[0] != (span{0, dg.total}) {
		return ErrFragment
	}
	out := r.build(dg)
	r.drop(k, dg)
	wire := p.WireLen
	*p = Packet{TS: p.TS, WireLen: wire}
	err := d.decode(layers.LinkTypeRaw, out, p.TS, p)
	p.WireLen = len(out)
	return err
}

// start begins a datagram, evicting the oldest one when full.
func (r *reassembler) start(k fragKey) *fragDatagram {
	if r.m == nil {
		r.m = make(map[fragKey]*fragDatagram)
	}
	for len(r.m) >= MaxFragDatagrams && len(r.order) > 0 {
		old := r.order[0]
		r.order = r.order[1:]
		if dg := r.m[old]; dg != nil {
			r.drop(old, dg)
		}
	}
	var dg *fragDatagram
	if n := len(r.free); n > 0 {
		dg, r.free = r.free[n-1], r.free[:n-1]
	} else {
		dg = &fragDatagram{}
	}
	dg.hdr, dg.data, dg.spans = dg.hdr[:0], dg.data[:0], dg.spans[:0]
	dg.total, dg.first, dg.last, dg.gotHdr = -1, r.now, r.now, false
	r.m[k] = dg
	r.order = append(r.order, k)
	return dg
}

// expire drops datagrams whose newest fragment is older than FragTimeout.
func (r *reassembler) expire() {
	for len(r.order) > 0 {
		k := r.order[0]
		dg := r.m[k]
		if dg != nil && dg.last >= r.now-int64(FragTimeout) {
			return
		}
		r.order = r.order[1:]
		if dg != nil {
			r.drop(k, dg)
		}
	}
	if len(r.order) == 0 && cap(r.order) > 4*MaxFragDatagrams {
		r.order = nil
	}
}

func (r *reassembler) drop(k fragKey, dg *fragDatagram) {
	delete(r.m, k)
	if len(r.free) < maxFreeFrags && cap(dg.data) <= maxFragPayload {
		r.free = append(r.free, dg)
	}
}

// put copies payload to its offset, keeping bytes already received where
// fragments overlap (the first copy wins).
func (dg *fragDatagram) put(offset int, payload []byte) {
	end := offset + len(payload)
	if len(dg.data) < end {
		dg.data = append(dg.data, make([]byte, end-len(dg.data))...)
	}
	pos := offset
	for _, s := range dg.spans {
		if s.end <= pos {
			continue
		}
		if s.start >= end {
			break
		}
		if s.start > pos {
			copy(dg.data[pos:s.start], payload[pos-offset:])
		}
		pos = max(pos, s.end)
	}
	if pos < end {
		copy(dg.data[pos:end], payload[pos-offset:])
	}
	dg.addSpan(span{offset, end})
}

// addSpan merges s into the sorted, disjoint spans.
func (dg *fragDatagram) addSpan(s span) {
	out := dg.spans[:0:0]
	inserted := false
	for _, x := range dg.spans {
		switch {
		case x.end < s.start:
			out = append(out, x)
		case s.end < x.start:
			if !inserted {
				out = append(out, s)
				inserted = true
			}
			out = append(out, x)
		default:
			s = span{min(s.start, x.start), max(s.end, x.end)}
		}
	}
	if !inserted {
		out = append(out, s)
	}
	dg.spans = append(dg.spans[:0], out...)
}

// build writes the reassembled datagram into r.out: the first fragment's
// header with lengths and fragment fields fixed, then the payload.
func (r *reassembler) build(dg *fragDatagram) []byte {
	out := append(r.out[:0], dg.hdr...)
	out = append(out, dg.data[:dg.total]...)
	if dg.nhOff < 0 { // IPv4
		binary.BigEndian.PutUint16(out[2:4], uint16(len(out)))
		out[6] &= 0x40 // keep DF, clear MF and the offset
		out[7] = 0
		out[10], out[11] = 0, 0
		binary.BigEndian.PutUint16(out[10:12], ^fold(sum16(out[:len(dg.hdr)], 0)))
	} else {
		binary.BigEndian.PutUint16(out[4:6], uint16(len(out)-40))
		out[dg.nhOff] = dg.next
	}
	r.out = out
	return out
}
