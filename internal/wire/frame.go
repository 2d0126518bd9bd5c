package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Frame layout. Every frame on an event connection is
//
//	u32 big-endian body length | u8 version | u8 kind | body
//
// The length counts the body only (not the six header bytes).
const (
	// Version is the frame version this package writes and accepts.
	// Version 2: the hello carries the sender's pool, the ack carries
	// per-event outcomes.
	Version = 2
	// Proto is the event protocol version carried in Hello.
	Proto = 2
	// HeaderSize is the size of the frame header (length, version, kind).
	HeaderSize = 6
	// BatchHeaderRoom is the room to reserve in front of a batch's events
	// (ReserveBatchHeader) so that PutBatchHeader can write the frame
	// header and the batch header in place: frame header, u64 sequence
	// number and the uvarint event count.
	BatchHeaderRoom = HeaderSize + 8 + binary.MaxVarintLen64
	// MaxNameLen bounds the node name and the pool name in a Hello.
	MaxNameLen = 1024
	// MaxType is the largest valid event type.
	MaxType = math.MaxUint16
)

// Kind is the kind of a frame.
type Kind uint8

// Frame kinds. Numbers are part of the protocol: never reuse one.
const (
	KindHello Kind = 1 // connection handshake, both ways
	KindBatch Kind = 2 // sender -> receiver: a sequence-numbered batch of events
	KindAck   Kind = 3 // receiver -> sender: acknowledgement with per-event outcomes (frame_ack.go)
)

// String names the kind for logs.
func (k Kind) String() string {
	switch k {
	case KindHello:
		return "hello"
	case KindBatch:
		return "batch"
	case KindAck:
		return "ack"
	}
	return "unknown"
}

// Frame errors. ParseFrame returns them wrapped; test with errors.Is.
var (
	// ErrFrameTooLarge: the length prefix exceeds the reader's limit.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrVersion: the frame version is not Version.
	ErrVersion = errors.New("wire: unsupported frame version")
	// ErrBadFrame: the frame is malformed (unknown kind, bad body).
	ErrBadFrame = errors.New("wire: bad frame")
)

// Frame is one parsed frame. Body aliases the buffer given to ParseFrame:
// it is valid only as long as that buffer is; copy what you keep.
type Frame struct {
	Kind Kind
	Body []byte
}

// Size is the encoded size of the frame, header included.
func (f Frame) Size() int { return HeaderSize + len(f.Body) }

// ParseFrame parses the frame at the start of b and returns it with the
// bytes that follow. It never panics and does not allocate. When b holds
// only part of a frame it returns an error wrapping ErrShort (read more and
// retry), but it reports a bad version, an unknown kind or a length prefix
// above maxBody (ErrFrameTooLarge) as soon as the header bytes carrying them
// have arrived, so a reader never buffers a frame it will refuse. maxBody <=
// 0 means no limit beyond the u32 prefix. Only the frame header is checked;
// the body is checked by Frame.Hello, Frame.Batch and Frame.Ack.
func ParseFrame(b []byte, maxBody int) (Frame, []byte, error) {
	if len(b) >= 4 {
		n := binary.BigEndian.Uint32(b)
		if maxBody > 0 && uint64(n) > uint64(maxBody) {
			return Frame{}, b, fmt.Errorf("%w: body of %d bytes, limit %d", ErrFrameTooLarge, n, maxBody)
		}
	}
	if len(b) >= 5 && b[4] != Version {
		return Frame{}, b, fmt.Errorf("%w: %d", ErrVersion, b[4])
	}
	if len(b) >= 6 {
		switch k := Kind(b[5]); k {
		case KindHello, KindBatch, KindAck:
		default:
			return Frame{}, b, fmt.Errorf("%w: kind %d", ErrBadFrame, k)
		}
	}
	if len(b) < HeaderSize {
		return Frame{}, b, ErrShort
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)-HeaderSize) < uint64(n) {
		return Frame{}, b, ErrShort
	}
	end := HeaderSize + int(n)
	return Frame{Kind: Kind(b[5]), Body: b[HeaderSize:end:end]}, b[end:], nil
}

// appendHeader appends a frame header for a body of n bytes.
func appendHeader(b []byte, k Kind, n int) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return append(b, Version, byte(k))
}

// Hello is the handshake each side of an event connection sends first: the
// sender's node name, its pool (role), its boot id (changes on every
// restart) and the event protocol version.
type Hello struct {
	Name   string
	Pool   string
	BootID uint64
	Proto  uint16
}

