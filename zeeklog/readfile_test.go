package zeeklog

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestFilesAndReadFile(t *testing.T) {
	for _, format := range []Format{FormatTSV, FormatJSON} {
		t.Run(string(format), func(t *testing.T) {
			dir := t.TempDir()
			f, _ := openTest(t, FileConfig{Dir: dir, Format: format}, testNow)
			for i := range 3 {
				writeRows(t, f, 10*i, 10*i+10)
				commit(t, f)
				name, err := f.Rotate(testNow.Add(time.Duration(i+1)*time.Minute), "m")
				if err != nil {
					t.Fatal(err)
				}
				if i == 1 {
					if _, err := Compress(name); err != nil {
						t.Fatal(err)
					}
				}
			}
			writeRows(t, f, 30, 35)
			commit(t, f)
			names, err := Files(dir, "x")
			if err != nil || len(names) != 4 || names[3] != filepath.Join(dir, "x.log") {
				t.Fatalf("Files = %v, %v", names, err)
			}
			var got []string
			for _, name := range names {
				l, err := ReadFile(name, []string{"n", "s"})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range l.Rows {
					got = append(got, r[0])
				}
			}
			want := make([]string, 35)
			for i := range want {
				want[i] = strconv.Itoa(i)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("rows in file order: %v", got)
			}
			// A partial last line is reported.
			fd, _ := os.OpenFile(names[3], os.O_WRONLY|os.O_APPEND, 0)
			_, _ = fd.WriteString("35\tro")
			fd.Close()
			if _, err := ReadFile(names[3], []string{"n", "s"}); !errors.Is(err, ErrMalformed) {
				t.Fatalf("partial line: %v", err)
			}
		})
	}
}
