package flow

// timerKind names the per-connection timers; a connection has at most one
// pending timer of each kind.
type timerKind uint8

const (
	timerInactivity timerKind = iota // Connection::InactivityTimer
	timerAttempt                     // TCPSessionAdapter::AttemptTimer
	timerClose                       // TCPSessionAdapter::ConnDeleteTimer after tcp_close_delay
	numTimers
)

type timer struct {
	due  int64  // network time in ns since the epoch
	seq  uint64 // insertion order, breaks ties so firing order is deterministic
	c    *Conn
	kind timerKind
}

// before orders timers by (due, seq).
func (a *timer) before(b *timer) bool {
	if a.due != b.due {
		return a.due < b.due
	}
	return a.seq < b.seq
}

// valid reports whether e is still its connection's pending timer of its
// kind: a cancelled or replaced timer stays where it is, stale, until it
// comes due and is dropped.
func (e *timer) valid() bool { return e.c.timerSeq[e.kind] == e.seq }

// timerQueue is a FIFO of timers in (due, seq) order.
type timerQueue struct {
	q    []timer
	head int
}

func (q *timerQueue) first() *timer {
	if q.head == len(q.q) {
		return nil
	}
	return &q.q[q.head]
}

func (q *timerQueue) push(e timer) {
	if q.head == len(q.q) {
		q.q, q.head = q.q[:0], 0
	} else if len(q.q) == cap(q.q) && q.head >= len(q.q)/2 {
		n := copy(q.q, q.q[q.head:])
		clear(q.q[n:])
		q.q, q.head = q.q[:n], 0
	}
	q.q = append(q.q, e)
}

func (q *timerQueue) drop() {
	q.q[q.head] = timer{}
	q.head++
}

// timerHeap holds the pending timers. Timers mostly come in due order for
// each kind (network time advances and each kind has one or few delays), so
// each kind has a FIFO that takes a timer due no earlier than its last one;
// a timer out of that order goes into a binary min-heap. Either way
// scheduling touches no other connection. A connection records the seq of
// its pending timer of each kind (Conn.timerSeq); cancelling a timer only
// clears that, and the entry left behind (stale) is dropped when it comes
// due. Stale entries would otherwise pile up with the rate of new
// connections times the longest timeout (a SYN flood at the connection cap
// evicts connections whose 1-minute timers stay queued), so when a new
// entry makes them more than twice the pending timers plus compactSlack,
// the stale ones are dropped at once. Entries are only added there, so they
// never exceed 2 × 3 × tracked connections + compactSlack (3 timer kinds),
// for an amortized constant cost per timer. Firing order is (due, seq) across the FIFOs and the heap.
// container/heap is not used: its interface boxes every pushed entry.
type timerHeap struct {
	h           []timer
	q           [numTimers]timerQueue
	seq         uint64
	live        int    // pending timers: connections' non-zero timerSeq marks
	entries     int    // entries in the FIFOs and the heap, stale ones included
	compactions uint64 // times the stale entries were dropped at once
}

// compactSlack is how many stale entries may exceed the pending timers
// before a compaction.
const compactSlack = 4096

func (t *timerHeap) less(i, j int) bool { return t.h[i].before(&t.h[j]) }

func (t *timerHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !t.less(i, parent) {
			return
		}
		t.h[i], t.h[parent] = t.h[parent], t.h[i]
		i = parent
	}
}

func (t *timerHeap) down(i int) {
	n := len(t.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && t.less(r, l) {
			m = r
		}
		if !t.less(m, i) {
			return
		}
		t.h[i], t.h[m] = t.h[m], t.h[i]
		i = m
	}
}

func (t *timerHeap) popHeap() {
	t.entries--
	last := len(t.h) - 1
	t.h[0] = t.h[last]
	t.h[last] = timer{}
	t.h = t.h[:last]
	if last > 0 {
		t.down(0)
	}
}

// pending reports whether c has a pending timer of the given kind.
func (t *timerHeap) pending(c *conn, kind timerKind) bool { return c.timerSeq[kind] != 0 }

