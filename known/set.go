package known

import (
	"net/netip"
	"slices"
	"sort"
	"time"
)

// DefaultExpiry is Zeek's expiry for the known-* sets (&create_expire=1day).
const DefaultExpiry = 24 * time.Hour

// compactMin is the number of consumed queue slots below which the queue is
// never compacted.
const compactMin = 64

// Entry is one member of a Set and the time it was inserted.
type Entry[K comparable] struct {
	Key      K
	Inserted time.Time
}

// Set is a set whose members expire a fixed ttl after their insertion (Zeek's
// &create_expire), not after their last use. A key is expired at time now
// when now >= Inserted+ttl. A ttl <= 0 means members never expire.
//
// Expiry is amortised O(1): members are kept in a queue ordered by insertion
// time, so expiring only looks at its front.
//
// The zero value is an empty Set that never expires. A Set is not safe for
// concurrent use.
type Set[K comparable] struct {
	ttl  time.Duration
	m    map[K]time.Time
	q    []Entry[K] // ordered by Inserted; q[head:] is live, one entry per key of m
	head int
}

// Hosts is the set behind Known::hosts (zeek: known-hosts.zeek).
type Hosts = Set[netip.Addr]

// NewSet returns an empty Set whose members expire ttl after insertion
// (never if ttl <= 0).
func NewSet[K comparable](ttl time.Duration) *Set[K] {
	return &Set[K]{ttl: ttl, m: make(map[K]time.Time)}
}

// TTL returns the expiry interval the Set was created with.
func (s *Set[K]) TTL() time.Duration { return s.ttl }

// Observe expires the members due at now, then inserts k with insertion time
// now if it is absent. It returns true if k was inserted (a first sighting, or
// the first since the previous insertion expired) and false if k was already
// a member, whose insertion time is then left unchanged.
func (s *Set[K]) Observe(k K, now time.Time) bool {
	s.Expire(now)
	if _, ok := s.m[k]; ok {
		return false
	}
	s.insert(k, now)
	return true
}

// insert adds k (absent from the map) with insertion time at, keeping the
// queue ordered. Network time does not run backwards, so appending is the
// common case.
func (s *Set[K]) insert(k K, at time.Time) {
	if s.m == nil {
		s.m = make(map[K]time.Time)
	}
	s.m[k] = at
	e := Entry[K]{Key: k, Inserted: at}
	if n := len(s.q); n == s.head || !at.Before(s.q[n-1].Inserted) {
		s.q = append(s.q, e)
		return
	}
	live := s.q[s.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].Inserted.After(at) })
	s.q = slices.Insert(s.q, s.head+i, e)
}

// expired reports whether a member inserted at ins is expired at now.
func (s *Set[K]) expired(ins, now time.Time) bool {
	return s.ttl > 0 && !now.Before(ins.Add(s.ttl))
}

// Contains reports whether k is a member that is not expired at now. It does
// not remove anything.
func (s *Set[K]) Contains(k K, now time.Time) bool {
	ins, ok := s.m[k]
	return ok && !s.expired(ins, now)
}

// Expire removes the members expired at now and returns how many it removed.
func (s *Set[K]) Expire(now time.Time) int {
	if s.ttl <= 0 {
		return 0
	}
	n := 0
	for s.head < len(s.q) && s.expired(s.q[s.head].Inserted, now) {
		delete(s.m, s.q[s.head].Key)
		s.q[s.head] = Entry[K]{} // release the key for the garbage collector
		s.head++
		n++
	}
	s.compact()
	return n
}

// compact reclaims the consumed front of the queue once it is at least half
// of the queue, so each slot is moved O(1) times on average.
func (s *Set[K]) compact() {
	if s.head == len(s.q) {
		s.q, s.head = s.q[:0], 0
		return
	}
	if s.head < compactMin || s.head < len(s.q)/2 {
		return
	}
	n := copy(s.q, s.q[s.head:])
	clear(s.q[n:])
	s.q, s.head = s.q[:n], 0
}

// Len returns the number of members, including expired members that Expire
// or Observe has not removed yet.
func (s *Set[K]) Len() int { return len(s.m) }

// Clear removes every member.
func (s *Set[K]) Clear() {
	clear(s.m)
	clear(s.q)
	s.q, s.head = s.q[:0], 0
}

// Entries returns a copy of the members ordered by insertion time (members
// inserted at the same time keep their insertion order). Expired members
// not yet removed are included.
func (s *Set[K]) Entries() []Entry[K] {
	return slices.Clone(s.q[s.head:])
}

// Merge adds the members of o to s. For a key in both sets the earlier
// insertion time wins, so a merged set expires each key no later than either
// input would. o is not modified. Merge is how state moves between nodes:
// merging any split of a stream of observations gives the set that observing
// the whole stream would give (with the earliest time per key).
func (s *Set[K]) Merge(o *Set[K]) {
	if o == nil || o == s || o.head == len(o.q) {
		return
	}
	if s.m == nil {
		s.m = make(map[K]time.Time, len(o.m))
	}
	adopted := make([]Entry[K], 0, len(o.q)-o.head)
	for _, e := range o.q[o.head:] {
		if cur, ok := s.m[e.Key]; ok && !e.Inserted.Before(cur) {
			continue
		}
		s.m[e.Key] = e.Inserted
		adopted = append(adopted, e)
	}
	if len(adopted) == 0 {
		return
	}
	// Both queues are ordered; merge them, dropping the entries of s whose
	// key took an earlier time from o. On equal times s's entries go first.
	old := s.q[s.head:]
	q := make([]Entry[K], 0, len(s.m))
	i, j := 0, 0
	for i < len(old) || j < len(adopted) {
		if i < len(old) && (j == len(adopted) || !adopted[j].Inserted.Before(old[i].Inserted)) {
			if e := old[i]; s.m[e.Key].Equal(e.Inserted) {
				q = append(q, e)
			}
			i++
			continue
		}
		q = append(q, adopted[j])
		j++
	}
	s.q, s.head = q, 0
}

// Delete removes k and reports whether it was a member. It costs a binary
// search plus a copy of the queue's tail: it is for rare corrections, such
// as a decision whose log record could not be delivered, not for the hot
// path.
func (s *Set[K]) Delete(k K) bool {
	ins, ok := s.m[k]
	if !ok {
		return false
	}
	delete(s.m, k)
	live := s.q[s.head:]
	for i := sort.Search(len(live), func(i int) bool { return !live[i].Inserted.Before(ins) }); i < len(live); i++ {
		if live[i].Key == k {
			s.q = slices.Delete(s.q, s.head+i, s.head+i+1)
			break
		}
	}
	return true
}