// AppendHello appends a hello frame: u16 proto, u64 boot id, uvarint name
// length, name, uvarint pool length, pool. It does not allocate when b has
// room. A name or pool longer than MaxNameLen is encoded but refused by the
// decoder.
func AppendHello(b []byte, h Hello) []byte {
	n := 2 + 8 + uvarintLen(uint64(len(h.Name))) + len(h.Name) + uvarintLen(uint64(len(h.Pool))) + len(h.Pool)
	b = appendHeader(b, KindHello, n)
	b = binary.BigEndian.AppendUint16(b, h.Proto)
	b = binary.BigEndian.AppendUint64(b, h.BootID)
	b = binary.AppendUvarint(b, uint64(len(h.Name)))
	b = append(b, h.Name...)
	b = binary.AppendUvarint(b, uint64(len(h.Pool)))
	return append(b, h.Pool...)
}

// Hello decodes a hello frame's body. The name and pool are copied.
func (f Frame) Hello() (Hello, error) {
	if f.Kind != KindHello {
		return Hello{}, fmt.Errorf("%w: %s frame, want hello", ErrBadFrame, f.Kind)
	}
	b := f.Body
	if len(b) < 10 {
		return Hello{}, fmt.Errorf("%w: hello of %d bytes", ErrBadFrame, len(b))
	}
	h := Hello{Proto: binary.BigEndian.Uint16(b), BootID: binary.BigEndian.Uint64(b[2:])}
	name, b, err := helloString(b[10:], "name")
	if err != nil {
		return Hello{}, err
	}
	pool, b, err := helloString(b, "pool")
	if err != nil {
		return Hello{}, err
	}
	if len(b) != 0 {
		return Hello{}, fmt.Errorf("%w: %d trailing bytes after hello", ErrBadFrame, len(b))
	}
	h.Name, h.Pool = string(name), string(pool)
	return h, nil
}

// helloString reads a uvarint length and that many bytes, at most
// MaxNameLen.
func helloString(b []byte, what string) (s, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > MaxNameLen {
		return nil, nil, fmt.Errorf("%w: hello %s length", ErrBadFrame, what)
	}
	b = b[k:]
	if uint64(len(b)) < n {
		return nil, nil, fmt.Errorf("%w: hello %s of %d bytes, %d present", ErrBadFrame, what, n, len(b))
	}
	return b[:n], b[n:], nil
}

// AppendBatchHeader appends the frame header and batch header of a batch
// with sequence number seq holding count events whose encodings (as
// AppendEvent writes them) total eventsLen bytes; the caller appends the
// events next. For a batch built before its size is known, use
// ReserveBatchHeader and PutBatchHeader instead.
func AppendBatchHeader(b []byte, seq uint64, count, eventsLen int) []byte {
	b = appendHeader(b, KindBatch, 8+uvarintLen(uint64(count))+eventsLen)
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.AppendUvarint(b, uint64(count))
}

// ReserveBatchHeader appends BatchHeaderRoom bytes to b. A batch is built by
// reserving the header room at the start of an empty buffer, appending
// events with AppendEvent, and finishing with PutBatchHeader.
func ReserveBatchHeader(b []byte) []byte {
	var room [BatchHeaderRoom]byte
	return append(b, room[:]...)
}

// PutBatchHeader finishes a batch built in b (BatchHeaderRoom reserved
// bytes, then count encoded events): it writes the frame and batch headers
// right-aligned into the reserved room and returns the frame, a sub-slice of
// b. It writes only into b's reserved room and does not allocate.
func PutBatchHeader(b []byte, seq uint64, count int) ([]byte, error) {
	if len(b) < BatchHeaderRoom || count < 0 {
		return nil, fmt.Errorf("%w: batch buffer without header room", ErrBadFrame)
	}
	events := len(b) - BatchHeaderRoom
	cn := uvarintLen(uint64(count))
	body := 8 + cn + events
	if uint64(body) > math.MaxUint32 {
		return nil, fmt.Errorf("%w: batch body of %d bytes", ErrFrameTooLarge, body)
	}
	start := BatchHeaderRoom - HeaderSize - 8 - cn
	h := b[start:start:BatchHeaderRoom]
	h = appendHeader(h, KindBatch, body)
	h = binary.BigEndian.AppendUint64(h, seq)
	binary.AppendUvarint(h, uint64(count))
	return b[start:], nil
}

// AppendEvent appends one event as it travels inside a batch: uvarint
// type, uvarint payload length, payload (ev.AppendWire). The payload is
// encoded in place (no intermediate buffer); an event of 128 bytes or more
// is shifted once to make room for its longer length prefix. It does not
// allocate when b has room and AppendWire does not.
func AppendEvent(b []byte, ev Event) []byte {
	if t := ev.WireType(); t < 0x80 {
		b = append(b, byte(t), 0)
	} else {
		b = binary.AppendUvarint(b, uint64(t))
		b = append(b, 0)
	}
	start := len(b)
	b = ev.AppendWire(b)
	n := len(b) - start
	if n < 0x80 {
		b[start-1] = byte(n)
		return b
	}
	k := uvarintLen(uint64(n))
	for range k - 1 {
		b = append(b, 0)
	}
	copy(b[start-1+k:], b[start:start+n])
	binary.PutUvarint(b[start-1:], uint64(n))
	return b
}

