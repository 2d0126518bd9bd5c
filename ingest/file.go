package ingest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"shoal/packet"
)

// File magics, read little-endian from the first four bytes.
const (
	magicMicros     = 0xa1b2c3d4
	magicNanos      = 0xa1b23c4d
	magicMicrosSwap = 0xd4c3b2a1
	magicNanosSwap  = 0x4d3cb2a1
	magicPcapng     = 0x0a0d0d0a
	magicGzipLE16   = 0x8b1f // gzip-compressed classic pcap (pcapgo decompresses it)
	fileBufferSize  = 1 << 16
	formatPcap      = "pcap"
	formatPcapng    = "pcapng"
	formatPcapGzip  = "pcap.gz"
)

// packetReader is the part of pcapgo.Reader and pcapgo.NgReader a File uses.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// File is a pcap or pcapng capture file opened for reading. It is read once,
// by Run; it is not safe for concurrent use.
type File struct {
	path   string
	format string
	f      io.Closer // nil once closed
	r      packetReader
	pcap   *pcapReader // r, when it is one (it cannot panic)
	dec    *packet.Decoder
	used   bool
}

// OpenFile opens a capture file: classic pcap (either byte order,
// microsecond or nanosecond timestamps, optionally gzip-compressed) or
// pcapng, chosen by the file's magic number. A missing, unreadable or
// non-capture file gives an error naming the file and wrapping
// ErrNotCapture (and the operating system's error, if any); a link type the
// decoder does not support gives an error wrapping
// packet.ErrUnsupportedLinkType.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named once, below
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrNotCapture, path, err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		_ = f.Close()
		return nil, fmt.Errorf("%w: %s: is a directory", ErrNotCapture, path)
	}
	file, err := newFile(path, f)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	file.f = f
	return file, nil
}

// newFile reads the capture header from r; path only names it in errors.
func newFile(path string, r io.Reader) (file *File, err error) {
	defer func() {
		// pcapgo indexes option values without checking their length.
		if v := recover(); v != nil {
			file, err = nil, fmt.Errorf("%w: %s: bad capture header: reader panic: %v", ErrNotCapture, path, v)
		}
	}()
	br := bufio.NewReaderSize(r, fileBufferSize)
	head, err := br.Peek(4)
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: %s: only %d bytes, too short for a capture header", ErrNotCapture, path, len(head))
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrNotCapture, path, err)
	}
	file = &File{path: path, f: nopCloser{}}
	switch magic := binary.LittleEndian.Uint32(head); {
	case magic == magicMicros || magic == magicNanos || magic == magicMicrosSwap || magic == magicNanosSwap ||
		binary.LittleEndian.Uint16(head) == magicGzipLE16:
		file.format = formatPcap
		if binary.LittleEndian.Uint16(head) == magicGzipLE16 {
			file.format = formatPcapGzip
		}
		r, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: bad %s header: %w", ErrNotCapture, path, file.format, err)
		}
		// Tolerate records longer than the header's snap length, as libpcap
		// and tcpdump do, up to libpcap's maximum.
		r.SetSnaplen(maxSnaplen)
		file.r = r
		if file.format == formatPcap {
			// Uncompressed: read records straight out of br's buffer
			// (pcapgo read the header from br itself: bufio.NewReader
			// returns a *bufio.Reader that is large enough unchanged).
			file.pcap = newPcapReader(br, magic, r.LinkType())
			file.r = file.pcap
		}
	case magic == magicPcapng:
		file.format = formatPcapng
		r, err := pcapgo.NewNgReader(newNgGuard(br), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: bad pcapng header: %w", ErrNotCapture, path, err)
		}
		file.r = r
	default:
		return nil, fmt.Errorf("%w: %s: unknown magic number %#08x (want pcap or pcapng)", ErrNotCapture, path, magic)
	}
	dec, err := packet.NewDecoder(file.r.LinkType())
	if err != nil {
		return nil, fmt.Errorf("ingest: %s: %w", path, err)
	}
	file.dec = dec
	return file, nil
}

// nopCloser stands in for the file of a capture read from memory.
type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// Path returns the file name given to OpenFile.
func (f *File) Path() string { return f.path }

// Format returns "pcap", "pcap.gz" or "pcapng".
func (f *File) Format() string { return f.format }

// LinkType returns the capture's link type.
func (f *File) LinkType() layers.LinkType { return f.r.LinkType() }

// Close closes the file. It is safe to call more than once.
func (f *File) Close() error {
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	return err
}

