package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// parsed is one frame as a stream parser saw it, copied out of the buffer.
type parsed struct {
	kind Kind
	body string
}

// parseStream parses frames from chunks fed one after the other, as a
// connection reader does, and returns the frames and the terminal error
// (nil when the input ended on a frame boundary, ErrShort when it ended
// inside a frame).
func parseStream(max int, chunks ...[]byte) ([]parsed, error) {
	var buf, pending []byte
	var out []parsed
	for _, c := range chunks {
		buf = append(pending, c...)
		for {
			f, rest, err := ParseFrame(buf, max)
			if errors.Is(err, ErrShort) {
				break
			}
			if err != nil {
				return out, err
			}
			out = append(out, parsed{kind: f.Kind, body: string(f.Body)})
			buf = rest
		}
		pending = append([]byte(nil), buf...)
	}
	if len(pending) > 0 {
		return out, ErrShort
	}
	return out, nil
}

func sameErrClass(a, b error) bool {
	for _, e := range []error{ErrShort, ErrFrameTooLarge, ErrVersion, ErrBadFrame} {
		if errors.Is(a, e) != errors.Is(b, e) {
			return false
		}
	}
	return (a == nil) == (b == nil)
}

func seedFrames() [][]byte {
	hs := HostSeen{TS: 1700000000123456789, Host: netip.MustParseAddr("10.0.0.1")}
	kh := KnownHost{TS: 17, Host: netip.MustParseAddr("2001:db8::1")}
	b := ReserveBatchHeader(nil)
	b = AppendEvent(b, hs)
	b = AppendEvent(b, kh)
	b = AppendRawEvent(b, 999, bytes.Repeat([]byte{1}, 200))
	batch, _ := PutBatchHeader(b, 7, 3)
	empty, _ := PutBatchHeader(ReserveBatchHeader(nil), 8, 0)
	hello := AppendHello(nil, Hello{Name: "worker-1", Pool: "worker", BootID: 12345, Proto: Proto})
	ack := AppendAck(nil, Ack{First: 7, Last: 8, Events: 3})
	outcomes := AppendAck(nil, Ack{First: 7, Last: 8, Events: 3, Ring: 99, Runs: []Run{
		{Start: 0, Len: 1, Outcome: Busy}, {Start: 2, Len: 1, Outcome: NotOwner}}})
	all := append(append(append(append(append([]byte{}, hello...), batch...), empty...), ack...), outcomes...)
	return [][]byte{hello, batch, empty, ack, outcomes, all, []byte("garbage\x00\x01"), {0, 0, 0, 1, 2, 1, 0}, {0xff, 0xff, 0xff, 0xff}}
}

func FuzzParseFrame(f *testing.F) {
	for i, s := range seedFrames() {
		f.Add(s, uint(i*7))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint) {
		const max = 1 << 16
		whole, werr := parseStream(max, data)
		k := 0
		if len(data) > 0 {
			k = int(split % uint(len(data)+1))
		}
		two, terr := parseStream(max, data[:k], data[k:])
		if len(whole) != len(two) || !sameErrClass(werr, terr) {
			t.Fatalf("split at %d: %d frames (%v) vs %d frames (%v)", k, len(whole), werr, len(two), terr)
		}
		for i := range whole {
			if whole[i] != two[i] {
				t.Fatalf("frame %d differs when split at %d", i, k)
			}
			checkFrameRoundTrip(t, Frame{Kind: whole[i].kind, Body: []byte(whole[i].body)})
		}
	})
}

// checkFrameRoundTrip decodes f and, when it is valid, checks that
// decode(encode(decode(f))) == decode(f).
func checkFrameRoundTrip(t *testing.T, f Frame) {
	t.Helper()
	reparse := func(b []byte) Frame {
		t.Helper()
		g, rest, err := ParseFrame(b, 0)
		if err != nil || len(rest) != 0 {
			t.Fatalf("re-encoded frame: %v, rest %d", err, len(rest))
		}
		return g
	}
	switch f.Kind {
	case KindHello:
		h, err := f.Hello()
		if err != nil {
			return
		}
		h2, err := reparse(AppendHello(nil, h)).Hello()
		if err != nil || h2 != h {
			t.Fatalf("hello %+v -> %+v, %v", h, h2, err)
		}
	case KindAck:
		a, err := f.Ack(nil)
		if err != nil {
			return
		}
		a2, err := reparse(AppendAck(nil, a)).Ack(nil)
		if err != nil || !sameAck(a, a2) {
			t.Fatalf("ack %+v -> %+v, %v", a, a2, err)
		}
	case KindBatch:
		bt, err := f.Batch()
		if err != nil {
			return
		}
		evs := collect(t, bt.Events())
		if len(evs) != bt.Count {
			t.Fatalf("valid batch iterated %d of %d events", len(evs), bt.Count)
		}
		b := ReserveBatchHeader(nil)
		for _, e := range evs {
			b = AppendEvent(b, e)
		}
		frame, err := PutBatchHeader(b, bt.Seq, len(evs))
		if err != nil {
			t.Fatal(err)
		}
		bt2, err := reparse(frame).Batch()
		if err != nil || bt2.Seq != bt.Seq {
			t.Fatalf("batch re-encoded: %v", err)
		}
		evs2 := collect(t, bt2.Events())
		if len(evs2) != len(evs) {
			t.Fatalf("batch re-encoded: %d events, want %d", len(evs2), len(evs))
		}
		for i := range evs {
			if evs[i].t != evs2[i].t || !bytes.Equal(evs[i].p, evs2[i].p) {
				t.Fatalf("event %d changed", i)
			}
		}
	}
}

