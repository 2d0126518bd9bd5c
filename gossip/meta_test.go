package gossip

import (
	"errors"
	"strings"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	tests := map[string]Meta{
		"zero":     {},
		"datanode": {Role: "datanode", DataAddr: "127.0.0.1:9000", BootID: 1<<63 + 5, Proto: ProtoVersion, RingHash: 0xdeadbeef, SettingsHash: 42, StartedAt: 1_700_000_000_000_000_000},
		"negative": {Role: "worker", StartedAt: -1},
		"unicode":  {Role: "manager", DataAddr: "[::1]:9000 ünïcode"},
	}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != metaVersion {
				t.Fatalf("first byte %d, want version %d", b[0], metaVersion)
			}
			got, err := DecodeMeta(b)
			if err != nil {
				t.Fatal(err)
			}
			if got != m {
				t.Fatalf("round trip: got %+v want %+v", got, m)
			}
			// fields appended by a later revision are ignored
			got, err = DecodeMeta(append(b, 1, 2, 3))
			if err != nil || got != m {
				t.Fatalf("with trailing bytes: %+v %v", got, err)
			}
		})
	}
}

func TestMetaTooLarge(t *testing.T) {
	m := Meta{Role: "worker", DataAddr: strings.Repeat("x", 600)}
	_, err := m.Encode()
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("err = %v, want ErrMetaTooLarge", err)
	}
	if !strings.Contains(err.Error(), "512") || !strings.Contains(err.Error(), "6") {
		t.Fatalf("error should give the size and the limit: %v", err)
	}
	// exactly at the limit is fine
	m.DataAddr = ""
	base, _ := m.Encode()
	m.DataAddr = strings.Repeat("x", MetaMaxSize-len(base)-1) // one more byte of uvarint length
	if b, err := m.Encode(); err != nil || len(b) != MetaMaxSize {
		t.Fatalf("at limit: len %d err %v", len(b), err)
	}
}

func TestDecodeMetaErrors(t *testing.T) {
	good, _ := Meta{Role: "worker", DataAddr: "a:1", BootID: 9}.Encode()
	tests := map[string][]byte{
		"nil":          nil,
		"version":      append([]byte{2}, good[1:]...),
		"only version": {1},
		"long string":  {1, 200, 'a'},
		"truncated":    good[:len(good)-1],
		"bad uvarint":  {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeMeta(b); !errors.Is(err, ErrBadMeta) {
				t.Fatalf("err = %v, want ErrBadMeta", err)
			}
		})
	}
}

func FuzzDecodeMeta(f *testing.F) {
	for _, m := range []Meta{
		{},
		{Role: "datanode", DataAddr: "127.0.0.1:9000", BootID: 7, Proto: 1, RingHash: 1, SettingsHash: 2, StartedAt: 3},
		{Role: "worker", StartedAt: -12345},
	} {
		b, err := m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(len(b)/2))
	}
	f.Add([]byte{1, 0x80}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		m, err := DecodeMeta(b)
		if err != nil {
			if !errors.Is(err, ErrBadMeta) {
				t.Fatalf("error does not wrap ErrBadMeta: %v", err)
			}
		} else {
			enc, err := m.Encode()
			if err == nil {
				again, err := DecodeMeta(enc)
				if err != nil || again != m {
					t.Fatalf("re-encode: %+v %v, want %+v", again, err, m)
				}
				// varints may be non-minimal and trailing bytes are ignored,
				// so the canonical encoding can only be shorter
				if len(enc) > len(b) {
					t.Fatalf("canonical encoding %x longer than input %x", enc, b)
				}
			}
		}
		// a prefix (input split at a random point) must not panic either
		if len(b) > 0 {
			_, _ = DecodeMeta(b[:int(split)%len(b)])
		}
	})
}
