// Package site owns the notion of "local" address space and the host
// selection modes that Zeek's known-* scripts use.
//
// It mirrors Site::local_nets (zeek: scripts/base/utils/site.zeek) and
// addr_matches_host (zeek: scripts/base/utils/directions-and-hosts.zeek):
//
//	nets, err := site.ParseNets("141.142.0.0/16")
//	if err != nil { ... }
//	mode, _ := site.ParseMode("local")
//	if nets.Matches(addr, mode) { ... }
//
// Since Zeek 6.0 the IANA private and special-purpose blocks count as local
// by default; PrivateNets returns them so a caller can take the union.
//
// The package is pure: no I/O, no goroutines, and every value is immutable,
// hence safe for concurrent use.
package site
