package wire

// Type is the registered numeric identifier of an event type. It is the
// first thing encoded for every event inside a batch frame. Types below
// 1024 are reserved for shoal's built-in events.
type Type uint16

// Event is a message with a registered type and a compact binary encoding.
// AppendWire appends the encoding of the event (without its type) to b and
// returns the extended slice; it must not retain b and should not allocate
// when b has room. The matching decoder is a pointer method
// DecodeWire([]byte) error on the same type (see Decoder).
type Event interface {
	WireType() Type
	AppendWire(b []byte) []byte
}

// Decoder is implemented by pointers to event types. DecodeWire must not
// retain b (copy what it keeps) and must return an error, never panic, on
// malformed input.
type Decoder interface {
	DecodeWire(b []byte) error
}
