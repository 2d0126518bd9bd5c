package connlog

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"shoal/flow"
	"shoal/packet"
	"shoal/site"
)

func sampleRecord(rng *rand.Rand) flow.Record {
	r := flow.Record{
		UID: flow.UID{Hi: rng.Uint32(), Lo: rng.Uint64() | 1}, TS: time.Unix(1700000000, int64(rng.IntN(1e9))),
		Orig: netip.MustParseAddr("10.0.0.1"), OrigPort: uint16(rng.IntN(65536)),
		Resp: netip.MustParseAddr("fd00::5"), RespPort: 443, Proto: packet.ProtoTCP,
		Duration: time.Duration(rng.Int64N(1e12)), OrigBytes: rng.Uint64(), RespBytes: rng.Uint64(),
		State: flow.ConnState(rng.IntN(13)), MissedBytes: rng.Uint64N(1e6),
		OrigPkts: rng.Uint64(), OrigIPBytes: rng.Uint64(), RespPkts: rng.Uint64(), RespIPBytes: rng.Uint64(),
	}
	if rng.IntN(2) == 0 {
		r.Service.Add("ssl")
		r.Service.Add("ftp-data")
	}
	for range rng.IntN(3) {
		r.TunnelParents = append(r.TunnelParents, flow.UID{Hi: rng.Uint32(), Lo: rng.Uint64()})
	}
	return r
}

// TestRecordRoundTrip: a record decodes to the values it was made of, and
// renders the same row as the record itself.
func TestRecordRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	local := site.PrivateNets()
	for range 200 {
		r := sampleRecord(rng)
		c, err := DecodeRecord(AppendRecord(nil, &r, local))
		if err != nil {
			t.Fatal(err)
		}
		want := ConnRecord{TS: r.TS, UID: r.UID, Orig: r.Orig, OrigPort: r.OrigPort, Resp: r.Resp, RespPort: r.RespPort,
			IPProto: r.Proto, Service: r.Service.String(), Duration: r.Duration, OrigBytes: r.OrigBytes,
			RespBytes: r.RespBytes, State: r.State, LocalSet: true, LocalOrig: true, LocalResp: true,
			MissedBytes: r.MissedBytes, OrigPkts: r.OrigPkts, OrigIPBytes: r.OrigIPBytes, RespPkts: r.RespPkts,
			RespIPBytes: r.RespIPBytes, TunnelParents: r.TunnelParents}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("got  %+v\nwant %+v", c, want)
		}
	}
	r := sampleRecord(rng)
	if c, _ := DecodeRecord(AppendRecord(nil, &r, site.Nets{})); c.LocalSet {
		t.Error("no local nets: local_orig and local_resp must be unset")
	}
}

func TestRecordDecodeErrors(t *testing.T) {
	r := sampleRecord(rand.New(rand.NewPCG(3, 4)))
	good := AppendRecord(nil, &r, site.PrivateNets())
	for name, b := range map[string][]byte{
		"empty":     nil,
		"cut":       good[:len(good)-1],
		"trailing":  append(append([]byte(nil), good...), 0),
		"zero uid":  AppendRecord(nil, &flow.Record{TS: r.TS, Orig: r.Orig, Resp: r.Resp}, site.Nets{}),
		"bad state": AppendRecord(nil, &flow.Record{UID: r.UID, Orig: r.Orig, Resp: r.Resp, State: 99}, site.Nets{}),
	} {
		if _, err := DecodeRecord(b); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: %v", name, err)
		}
	}
	ev := flow.TunnelEvent{TS: r.TS, Action: flow.TunnelClose, EncapConn: flow.EncapConn{Type: packet.TunnelVXLAN,
		Orig: r.Orig, OrigPort: 1, Resp: r.Resp, RespPort: 4789, Proto: packet.ProtoUDP, UID: r.UID}}
	got, err := DecodeTunnel(AppendTunnel(nil, &ev))
	if err != nil || got != ev {
		t.Errorf("tunnel round trip: %+v %v", got, err)
	}
	bad := AppendTunnel(nil, &ev)
	bad[len(bad)-3] = 0 // TunnelNone
	if _, err := DecodeTunnel(bad); !errors.Is(err, ErrBadRecord) {
		t.Errorf("tunnel type none accepted: %v", err)
	}
}

// TestAppendRecordDoesNotAllocate: encoding is the worker's per-connection
// path.
func TestAppendRecordDoesNotAllocate(t *testing.T) {
	r := sampleRecord(rand.New(rand.NewPCG(5, 6)))
	buf := make([]byte, 0, 512)
	local := site.PrivateNets()
	if n := testing.AllocsPerRun(100, func() { buf = AppendRecord(buf[:0], &r, local) }); n != 0 {
		t.Errorf("%.1f allocations per record", n)
	}
}

// FuzzDecodeRecord: the decoders never panic, and what decodes re-encodes
// to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 4 {
		r := sampleRecord(rng)
		f.Add(AppendRecord(nil, &r, site.PrivateNets()))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := DecodeTunnel(b); err != nil && !errors.Is(err, ErrBadRecord) {
			t.Fatalf("unclassified error %v", err)
		}
		c, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		_ = c.Row(nil)
	})
}
