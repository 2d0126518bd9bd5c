package route

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
)

// Ring configuration defaults.
const (
	DefaultPartitions        = 1021
	DefaultReplicationFactor = 100
	DefaultLoad              = 1.25
)

// ErrRingConfig is wrapped by every ring configuration error.
var ErrRingConfig = errors.New("route: invalid ring configuration")

// RingConfig is the cluster-wide configuration of every pool's ring. All nodes
// of a cluster must use the same one; its Hash travels in gossip metadata and
// mismatched nodes are refused.
type RingConfig struct {
	// Partitions is the number of partitions keys are hashed into
	// (partition = xxhash64(key) mod Partitions). It bounds the pool size:
	// a pool may never have more members than partitions.
	Partitions int
	// ReplicationFactor is the number of virtual nodes per member on the
	// consistent-hash circle.
	ReplicationFactor int
	// Load is the bounded-load factor: no member owns more than
	// ceil(Partitions/members*Load) partitions. Must be >= 1.
	Load float64
}

// DefaultRingConfig returns the production ring configuration.
func DefaultRingConfig() RingConfig {
	return RingConfig{Partitions: DefaultPartitions, ReplicationFactor: DefaultReplicationFactor, Load: DefaultLoad}
}

// Validate reports whether c can place keys at all.
func (c RingConfig) Validate() error {
	switch {
	case c.Partitions < 1 || c.Partitions > 1<<20:
		return fmt.Errorf("%w: partitions %d out of range [1, %d]", ErrRingConfig, c.Partitions, 1<<20)
	case c.ReplicationFactor < 1 || c.ReplicationFactor > 1000:
		return fmt.Errorf("%w: replication factor %d out of range [1, 1000]", ErrRingConfig, c.ReplicationFactor)
	case !(c.Load >= 1 && c.Load <= 100):
		return fmt.Errorf("%w: load %v out of range [1, 100]", ErrRingConfig, c.Load)
	}
	return nil
}

// ValidateMembers reports whether a pool of n members fits the configuration.
// buraksezer/consistent panics when it cannot place every partition; this
// check keeps it from ever being asked to.
func (c RingConfig) ValidateMembers(n int) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if n > c.Partitions {
		return fmt.Errorf("%w: %d members outnumber %d partitions", ErrRingConfig, n, c.Partitions)
	}
	return nil
}

// Hash identifies the configuration (and the hash function) for gossip
// metadata. Two nodes with different hashes would place keys differently.
func (c RingConfig) Hash() uint64 {
	var b [40]byte
	copy(b[:8], "xxh64cv1")
	binary.BigEndian.PutUint64(b[8:], uint64(c.Partitions))
	binary.BigEndian.PutUint64(b[16:], uint64(c.ReplicationFactor))
	binary.BigEndian.PutUint64(b[24:], uint64(c.Load*1e6))
	return xxhash.Sum64(b[:32])
}

// Ring is an immutable placement of partitions on the members of one pool.
// It is built once (NewRing) and never changed, so it is safe for concurrent
// use without locks; a new membership builds a new Ring beside the old one.
type Ring struct {
	cfg      RingConfig
	members  []string // sorted
	owners   []int32  // partition -> index into members; nil when empty
	checksum uint64
}

type ringMember string

func (m ringMember) String() string { return string(m) }

type xxhasher struct{}

