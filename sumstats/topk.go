package sumstats

// DefaultTopKSize is Zeek's default topk_size.
const DefaultTopKSize = 500

// TopK is Zeek's Space-Saving top-k summary (probabilistic/Topk.cc, after
// Metwally et al. 2005). It tracks at most Size elements in buckets of equal
// count, ordered by count; within a bucket, elements keep the order in which
// they reached that count. A new element, once Size elements are tracked,
// evicts the oldest element of the lowest bucket and inherits its count as
// its epsilon (the largest possible overestimation of its count).
//
// Guarantees for a summary of N observations with Size k that never merged:
// for every tracked element, Count-Epsilon <= true count <= Count; every
// element whose true count exceeds N/k is tracked; while at most k distinct
// elements were seen, counts are exact and epsilons are 0.
//
// Merge is Zeek's topk_merge: counts and epsilons of common elements add up
// and nothing is pruned, so a merged summary may hold more than Size
// elements (Zeek's behaviour). For a merge of the summaries of the parts of
// a stream: Count-Epsilon <= true count <= Count + the sum of the minimum
// counts of the full part summaries that do not track the element, every
// element whose true count exceeds N/k is tracked, and when no part summary
// was ever full the merged counts are exact.
//
// A TopK is not safe for concurrent use.
type TopK struct {
	size     int
	n        int // tracked elements
	elems    map[elem]*tkElem
	low, top *tkBucket // lowest and highest count
	free     *tkBucket // unlinked buckets for reuse, chained by next
}

type tkBucket struct {
	count      uint64
	head, tail *tkElem
	prev, next *tkBucket // prev has a lower count
}

type tkElem struct {
	e          elem
	eps        uint64
	parent     *tkBucket
	prev, next *tkElem
}

// TopEntry is one tracked element with its (over)estimated count and
// epsilon.
type TopEntry struct {
	Value   Observation
	Count   uint64
	Epsilon uint64
}

// NewTopK returns an empty summary tracking size elements (DefaultTopKSize
// if size <= 0).
func NewTopK(size int) *TopK {
	if size <= 0 {
		size = DefaultTopKSize
	}
	return &TopK{size: size, elems: make(map[elem]*tkElem)}
}

// Size returns the number of elements the summary is meant to track.
func (t *TopK) Size() int { return t.size }

// Len returns the number of tracked elements (more than Size after a merge).
func (t *TopK) Len() int { return t.n }

// Add counts one occurrence of o (Zeek's topk_add).
func (t *TopK) Add(o Observation) { t.add(o.elem()) }

func (t *TopK) add(k elem) {
	e := t.elems[k]
	if e == nil {
		if t.n < t.size {
			// A new element starts in the count-1 bucket, at its end.
			e = &tkElem{e: k}
			b := t.low
			if b == nil || b.count > 1 {
				b = t.insertBucketBefore(t.low, 1)
			}
			b.push(e)
			t.elems[k] = e
			t.n++
			return
		}
		// Evict the oldest element of the lowest bucket; the new element
		// takes its place (and its count, as epsilon), then is incremented.
		b := t.low
		e = b.head
		b.remove(e)
		delete(t.elems, e.e)
		*e = tkElem{e: k, eps: b.count}
		b.push(e)
		t.elems[k] = e
	}
	t.increment(e, 1)
}

// insertBucketBefore links a new bucket with count c before b (at the top
// when b is nil) and returns it.
func (t *TopK) insertBucketBefore(b *tkBucket, c uint64) *tkBucket {
	nb := t.free
	if nb != nil {
		t.free = nb.next
		*nb = tkBucket{count: c, next: b}
	} else {
		nb = &tkBucket{count: c, next: b}
	}
	if b == nil {
		nb.prev = t.top
		if t.top != nil {
			t.top.next = nb
		}
		t.top = nb
		if t.low == nil {
			t.low = nb
		}
		return nb
	}
	nb.prev = b.prev
	if b.prev != nil {
		b.prev.next = nb
	} else {
		t.low = nb
	}
	b.prev = nb
	return nb
}

func (t *TopK) unlinkBucket(b *tkBucket) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		t.low = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		t.top = b.prev
	}
	*b = tkBucket{next: t.free}
	t.free = b
}

