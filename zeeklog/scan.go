package zeeklog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

// scanned is what reading a log file back tells.
type scanned struct {
	header   bool   // TSV: the complete header of this path, fields and types
	openTime string // TSV: the "#open" value, "" if absent
	closed   bool   // TSV: a "#close" line was seen
	rows     int    // complete rows
}

// scanLog reads a log written in enc's format and feeds the hash of every
// complete row to tail (nil: count only). A last line without a newline
// is not a row. TSV "#" lines are checked against the header enc writes.
func scanLog(r io.Reader, enc *encoder, tail *hashTail) (scanned, error) {
	want := bytes.SplitAfter(enc.appendHeader(nil, time.Time{}), []byte("\n"))
	want = want[:len(want)-1] // SplitAfter leaves an empty tail
	var (
		s     scanned
		hdr   int // header lines seen
		hdrOK = enc.format == FormatTSV
		d     = xxhash.New()
		br    = bufio.NewReaderSize(r, 64<<10)
		long  []byte
	)
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long)+len(chunk) > maxLine {
				return s, fmt.Errorf("zeeklog: line longer than %d bytes", maxLine)
			}
			long = append(long, chunk...)
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break // a trailing partial line is not a row
			}
			return s, err
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if enc.format == FormatTSV && len(line) > 0 && line[0] == '#' {
			switch {
			case bytes.HasPrefix(line, []byte("#close")):
				s.closed = true
			case hdr < len(want):
				if v, ok := bytes.CutPrefix(line, []byte("#open\t")); ok && bytes.HasPrefix(want[hdr], []byte("#open\t")) {
					s.openTime = strings.TrimSuffix(string(v), "\n")
				} else if !bytes.Equal(line, want[hdr]) {
					hdrOK = false
				}
				hdr++
			}
			continue
		}
		if hdr < len(want) {
			hdrOK = false // a row before the header was complete
		}
		s.rows++
		if tail != nil {
			tail.push(rowHash(d, enc.path, line[:len(line)-1]))
		}
	}
	s.header = hdrOK && hdr == len(want)
	return s, nil
}

// cutPartialLine cuts whatever follows the last newline of f, whose size
// is size, and returns the new size. A file of only a partial line becomes
// empty.
func cutPartialLine(f *os.File, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil {
			return size, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			end = start + int64(i) + 1
			break
		}
		end = start
	}
	if end == size {
		return size, nil
	}
	if err := f.Truncate(end); err != nil {
		return size, err
	}
	return end, nil
}
