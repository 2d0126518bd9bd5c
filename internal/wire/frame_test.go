package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestHelloRoundTrip(t *testing.T) {
	tests := map[string]Hello{
		"empty":   {},
		"normal":  {Name: "datanode-1", Pool: "datanode", BootID: 0xdeadbeefcafe, Proto: Proto},
		"no pool": {Name: "datanode-1", BootID: 1, Proto: Proto},
		"max": {Name: string(bytes.Repeat([]byte("n"), MaxNameLen)), Pool: string(bytes.Repeat([]byte("p"), MaxNameLen)),
			BootID: ^uint64(0), Proto: ^uint16(0)},
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			b := AppendHello([]byte("prefix"), h)
			f, rest, err := ParseFrame(b[6:], 0)
			if err != nil || len(rest) != 0 {
				t.Fatalf("ParseFrame: %v, rest %d", err, len(rest))
			}
			got, err := f.Hello()
			if err != nil || got != h {
				t.Fatalf("Hello() = %+v, %v; want %+v", got, err, h)
			}
		})
	}
}

func TestAckRoundTrip(t *testing.T) {
	tests := map[string]Ack{
		"zero":     {},
		"all ok":   {First: 1, Last: 1, Events: 300, Ring: 0xfeed},
		"max":      {First: ^uint64(0), Last: ^uint64(0), Events: ^uint64(0), Ring: ^uint64(0)},
		"one busy": {First: 3, Last: 9, Events: 10, Runs: []Run{{Start: 4, Len: 1, Outcome: Busy}}},
		"mixed": {First: 1, Last: 2, Events: 1 << 20, Ring: 7, Runs: []Run{
			{Start: 0, Len: 2, Outcome: Busy}, {Start: 2, Len: 1, Outcome: NotOwner},
			{Start: 1000, Len: 1 << 19, Outcome: Busy}, {Start: 1<<20 - 1, Len: 1, Outcome: NotOwner}}},
		"all busy": {First: 5, Last: 5, Events: 3, Runs: []Run{{Start: 0, Len: 3, Outcome: Busy}}},
	}
	for name, a := range tests {
		t.Run(name, func(t *testing.T) {
			b := AppendAck([]byte("prefix"), a)
			f, rest, err := ParseFrame(b[6:], 0)
			if err != nil || len(rest) != 0 {
				t.Fatalf("ParseFrame: %v, rest %d", err, len(rest))
			}
			got, err := f.Ack(nil)
			if err != nil || !reflect.DeepEqual(got, a) {
				t.Fatalf("Ack() = %+v, %v; want %+v", got, err, a)
			}
			// Decoding into a reused array gives the same.
			again, err := f.Ack(make([]Run, 0, 8))
			if err != nil || len(again.Runs) != len(a.Runs) || (len(a.Runs) > 0 && !reflect.DeepEqual(again, a)) {
				t.Fatalf("Ack(reuse) = %+v, %v", again, err)
			}
		})
	}
}

