package scan

import (
	"net/netip"
	"slices"
	"sort"
	"time"
)

// smallSet is the size up to which sets are searched linearly; beyond it
// they get a map index. Most scanners make a handful of attempts.
const smallSet = 16

// compactMin is the number of consumed or stale queue slots below which a
// queue is never compacted.
const compactMin = 64

// nanos converts t to Unix nanoseconds.
func nanos(t time.Time) int64 { return t.UnixNano() }

// fromNanos converts Unix nanoseconds to a UTC time.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// targetSet is a set of Targets in insertion order: a slice, indexed by a map
// once it grows beyond smallSet.
type targetSet struct {
	list  []Target
	index map[Target]struct{}
}

func (s *targetSet) len() int { return len(s.list) }

func (s *targetSet) has(t Target) bool {
	if s.index != nil {
		_, ok := s.index[t]
		return ok
	}
	return slices.Contains(s.list, t)
}

// add inserts t and reports whether it was absent.
func (s *targetSet) add(t Target) bool {
	if s.has(t) {
		return false
	}
	s.list = append(s.list, t)
	if s.index != nil {
		s.index[t] = struct{}{}
	} else if len(s.list) > smallSet {
		s.index = make(map[Target]struct{}, 2*len(s.list))
		for _, x := range s.list {
			s.index[x] = struct{}{}
		}
	}
	return true
}

// portCounts is simple-scan's port_counts: unique attempts per port, a
// slice indexed by a map once it grows beyond smallSet.
type portCounts struct {
	list  []portCount
	index map[portKey]int
}

type portCount struct {
	key portKey
	n   uint32
}

// inc adds one to p's count and returns the new count.
func (c *portCounts) inc(p portKey) uint32 {
	i := c.find(p)
	if i < 0 {
		c.list = append(c.list, portCount{key: p})
		i = len(c.list) - 1
		if c.index != nil {
			c.index[p] = i
		} else if len(c.list) > smallSet {
			c.index = make(map[portKey]int, 2*len(c.list))
			for j, x := range c.list {
				c.index[x.key] = j
			}
		}
	}
	c.list[i].n++
	return c.list[i].n
}

func (c *portCounts) find(p portKey) int {
	if c.index != nil {
		if i, ok := c.index[p]; ok {
			return i
		}
		return -1
	}
	for i := range c.list {
		if c.list[i].key == p {
			return i
		}
	}
	return -1
}

// qEntry is one entry of an expiry queue: an address and its time (an
// expiry deadline or a creation time).
type qEntry struct {
	addr netip.Addr
	at   int64
}

// expQueue is a queue of entries ordered by at. Entries whose address has
// since been removed or re-timed stay in the queue as stale entries; the
// owner recognises them (its map no longer holds that time) and skips them.
type expQueue struct {
	q    []qEntry // q[head:] is live, ordered by at
	head int
}

func (e *expQueue) len() int { return len(e.q) - e.head }

// push inserts an entry, keeping the order; appending is the common case.
func (e *expQueue) push(addr netip.Addr, at int64) {
	x := qEntry{addr: addr, at: at}
	if n := len(e.q); n == e.head || at >= e.q[n-1].at {
		e.q = append(e.q, x)
		return
	}
	live := e.q[e.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].at > at })
	e.q = slices.Insert(e.q, e.head+i, x)
}

// front returns the first entry.
func (e *expQueue) front() (qEntry, bool) {
	if e.head == len(e.q) {
		return qEntry{}, false
	}
	return e.q[e.head], true
}

// pop removes the first entry.
func (e *expQueue) pop() {
	e.q[e.head] = qEntry{}
	e.head++
	if e.head == len(e.q) {
		e.q, e.head = e.q[:0], 0
	}
}

// compact drops the consumed front, and the stale entries when they
// outnumber the live ones, so memory stays proportional to the live entries.
func (e *expQueue) compact(liveCount int, isLive func(qEntry) bool) {
	n := e.len()
	if n-liveCount > compactMin && n-liveCount > liveCount {
		out := e.q[:0]
		for _, x := range e.q[e.head:] {
			if isLive(x) {
				out = append(out, x)
			}
		}
		clear(e.q[len(out):])
		e.q, e.head = out, 0
		return
	}
	if e.head < compactMin || e.head < len(e.q)/2 {
		return
	}
	k := copy(e.q, e.q[e.head:])
	clear(e.q[k:])
	e.q, e.head = e.q[:k], 0
}

// suppressor is known_scanners: scanners ignored until a deadline, bounded
// by max entries (the earliest deadline is evicted first).
type suppressor struct {
	until   map[netip.Addr]int64
	q       expQueue
	max     int
	evicted uint64
}

func newSuppressor(max int) suppressor {
	return suppressor{until: make(map[netip.Addr]int64), max: max}
}

// active reports whether a is suppressed at now.
func (s *suppressor) active(a netip.Addr, now int64) bool {
	u, ok := s.until[a]
	return ok && now < u
}

// set suppresses a until the later of its current deadline and until, and
// reports whether the deadline changed.
func (s *suppressor) set(a netip.Addr, until int64) bool {
	if cur, ok := s.until[a]; ok {
		if until <= cur {
			return false
		}
	} else if len(s.until) >= s.max {
		s.evictOne()
	}
	s.until[a] = until
	s.q.push(a, until)
	s.q.compact(len(s.until), s.live)
	return true
}

func (s *suppressor) live(x qEntry) bool {
	u, ok := s.until[x.addr]
	return ok && u == x.at
}

// evictOne removes the entry with the earliest deadline.
func (s *suppressor) evictOne() {
	for {
		x, ok := s.q.front()
		if !ok {
			return
		}
		s.q.pop()
		if s.live(x) {
			delete(s.until, x.addr)
			s.evicted++
			return
		}
	}
}

// expire removes the entries whose deadline is at or before now and returns
// how many it removed.
func (s *suppressor) expire(now int64) int {
	n := 0
	for {
		x, ok := s.q.front()
		if !ok || x.at > now {
			break
		}
		s.q.pop()
		if s.live(x) {
			delete(s.until, x.addr)
			n++
		}
	}
	s.q.compact(len(s.until), s.live)
	return n
}

// remove forgets a's suppression (its queue entry goes stale).
func (s *suppressor) remove(a netip.Addr) {
	delete(s.until, a)
}
