// Package route owns key placement and event delivery.
//
// The ring half (ring.go) is pure: a Ring is an immutable placement of
// partitions on the members of one pool, built with buraksezer/consistent
// over xxhash, with a checksum that is equal on every node sharing the same
// view. Per-event lookups hash the key to a partition and read a
// precomputed partition→owner table; they never lock.
//
// The transport half (the rest) is I/O: one persistent connection per peer
// through a Transport (plain TCP by default; TLS slots in behind the same
// seam), length-prefixed versioned frames from internal/wire, batched
// writes, bounded per-peer queues, per-event answers, and failover: a
// broken connection marks the peer suspect at once, its partitions are
// re-placed and unacknowledged events are re-sent to the new owners.
//
//	r, _ := route.NewRing(route.DefaultRingConfig(), []string{"dn-1", "dn-2", "dn-3"})
//	owner, ok := r.Owner([]byte("10.0.0.1"))
//
// # Protocol (frame version 2)
//
// Every frame is "u32 body length | u8 version | u8 kind | body"
// (internal/wire). A connection carries events one way: the dialling node
// sends, the accepting node answers.
//
//  1. Hello, both ways: name, pool, boot id, protocol version. The dialler
//     sends first; the acceptor answers only after its Transport verified
//     the dialler's hello; the dialler checks that the answer names the
//     peer it meant (name, pool and boot id as gossip advertised them) and
//     lets its Transport verify it too. Anything else closes the
//     connection and is counted (Stats.Refused, Stats.BadFrames).
//  2. Batch, dialler to acceptor: a sequence number (ascending on the
//     connection) and a count of events, each "uvarint type | uvarint
//     length | payload".
//  3. Ack, acceptor to dialler: it answers batches First..Last (every
//     batch, in order, exactly once) and their Events events. Each event is
//     OK unless it lies in one of the ack's runs of Busy or NotOwner; Ring
//     is the checksum of the acceptor's ring for its own pool.
//
// # Outcomes
//
// The receiver's Deliver answers every event:
//
//   - OK: taken. If Config.Commit is set it runs once per read burst, after
//     Deliver and before the ack; if it fails, every event of the burst
//     answered OK is answered Busy instead (a manager acknowledges rows only
//     once they are written).
//   - Busy: not taken now. The sender keeps the event, leaves the peer
//     alone for BusyBackoff (doubling per busy answer up to
//     MaxBusyBackoff, reset when the peer answers all OK), then sends the
//     busy events again, in their order, before anything newer. Meanwhile
//     the peer's queue fills, so senders wait (FullBlock) or drop and count
//     (FullDrop): busy propagates back as backpressure. Busy never counts
//     towards suspicion or failover.
//   - NotOwner: the receiver does not own the event's key. The sender
//     parks the event and routes it again as soon as its own ring gives
//     the partition to another member (its ring caught up), or else after
//     a backoff of 20ms doubling to 1s (the receiver may be the one
//     behind). After 15 not-owner answers the event is given up
//     (Stats.DroppedNotOwner). Direct and broadcast events name their peer
//     and are given up at the first answer. Ring versions are local
//     counters, not comparable across nodes; the answer carries the
//     receiver's ring checksum, which the sender logs.
//
// Tracked sends (SendTracked, SendHashedTracked, SendRoundRobinTracked)
// report each accepted event exactly once to its Tracker: acknowledged OK
// (by whichever owner finally took it), or given up (no member left, too
// many not-owner answers, its peer left the view, the router closed).
// Untracked sends cost nothing extra: a bit in the event's 4-byte meta.
//
// # Timers and their order
//
//   - FlushDelay (10ms): under load, the longest an event waits for its
//     batch to fill; an idle writer, or one whose peer gets too few events
//     for waiting to gather more, writes at once.
//   - HandshakeTimeout (AckTimeout): dial, transport handshake and hello
//     exchange, on both ends; also bounds every write.
//   - FrameTimeout (HandshakeTimeout): a started frame must arrive whole.
//   - AckTimeout (5s): a peer that leaves a written batch unanswered this
//     long, counted from the write or from its last answer if later, is
//     suspected. A receiver answers a slow burst in parts at least every
//     AckTimeout/4, and answers busy instead of blocking, so a slow but
//     live receiver is never suspected; only a stopped, cut-off or dead
//     one is.
//   - ReconnectInterval (100ms, doubling to 1.6s): redials of a suspect.
//   - Gossip suspicion (memberlist; seconds on a LAN profile, sub-second on
//     the fast one) confirms or refutes the transport's suspicion later.
//
// The order that matters: a datanode whose manager is slow, stopped or
// gone keeps its records in its pending sets and answers its workers busy
// when they are full; it never blocks in Deliver. Its workers therefore
// keep hearing from it well within their AckTimeout and back off instead
// of suspecting it: a slow manager never looks like a dead datanode. A
// datanode that is itself stopped or dead answers nothing and is suspected
// after AckTimeout (or at once, when its connection breaks).
//
// # Bounded memory before trust
//
// What an unauthenticated remote end can make a node hold is bounded:
//
//   - An inbound connection must complete the transport's handshake and
//     the hello within HandshakeTimeout of being accepted; until then its
//     frames may be no larger than a hello. At most MaxHandshakesPerSource
//     handshakes run at once per source IP, and MaxInbound connections in
//     all; more are closed at once.
//   - Every frame must arrive whole within FrameTimeout of its first byte
//     (a read deadline per frame); a connection may be idle between frames.
//   - A connection's read buffer starts at 512 bytes and grows only when it
//     is full of bytes actually received (at most doubling), never with a
//     length a peer claims.
//
// Each refusal is counted (Stats.InboundRefused, HandshakeTimeouts,
// FrameTimeouts, BadFrames, Refused) and logged at a rate limit. Without an
// authenticating Transport the hello is only a claim: these bounds are what
// protects a node; with TLS, nothing gets past the handshake without a
// certificate.
//
// # Peer lifecycle
//
// Each remote peer has one state (lifecycle.go): connecting, up, suspect or
// gone, changed only by the router under its membership lock and the
// peer's lock.
package route
