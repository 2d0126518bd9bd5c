package analysis

import (
	"time"

	"github.com/cespare/xxhash/v2"

	"shoal/known"
)

// Partition returns the ring partition of key among n: xxhash64(key) mod n,
// exactly as the ring (route.Ring.Partition) computes it. A partition
// depends on the key alone, never on membership; membership only moves
// owners. n must be positive. It does not allocate.
func Partition(key []byte, n int) int {
	return int(xxhash.Sum64(key) % uint64(n))
}

// PartSet is one expiring set (known.Set: members expire ttl after
// insertion) per ring partition. It is a worker's send-suppression cache
// (the keys it sent recently, so that a ring change drops exactly the
// partitions whose owner changed and nothing else) and a known-* owner's
// state. Sets are made on first use. A PartSet is not safe for concurrent
// use.
type PartSet[K comparable] struct {
	ttl   time.Duration
	parts []*known.Set[K]
	n     int // members over every partition
}

// NewPartSet returns an empty cache over partitions partitions whose
// members expire ttl after insertion (never if ttl <= 0).
func NewPartSet[K comparable](partitions int, ttl time.Duration) *PartSet[K] {
	return &PartSet[K]{ttl: ttl, parts: make([]*known.Set[K], partitions)}
}

// Contains reports whether k is in partition part and not expired at now.
func (s *PartSet[K]) Contains(part int, k K, now time.Time) bool {
	p := s.parts[part]
	return p != nil && p.Contains(k, now)
}

// Add inserts k into partition part at now unless it is a live member
// there (expiring that partition's due members first), and reports whether
// it was inserted.
func (s *PartSet[K]) Add(part int, k K, now time.Time) bool {
	p := s.parts[part]
	if p == nil {
		p = known.NewSet[K](s.ttl)
		s.parts[part] = p
	}
	before := p.Len()
	ok := p.Observe(k, now)
	s.n += p.Len() - before
	return ok
}

// Expire removes the members expired at now in every partition and
// returns how many it removed.
func (s *PartSet[K]) Expire(now time.Time) int {
	n := 0
	for _, p := range s.parts {
		if p != nil && p.Len() > 0 {
			n += p.Expire(now)
		}
	}
	s.n -= n
	return n
}

// Drop empties every partition p with moved[p] and returns how many
// members it removed. moved shorter than the partition count leaves the
// rest alone.
func (s *PartSet[K]) Drop(moved []bool) int {
	n := 0
	for i, m := range moved {
		if i >= len(s.parts) {
			break
		}
		if p := s.parts[i]; m && p != nil {
			n += p.Len()
			s.parts[i] = nil
		}
	}
	s.n -= n
	return n
}

// Len returns the members over every partition, including expired ones
// not removed yet.
func (s *PartSet[K]) Len() int { return s.n }

// PartLen returns the members of partition part.
func (s *PartSet[K]) PartLen(part int) int {
	if p := s.parts[part]; p != nil {
		return p.Len()
	}
	return 0
}

// Delete removes k from partition part and reports whether it was there.
func (s *PartSet[K]) Delete(part int, k K) bool {
	p := s.parts[part]
	if p == nil || !p.Delete(k) {
		return false
	}
	s.n--
	return true
}

// Set returns partition part's set, or nil while it is empty. The caller
// must not modify it.
func (s *PartSet[K]) Set(part int) *known.Set[K] { return s.parts[part] }

// Replace makes set partition part's set (nil empties it). set is kept.
func (s *PartSet[K]) Replace(part int, set *known.Set[K]) {
	s.n -= s.PartLen(part)
	if set != nil && set.Len() == 0 {
		set = nil
	}
	s.parts[part] = set
	if set != nil {
		s.n += set.Len()
	}
}

// Merge merges o into partition part (known.Set.Merge: the union, with
// the earlier insertion time of a key in both).
func (s *PartSet[K]) Merge(part int, o *known.Set[K]) {
	if o == nil || o.Len() == 0 {
		return
	}
	p := s.parts[part]
	if p == nil {
		p = known.NewSet[K](s.ttl)
		s.parts[part] = p
	}
	before := p.Len()
	p.Merge(o)
	s.n += p.Len() - before
}

// Partitions is the number of partitions.
func (s *PartSet[K]) Partitions() int { return len(s.parts) }

// TTL is the members' lifetime.
func (s *PartSet[K]) TTL() time.Duration { return s.ttl }

// ExpirePart removes the members of partition part expired at now and
// returns how many it removed.
func (s *PartSet[K]) ExpirePart(part int, now time.Time) int {
	p := s.parts[part]
	if p == nil {
		return 0
	}
	n := p.Expire(now)
	s.n -= n
	return n
}
