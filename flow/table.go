package flow

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// flowTable maps keys to connections: open addressing with linear probing
// and backward-shift deletion, at most half full. Each slot keeps the key's
// hash next to the connection, so a probe reads one slot and only a hash
// match reads the Conn. It is not safe for concurrent use.
type flowTable struct {
	slots []flowSlot
	n     int
	seed  uint64
}

type flowSlot struct {
	hash uint64
	c    *Conn
}

const minTableSlots = 1 << 10

func newFlowTable(hint int) flowTable {
	size := minTableSlots
	for size < 2*hint {
		size *= 2
	}
	return flowTable{slots: make([]flowSlot, size), seed: rand.Uint64() | 1}
}

func (t *flowTable) len() int { return t.n }

// hash mixes the key's words with a per-table seed.
func (t *flowTable) hash(k *key) uint64 {
	mix := func(h, v uint64) uint64 {
		hi, lo := bits.Mul64(h^v, 0x9e3779b97f4a7c15)
		return hi ^ lo
	}
	h := t.seed
	h = mix(h, binary.LittleEndian.Uint64(k.a[:8]))
	h = mix(h, binary.LittleEndian.Uint64(k.a[8:]))
	h = mix(h, binary.LittleEndian.Uint64(k.b[:8]))
	h = mix(h, binary.LittleEndian.Uint64(k.b[8:]))
	h = mix(h, uint64(k.ports)<<32|uint64(k.proto))
	return h
}

// get returns the connection of k (whose hash is h), or nil.
func (t *flowTable) get(k *key, h uint64) *Conn {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.c == nil {
			return nil
		}
		if s.hash == h && s.c.key == *k {
			return s.c
		}
	}
}

// put adds c, whose key (hashing to h) is not in the table.
func (t *flowTable) put(c *Conn, h uint64) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	t.insert(flowSlot{hash: h, c: c})
	t.n++
}

func (t *flowTable) insert(s flowSlot) {
	mask := uint64(len(t.slots) - 1)
	i := s.hash & mask
	for t.slots[i].c != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

func (t *flowTable) grow() {
	old := t.slots
	t.slots = make([]flowSlot, 2*len(old))
	for _, s := range old {
		if s.c != nil {
			t.insert(s)
		}
	}
}

// del removes c, whose key hashes to h; c must be in the table.
func (t *flowTable) del(c *Conn, h uint64) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].c != c {
		i = (i + 1) & mask
	}
	// Backward-shift: move up each following entry that may sit at i.
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		s := t.slots[j]
		if s.c == nil {
			break
		}
		home := s.hash & mask
		// s may move to i unless its home lies cyclically in (i, j].
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = s
			i = j
		}
	}
	t.slots[i] = flowSlot{}
	t.n--
}

// clear removes every entry.
func (t *flowTable) clear() {
	clear(t.slots)
	t.n = 0
}
