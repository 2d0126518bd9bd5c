package zeeklog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// ReadFile reads a Zeek log file of either format, plain or gzip (told by
// its first bytes): TSV when it starts with '#', else JSON lines, whose
// columns are fields (see ReadJSON; for TSV fields is not used). A file
// that does not end with a newline is reported as malformed (a partial
// last line). Safe for concurrent use.
func ReadFile(name string, fields []string) (*Log, error) {
	fd, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("zeeklog: read %s: %w", name, err)
	}
	defer fd.Close()
	br := bufio.NewReader(fd)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("zeeklog: read %s: %w", name, err)
		}
		defer zr.Close()
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("zeeklog: read %s: %w", name, err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return nil, fmt.Errorf("zeeklog: read %s: %w", name, &SyntaxError{Line: bytes.Count(b, []byte("\n")) + 1, Msg: "partial last line"})
	}
	var l *Log
	if len(b) > 0 && b[0] == '#' {
		l, err = ReadTSV(bytes.NewReader(b))
	} else {
		l, err = ReadJSON(bytes.NewReader(b), fields)
	}
	if err != nil {
		return nil, fmt.Errorf("zeeklog: read %s: %w", name, err)
	}
	return l, nil
}

// Files returns every file of the log path in the log directory dir:
// its archives under zeekctl's names (any suffix, plain or gzip), oldest
// first, then the live <path>.log if it exists. A checker reads them all
// to see every row a manager wrote.
func Files(dir, path string) ([]string, error) {
	names, err := archives(dir, path)
	if err != nil {
		return nil, err
	}
	slices.Reverse(names)
	if live := filepath.Join(dir, path+".log"); exists(live) {
		names = append(names, live)
	}
	return names, nil
}
