package wire

import (
	"reflect"
	"testing"
)

// sameAck compares two acks, treating nil and empty Runs alike.
func sameAck(a, b Ack) bool {
	if len(a.Runs) == 0 && len(b.Runs) == 0 {
		a.Runs, b.Runs = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// checkSplitFrame checks that frame, fed to a stream parser whole and in
// two chunks cut at split, parses to the same single frame.
func checkSplitFrame(t *testing.T, frame []byte, split uint) Frame {
	t.Helper()
	whole, err := parseStream(0, frame)
	if err != nil || len(whole) != 1 {
		t.Fatalf("encoded frame parses to %d frames: %v", len(whole), err)
	}
	k := int(split % uint(len(frame)+1))
	two, err := parseStream(0, frame[:k], frame[k:])
	if err != nil || len(two) != 1 || two[0] != whole[0] {
		t.Fatalf("split at %d/%d: %d frames, %v", k, len(frame), len(two), err)
	}
	return Frame{Kind: whole[0].kind, Body: []byte(whole[0].body)}
}

// FuzzHello decodes arbitrary hello bodies: no panic; a valid one
// re-encodes to a frame that decodes to the same hello, whole or split at
// any point, and no strict prefix of a valid body is valid.
func FuzzHello(f *testing.F) {
	for _, h := range []Hello{
		{Name: "worker-1", Pool: "worker", BootID: 12345, Proto: Proto},
		{Name: "datanode-1", Pool: "datanode", BootID: ^uint64(0), Proto: 1},
		{},
	} {
		f.Add(AppendHello(nil, h)[HeaderSize:], "n", "p", uint(3))
	}
	f.Add([]byte{0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0x81, 0x08}, "", "", uint(0))
	f.Fuzz(func(t *testing.T, body []byte, name, pool string, split uint) {
		h, err := Frame{Kind: KindHello, Body: body}.Hello()
		if err == nil {
			g, err := checkSplitFrame(t, AppendHello(nil, h), split).Hello()
			if err != nil || g != h {
				t.Fatalf("%+v -> %+v, %v", h, g, err)
			}
			if k := int(split % uint(len(body))); k < len(body) {
				if _, err := (Frame{Kind: KindHello, Body: body[:k]}).Hello(); err == nil {
					t.Fatalf("prefix %d/%d accepted", k, len(body))
				}
			}
		}
		// Any name and pool within the limit round-trips.
		if len(name) <= MaxNameLen && len(pool) <= MaxNameLen {
			m := Hello{Name: name, Pool: pool, BootID: uint64(split), Proto: Proto}
			g, err := checkSplitFrame(t, AppendHello(nil, m), split).Hello()
			if err != nil || g != m {
				t.Fatalf("%+v -> %+v, %v", m, g, err)
			}
		}
	})
}

// FuzzAck decodes arbitrary ack bodies: no panic; a valid ack satisfies
// the Ack invariants and re-encodes to a frame that decodes to the same
// ack, whole or split at any point; no strict prefix of a valid body is
// valid. Acks built from random runs round-trip.
func FuzzAck(f *testing.F) {
	seeds := []Ack{
		{},
		{First: 1, Last: 1, Events: 300, Ring: 0xfeed},
		{First: 3, Last: 9, Events: 10, Ring: 5, Runs: []Run{{Start: 4, Len: 1, Outcome: Busy}}},
		{First: 1, Last: 2, Events: 1 << 20, Runs: []Run{
			{Start: 0, Len: 2, Outcome: Busy}, {Start: 2, Len: 1, Outcome: NotOwner}, {Start: 1000, Len: 9, Outcome: Busy}}},
	}
	for i, a := range seeds {
		f.Add(AppendAck(nil, a)[HeaderSize:], []byte{1, 2, 3, byte(i)}, uint(i*5))
	}
	f.Fuzz(func(t *testing.T, body, shape []byte, split uint) {
		a, err := Frame{Kind: KindAck, Body: body}.Ack(nil)
		if err == nil {
			checkAckInvariants(t, a)
			g, err := checkSplitFrame(t, AppendAck(nil, a), split).Ack(nil)
			if err != nil || !sameAck(g, a) {
				t.Fatalf("%+v -> %+v, %v", a, g, err)
			}
			if k := int(split % uint(len(body))); k < len(body) {
				if _, err := (Frame{Kind: KindAck, Body: body[:k]}).Ack(nil); err == nil {
					t.Fatalf("prefix %d/%d accepted", k, len(body))
				}
			}
		}
		// An ack built from shape (gap, length, outcome triples) is valid
		// and round-trips.
		m := Ack{First: uint64(split), Last: uint64(split) + uint64(len(shape)), Ring: uint64(len(body))}
		for i := 0; i+2 < len(shape); i += 3 {
			o := Busy
			if shape[i+2]&1 == 1 {
				o = NotOwner
			}
			m.Runs = append(m.Runs, Run{Start: m.Events + uint64(shape[i]), Len: uint64(shape[i+1]) + 1, Outcome: o})
			m.Events += uint64(shape[i]) + uint64(shape[i+1]) + 1
		}
		m.Events += uint64(split % 7)
		g, err := checkSplitFrame(t, AppendAck(nil, m), split).Ack(nil)
		if err != nil || !sameAck(g, m) {
			t.Fatalf("%+v -> %+v, %v", m, g, err)
		}
	})
}

func checkAckInvariants(t *testing.T, a Ack) {
	t.Helper()
	if a.First > a.Last {
		t.Fatalf("first %d > last %d", a.First, a.Last)
	}
	end := uint64(0)
	for i, r := range a.Runs {
		if r.Len == 0 || r.Start < end || r.Start+r.Len > a.Events || r.Start+r.Len < r.Start ||
			(r.Outcome != Busy && r.Outcome != NotOwner) {
			t.Fatalf("run %d %+v invalid after %d of %d events", i, r, end, a.Events)
		}
		end = r.Start + r.Len
	}
}
