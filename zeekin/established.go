package zeekin

import (
	"net/netip"
	"strings"
)

// EstablishedHosts applies Zeek's known-hosts trigger to one conn.log row.
// Zeek logs both endpoints of a connection when connection_established
// fires with both endpoints ESTABLISHED, which happens at the responder's
// SYN-ACK, and only if the originator's SYN was seen before it (SEMANTICS.md
// §0-1). In conn.log history that is: proto "tcp" and an originator 'S'
// followed, later in the history, by a responder 'h'. So "ShADad" counts;
// "DdA" (a connection that started mid-stream) and "^h" (a lone SYN-ACK,
// roles flipped by Zeek) do not; UDP and ICMP never do. It returns the
// originator and responder addresses and ok; ok is false when the rule does
// not hold or an address is unset.
//
// Timestamp: the time Zeek logs in known_hosts.log is that of the SYN-ACK,
// which conn.log does not record. The caller should use c.TS, the
// connection's first packet (the SYN), unchanged: it is the best time the
// log offers, it is never later than Zeek's, and it is earlier by the SYN to
// SYN-ACK round trip (about 60 ms for every host in wikipedia.pcap); Zeek's
// time lies within [c.TS, c.TS+c.Duration]. Adding a guessed delay would make
// no row exact.
//
// Pure; safe for concurrent use.
func EstablishedHosts(c *Conn) (orig, resp netip.Addr, ok bool) {
	if c.Proto != "tcp" || !c.OrigH.IsValid() || !c.RespH.IsValid() {
		return netip.Addr{}, netip.Addr{}, false
	}
	s := strings.IndexByte(c.History, 'S')
	if s < 0 || strings.IndexByte(c.History[s+1:], 'h') < 0 {
		return netip.Addr{}, netip.Addr{}, false
	}
	return c.OrigH, c.RespH, true
}
