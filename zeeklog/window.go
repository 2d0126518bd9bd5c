package zeeklog

import "github.com/cespare/xxhash/v2"

// DefaultWindow is the number of recent rows per log whose hashes a File
// keeps by default to recognise a row written again (about 1.5 MB per log).
// It covers a datanode's whole per-peer queue of unacknowledged events at
// route's default --queue (65536): a row can only come back while the
// sender still holds it unacknowledged, and every row a manager wrote but
// had not acknowledged when it failed is among its most recent rows.
const DefaultWindow = 1 << 16

// rowHash is a row's identity (PLAN.md D3): xxhash64 of the log path, a NUL
// byte and the row's encoded line without its newline. A record re-sent
// after any failure renders the identical line, hence the identical hash.
func rowHash(d *xxhash.Digest, path string, line []byte) uint64 {
	d.Reset()
	_, _ = d.WriteString(path)
	_, _ = d.Write([]byte{0})
	_, _ = d.Write(line)
	return d.Sum64()
}

// window is the set of the hashes of the last max rows of one log,
// bounded by rows: adding to a full window forgets the oldest. A hash is
// held at most once. Not safe for concurrent use.
type window struct {
	ring []uint64 // insertion order, oldest at next once full
	next int      // where the next hash goes
	full bool
	set  map[uint64]struct{}
}

func newWindow(max int) *window {
	if max < 1 {
		max = 1
	}
	return &window{ring: make([]uint64, max), set: make(map[uint64]struct{}, max)}
}

// contains reports whether h is one of the window's rows.
func (w *window) contains(h uint64) bool {
	_, ok := w.set[h]
	return ok
}

// add inserts h as the newest row, evicting the oldest when full. It
// returns false, changing nothing, when h is already held.
func (w *window) add(h uint64) bool {
	if _, ok := w.set[h]; ok {
		return false
	}
	if w.full {
		delete(w.set, w.ring[w.next])
	}
	w.ring[w.next] = h
	w.set[h] = struct{}{}
	w.next++
	if w.next == len(w.ring) {
		w.next = 0
		w.full = true
	}
	return true
}

// len returns the number of hashes held.
func (w *window) len() int { return len(w.set) }

// hashTail keeps the hashes of the last max rows fed to it, oldest first,
// while files are read back at start-up.
type hashTail struct {
	max   int
	ring  []uint64
	next  int
	total int // rows seen
}

func newHashTail(max int) *hashTail {
	return &hashTail{max: max, ring: make([]uint64, 0, min(max, 4096))}
}

func (t *hashTail) push(h uint64) {
	t.total++
	if len(t.ring) < t.max {
		t.ring = append(t.ring, h)
		return
	}
	t.ring[t.next] = h
	t.next = (t.next + 1) % t.max
}

// hashes returns the kept hashes, oldest first.
func (t *hashTail) hashes() []uint64 {
	if len(t.ring) < t.max {
		return t.ring
	}
	return append(append([]uint64(nil), t.ring[t.next:]...), t.ring[:t.next]...)
}
