// Package flow owns TCP connection tracking: it turns decoded packets into
// connections and raises the events the known-* analyses need, exactly when
// Zeek raises them.
//
// The rules follow Zeek's TCP analyzer (zeek:
// src/packet_analysis/protocol/tcp/TCP.cc and TCPSessionAdapter.cc):
//
//   - Connections are keyed by the 5-tuple in either direction. A connection
//     whose first packet is a pure SYN keeps its sender as originator; for any
//     other first packet the roles are swapped only when the source port is a
//     likely server port (Config.ServerPorts) and the destination port is not
//     (both: only for a non-SYN packet whose source port is the lower one).
//   - Each endpoint runs Zeek's state machine (INACTIVE, SYN_SENT,
//     SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET), including the
//     SYN/SYN-ACK reversal, SYN-after-partial and connection reuse rules.
//   - Established is reported for the packet on which Zeek raises
//     connection_established with both endpoints ESTABLISHED, which is the
//     condition of known-hosts.zeek: the responder's SYN-ACK answering a SYN
//     that was seen. A lone SYN-ACK or a connection picked up mid-stream never
//     qualifies.
//   - Network time is the maximum packet timestamp seen. Before a packet is
//     processed, the timers due at or before network time fire in due order:
//     the attempt timer (tcp_attempt_delay, 5 s after the SYN; removes a
//     connection whose responder stayed silent), the close timer
//     (tcp_close_delay, 5 s after a complete close) and the inactivity timer
//     (tcp_inactivity_timeout, 5 min).
//   - At most Config.MaxFlows connections are kept; beyond that the least
//     recently active one is evicted and counted.
//
// Typical use, one Tracker per packet stream:
//
//	t := flow.NewTracker(flow.Config{})
//	for each decoded packet p {
//		if ev, ok := t.Packet(&p); ok {
//			// ev.Orig, ev.Resp completed a handshake at ev.TS
//		}
//	}
//
// The package is pure: time comes from the packets (or from the caller for
// Expire); no I/O, no goroutines. A Tracker is not safe for concurrent use,
// and a packet stream in steady state is processed without allocating.
package flow
