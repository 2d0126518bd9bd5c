package ingest

import (
	"encoding/binary"
	"fmt"
	"io"
)

// pcapng block types the guard inspects.
const (
	ngSectionHeader  = 0x0A0D0D0A
	ngPacket         = 2 // obsolete Packet Block
	ngSimplePacket   = 3
	ngEnhancedPacket = 6
	ngByteOrderMagic = 0x1A2B3C4D
	ngMaxBlock       = 16 << 20 // libpcap's limit on a pcapng block
)

// maxSnaplen is libpcap's MAXIMUM_SNAPLEN: no record may carry more.
const maxSnaplen = 262144

// ngGuard sits between a pcapng file and pcapgo.NgReader. It follows the
// block structure as the bytes stream through and
//   - refuses impossible blocks before NgReader sees them (NgReader sizes its
//     packet buffer from the record's capture length, unchecked), and
//   - turns an end of file inside a block into io.ErrUnexpectedEOF, which
//     NgReader would otherwise report as a clean io.EOF.
//
// It never copies or reorders data.
type ngGuard struct {
	r        io.Reader
	big      bool     // byte order of the current section
	hdr      [28]byte // leading bytes of the current block
	hdrN     int      // bytes of hdr collected
	need     int      // bytes of hdr to collect before the block can be checked
	remain   int64    // bytes of the current block after the collected header
	off      int64    // stream offset of the next byte
	blockOff int64    // stream offset of the current block
	pending  error    // returned by the next Read
}

func newNgGuard(r io.Reader) *ngGuard { return &ngGuard{r: r, need: 8} }

func (g *ngGuard) u32(b []byte) uint32 {
	if g.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// Read implements io.Reader.
func (g *ngGuard) Read(p []byte) (int, error) {
	if g.pending != nil {
		return 0, g.pending
	}
	n, err := g.r.Read(p)
	if ok, cut := g.scan(p[:n]); !ok {
		// Deliver the bytes before the bad block; fail on the next call.
		if cut > 0 {
			return cut, nil
		}
		return 0, g.pending
	}
	if err == io.EOF && (g.hdrN > 0 || g.remain > 0) {
		err = fmt.Errorf("pcapng block at offset %d: %w", g.blockOff, io.ErrUnexpectedEOF)
	}
	if err != nil && n > 0 {
		g.pending = err
		return n, nil
	}
	return n, err
}

// scan advances the block state over b. On an impossible block it sets
// g.pending and returns false with the number of bytes of b that precede the
// block (0 if the block started in an earlier chunk).
func (g *ngGuard) scan(b []byte) (ok bool, cut int) {
	i := 0
	for i < len(b) {
		if g.hdrN < g.need {
			if g.hdrN == 0 {
				g.blockOff = g.off + int64(i)
			}
			k := copy(g.hdr[g.hdrN:g.need], b[i:])
			g.hdrN += k
			i += k
			if g.hdrN < g.need {
				break
			}
			if err := g.check(); err != nil {
				g.pending = fmt.Errorf("%w: pcapng block at offset %d: %w", ErrCorrupt, g.blockOff, err)
				start := int(g.blockOff - g.off)
				g.off += int64(i)
				return false, max(start, 0)
			}
			if g.hdrN < g.need { // check asked for more header bytes
				continue
			}
		} else {
			k := int(min(g.remain, int64(len(b)-i)))
			g.remain -= int64(k)
			i += k
		}
		if g.hdrN == g.need && g.remain == 0 {
			g.hdrN, g.need = 0, 8 // next block
		}
	}
	g.off += int64(len(b))
	return true, 0
}

// check validates the collected header bytes. It either asks for more
// (raising g.need) or sets g.remain to the rest of the block.
func (g *ngGuard) check() error {
	typ := g.u32(g.hdr[0:4]) // the section header type reads the same in both orders
	if typ == ngSectionHeader {
		if g.need < 12 {
			g.need = 12
			return nil
		}
		switch {
		case binary.BigEndian.Uint32(g.hdr[8:12]) == ngByteOrderMagic:
			g.big = true
		case binary.LittleEndian.Uint32(g.hdr[8:12]) == ngByteOrderMagic:
			g.big = false
		default:
			return fmt.Errorf("bad byte-order magic %x", g.hdr[8:12])
		}
	}
	length := int64(g.u32(g.hdr[4:8]))
	if length < 12 || length%4 != 0 || length > ngMaxBlock {
		return fmt.Errorf("block type %d has impossible length %d", typ, length)
	}
	switch typ {
	case ngEnhancedPacket, ngPacket:
		if length < 32 {
			return fmt.Errorf("packet block of length %d", length)
		}
		if g.need < 28 {
			g.need = 28
			return nil
		}
		capLen := int64(g.u32(g.hdr[20:24]))
		if capLen > length-32 || capLen > maxSnaplen {
			return fmt.Errorf("packet of %d bytes in a block of %d", capLen, length)
		}
	case ngSimplePacket:
		if length < 16 {
			return fmt.Errorf("simple packet block of length %d", length)
		}
		if g.need < 12 {
			g.need = 12
			return nil
		}
		if origLen := g.u32(g.hdr[8:12]); origLen > maxSnaplen {
			return fmt.Errorf("simple packet of %d bytes", origLen)
		}
	}
	g.remain = length - int64(g.need)
	return nil
}