func TestAckErrors(t *testing.T) {
	ack := func(a Ack) Frame {
		f, _, err := ParseFrame(AppendAck(nil, a), 0)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	run := func(start, n uint64, o Outcome) []Run { return []Run{{Start: start, Len: n, Outcome: o}} }
	tests := map[string]Frame{
		"first after last": ack(Ack{First: 2, Last: 1}),
		"run past end":     ack(Ack{First: 1, Last: 1, Events: 3, Runs: run(2, 2, Busy)}),
		"run start past":   ack(Ack{First: 1, Last: 1, Events: 3, Runs: run(3, 1, Busy)}),
		"empty run":        ack(Ack{First: 1, Last: 1, Events: 3, Runs: run(1, 0, Busy)}),
		"ok run":           ack(Ack{First: 1, Last: 1, Events: 3, Runs: run(1, 1, OK)}),
		"unknown outcome":  ack(Ack{First: 1, Last: 1, Events: 3, Runs: run(1, 1, 9)}),
		"overlap": ack(Ack{First: 1, Last: 1, Events: 9, Runs: []Run{
			{Start: 2, Len: 3, Outcome: Busy}, {Start: 3, Len: 1, Outcome: NotOwner}}}),
		"huge gap": ack(Ack{First: 1, Last: 1, Events: 9, Runs: []Run{
			{Start: 2, Len: 3, Outcome: Busy}, {Start: 1 << 63, Len: 1 << 63, Outcome: Busy}}}),
		"short":       {Kind: KindAck, Body: make([]byte, 15)},
		"no ring":     {Kind: KindAck, Body: make([]byte, 17)},
		"count lie":   {Kind: KindAck, Body: append(make([]byte, 25), 5, 0, 1, 1)},
		"truncated":   {Kind: KindAck, Body: append(make([]byte, 25), 1, 0, 1)},
		"trailing":    {Kind: KindAck, Body: make([]byte, 27)},
		"wrong kind":  {Kind: KindBatch, Body: make([]byte, 26)},
		"bad varint":  {Kind: KindAck, Body: append(make([]byte, 16), 0x80)},
		"runs varint": {Kind: KindAck, Body: append(make([]byte, 25), 0x80)},
		"gap varint":  {Kind: KindAck, Body: append(make([]byte, 25), 1, 0x80, 0x80, 0x80)},
		"len varint":  {Kind: KindAck, Body: append(make([]byte, 25), 1, 0, 0x80, 0x80)},
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := f.Ack(nil); !errors.Is(err, ErrBadFrame) {
				t.Fatalf("err = %v, want ErrBadFrame", err)
			}
		})
	}
	// The zero body of the right length is a valid empty ack.
	if _, err := (Frame{Kind: KindAck, Body: make([]byte, 26)}).Ack(nil); err != nil {
		t.Fatal(err)
	}
}

type rawEvent struct {
	t Type
	p []byte
}

func (e rawEvent) WireType() Type             { return e.t }
func (e rawEvent) AppendWire(b []byte) []byte { return append(b, e.p...) }

func TestBatchRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 300)
	huge := bytes.Repeat([]byte{9}, 20000)
	tests := map[string][]rawEvent{
		"empty":     nil,
		"one":       {{t: TypeHostSeen, p: []byte{1, 2, 3}}},
		"zero len":  {{t: 5, p: nil}, {t: MaxType, p: []byte{}}},
		"long":      {{t: 1, p: big}, {t: 2, p: []byte{1}}, {t: 300, p: huge}},
		"boundary":  {{t: 1, p: big[:127]}, {t: 1, p: big[:128]}, {t: 1, p: big[:129]}},
		"many tiny": manyTiny(1000),
	}
	for name, evs := range tests {
		t.Run(name, func(t *testing.T) {
			// Built in place with reserved header room.
			b := ReserveBatchHeader(nil)
			for _, e := range evs {
				b = AppendEvent(b, e)
			}
			frame, err := PutBatchHeader(b, 42, len(evs))
			if err != nil {
				t.Fatal(err)
			}
			// Built with the header first; must be byte-identical.
			var body []byte
			for _, e := range evs {
				body = AppendRawEvent(body, e.t, e.p)
			}
			direct := append(AppendBatchHeader(nil, 42, len(evs), len(body)), body...)
			if !bytes.Equal(frame, direct) {
				t.Fatalf("in-place frame differs from direct frame")
			}
			f, rest, err := ParseFrame(frame, 0)
			if err != nil || len(rest) != 0 {
				t.Fatalf("ParseFrame: %v rest %d", err, len(rest))
			}
			bt, err := f.Batch()
			if err != nil {
				t.Fatal(err)
			}
			if bt.Seq != 42 || bt.Count != len(evs) {
				t.Fatalf("seq %d count %d", bt.Seq, bt.Count)
			}
			it := bt.Events()
			i := 0
			for it.Next() {
				if it.Type() != evs[i].t || !bytes.Equal(it.Payload(), evs[i].p) {
					t.Fatalf("event %d = %d %x", i, it.Type(), it.Payload())
				}
				i++
			}
			if it.Err() != nil || i != len(evs) {
				t.Fatalf("iterated %d of %d: %v", i, len(evs), it.Err())
			}
		})
	}
}

