package route

import (
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// table is an immutable routing table: every pool's ring with its
// partition -> peer table, and the peers by name. It is rebuilt off to the
// side under Router.mu and swapped in atomically; senders load it once per
// event and never lock.
type table struct {
	closed bool
	pools  map[string]*poolTable
	list   []*poolTable     // the same pools: a short scan beats hashing the name
	peers  map[string]*peer // every peer in the view, suspect ones too, and self
}

// poolTable routes within one pool. members and owners exclude locally
// suspected peers.
type poolTable struct {
	name      string
	ring      *Ring
	version   uint64
	owners    []*peer // partition -> owner; nil when the pool is empty
	members   []*peer // in ring member order
	rr        *atomic.Uint64
	noMembers error
}

// poolState is what survives rebuilds of one pool: the ring version
// counter, the last ring and the round-robin cursor. Guarded by Router.mu.
type poolState struct {
	version uint64
	ring    *Ring
	rr      atomic.Uint64
}

// noMembersError is ErrNoMembers with the pool; errors.Is(err, ErrNoMembers)
// holds.
type noMembersError struct{ pool string }

func (e *noMembersError) Error() string { return fmt.Sprintf("%v: pool %q", ErrNoMembers, e.pool) }
func (e *noMembersError) Unwrap() error { return ErrNoMembers }

// rebuildLocked rebuilds the routing table from the view without the
// locally suspected peers and swaps it in. A pool's ring is rebuilt (and
// its version bumped) only when its member set changed.
func (r *Router) rebuildLocked() {
	byPool := make(map[string]map[string]*peer)
	add := func(p *peer) {
		if !p.state.inRings() { // read under r.mu
			return
		}
		if byPool[p.pool] == nil {
			byPool[p.pool] = make(map[string]*peer)
		}
		byPool[p.pool][p.name] = p
	}
	add(r.self)
	for _, p := range r.view {
		add(p)
	}
	t := &table{
		pools: make(map[string]*poolTable, len(byPool)),
		peers: make(map[string]*peer, len(r.view)+1),
	}
	t.peers[r.self.name] = r.self
	maps.Copy(t.peers, r.view)
	for pool := range r.pools {
		if byPool[pool] == nil {
			byPool[pool] = nil // keep reporting a pool that emptied
		}
	}
	for pool, ps := range byPool {
		st := r.pools[pool]
		if st == nil {
			st = &poolState{}
			r.pools[pool] = st
		}
		names := slices.Sorted(maps.Keys(ps))
		if st.ring == nil || !slices.Equal(st.ring.Members(), names) {
			ring, err := NewRing(r.cfg.Ring, names)
			if err != nil {
				r.log.Error().Err(err).Str("pool", pool).Int("members", len(names)).Msg("cannot place pool, routing nothing to it")
				ring, _ = NewRing(r.cfg.Ring, nil)
			}
			st.ring = ring
			st.version++
		}
		pt := &poolTable{name: pool, ring: st.ring, version: st.version, rr: &st.rr, noMembers: &noMembersError{pool: pool}}
		if st.ring.Len() > 0 {
			pt.members = make([]*peer, st.ring.Len())
			for i := range pt.members {
				pt.members[i] = ps[st.ring.Member(i)]
			}
			pt.owners = make([]*peer, st.ring.Partitions())
			for part := range pt.owners {
				pt.owners[part] = pt.members[st.ring.PartitionOwner(part)]
			}
		}
		t.pools[pool] = pt
		t.list = append(t.list, pt)
	}
	r.table.Store(t)
	signal(r.parkCh) // parked events may route now
}

// pool returns the named pool's table, or nil.
func (t *table) pool(name string) *poolTable {
	if len(t.list) > 8 {
		return t.pools[name]
	}
	for _, pt := range t.list {
		if pt.name == name {
			return pt
		}
	}
	return nil
}

// hashed resolves the owner of key in pool: the partition of key, then
// the precomputed partition table. owner is nil when the pool is unknown
// or empty. Lock-free and allocation-free.
func (t *table) hashed(pool string, key []byte) (pt *poolTable, owner *peer, part int32) {
	pt = t.pool(pool)
	if pt == nil || pt.owners == nil {
		return pt, nil, -1
	}
	part = int32(xxhash.Sum64(key) % uint64(len(pt.owners))) // Ring.Partition, without loading the ring
	return pt, pt.owners[part], part
}

// RingStatus describes one pool's ring for status pages and convergence
// checks: Version is a local counter (+1 per rebuild of that pool's ring),
// Checksum is equal on every node with the same view of the pool.
type RingStatus struct {
	Version  uint64
	Checksum uint64
	Members  []string
	Owned    map[string]int
}

// Rings returns every known pool's ring. Safe for concurrent use; the map
// is fresh.
func (r *Router) Rings() map[string]RingStatus {
	t := r.table.Load()
	out := make(map[string]RingStatus, len(t.pools))
	for name, pt := range t.pools {
		out[name] = RingStatus{
			Version:  pt.version,
			Checksum: pt.ring.Checksum(),
			Members:  pt.ring.Members(),
			Owned:    pt.ring.Owned(),
		}
	}
	return out
}

// Ring returns pool's current ring, which leaves out locally suspected
// peers, and its version (+1 per change), or nil and 0 for an unknown
// pool. Rings are immutable; lock-free.
func (r *Router) Ring(pool string) (*Ring, uint64) {
	if pt := r.table.Load().pool(pool); pt != nil {
		return pt.ring, pt.version
	}
	return nil, 0
}

// PeerStatus describes one peer's connection and queue.
type PeerStatus struct {
	Name, Pool, Addr string
	BootID           uint64
	// State is the peer's lifecycle state: connecting, up, suspect or
	// gone (see the package documentation). Connected is State == "up",
	// Suspect is State == "suspect".
	State     string
	Connected bool
	Suspect   bool
	Queued    int // events waiting to be written
	Unacked   int // events written, not yet acknowledged
}

// Peers returns the status of every remote peer in the view, sorted by
// name. Safe for concurrent use.
func (r *Router) Peers() []PeerStatus {
	r.mu.Lock()
	ps := slices.Collect(maps.Values(r.view))
	r.mu.Unlock()
	out := make([]PeerStatus, 0, len(ps))
	for _, p := range ps {
		state, queued, unacked := p.status()
		out = append(out, PeerStatus{
			Name: p.name, Pool: p.pool, Addr: p.addr, BootID: p.bootID, State: state.String(),
			Connected: state == stateUp, Suspect: state == stateSuspect, Queued: queued, Unacked: unacked,
		})
	}
	slices.SortFunc(out, func(a, b PeerStatus) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}
