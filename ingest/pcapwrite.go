package ingest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"shoal/packet"
)

// ErrNotWritable is wrapped by PcapWriter.Write for a packet it cannot
// encode (a protocol other than TCP and UDP, or addresses of mixed
// families).
var ErrNotWritable = errors.New("ingest: packet cannot be written")

// pcapSnapLen is the snap length a PcapWriter declares.
const pcapSnapLen = 65535

// PcapWriter writes packets as Ethernet frames (IPv4 or IPv6, TCP or UDP,
// with valid lengths and checksums) to a classic pcap file with nanosecond
// timestamps, which Zeek, tcpdump and OpenFile read. It is what turns the
// generator's traffic into a capture file. It is not safe for concurrent
// use.
type PcapWriter struct {
	w     *bufio.Writer
	frame []byte
	n     uint64
}

// NewPcapWriter writes the file header to w and returns a writer. Call
// Flush at the end.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) {
	pw := &PcapWriter{w: bufio.NewWriterSize(w, 1<<20), frame: make([]byte, 0, 2048)}
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], magicNanos)
	binary.LittleEndian.PutUint16(hdr[4:], 2) // version 2.4
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], pcapSnapLen)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // LINKTYPE_ETHERNET
	if _, err := pw.w.Write(hdr[:]); err != nil {
		return nil, fmt.Errorf("ingest: pcap header: %w", err)
	}
	return pw, nil
}

// Packets returns how many packets were written.
func (pw *PcapWriter) Packets() uint64 { return pw.n }

// Write appends p as one record. The payload written is p.Payload, padded
// with zeros to p.PayloadLen.
func (pw *PcapWriter) Write(p *packet.Packet) error {
	f, err := appendFrame(pw.frame[:0], p)
	if err != nil {
		return err
	}
	pw.frame = f
	var rec [16]byte
	ns := p.TS.UnixNano()
	binary.LittleEndian.PutUint32(rec[0:], uint32(ns/1e9))
	binary.LittleEndian.PutUint32(rec[4:], uint32(ns%1e9))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(f)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(f)))
	if _, err := pw.w.Write(rec[:]); err != nil {
		return fmt.Errorf("ingest: pcap record: %w", err)
	}
	if _, err := pw.w.Write(f); err != nil {
		return fmt.Errorf("ingest: pcap record: %w", err)
	}
	pw.n++
	return nil
}

// Flush writes out buffered records.
func (pw *PcapWriter) Flush() error {
	if err := pw.w.Flush(); err != nil {
		return fmt.Errorf("ingest: pcap flush: %w", err)
	}
	return nil
}

// Fixed MAC addresses of written frames: locally administered.
var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 1}
	macB = [6]byte{0x02, 0, 0, 0, 0, 2}
)

// appendFrame encodes p as an Ethernet frame, padded to the minimum frame
// size.
func appendFrame(b []byte, p *packet.Packet) ([]byte, error) {
	if p.Proto != packet.ProtoTCP && p.Proto != packet.ProtoUDP {
		return b, fmt.Errorf("%w: ip protocol %d", ErrNotWritable, p.Proto)
	}
	v6 := p.Src.Is6()
	if p.Dst.Is6() != v6 || !p.Src.IsValid() || !p.Dst.IsValid() {
		return b, fmt.Errorf("%w: addresses %v and %v", ErrNotWritable, p.Src, p.Dst)
	}
	l4 := tcpHdrLen
	if p.Proto == packet.ProtoUDP {
		l4 = udpHdrLen
	}
	plen := max(p.PayloadLen, len(p.Payload))
	b = append(b, macB[:]...)
	b = append(b, macA[:]...)
	ipStart := len(b) + 2
	if v6 {
		b = append(b, 0x86, 0xdd, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(l4+plen))
		b = append(b, p.Proto, 64)
		s, d := p.Src.As16(), p.Dst.As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	} else {
		b = append(b, 0x08, 0x00, 0x45, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(20+l4+plen))
		b = append(b, 0, 0, 0x40, 0, 64, p.Proto, 0, 0) // id 0, DF, TTL 64, checksum later
		s, d := p.Src.As4(), p.Dst.As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
		binary.BigEndian.PutUint16(b[ipStart+10:], ^sum16(0, b[ipStart:ipStart+20]))
	}
	l4Start := len(b)
	b = binary.BigEndian.AppendUint16(b, p.SrcPort)
	b = binary.BigEndian.AppendUint16(b, p.DstPort)
	if p.Proto == packet.ProtoTCP {
		b = binary.BigEndian.AppendUint32(b, p.Seq)
		b = binary.BigEndian.AppendUint32(b, p.Ack)
		b = append(b, 5<<4, p.Flags)
		b = binary.BigEndian.AppendUint16(b, p.Window)
		b = append(b, 0, 0, 0, 0) // checksum, urgent pointer
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(udpHdrLen+plen))
		b = append(b, 0, 0)
	}
	b = append(b, p.Payload...)
	for range plen - len(p.Payload) {
		b = append(b, 0)
	}
	// Transport checksum over the pseudo-header and the segment.
	var c uint32
	if v6 {
		c = uint32(sum16(0, b[ipStart+8:ipStart+40]))
	} else {
		c = uint32(sum16(0, b[ipStart+12:ipStart+20]))
	}
	c += uint32(p.Proto) + uint32(len(b)-l4Start)
	ck := ^sum16(c, b[l4Start:])
	if p.Proto == packet.ProtoUDP && ck == 0 {
		ck = 0xffff
	}
	off := 16
	if p.Proto == packet.ProtoUDP {
		off = 6
	}
	binary.BigEndian.PutUint16(b[l4Start+off:], ck)
	for len(b) < minFrame {
		b = append(b, 0)
	}
	return b, nil
}

// sum16 adds b as big-endian 16-bit words to the running one's-complement
// sum c and folds it to 16 bits.
func sum16(c uint32, b []byte) uint16 {
	for len(b) >= 2 {
		c += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		c += uint32(b[0]) << 8
	}
	for c > 0xffff {
		c = c>>16 + c&0xffff
	}
	return uint16(c)
}
