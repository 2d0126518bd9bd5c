package sumstats

import (
	"slices"
	"time"
)

// Last is Zeek's LAST state (last.zeek): the N most recent observations,
// each with the network time it was observed at, oldest first. A Last is not
// safe for concurrent use.
type Last struct {
	n     int
	items []LastItem // oldest first; len <= n
}

// LastItem is one observation kept by Last and the network time it was
// made.
type LastItem struct {
	Value Observation
	At    time.Time
}

// NewLast returns an empty queue keeping the n most recent observations.
func NewLast(n int) *Last {
	if n < 0 {
		n = 0
	}
	return &Last{n: n}
}

// N returns the number of observations kept.
func (l *Last) N() int { return l.n }

// Add appends o observed at time at, dropping the oldest observation when N
// are already kept.
func (l *Last) Add(o Observation, at time.Time) {
	if l.n == 0 {
		return
	}
	if len(l.items) == l.n {
		copy(l.items, l.items[1:])
		l.items = l.items[:l.n-1]
	}
	l.items = append(l.items, LastItem{Value: o, At: at})
}

// Values returns the kept observations, oldest first (Zeek's get_last), in a
// new slice.
func (l *Last) Values() []Observation {
	out := make([]Observation, len(l.items))
	for i, it := range l.items {
		out[i] = it.Value
	}
	return out
}

// Items returns the kept observations with their times, oldest first. The
// slice is the queue's own: copy it if you keep it past the next Add or
// Merge.
func (l *Last) Items() []LastItem { return l.items }

// Merge folds o into l: the result is the N most recent of both, by
// observation time; on equal times l's items come first. (Zeek's Queue::merge
// appends the second queue after the first regardless of time; ordering by
// time makes the merge of the parts of a stream equal the whole stream.) l
// keeps its own N.
func (l *Last) Merge(o *Last) {
	if o == nil || len(o.items) == 0 || l.n == 0 {
		return
	}
	merged := make([]LastItem, 0, len(l.items)+len(o.items))
	i, j := 0, 0
	for i < len(l.items) || j < len(o.items) {
		if j == len(o.items) || (i < len(l.items) && !o.items[j].At.Before(l.items[i].At)) {
			merged = append(merged, l.items[i])
			i++
		} else {
			merged = append(merged, o.items[j])
			j++
		}
	}
	if len(merged) > l.n {
		merged = merged[len(merged)-l.n:]
	}
	l.items = slices.Clip(merged)
}

// Clone returns an independent copy.
func (l *Last) Clone() *Last {
	return &Last{n: l.n, items: slices.Clone(l.items)}
}
