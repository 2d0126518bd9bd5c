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
		data, ci, err := f.read()
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
