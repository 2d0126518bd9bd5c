package gossip

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/hashicorp/memberlist"
)

// Leave intents: a node that leaves gracefully gossips (name, boot id) before
// memberlist's own leave message, so that peers can tell StateLeft from
// StateDead. Wire format (integers big-endian):
//
//	message: version 1 | kind 1 | uvarint len, name | boot u64
//	state:   version 1 | kind 2 | uvarint count | count * (uvarint len, name | boot u64)
const (
	intentVersion   byte = 1
	intentKindLeave byte = 1
	intentKindState byte = 2
	// maxIntents bounds the intents a node keeps and accepts in one state.
	maxIntents = 1024
)

// intent records that the instance BootID of node Name left gracefully.
type intent struct {
	Name   string
	BootID uint64
}

func appendIntent(b []byte, in intent) []byte {
	b = binary.AppendUvarint(b, uint64(len(in.Name)))
	b = append(b, in.Name...)
	return binary.BigEndian.AppendUint64(b, in.BootID)
}

// encodeIntent encodes one leave intent message.
func encodeIntent(in intent) []byte {
	return appendIntent([]byte{intentVersion, intentKindLeave}, in)
}

// encodeIntents encodes a list of intents for push/pull state.
func encodeIntents(ins []intent) []byte {
	b := []byte{intentVersion, intentKindState}
	b = binary.AppendUvarint(b, uint64(len(ins)))
	for _, in := range ins {
		b = appendIntent(b, in)
	}
	return b
}

func readIntent(r *reader) intent {
	name := r.str()
	boot := r.u64()
	return intent{Name: name, BootID: boot}
}

// decodeIntent decodes one leave intent message. Never panics; b is not
// retained.
func decodeIntent(b []byte) (intent, error) {
	r := reader{b: b}
	if v := r.byte1(); r.err == "" && v != intentVersion {
		return intent{}, fmt.Errorf("%w: intent version %d", ErrBadMeta, v)
	}
	if k := r.byte1(); r.err == "" && k != intentKindLeave {
		return intent{}, fmt.Errorf("%w: intent kind %d", ErrBadMeta, k)
	}
	in := readIntent(&r)
	if r.err == "" && in.Name == "" {
		r.fail("empty name")
	}
	if r.err != "" {
		return intent{}, fmt.Errorf("%w: intent: %s", ErrBadMeta, r.err)
	}
	return in, nil
}

// decodeIntents decodes push/pull state. Never panics; b is not retained.
func decodeIntents(b []byte) ([]intent, error) {
	r := reader{b: b}
	if v := r.byte1(); r.err == "" && v != intentVersion {
		return nil, fmt.Errorf("%w: intents version %d", ErrBadMeta, v)
	}
	if k := r.byte1(); r.err == "" && k != intentKindState {
		return nil, fmt.Errorf("%w: intents kind %d", ErrBadMeta, k)
	}
	n := r.uvarint()
	if r.err == "" && n > maxIntents {
		r.fail("too many intents")
	}
	var out []intent
	for i := uint64(0); i < n && r.err == ""; i++ {
		in := readIntent(&r)
		if r.err == "" && in.Name == "" {
			r.fail("empty name")
		}
		out = append(out, in)
	}
	if r.err != "" {
		return nil, fmt.Errorf("%w: intents: %s", ErrBadMeta, r.err)
	}
	return out, nil
}

// intentBroadcast is a leave intent queued for gossip. A newer intent for the
// same name replaces it.
type intentBroadcast struct {
	name   string
	msg    []byte
	notify chan struct{} // closed by Finished; may be nil
	once   sync.Once
}

var _ memberlist.NamedBroadcast = (*intentBroadcast)(nil)

func newIntentBroadcast(in intent, notify chan struct{}) *intentBroadcast {
	return &intentBroadcast{name: "leave/" + in.Name, msg: encodeIntent(in), notify: notify}
}

// Invalidates reports whether b replaces other (same name).
func (b *intentBroadcast) Invalidates(other memberlist.Broadcast) bool {
	nb, ok := other.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.name
}

// Name identifies the broadcast for replacement.
func (b *intentBroadcast) Name() string { return b.name }

// Message returns the encoded intent; memberlist does not modify it.
func (b *intentBroadcast) Message() []byte { return b.msg }

// Finished is called (under the queue's lock) when the intent is no longer
// transmitted. It must not block.
func (b *intentBroadcast) Finished() {
	if b.notify != nil {
		b.once.Do(func() { close(b.notify) })
	}
}