// Run reads every packet, decodes it and calls fn with the decoded packet
// (WireLen is the record's original length). Malformed frames, frames
// without IP and fragments are counted and skipped. At a clean end of file it
// returns nil. A file that ends inside a record gives an error wrapping
// ErrTruncated that names the file and the count of complete packets, all of
// which were delivered; an impossible record gives ErrCorrupt likewise.
// pcapng packets on interfaces whose link type differs from the first
// interface's are skipped without counting, as libpcap does.
func (f *File) Run(ctx context.Context, fn func(*packet.Packet)) (Stats, error) {
	var st Stats
	if f.used {
		return st, fmt.Errorf("%w: %s", ErrUsed, f.path)
	}
	f.used = true
	if f.f == nil {
		return st, fmt.Errorf("ingest: %s: %w", f.path, os.ErrClosed)
	}
	done := ctx.Done()
	var p packet.Packet
	for {
		select {
		case <-done:
			return st, ctx.Err()
		default:
		}
		var data []byte
		var ci gopacket.CaptureInfo
		var err error
		if f.pcap != nil {
			data, ci, err = f.pcap.ZeroCopyReadPacketData()
		} else {
			data, ci, err = f.read()
		}
		if err != nil {
			return st, f.readError(err, ci, st.Packets)
		}
		st.Packets++
		st.Bytes += uint64(ci.Length)
		if st.count(f.dec.Decode(data, ci.Timestamp, &p)) {
			p.WireLen = ci.Length
			st.Delivered++
			fn(&p)
		}
	}
}

// read reads the next record. pcapgo's pcapng reader can panic on garbage
// (option values indexed without length checks, a zero timestamp divisor);
// that becomes ErrCorrupt.
func (f *File) read() (data []byte, ci gopacket.CaptureInfo, err error) {
	defer func() {
		if v := recover(); v != nil {
			data, ci, err = nil, gopacket.CaptureInfo{}, fmt.Errorf("%w: reader panic: %v", ErrCorrupt, v)
		}
	}()
	return f.r.ZeroCopyReadPacketData()
}

// readError classifies the error that ended reading: nil for a clean end of
// file, ErrTruncated or ErrCorrupt otherwise.
func (f *File) readError(err error, ci gopacket.CaptureInfo, complete uint64) error {
	switch {
	case errors.Is(err, io.EOF) && ci.Timestamp.IsZero() && ci.CaptureLength == 0:
		return nil // end of file between records
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %s: file ends inside the record after %d complete packets", ErrTruncated, f.path, complete)
	case errors.Is(err, ErrCorrupt):
		return fmt.Errorf("ingest: %s: after %d complete packets: %w", f.path, complete, err)
	default:
		return fmt.Errorf("%w: %s: after %d complete packets: %w", ErrCorrupt, f.path, complete, err)
	}
}

// pcapReader reads the records of an uncompressed classic pcap file (whose
// header pcapgo already read) without copying a record that fits in the
// buffer. It returns what pcapgo.Reader.ZeroCopyReadPacketData returns for
// the same bytes, errors included.
type pcapReader struct {
	br       *bufio.Reader
	order    binary.ByteOrder
	nanos    uint32 // the factor from the file's fraction of a second to ns
	linkType layers.LinkType
	buf      [16]byte
	big      []byte // a record longer than br's buffer
}

func newPcapReader(br *bufio.Reader, magic uint32, lt layers.LinkType) *pcapReader {
	r := &pcapReader{br: br, order: binary.LittleEndian, nanos: 1000, linkType: lt}
	if magic == magicMicrosSwap || magic == magicNanosSwap {
		r.order = binary.BigEndian
	}
	if magic == magicNanos || magic == magicNanosSwap {
		r.nanos = 1
	}
	return r
}

func (r *pcapReader) LinkType() layers.LinkType { return r.linkType }

func (r *pcapReader) ZeroCopyReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	var h []byte
	if h, _ = r.br.Peek(16); len(h) == 16 {
		_, _ = r.br.Discard(16)
	} else {
		// io.ReadFull's errors, as pcapgo reports them.
		if _, err = io.ReadFull(r.br, r.buf[:]); err != nil {
			return nil, ci, err
		}
		h = r.buf[:]
	}
	o := r.order
	ci.Timestamp = time.Unix(int64(o.Uint32(h[0:4])), int64(o.Uint32(h[4:8])*r.nanos)).UTC()
	ci.CaptureLength = int(o.Uint32(h[8:12]))
	ci.Length = int(o.Uint32(h[12:16]))
	if ci.CaptureLength > maxSnaplen {
		return nil, ci, fmt.Errorf("capture length exceeds snap length: %d > %d", ci.CaptureLength, maxSnaplen)
	}
	if ci.CaptureLength > ci.Length {
		return nil, ci, fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	}
	if d, perr := r.br.Peek(ci.CaptureLength); perr == nil {
		_, _ = r.br.Discard(ci.CaptureLength)
		return d, ci, nil
	}
	if cap(r.big) < ci.CaptureLength {
		r.big = make([]byte, ci.CaptureLength)
	}
	data = r.big[:ci.CaptureLength]
	_, err = io.ReadFull(r.br, data)
	return data, ci, err
}
