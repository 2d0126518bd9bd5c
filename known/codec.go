package known

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"shoal/internal/wire"
)

// ErrBadEncoding is wrapped by DecodeSet for input that is not an encoded
// Set.
var ErrBadEncoding = errors.New("known: bad set encoding")

// maxMembers bounds the member count DecodeSet accepts before reading them.
const maxMembers = 1 << 26

// AppendSet appends a canonical encoding of s to b: the member count, then
// each member's insertion time (unix nanoseconds) and key, ordered by
// insertion time and then by cmpKey. Sets with the same members and times
// encode to the same bytes, whatever order they were built in. Expired
// members not yet removed are included. appendKey encodes one key.
func AppendSet[K comparable](b []byte, s *Set[K], appendKey func([]byte, K) []byte, cmpKey func(a, b K) int) []byte {
	var es []Entry[K]
	if s != nil {
		es = s.Entries()
	}
	slices.SortStableFunc(es, func(x, y Entry[K]) int {
		if c := x.Inserted.Compare(y.Inserted); c != 0 {
			return c
		}
		return cmpKey(x.Key, y.Key)
	})
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		b = binary.AppendVarint(b, e.Inserted.UnixNano())
		b = appendKey(b, e.Key)
	}
	return b
}

// DecodeSet reads a Set written by AppendSet from r, with members expiring
// ttl after insertion. readKey decodes one key (and records its errors in
// r). A key present twice keeps its earliest time.
func DecodeSet[K comparable](r *wire.Reader, ttl time.Duration, readKey func(*wire.Reader) K) (*Set[K], error) {
	n := r.Uvarint("members")
	if n > maxMembers {
		return nil, fmt.Errorf("%w: %d members", ErrBadEncoding, n)
	}
	s := NewSet[K](ttl)
	for range n {
		ts := r.Varint("inserted")
		k := readKey(r)
		if r.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadEncoding, r.Err())
		}
		at := time.Unix(0, ts)
		if cur, ok := s.m[k]; ok {
			if !at.Before(cur) {
				continue
			}
			s.Delete(k)
		}
		s.insert(k, at)
	}
	return s, nil
}
