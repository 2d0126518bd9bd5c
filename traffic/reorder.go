package traffic

import (
	"container/heap"
	"time"

	"shoal/zeekin"
)

// connReorder puts conn.log records back in connection start order. Zeek
// writes a connection when it is removed, so rows come out of start order by
// up to a connection's lifetime; analyses that keep the first sighting
// (known hosts) need them in start order. Records are held until network
// time (the latest start seen) passes their start by window, then released
// oldest first; Flush releases the rest. Memory is bounded by the rows
// within the window.
type connReorder struct {
	window time.Duration
	h      connHeap
	latest time.Time
	seq    uint64
}

type heldConn struct {
	c   zeekin.Conn
	seq uint64 // arrival order breaks ties
}

type connHeap []heldConn

func (h connHeap) Len() int { return len(h) }
func (h connHeap) Less(i, j int) bool {
	if !h[i].c.TS.Equal(h[j].c.TS) {
		return h[i].c.TS.Before(h[j].c.TS)
	}
	return h[i].seq < h[j].seq
}
func (h connHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *connHeap) Push(x any)   { *h = append(*h, x.(heldConn)) }
func (h *connHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Add holds a copy of c and releases, through emit, every record that is
// now older than the window.
func (r *connReorder) Add(c *zeekin.Conn, emit func(*zeekin.Conn)) {
	r.seq++
	heap.Push(&r.h, heldConn{c: *c, seq: r.seq})
	if c.TS.After(r.latest) {
		r.latest = c.TS
	}
	for r.h.Len() > 0 && r.latest.Sub(r.h[0].c.TS) > r.window {
		x := heap.Pop(&r.h).(heldConn)
		emit(&x.c)
	}
}

// Flush releases every held record in start order.
func (r *connReorder) Flush(emit func(*zeekin.Conn)) {
	for r.h.Len() > 0 {
		x := heap.Pop(&r.h).(heldConn)
		emit(&x.c)
	}
}
