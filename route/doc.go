// Package route owns key placement and event delivery.
//
// The ring half (ring.go) is pure: a Ring is an immutable placement of
// partitions on the members of one pool, built with buraksezer/consistent
// over xxhash, with a checksum that is equal on every node sharing the same
// view. Per-event lookups hash the key to a partition and read a
// precomputed partition→owner table; they never lock.
//
// The transport half (the rest) is I/O: one persistent connection per peer,
// length-prefixed versioned frames from internal/wire, batched writes,
// bounded per-peer queues, per-batch acknowledgements, and failover: a broken
// connection marks the peer suspect at once, its partitions are re-placed and
// unacknowledged events are re-sent to the new owners.
//
//	r, _ := route.NewRing(route.DefaultRingConfig(), []string{"dn-1", "dn-2", "dn-3"})
//	owner, ok := r.Owner([]byte("10.0.0.1"))
package route