func (xxhasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

// NewRing places cfg.Partitions partitions on members with
// buraksezer/consistent (bounded loads) over xxhash. Duplicate names are
// collapsed. An empty member list gives an empty ring, whose lookups report
// no owner. members is not retained.
func NewRing(cfg RingConfig, members []string) (r *Ring, err error) {
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	if err := cfg.ValidateMembers(len(ms)); err != nil {
		return nil, err
	}
	r = &Ring{cfg: cfg, members: ms}
	if len(ms) > 0 {
		defer func() {
			// Validation above rules out the library's panics; this is the
			// last line of defence, never the expected path.
			if p := recover(); p != nil {
				r, err = nil, fmt.Errorf("%w: consistent: %v", ErrRingConfig, p)
			}
		}()
		cm := make([]consistent.Member, len(ms))
		index := make(map[string]int32, len(ms))
		for i, m := range ms {
			cm[i] = ringMember(m)
			index[m] = int32(i)
		}
		c := consistent.New(cm, consistent.Config{
			Hasher:            xxhasher{},
			PartitionCount:    cfg.Partitions,
			ReplicationFactor: cfg.ReplicationFactor,
			Load:              cfg.Load,
		})
		r.owners = make([]int32, cfg.Partitions)
		for p := range r.owners {
			r.owners[p] = index[c.GetPartitionOwner(p).String()]
		}
	}
	r.checksum = r.computeChecksum()
	return r, nil
}

// computeChecksum hashes the full placement: member names and the owner of
// every partition. Two nodes with equal checksums route every key alike.
func (r *Ring) computeChecksum() uint64 {
	d := xxhash.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], r.cfg.Hash())
	d.Write(b[:])
	for _, m := range r.members {
		d.WriteString(m)
		d.Write([]byte{0})
	}
	for _, o := range r.owners {
		binary.BigEndian.PutUint32(b[:4], uint32(o))
		d.Write(b[:4])
	}
	return d.Sum64()
}

// Config returns the configuration the ring was built with.
func (r *Ring) Config() RingConfig { return r.cfg }

// Checksum identifies the placement; equal on every node that has the same
// view of the pool.
func (r *Ring) Checksum() uint64 { return r.checksum }

// Len is the number of members.
func (r *Ring) Len() int { return len(r.members) }

// Members returns the sorted member names (a fresh copy).
func (r *Ring) Members() []string { return slices.Clone(r.members) }

// Member returns the name of member i (0 <= i < Len()).
func (r *Ring) Member(i int) string { return r.members[i] }

// Index returns the member index of name, or -1.
func (r *Ring) Index(name string) int {
	i, ok := slices.BinarySearch(r.members, name)
	if !ok {
		return -1
	}
	return i
}

// Partitions is the partition count.
func (r *Ring) Partitions() int { return r.cfg.Partitions }

// Partition returns the partition of key. It does not read the ring's
// members and never locks.
func (r *Ring) Partition(key []byte) int {
	return int(xxhash.Sum64(key) % uint64(r.cfg.Partitions))
}

// PartitionOwner returns the member index owning partition p, or -1 when
// the ring is empty.
func (r *Ring) PartitionOwner(p int) int {
	if r.owners == nil {
		return -1
	}
	return int(r.owners[p])
}

// Owner returns the member owning key, and false when the ring is empty.
// Lock-free and allocation-free.
func (r *Ring) Owner(key []byte) (string, bool) {
	if r.owners == nil {
		return "", false
	}
	return r.members[r.owners[r.Partition(key)]], true
}

// Replicas returns up to n distinct members for key: the owner first, then
// the members owning the following partitions in order, so replicas move
// as little as ownership does. The slice is fresh.
func (r *Ring) Replicas(key []byte, n int) []string {
	if r.owners == nil || n <= 0 {
		return nil
	}
	n = min(n, len(r.members))
	out := make([]string, 0, n)
	seen := make([]bool, len(r.members))
	p := r.Partition(key)
	for i := 0; i < len(r.owners) && len(out) < n; i++ {
		o := r.owners[(p+i)%len(r.owners)]
		if !seen[o] {
			seen[o] = true
			out = append(out, r.members[o])
		}
	}
	return out
}

// Owned returns how many partitions each member owns.
func (r *Ring) Owned() map[string]int {
	out := make(map[string]int, len(r.members))
	for _, m := range r.members {
		out[m] = 0
	}
	for _, o := range r.owners {
		out[r.members[o]]++
	}
	return out
}
