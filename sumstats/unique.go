package sumstats

import "slices"

// UniqueSet is Zeek's UNIQUE state (unique.zeek): the set of distinct
// observations, capped. With a cap (Max > 0), an observation is added only
// while the set holds at most Max elements, so up to Max+1 are kept and
// Count saturates at Max+1, exactly as Zeek's observe does. Max == 0 means
// unlimited (Zeek's unset unique_max).
//
// Merge unions and also stops at Max+1 elements. (Zeek's compose stops at
// Max, one short of what observing keeps, so a merged count could read Max
// where the owner of the whole stream reads Max+1; stopping at Max+1 makes
// the merged count of the parts of a stream equal the count of the whole
// stream in every case.) A UniqueSet is not safe for concurrent use.
type UniqueSet struct {
	max  int
	vals map[elem]struct{}
}

// NewUniqueSet returns an empty set with cap max (0 = unlimited).
func NewUniqueSet(max int) *UniqueSet {
	if max < 0 {
		max = 0
	}
	return &UniqueSet{max: max, vals: make(map[elem]struct{})}
}

// Max returns the cap (0 = unlimited).
func (u *UniqueSet) Max() int { return u.max }

// Count returns the number of elements kept (Zeek's unique).
func (u *UniqueSet) Count() uint64 { return uint64(len(u.vals)) }

// full reports whether no element may be added any more.
func (u *UniqueSet) full() bool { return u.max > 0 && len(u.vals) > u.max }

// Add adds o unless the set is full.
func (u *UniqueSet) Add(o Observation) { u.add(o.elem()) }

func (u *UniqueSet) add(e elem) {
	if u.full() {
		return
	}
	u.vals[e] = struct{}{}
}

// Contains reports whether o is in the set.
func (u *UniqueSet) Contains(o Observation) bool {
	_, ok := u.vals[o.elem()]
	return ok
}

// Values returns the elements in a canonical order (kind, then value).
func (u *UniqueSet) Values() []Observation {
	es := u.sorted()
	out := make([]Observation, len(es))
	for i, e := range es {
		out[i] = e.observation()
	}
	return out
}

func (u *UniqueSet) sorted() []elem {
	es := make([]elem, 0, len(u.vals))
	for e := range u.vals {
		es = append(es, e)
	}
	slices.SortFunc(es, compareElem)
	return es
}

// Merge adds o's elements to u until u is full. When the cap cuts the union
// short, o's elements are taken in canonical order, so the result does not
// depend on map iteration order. u keeps its own cap; if u has none it takes
// o's.
func (u *UniqueSet) Merge(o *UniqueSet) {
	if o == nil {
		return
	}
	if u.max == 0 {
		u.max = o.max
	}
	if u.max == 0 || len(u.vals)+len(o.vals) <= u.max+1 {
		for e := range o.vals {
			u.vals[e] = struct{}{}
		}
		return
	}
	for _, e := range o.sorted() {
		if u.full() {
			return
		}
		u.vals[e] = struct{}{}
	}
}

// Clone returns an independent copy.
func (u *UniqueSet) Clone() *UniqueSet {
	c := &UniqueSet{max: u.max, vals: make(map[elem]struct{}, len(u.vals))}
	for e := range u.vals {
		c.vals[e] = struct{}{}
	}
	return c
}
