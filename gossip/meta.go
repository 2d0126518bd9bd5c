package gossip

import (
	"encoding/binary"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// ProtoVersion is the shoal protocol version carried in metadata. Members
// with a different Proto are refused.
const ProtoVersion uint16 = 1

// MetaMaxSize is memberlist's metadata limit; Encode refuses anything larger
// (memberlist itself would panic).
const MetaMaxSize = memberlist.MetaMaxSize

// metaVersion is the first byte of the encoding.
const metaVersion byte = 1

// Meta is a node's gossip metadata. It is a plain value; copies are
// independent.
type Meta struct {
	Role     string // "worker" | "datanode" | "manager"
	DataAddr string // event transport host:port
	BootID   uint64 // random, changes on every start
	Proto    uint16 // shoal protocol version; New sets ProtoVersion when zero
	// RingHash is a hash of the ring configuration; members whose RingHash
	// or Proto differ from ours are refused.
	RingHash uint64
	// SettingsHash is a hash of the analysis settings; a difference is only
	// flagged (Member.SettingsMismatch), never refused.
	SettingsHash uint64
	// StartedAt is when this instance started, in Unix nanoseconds; New sets
	// it when zero. Of two live nodes sharing a name, the one that started
	// later (then: the larger BootID) is the newcomer and gets
	// ErrDuplicateName.
	StartedAt int64
}

// Encode returns the compact binary form of m:
//
//	version byte (1) | uvarint len, Role | uvarint len, DataAddr |
//	BootID u64 | Proto u16 | RingHash u64 | SettingsHash u64 | StartedAt varint
//
// (integers big-endian). It fails with ErrMetaTooLarge when the result
// exceeds MetaMaxSize. The returned slice is owned by the caller.
func (m Meta) Encode() ([]byte, error) {
	b := make([]byte, 0, 48+len(m.Role)+len(m.DataAddr))
	b = append(b, metaVersion)
	b = binary.AppendUvarint(b, uint64(len(m.Role)))
	b = append(b, m.Role...)
	b = binary.AppendUvarint(b, uint64(len(m.DataAddr)))
	b = append(b, m.DataAddr...)
	b = binary.BigEndian.AppendUint64(b, m.BootID)
	b = binary.BigEndian.AppendUint16(b, m.Proto)
	b = binary.BigEndian.AppendUint64(b, m.RingHash)
	b = binary.BigEndian.AppendUint64(b, m.SettingsHash)
	b = binary.AppendVarint(b, m.StartedAt)
	if len(b) > MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds the limit of %d bytes", ErrMetaTooLarge, len(b), MetaMaxSize)
	}
	return b, nil
}

// DecodeMeta decodes metadata produced by Encode. It never panics; malformed
// input gives an error wrapping ErrBadMeta. Bytes after the last known field
// are ignored so that fields can be appended without a version change. b is
// not retained.
func DecodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) == 0 {
		return m, fmt.Errorf("%w: empty", ErrBadMeta)
	}
	if b[0] != metaVersion {
		return m, fmt.Errorf("%w: unsupported version %d", ErrBadMeta, b[0])
	}
	r := reader{b: b[1:]}
	m.Role = r.str()
	m.DataAddr = r.str()
	m.BootID = r.u64()
	m.Proto = r.u16()
	m.RingHash = r.u64()
	m.SettingsHash = r.u64()
	m.StartedAt = r.varint()
	if r.err != "" {
		return Meta{}, fmt.Errorf("%w: %s", ErrBadMeta, r.err)
	}
	return m, nil
}

// reader decodes fields from b; the first failure sticks in err.
type reader struct {
	b   []byte
	err string
}

func (r *reader) fail(what string) {
	if r.err == "" {
		r.err = what
	}
	r.b = nil
}

func (r *reader) str() string {
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.fail("truncated string")
		return ""
	}
	s := string(r.b[k : k+int(n)])
	r.b = r.b[k+int(n):]
	return s
}

func (r *reader) u64() uint64 {
	if len(r.b) < 8 {
		r.fail("truncated u64")
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) u16() uint16 {
	if len(r.b) < 2 {
		r.fail("truncated u16")
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) varint() int64 {
	v, k := binary.Varint(r.b)
	if k <= 0 {
		r.fail("truncated varint")
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.fail("truncated uvarint")
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *reader) byte1() byte {
	if len(r.b) < 1 {
		r.fail("truncated byte")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}