// AppendRawEvent appends an event given its type and encoded payload, in
// the same layout as AppendEvent.
func AppendRawEvent(b []byte, t Type, payload []byte) []byte {
	b = binary.AppendUvarint(b, uint64(t))
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...)
}

// ReadEvent decodes the event at the start of b (as AppendEvent wrote it)
// and returns its type, its payload (aliasing b) and the bytes after it.
func ReadEvent(b []byte) (t Type, payload, rest []byte, err error) {
	// Fast path: one-byte type and length, the common case.
	if len(b) >= 2 && b[0] < 0x80 && b[1] < 0x80 {
		if n := int(b[1]) + 2; n <= len(b) {
			return Type(b[0]), b[2:n:n], b[n:], nil
		}
	}
	v, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, nil, nil, fmt.Errorf("%w: event type", ErrBadFrame)
	}
	if v > MaxType {
		return 0, nil, nil, fmt.Errorf("%w: event type %d", ErrBadFrame, v)
	}
	b = b[k:]
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, nil, nil, fmt.Errorf("%w: event length", ErrBadFrame)
	}
	b = b[k:]
	if uint64(len(b)) < n {
		return 0, nil, nil, fmt.Errorf("%w: event of %d bytes, %d present", ErrBadFrame, n, len(b))
	}
	return Type(v), b[:n:n], b[n:], nil
}

// Batch is a decoded batch frame. Its events alias the frame's buffer.
type Batch struct {
	Seq    uint64
	Count  int
	events []byte
}

// Batch decodes a batch frame's header and checks that the body holds
// exactly Count well-formed events, so that iterating them cannot fail. It
// does not allocate.
func (f Frame) Batch() (Batch, error) {
	if f.Kind != KindBatch {
		return Batch{}, fmt.Errorf("%w: %s frame, want batch", ErrBadFrame, f.Kind)
	}
	b := f.Body
	if len(b) < 9 {
		return Batch{}, fmt.Errorf("%w: batch of %d bytes", ErrBadFrame, len(b))
	}
	bt := Batch{Seq: binary.BigEndian.Uint64(b)}
	c, k := binary.Uvarint(b[8:])
	// Every event takes at least 2 bytes: a count above that is a lie.
	if k <= 0 || c > uint64(len(b)) {
		return Batch{}, fmt.Errorf("%w: batch count", ErrBadFrame)
	}
	bt.Count = int(c)
	bt.events = b[8+k:]
	rest := bt.events
	for i := 0; i < bt.Count; i++ {
		var err error
		if _, _, rest, err = ReadEvent(rest); err != nil {
			return Batch{}, fmt.Errorf("event %d: %w", i, err)
		}
	}
	if len(rest) != 0 {
		return Batch{}, fmt.Errorf("%w: %d trailing bytes after %d events", ErrBadFrame, len(rest), bt.Count)
	}
	return bt, nil
}

// Events returns an allocation-free iterator over the batch's events.
func (b Batch) Events() EventIter { return EventIter{rest: b.events, left: b.Count} }

// EventIter iterates over the events of a batch:
//
//	it := batch.Events()
//	for it.Next() {
//		handle(it.Type(), it.Payload())
//	}
//	if err := it.Err(); err != nil { ... }
//
// It is a value type; one goroutine uses it.
type EventIter struct {
	rest    []byte
	left    int
	t       Type
	payload []byte
	err     error
}

// NewEventIter iterates over count events encoded back to back in b (as
// AppendEvent writes them).
func NewEventIter(b []byte, count int) EventIter { return EventIter{rest: b, left: count} }

// Next advances to the next event and reports whether there is one. It
// returns false at the end and on a malformed event (see Err).
func (it *EventIter) Next() bool {
	if it.left <= 0 || it.err != nil {
		return false
	}
	t, p, rest, err := ReadEvent(it.rest)
	if err != nil {
		it.err = err
		it.left = 0
		return false
	}
	it.t, it.payload, it.rest = t, p, rest
	it.left--
	return true
}

// Type is the current event's type.
func (it *EventIter) Type() Type { return it.t }

// Payload is the current event's encoded payload; it aliases the frame.
func (it *EventIter) Payload() []byte { return it.payload }

// Err reports a malformed event met by Next.
func (it *EventIter) Err() error { return it.err }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
