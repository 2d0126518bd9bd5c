package zeekin

import (
	"bytes"
	"errors"
	"io"
)

// MaxLine is the longest line accepted, newline excluded. A longer line is
// reported as malformed and skipped up to its newline.
const MaxLine = 1 << 20

// errTooLong is returned once per overlong line by lineReader.next.
var errTooLong = errors.New("line too long")

// lineReader splits a byte stream into lines. Unlike bufio.Scanner it keeps
// an unterminated last line buffered instead of returning it, so a caller
// that tails a growing file can call next again after more data arrives,
// and a caller that reads a whole file can tell a truncated last line from
// a complete one (see partial).
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int  // buf[start:end] is unread
	max        int  // longest line
	skipping   bool // discarding the rest of an overlong line
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: r, max: max}
}

// next returns the next complete line without its "\n". The slice is valid
// until the following call. At the end of the data it returns io.EOF and
// keeps any unterminated bytes (see partial); after more data is appended
// to the underlying file, next can be called again. A line longer than max
// yields errTooLong once and is then discarded up to its newline. Other
// errors come from the underlying reader.
func (lr *lineReader) next() ([]byte, error) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.start:lr.end], '\n'); i >= 0 {
			line := lr.buf[lr.start : lr.start+i]
			lr.start += i + 1
			if lr.skipping {
				lr.skipping = false
				continue
			}
			if len(line) > lr.max {
				return nil, errTooLong
			}
			return line, nil
		}
		if n := lr.end - lr.start; n > lr.max {
			// No newline within max bytes: drop what we have and skip on.
			lr.start, lr.end = 0, 0
			if !lr.skipping {
				lr.skipping = true
				return nil, errTooLong
			}
		}
		if err := lr.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more data, compacting and growing the buffer as needed. It
// returns io.EOF when the reader had nothing more.
func (lr *lineReader) fill() error {
	if lr.start > 0 {
		copy(lr.buf, lr.buf[lr.start:lr.end])
		lr.end -= lr.start
		lr.start = 0
	}
	if lr.end == len(lr.buf) {
		size := max(2*len(lr.buf), 64<<10)
		size = min(size, lr.max+2)
		if size <= lr.end {
			size = lr.end + 4096
		}
		nb := make([]byte, size)
		copy(nb, lr.buf[:lr.end])
		lr.buf = nb
	}
	for range 100 {
		n, err := lr.r.Read(lr.buf[lr.end:])
		lr.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// partial returns the buffered bytes of an unterminated line (nil if none,
// or if they belong to an overlong line being skipped).
func (lr *lineReader) partial() []byte {
	if lr.skipping || lr.start == lr.end {
		return nil
	}
	return lr.buf[lr.start:lr.end]
}

// reset drops all buffered data, for reading a file again from its start.
func (lr *lineReader) reset(r io.Reader) {
	lr.r = r
	lr.start, lr.end = 0, 0
	lr.skipping = false
}
