package check

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"shoal/zeeklog"
)

// FileProblem is a file that is not intact.
type FileProblem struct {
	File    string
	Problem string
}

// file is one log file as read: its rows, still in TSV rendering.
type file struct {
	name   string
	log    *zeeklog.Log
	fields map[string]int
}

func (f *file) get(row []string, field string) (string, bool) {
	i, ok := f.fields[field]
	if !ok || i >= len(row) {
		return "", false
	}
	return row[i], true
}

// readLog reads every file of the log path in each of dirs (archives oldest
// first, then the live file). fields are the columns read from JSON files
// (TSV files carry their own). Files that are not intact are reported; the
// rows of a file with a partial last line are still read (the partial line
// is not a row), a file that cannot be parsed contributes no rows.
func readLog(dirs []string, path string, fields []string) ([]*file, []FileProblem, error) {
	var files []*file
	var problems []FileProblem
	for _, dir := range dirs {
		names, err := zeeklog.Files(dir, path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("check: list %s in %s: %w", path, dir, err)
		}
		for _, name := range names {
			l, probs, err := readFile(name, fields)
			if err != nil {
				return nil, nil, err
			}
			for _, p := range probs {
				problems = append(problems, FileProblem{File: name, Problem: p})
			}
			if l == nil {
				continue
			}
			f := &file{name: name, log: l, fields: map[string]int{}}
			for i, fl := range l.Fields {
				f.fields[fl] = i
			}
			files = append(files, f)
		}
	}
	return files, problems, nil
}

// readFile reads one file and says what is wrong with it. A nil Log with no
// error means the file could not be parsed (a problem says why).
func readFile(name string, fields []string) (*zeeklog.Log, []string, error) {
	b, err := content(name)
	if err != nil {
		return nil, []string{err.Error()}, nil
	}
	var problems []string
	if len(b) > 0 && b[len(b)-1] != '\n' {
		problems = append(problems, fmt.Sprintf("partial last line (line %d: %.60q)", bytes.Count(b, []byte("\n"))+1, lastLine(b)))
		b = b[:bytes.LastIndexByte(b, '\n')+1]
	}
	if len(b) == 0 {
		return nil, append(problems, "empty file"), nil
	}
	var l *zeeklog.Log
	if b[0] == '#' {
		l, err = zeeklog.ReadTSV(bytes.NewReader(b))
		if err == nil {
			problems = append(problems, tsvHeaders(l)...)
		}
	} else {
		l, err = zeeklog.ReadJSON(bytes.NewReader(b), fields)
	}
	if err != nil {
		return nil, append(problems, "unreadable: "+err.Error()), nil
	}
	return l, problems, nil
}

// tsvHeaders reports the headers a TSV log lacks.
func tsvHeaders(l *zeeklog.Log) []string {
	var missing []string
	if l.Path == "" {
		missing = append(missing, "#path")
	}
	if l.OpenTime == "" {
		missing = append(missing, "#open")
	}
	if l.Types == nil {
		missing = append(missing, "#types")
	}
	if len(missing) == 0 {
		return nil
	}
	return []string{"missing header " + strings.Join(missing, ", ")}
}

// content returns the file's bytes, decompressed when it is gzip.
func content(name string) ([]byte, error) {
	fd, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer fd.Close()
	br := bufio.NewReader(fd)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return b, nil
}

func lastLine(b []byte) []byte {
	return b[bytes.LastIndexByte(b, '\n')+1:]
}
