package ingest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"shoal/packet"
)

// FuzzReadCapture feeds arbitrary bytes to the capture reader (pcap and
// pcapng, through the block guard): it must never panic, must fail only with
// the package's sentinels, and must only deliver decoded packets.
func FuzzReadCapture(f *testing.F) {
	full, err := os.ReadFile(wikipedia(f))
	if err != nil {
		f.Fatal(err)
	}
	link, recs := readRecords(f, wikipedia(f))
	ng := writeNg(f, f.TempDir()+"/seed.pcapng", link, recs[:6])
	f.Add(full[:600])
	f.Add(swapPcap(full[:24+16+60], true))
	f.Add(ng)
	f.Add(ng[:100])
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := newFile("fuzz", bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrNotCapture) && !errors.Is(err, packet.ErrUnsupportedLinkType) {
				t.Fatalf("open error without sentinel: %v", err)
			}
			return
		}
		st, err := file.Run(context.Background(), func(p *packet.Packet) {
			if !p.Src.IsValid() || !p.Dst.IsValid() {
				t.Fatalf("delivered an undecoded packet %+v", p)
			}
		})
		if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("run error without sentinel: %v", err)
		}
		if st.Delivered+st.Malformed+st.NotIP+st.Skipped != st.Packets {
			t.Fatalf("counters do not add up: %+v", st)
		}
	})
}
