package wire

import (
	"errors"
	"net/netip"
	"testing"
)

func TestHostEventsRoundTrip(t *testing.T) {
	addrs := map[string]netip.Addr{
		"v4":      netip.MustParseAddr("10.0.0.1"),
		"v6":      netip.MustParseAddr("2001:db8::42"),
		"v4in6":   netip.MustParseAddr("::ffff:10.0.0.1"),
		"invalid": {},
	}
	for name, a := range addrs {
		for _, ts := range []int64{0, 1, -1, 1700000000123456789, -1 << 63, 1<<63 - 1} {
			t.Run(name, func(t *testing.T) {
				hs := HostSeen{TS: ts, Host: a}
				var hs2 HostSeen
				if err := hs2.DecodeWire(hs.AppendWire(nil)); err != nil || hs2 != hs {
					t.Fatalf("HostSeen %+v -> %+v, %v", hs, hs2, err)
				}
				kh := KnownHost{TS: ts, Host: a}
				var kh2 KnownHost
				if err := kh2.DecodeWire(kh.AppendWire(nil)); err != nil || kh2 != kh {
					t.Fatalf("KnownHost %+v -> %+v, %v", kh, kh2, err)
				}
			})
		}
	}
}

func TestHostEventsZoneDropped(t *testing.T) {
	a := netip.MustParseAddr("fe80::1%eth0")
	var got HostSeen
	if err := got.DecodeWire(HostSeen{TS: 1, Host: a}.AppendWire(nil)); err != nil {
		t.Fatal(err)
	}
	if got.Host != a.WithZone("") {
		t.Fatalf("got %v", got.Host)
	}
}

func TestHostEventsDecodeErrors(t *testing.T) {
	tests := map[string]struct {
		in   []byte
		want error
	}{
		"empty":        {in: nil, want: ErrShort},
		"bad varint":   {in: []byte{0x80}, want: ErrShort},
		"no addr":      {in: []byte{2}, want: ErrShort},
		"addr len 5":   {in: []byte{2, 5, 1, 2, 3, 4, 5}, want: ErrBadValue},
		"addr short":   {in: []byte{2, 4, 1, 2, 3}, want: ErrShort},
		"addr16 short": {in: []byte{2, 16, 1, 2, 3}, want: ErrShort},
		"trailing":     {in: []byte{2, 4, 1, 2, 3, 4, 0}, want: ErrBadValue},
		"trailing 0":   {in: []byte{2, 0, 0}, want: ErrBadValue},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var h HostSeen
			if err := h.DecodeWire(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("HostSeen err = %v, want %v", err, tc.want)
			}
			var k KnownHost
			if err := k.DecodeWire(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("KnownHost err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHostEventsTypes(t *testing.T) {
	if (HostSeen{}).WireType() != TypeHostSeen || (KnownHost{}).WireType() != TypeKnownHost {
		t.Fatal("wire types changed")
	}
}
