package packet

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// sameDecode decodes data with the fast path and with the gopacket path
// only, and reports a difference in the result or the error class.
func sameDecode(t testing.TB, fast, slow *Decoder, data []byte) {
	t.Helper()
	var a, b Packet
	ea := fast.Decode(data, ts0, &a)
	eb := slow.Decode(data, ts0, &b)
	class := func(err error) error {
		for _, e := range []error{ErrNotIP, ErrFragment, ErrMalformed} {
			if errors.Is(err, e) {
				return e
			}
		}
		return err
	}
	if class(ea) != class(eb) {
		t.Fatalf("fast path error %v, gopacket path %v, frame %x", ea, eb, data)
	}
	if ea == nil && (!a.Equal(&b) || !bytes.Equal(a.Raw, b.Raw)) {
		t.Fatalf("fast path %+v\ngopacket path %+v\nframe %x", a, b, data)
	}
}

func decoderPair(t testing.TB, link layers.LinkType) (*Decoder, *Decoder) {
	fast, err := NewDecoder(link)
	if err != nil {
		t.Fatal(err)
	}
	slow, _ := NewDecoder(link)
	slow.slow = true
	return fast, slow
}

// TestFastPathMatches decodes every frame of the shared traces with both
// paths.
func TestFastPathMatches(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(tracesDir(t), "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no traces: %v", err)
	}
	tunnels, _ := filepath.Glob(filepath.Join(tracesDir(t), "..", "tunnels", "traces", "*.pcap"))
	files = append(files, tunnels...)
	total, viaFast := 0, 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			t.Fatal(err)
		}
		fast, slow := decoderPair(t, r.LinkType())
		for {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			sameDecode(t, fast, slow, data)
			var p Packet
			total++
			if fast.fast(r.LinkType(), data, &p) {
				viaFast++
			}
		}
		fh.Close()
	}
	if viaFast == 0 || viaFast == total {
		t.Errorf("%d of %d frames took the fast path; both paths must be exercised", viaFast, total)
	}
}

// FuzzFastPath checks the fast path against the gopacket path on arbitrary
// frames of every link type.
func FuzzFastPath(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		for i := range fuzzLinks {
			f.Add(uint8(i), seed)
		}
	}
	type pair struct{ fast, slow *Decoder }
	pairs := make([]pair, len(fuzzLinks))
	for i, lt := range fuzzLinks {
		pairs[i].fast, pairs[i].slow = decoderPair(f, lt)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		pr := pairs[int(which)%len(pairs)]
		sameDecode(t, pr.fast, pr.slow, data)
	})
}
