// Package flow owns connection tracking: it turns decoded packets into TCP,
// UDP and ICMP connections the way Zeek's session manager does, raises the
// events the analyses need exactly when Zeek raises them, and reports each
// connection's conn.log record when Zeek would log it.
//
// The rules follow Zeek (zeek: src/packet_analysis/protocol/{tcp,udp,icmp},
// src/analyzer/protocol/tcp/TCP_Endpoint.cc, src/Conn.cc,
// scripts/base/protocols/conn/main.zeek):
//
//   - Connections are keyed by the 5-tuple in either direction (ICMP: by
//     type and counterpart type; one-way ICMP messages by direction). A TCP
//     connection whose first packet is a pure SYN keeps its sender as
//     originator; for any other first packet the roles are swapped when the
//     source port is a likely server port (Config.ServerPorts, by default
//     those of Zeek's default analyzers) and the destination port is not
//     (both: only for a non-SYN packet whose source port is the lower one).
//     A UDP flow is swapped when its first datagram comes from a likely UDP
//     server port to a port that is not one. Swaps add '^' to the history.
//   - Each TCP endpoint runs Zeek's state machine (INACTIVE, SYN_SENT,
//     SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET) with its sequence
//     space: relative sequence numbers, wrap-arounds, the SYN/SYN-ACK
//     reversal, SYN-after-partial and connection reuse. Byte counts come from
//     sequence numbers (TCP_Endpoint::Size); UDP and ICMP count payload.
//   - The history records Zeek's letters with Zeek's repeat rules: A, D, I, Q
//     once per direction; S, H, F, R again when the sequence number differs
//     from the last one of the same kind; T (retransmission) and W (zero
//     window) at the 1st, 10th, 100th ... occurrence; D/d for UDP.
//     Checksums are validated only with Config.Checksums (Zeek without -C:
//     a bad TCP or UDP checksum adds C, a bad IPv4 header drops the
//     packet). Content gaps are Zeek's TCP reassembler's, without the
//     bytes: data the peer acknowledged but that never arrived (or arrived
//     cut by the capture) is missed_bytes and G, while both endpoints are
//     established or cleanly closing. X marks a limit: the tunnel depth was reached
//     on this (outer) connection, or its encapsulation changed more often
//     than TunnelConfig.MaxChanges.
//   - Tunnels are decapsulated as Zeek's packet analyzers do (see
//     TunnelConfig): IP-in-IP (4in4, 6in4, 4in6, 6in6), GRE (also GRE in
//     GRE, GRE over UDP port 4754, PPTP, ERSPAN types I to III and Aruba
//     802.11 with A-MSDU), and on a UDP connection whose responder port is
//     a tunnel port VXLAN, Geneve, GTPv1-U and AYIYA (also found by
//     content), up to Tunnel::max_depth. The outer UDP connection is a
//     connection of its own, with the tunnel's service once its analyzer
//     confirmed it; inner packets are tracked like any other, and each
//     inner connection keeps its encapsulation and tunnel_parents (the uids
//     of the innermost tunnels it used). Zeek's tunnels framework is
//     reproduced for tunnel.log: a tunnel is DISCOVERed when a new
//     connection (or a changed encapsulation) uses it, CLOSEd when its
//     outer UDP connection is removed, and EXPIREs after an hour without
//     new connections. IP and GRE tunnels have a uid of their own per
//     address pair, forgotten after a day without packets.
//   - Every connection has a Zeek-format uid (Record.UID) derived from the
//     Tracker's seed (Config.UIDSeed) and its number.
//   - Network time is the maximum packet timestamp seen. Before a packet is
//     processed, the timers due by network time fire in due order: the
//     attempt timer (tcp_attempt_delay, 5 s after the SYN: Handler.Attempt,
//     then removal when the responder stayed silent), the close timer
//     (tcp_close_delay, 5 s after a complete close) and the inactivity timer
//     (TCP 1 min until an endpoint leaves the handshake states, then 5 min;
//     UDP and ICMP 1 min). Finish ends the input as Zeek's termination does:
//     pending attempt timers act, in due order, then every connection left is
//     removed.
//   - Events go to Config.Handler, synchronously: NewConn (attach an
//     Analyzer), Established (connection_established with both endpoints
//     ESTABLISHED, the known-hosts trigger; also returned by Packet),
//     Attempt (connection_attempt and connection_rejected) and Removed
//     (connection_state_remove with the conn.log Record), and Tunnel
//     (a tunnel.log row).
//   - At most Config.MaxFlows connections are kept; beyond that the least
//     recently active one is evicted (and reported) and counted.
//
// Typical use, one Tracker per packet stream:
//
//	t := flow.NewTracker(flow.Config{Handler: flow.Handler{
//		Removed: func(r *flow.Record) { log(*r) },   // copy to keep
//	}})
//	for each decoded packet p {
//		if ev, ok := t.Packet(&p); ok {
//			// ev.Orig, ev.Resp completed a handshake at ev.TS
//		}
//	}
//	t.Finish() // end of input
//
// The package is pure: time comes from the packets (or from the caller for
// Expire and Flush); no I/O, no goroutines. A Tracker is not safe for
// concurrent use, and a packet stream in steady state is processed without
// allocating, handlers and analyzers included if they do not allocate.
package flow