// increment moves e by by counts up, to the end of the bucket for its new
// count (Zeek's IncrementCounter).
func (t *TopK) increment(e *tkElem, by uint64) {
	if by == 0 {
		return
	}
	cur := e.parent
	want := cur.count + by
	nb := cur.next
	for nb != nil && nb.count < want {
		nb = nb.next
	}
	if nb == nil || nb.count != want {
		nb = t.insertBucketBefore(nb, want)
	}
	cur.remove(e)
	nb.push(e)
	if cur.head == nil {
		t.unlinkBucket(cur)
	}
}

func (b *tkBucket) push(e *tkElem) {
	e.parent = b
	e.next = nil
	e.prev = b.tail
	if b.tail != nil {
		b.tail.next = e
	} else {
		b.head = e
	}
	b.tail = e
}

func (b *tkBucket) remove(e *tkElem) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		b.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		b.tail = e.prev
	}
	e.prev, e.next, e.parent = nil, nil, nil
}

// Count returns the estimated count of o, or 0 when o is not tracked.
func (t *TopK) Count(o Observation) uint64 {
	if e := t.elems[o.elem()]; e != nil {
		return e.parent.count
	}
	return 0
}

// Epsilon returns the largest possible overestimation of Count(o), or 0
// when o is not tracked.
func (t *TopK) Epsilon(o Observation) uint64 {
	if e := t.elems[o.elem()]; e != nil {
		return e.eps
	}
	return 0
}

// Sum returns the sum of the tracked counts (Zeek's topk_sum): the number of
// observations, unless elements were evicted.
func (t *TopK) Sum() uint64 {
	var s uint64
	for b := t.low; b != nil; b = b.next {
		for e := b.head; e != nil; e = e.next {
			s += b.count
		}
	}
	return s
}

// Top returns the elements with the highest counts, highest first, like
// Zeek's topk_get_top: whole buckets are taken until at least k entries are
// collected, so ties with the k-th entry are all returned (more than k
// entries), in the order they reached their count. It returns nil for an
// empty summary or k <= 0.
func (t *TopK) Top(k int) []TopEntry {
	if k <= 0 {
		return nil
	}
	var out []TopEntry
	for b := t.top; b != nil && len(out) < k; b = b.prev {
		for e := b.head; e != nil; e = e.next {
			out = append(out, TopEntry{Value: e.e.observation(), Count: b.count, Epsilon: e.eps})
		}
	}
	return out
}

// Entries returns every tracked element, lowest count first, in the
// summary's internal order.
func (t *TopK) Entries() []TopEntry {
	out := make([]TopEntry, 0, t.n)
	for b := t.low; b != nil; b = b.next {
		for e := b.head; e != nil; e = e.next {
			out = append(out, TopEntry{Value: e.e.observation(), Count: b.count, Epsilon: e.eps})
		}
	}
	return out
}

// minCount returns the lowest tracked count (0 when empty).
func (t *TopK) minCount() uint64 {
	if t.low == nil {
		return 0
	}
	return t.low.count
}

// Merge folds o into t like Zeek's topk_merge: for each element of o, in o's
// order (lowest count first), an unknown element is added with count 0, its
// epsilon grows by o's epsilon and its count by o's count. Nothing is
// pruned. t keeps its own Size.
func (t *TopK) Merge(o *TopK) {
	if o == nil {
		return
	}
	for b := o.low; b != nil; b = b.next {
		for oe := b.head; oe != nil; oe = oe.next {
			t.mergeOne(oe.e, b.count, oe.eps)
		}
	}
}

func (t *TopK) mergeOne(k elem, count, eps uint64) {
	e := t.elems[k]
	if e == nil {
		e = &tkElem{e: k}
		zero := t.insertBucketBefore(t.low, 0)
		zero.push(e)
		t.elems[k] = e
		t.n++
	}
	e.eps += eps
	t.increment(e, count)
}

// Clone returns an independent copy with the same internal order.
func (t *TopK) Clone() *TopK {
	c := NewTopK(t.size)
	c.Merge(t)
	return c
}
