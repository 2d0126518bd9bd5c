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

// noTimer marks an unused slot in conn.timer.
const noTimer = -1

type timer struct {
	due  int64  // network time in ns since the epoch
	seq  uint64 // insertion order, breaks ties so firing order is deterministic
	c    *Conn
	kind timerKind
}

// timerHeap is a binary min-heap ordered by (due, seq). Each entry's index is
// mirrored in its connection (conn.timer[kind]) so a removed connection
// takes its timers with it and the heap stays bounded by the flows.
// container/heap is not used: its interface boxes every pushed entry.
type timerHeap struct {
	h   []timer
	seq uint64
}

func (t *timerHeap) len() int { return len(t.h) }

func (t *timerHeap) less(i, j int) bool {
	a, b := &t.h[i], &t.h[j]
	if a.due != b.due {
		return a.due < b.due
	}
	return a.seq < b.seq
}

func (t *timerHeap) swap(i, j int) {
	t.h[i], t.h[j] = t.h[j], t.h[i]
	t.h[i].c.timer[t.h[i].kind] = int32(i)
	t.h[j].c.timer[t.h[j].kind] = int32(j)
}

func (t *timerHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !t.less(i, parent) {
			return
		}
		t.swap(i, parent)
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
		t.swap(i, m)
		i = m
	}
}

// schedule sets c's timer of the given kind to fire at due, replacing a
// pending one of the same kind.
func (t *timerHeap) schedule(c *conn, kind timerKind, due int64) {
	t.seq++
	if i := c.timer[kind]; i != noTimer {
		e := &t.h[i]
		e.due, e.seq = due, t.seq
		t.down(int(i))
		t.up(int(c.timer[kind]))
		return
	}
	t.h = append(t.h, timer{due: due, seq: t.seq, c: c, kind: kind})
	i := len(t.h) - 1
	c.timer[kind] = int32(i)
	t.up(i)
}

// retarget turns c's pending timer of kind from into one of kind to due at
// due, in place (one sift instead of a removal and an insertion); without a
// pending timer of kind from it schedules one of kind to. A pending timer of
// kind to is replaced.
func (t *timerHeap) retarget(c *conn, from, to timerKind, due int64) {
	i := c.timer[from]
	if i == noTimer || from == to {
		t.schedule(c, to, due)
		return
	}
	t.cancel(c, to)
	i = c.timer[from] // cancel may have moved it
	c.timer[from], c.timer[to] = noTimer, i
	t.seq++
	e := &t.h[i]
	e.kind, e.due, e.seq = to, due, t.seq
	t.down(int(i))
	t.up(int(c.timer[to]))
}

// cancel removes c's pending timer of the given kind, if any.
func (t *timerHeap) cancel(c *conn, kind timerKind) {
	i := int(c.timer[kind])
	if i == noTimer {
		return
	}
	last := len(t.h) - 1
	if i != last {
		t.swap(i, last)
	}
	t.h[last] = timer{}
	t.h = t.h[:last]
	c.timer[kind] = noTimer
	if i != last {
		t.down(i)
		t.up(i)
	}
}

// cancelAll removes every pending timer of c.
func (t *timerHeap) cancelAll(c *conn) {
	for k := range numTimers {
		t.cancel(c, k)
	}
}

// clear removes every pending timer of every connection.
func (t *timerHeap) clear() {
	for i := range t.h {
		e := &t.h[i]
		e.c.timer[e.kind] = noTimer
		*e = timer{}
	}
	t.h = t.h[:0]
}

// peek returns the earliest timer; the heap must not be empty.
func (t *timerHeap) peek() *timer { return &t.h[0] }

// pop removes the earliest timer and returns its connection and kind.
func (t *timerHeap) pop() (*conn, timerKind) {
	e := t.h[0]
	t.cancel(e.c, e.kind)
	return e.c, e.kind
}
