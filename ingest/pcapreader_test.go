package ingest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcapgo"
)

// TestPcapReaderMatchesPcapgo reads every shared trace, and a file with
// records larger than the read buffer, with the zero-copy reader and with
// pcapgo: same records, timestamps, lengths and bytes.
func TestPcapReaderMatchesPcapgo(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(zeekTraces(t), "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no traces: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.pcap")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(262144, 1); err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{60, fileBufferSize - 16, fileBufferSize + 1, 200000, 61} {
		data := bytes.Repeat([]byte{byte(i + 1)}, n)
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)), CaptureLength: n, Length: n}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	for _, name := range append(files, big) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			fh, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			ref, err := pcapgo.NewReader(fh)
			if err != nil {
				t.Skipf("not a classic pcap: %v", err)
			}
			file, err := OpenFile(name)
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			r := file.pcap
			if r == nil {
				t.Fatalf("%s is a classic pcap but not read with the zero-copy reader", name)
			}
			n := 0
			for {
				want, wci, werr := ref.ReadPacketData()
				got, gci, gerr := r.ZeroCopyReadPacketData()
				if errors.Is(werr, io.EOF) || errors.Is(gerr, io.EOF) {
					if !errors.Is(werr, io.EOF) || !errors.Is(gerr, io.EOF) {
						t.Fatalf("record %d: pcapgo %v, ours %v", n, werr, gerr)
					}
					break
				}
				if werr != nil || gerr != nil {
					t.Fatalf("record %d: pcapgo %v, ours %v", n, werr, gerr)
				}
				if !wci.Timestamp.Equal(gci.Timestamp) || wci.CaptureLength != gci.CaptureLength ||
					wci.Length != gci.Length || !bytes.Equal(want, got) {
					t.Fatalf("record %d differs: %+v vs %+v", n, wci, gci)
				}
				n++
			}
			t.Logf("%d records equal", n)
		})
	}
}
