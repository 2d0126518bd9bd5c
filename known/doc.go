// Package known owns the expiring sets behind Zeek's known-* analyses
// (known hosts, services and certificates).
//
// Zeek declares them as `set[...] &create_expire=1day`: a key is logged the
// first time it is seen and then stays known until a fixed time after its
// insertion, however often it is seen again. Set reproduces that for any
// comparable key, takes time as an argument (network time from the traffic),
// and can be merged with another Set so that ownership of keys can move
// between cluster nodes without logging a key twice:
//
//	hosts := known.NewSet[netip.Addr](known.DefaultExpiry)
//	if hosts.Observe(addr, networkTime) {
//		// first sighting: log it
//	}
//
// The package is pure: no I/O, no goroutines, no clock. A Set is not safe for
// concurrent use; its owner serialises access.
package known