func collect(t *testing.T, it EventIter) []rawEvent {
	t.Helper()
	var out []rawEvent
	for it.Next() {
		out = append(out, rawEvent{t: it.Type(), p: append([]byte(nil), it.Payload()...)})
	}
	if it.Err() != nil {
		t.Fatalf("iterating a validated batch: %v", it.Err())
	}
	return out
}

func FuzzBatchIter(f *testing.F) {
	for i, s := range seedFrames() {
		if len(s) > HeaderSize {
			f.Add(s[HeaderSize:], uint16(i), uint(i))
		}
	}
	f.Add(AppendRawEvent(AppendRawEvent(nil, 1, []byte{1}), 2, nil), uint16(2), uint(1))
	f.Fuzz(func(t *testing.T, data []byte, count uint16, split uint) {
		// Raw iteration over arbitrary bytes: never panics, never returns
		// more than count events, and each payload lies inside data.
		it := NewEventIter(data, int(count))
		n := 0
		var evs []rawEvent
		for it.Next() {
			n++
			if len(it.Payload()) > len(data) {
				t.Fatal("payload larger than input")
			}
			evs = append(evs, rawEvent{t: it.Type(), p: append([]byte(nil), it.Payload()...)})
		}
		if n > int(count) {
			t.Fatalf("%d events from count %d", n, count)
		}
		// decode(encode(events)) == events.
		var enc []byte
		for _, e := range evs {
			enc = AppendEvent(enc, e)
		}
		again := NewEventIter(enc, len(evs))
		for i := 0; again.Next(); i++ {
			if again.Type() != evs[i].t || !bytes.Equal(again.Payload(), evs[i].p) {
				t.Fatalf("event %d changed", i)
			}
		}
		if again.Err() != nil {
			t.Fatal(again.Err())
		}
		// The same bytes as a batch body: validation and iteration agree.
		bt, err := Frame{Kind: KindBatch, Body: data}.Batch()
		if err == nil {
			collect(t, bt.Events())
			// A valid body cut short at a random point is never valid,
			// unless the cut removes nothing.
			k := int(split % uint(len(data)+1))
			if k < len(data) {
				if _, err := (Frame{Kind: KindBatch, Body: data[:k]}).Batch(); err == nil {
					t.Fatalf("prefix of %d/%d bytes accepted", k, len(data))
				}
			}
		}
	})
}

func addrFrom(b []byte) netip.Addr {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b))
	case 16:
		return netip.AddrFrom16([16]byte(b))
	}
	return netip.Addr{}
}

func FuzzHostSeen(f *testing.F) {
	f.Add(HostSeen{TS: 1700000000123456789, Host: netip.MustParseAddr("10.0.0.1")}.AppendWire(nil), int64(5), []byte{1, 2, 3, 4}, uint(3))
	f.Add(HostSeen{TS: -1, Host: netip.MustParseAddr("2001:db8::1")}.AppendWire(nil), int64(-5), make([]byte, 16), uint(9))
	f.Add([]byte{2, 0}, int64(0), []byte{}, uint(1))
	f.Fuzz(func(t *testing.T, data []byte, ts int64, addr []byte, split uint) {
		var h HostSeen
		checkHostDecoder(t, data, split, h.DecodeWire, func() []byte { return h.AppendWire(nil) })
		m := HostSeen{TS: ts, Host: addrFrom(addr)}
		var got HostSeen
		if err := got.DecodeWire(m.AppendWire(nil)); err != nil || got != m {
			t.Fatalf("%+v -> %+v, %v", m, got, err)
		}
	})
}

func FuzzKnownHost(f *testing.F) {
	f.Add(KnownHost{TS: 1700000000123456789, Host: netip.MustParseAddr("10.0.0.1")}.AppendWire(nil), int64(5), []byte{1, 2, 3, 4}, uint(3))
	f.Add(KnownHost{TS: 3, Host: netip.MustParseAddr("2001:db8::1")}.AppendWire(nil), int64(-5), make([]byte, 16), uint(9))
	f.Fuzz(func(t *testing.T, data []byte, ts int64, addr []byte, split uint) {
		var k KnownHost
		checkHostDecoder(t, data, split, k.DecodeWire, func() []byte { return k.AppendWire(nil) })
		m := KnownHost{TS: ts, Host: addrFrom(addr)}
		var got KnownHost
		if err := got.DecodeWire(m.AppendWire(nil)); err != nil || got != m {
			t.Fatalf("%+v -> %+v, %v", m, got, err)
		}
	})
}

// checkHostDecoder decodes data with decode; when it is valid, the
// re-encoding decodes to the same value, and no strict prefix of data (cut
// at split) is valid, so a reader can never mistake a partial event for a
// whole one.
func checkHostDecoder(t *testing.T, data []byte, split uint, decode func([]byte) error, encode func() []byte) {
	t.Helper()
	if err := decode(data); err != nil {
		return
	}
	enc := encode()
	first := string(enc)
	if err := decode(enc); err != nil {
		t.Fatalf("re-encoding does not decode: %v", err)
	}
	if string(encode()) != first {
		t.Fatal("decode(encode(m)) != m")
	}
	if k := int(split % uint(len(data))); k < len(data) {
		if err := decode(data[:k]); err == nil {
			t.Fatalf("prefix %d/%d accepted", k, len(data))
		}
	}
}