func manyTiny(n int) []rawEvent {
	out := make([]rawEvent, n)
	for i := range out {
		out[i] = rawEvent{t: Type(i % 7), p: []byte{byte(i)}}
	}
	return out
}

func TestParseFrameErrors(t *testing.T) {
	hello := AppendHello(nil, Hello{Name: "a", BootID: 1, Proto: Proto})
	tests := map[string]struct {
		in   []byte
		max  int
		want error
	}{
		"empty":         {in: nil, want: ErrShort},
		"partial len":   {in: []byte{0, 0}, want: ErrShort},
		"partial body":  {in: hello[:len(hello)-1], want: ErrShort},
		"too large":     {in: []byte{0, 0x50, 0, 0}, max: 4 << 20, want: ErrFrameTooLarge},
		"too large max": {in: []byte{0xff, 0xff, 0xff, 0xff, 1, 2}, max: 1 << 30, want: ErrFrameTooLarge},
		"version 0":     {in: []byte{0, 0, 0, 1, 0}, want: ErrVersion},
		"version 1":     {in: []byte{0, 0, 0, 1, 1, 1, 0}, want: ErrVersion},
		"version 3":     {in: []byte{0, 0, 0, 1, 3, 1, 0}, want: ErrVersion},
		"kind 0":        {in: []byte{0, 0, 0, 0, Version, 0}, want: ErrBadFrame},
		"kind 9":        {in: []byte{0, 0, 0, 0, Version, 9}, want: ErrBadFrame},
		"garbage":       {in: []byte("GET / HTTP/1.1\r\n\r\n"), max: 4 << 20, want: ErrFrameTooLarge},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, rest, err := ParseFrame(tc.in, tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !bytes.Equal(rest, tc.in) {
				t.Fatalf("rest changed on error")
			}
		})
	}
}

func TestBodyErrors(t *testing.T) {
	frame := func(k Kind, body ...byte) Frame { return Frame{Kind: k, Body: body} }
	tests := map[string]struct {
		f   Frame
		dec func(Frame) error
	}{
		"hello wrong kind":   {f: frame(KindAck, make([]byte, 11)...), dec: helloErr},
		"hello short":        {f: frame(KindHello, 0, 1, 0, 0, 0, 0, 0, 0, 0), dec: helloErr},
		"hello no name len":  {f: frame(KindHello, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0), dec: helloErr},
		"hello name short":   {f: frame(KindHello, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 'a'), dec: helloErr},
		"hello name long":    {f: frame(KindHello, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 'b'), dec: helloErr},
		"hello name huge":    {f: frame(KindHello, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f), dec: helloErr},
		"hello no pool len":  {f: frame(KindHello, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a'), dec: helloErr},
		"hello pool short":   {f: frame(KindHello, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 2, 'p'), dec: helloErr},
		"hello pool huge":    {f: frame(KindHello, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 0x81, 0x08), dec: helloErr},
		"hello trailing":     {f: frame(KindHello, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 1, 'p', 0), dec: helloErr},
		"batch short":        {f: frame(KindBatch, 1, 2), dec: batchErr},
		"batch wrong kind":   {f: frame(KindHello, make([]byte, 9)...), dec: batchErr},
		"batch count lie":    {f: frame(KindBatch, 0, 0, 0, 0, 0, 0, 0, 1, 2, 1, 0), dec: batchErr},
		"batch count huge":   {f: frame(KindBatch, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), dec: batchErr},
		"batch trailing":     {f: frame(KindBatch, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 9), dec: batchErr},
		"batch type too big": {f: frame(KindBatch, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x80, 0x80, 0x04, 0), dec: batchErr},
		"batch len past end": {f: frame(KindBatch, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 5, 1, 2), dec: batchErr},
		"batch bad varint":   {f: frame(KindBatch, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x80), dec: batchErr},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := tc.dec(tc.f); !errors.Is(err, ErrBadFrame) {
				t.Fatalf("err = %v, want ErrBadFrame", err)
			}
		})
	}
}