// schedule sets c's timer of the given kind to fire at due, replacing a
// pending one of the same kind.
func (t *timerHeap) schedule(c *conn, kind timerKind, due int64) {
	t.seq++
	if c.timerSeq[kind] == 0 {
		t.live++
	}
	c.timerSeq[kind] = t.seq
	e := timer{due: due, seq: t.seq, c: c, kind: kind}
	t.entries++
	q := &t.q[kind]
	if n := len(q.q); n == q.head || q.q[n-1].due <= due {
		q.push(e)
	} else {
		t.h = append(t.h, e)
		t.up(len(t.h) - 1)
	}
	if t.entries > 2*t.live+compactSlack {
		t.compact()
	}
}

// compact drops every stale entry, keeping each FIFO's order and
// rebuilding the heap.
func (t *timerHeap) compact() {
	t.compactions++
	t.entries = 0
	for k := range t.q {
		q := &t.q[k]
		n := 0
		for i := q.head; i < len(q.q); i++ {
			if q.q[i].valid() {
				q.q[n] = q.q[i]
				n++
			}
		}
		clear(q.q[n:])
		q.q, q.head = q.q[:n], 0
		t.entries += n
	}
	n := 0
	for i := range t.h {
		if t.h[i].valid() {
			t.h[n] = t.h[i]
			n++
		}
	}
	clear(t.h[n:])
	t.h = t.h[:n]
	for i := n/2 - 1; i >= 0; i-- {
		t.down(i)
	}
	t.entries += n
}

// retarget cancels c's pending timer of kind from and schedules one of kind
// to due at due (replacing a pending one of kind to).
func (t *timerHeap) retarget(c *conn, from, to timerKind, due int64) {
	t.cancel(c, from)
	t.schedule(c, to, due)
}

// cancel removes c's pending timer of the given kind, if any.
func (t *timerHeap) cancel(c *conn, kind timerKind) {
	if c.timerSeq[kind] != 0 {
		t.live--
		c.timerSeq[kind] = 0
	}
}

// cancelAll removes every pending timer of c.
func (t *timerHeap) cancelAll(c *conn) {
	for k := range c.timerSeq {
		t.cancel(c, timerKind(k))
	}
}

// each calls fn for every pending timer of the given kind, in no
// particular order.
func (t *timerHeap) each(kind timerKind, fn func(e *timer)) {
	for i := range t.h {
		if e := &t.h[i]; e.kind == kind && e.valid() {
			fn(e)
		}
	}
	q := &t.q[kind]
	for i := q.head; i < len(q.q); i++ {
		if e := &q.q[i]; e.valid() {
			fn(e)
		}
	}
}

// clear removes every entry. The connections' pending marks (and the
// count of them) are left as they are: the caller removes every connection
// afterwards, which clears them.
func (t *timerHeap) clear() {
	t.entries = 0
	clear(t.h)
	t.h = t.h[:0]
	for k := range t.q {
		q := &t.q[k]
		clear(q.q)
		q.q, q.head = q.q[:0], 0
	}
}

// next returns the earliest pending timer if it is due at or before ns, or
// nil, dropping the stale entries it meets.
func (t *timerHeap) next(ns int64) *timer {
	for {
		var min *timer
		src := -1
		if len(t.h) > 0 {
			min, src = &t.h[0], int(numTimers)
		}
		for k := range t.q {
			if e := t.q[k].first(); e != nil && (min == nil || e.before(min)) {
				min, src = e, k
			}
		}
		if min == nil || min.due > ns {
			return nil
		}
		if min.valid() {
			return min
		}
		if src == int(numTimers) {
			t.popHeap()
		} else {
			t.q[src].drop()
			t.entries--
		}
	}
}

// pop removes the timer next returned and returns its connection and kind.
func (t *timerHeap) pop(e *timer) (*conn, timerKind) {
	c, kind := e.c, e.kind
	c.timerSeq[kind] = 0
	t.live--
	if len(t.h) > 0 && e == &t.h[0] {
		t.popHeap()
	} else {
		t.q[kind].drop()
		t.entries--
	}
	return c, kind
}