func helloErr(f Frame) error { _, err := f.Hello(); return err }
func batchErr(f Frame) error { _, err := f.Batch(); return err }

func TestEventIterMalformed(t *testing.T) {
	good := AppendRawEvent(nil, 3, []byte{1, 2})
	b := append(append([]byte{}, good...), 0x80) // second event: truncated varint
	it := NewEventIter(b, 2)
	if !it.Next() || it.Type() != 3 {
		t.Fatal("first event lost")
	}
	if it.Next() {
		t.Fatal("malformed event accepted")
	}
	if !errors.Is(it.Err(), ErrBadFrame) {
		t.Fatalf("Err = %v", it.Err())
	}
	if it.Next() {
		t.Fatal("Next after error")
	}
}

func TestPutBatchHeaderErrors(t *testing.T) {
	if _, err := PutBatchHeader(make([]byte, BatchHeaderRoom-1), 1, 0); err == nil {
		t.Fatal("accepted a buffer without header room")
	}
	if _, err := PutBatchHeader(make([]byte, BatchHeaderRoom), 1, -1); err == nil {
		t.Fatal("accepted a negative count")
	}
}

func TestFramesBackToBack(t *testing.T) {
	var b []byte
	b = AppendHello(b, Hello{Name: "w1", BootID: 9, Proto: Proto})
	bb := ReserveBatchHeader(nil)
	bb = AppendEvent(bb, HostSeen{TS: 5, Host: netip.MustParseAddr("10.1.2.3")})
	frame, err := PutBatchHeader(bb, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, frame...)
	b = AppendAck(b, Ack{First: 1, Last: 1, Events: 1})
	var kinds []Kind
	for len(b) > 0 {
		var f Frame
		f, b, err = ParseFrame(b, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, f.Kind)
	}
	if want := []Kind{KindHello, KindBatch, KindAck}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
}

func TestEncodersDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 4096)
	hs := HostSeen{TS: 1700000000123456789, Host: netip.MustParseAddr("192.0.2.7")}
	kh := KnownHost{TS: 1700000000123456789, Host: netip.MustParseAddr("2001:db8::1")}
	var ev Event = hs
	var ack Ack
	tests := map[string]func(){
		"HostSeen.AppendWire":  func() { buf = hs.AppendWire(buf[:0]) },
		"KnownHost.AppendWire": func() { buf = kh.AppendWire(buf[:0]) },
		"AppendEvent":          func() { buf = AppendEvent(buf[:0], ev) },
		"AppendHello":          func() { buf = AppendHello(buf[:0], Hello{Name: "datanode-1", BootID: 3, Proto: Proto}) },
		"AppendAck": func() {
			buf = AppendAck(buf[:0], Ack{First: 7, Last: 77, Events: 500, Runs: []Run{{Start: 3, Len: 4, Outcome: Busy}}})
		},
		"Ack": func() {
			f, _, _ := ParseFrame(buf, 0)
			ack, _ = f.Ack(ack.Runs)
		},
		"batch": func() {
			buf = ReserveBatchHeader(buf[:0])
			buf = AppendEvent(buf, ev)
			buf, _ = PutBatchHeader(buf, 1, 1)
		},
		"iterate": func() {
			f, _, _ := ParseFrame(buf, 0)
			bt, _ := f.Batch()
			it := bt.Events()
			for it.Next() {
				var h HostSeen
				_ = h.DecodeWire(it.Payload())
			}
		},
	}
	for _, name := range []string{"HostSeen.AppendWire", "KnownHost.AppendWire", "AppendEvent", "AppendHello", "AppendAck", "Ack", "batch", "iterate"} {
		if n := testing.AllocsPerRun(100, tests[name]); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
}
