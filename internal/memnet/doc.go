// Package memnet is an in-memory network for deterministic tests of the gossip
// layer and of the event transport.
//
// It owns three things:
//
//   - Transport: a memberlist.NodeAwareTransport (packets and streams) that
//     never touches a socket, so a whole memberlist cluster runs inside a
//     testing/synctest bubble on virtual time;
//   - Listen and Dial: stream listeners and connections for other in-process
//     components (the event transport), with the same fault model;
//   - the fault model itself: seeded packet loss (Drop), partitions that cut
//     packets, dials and established connections (Partition, Heal), and a
//     fixed delivery delay (Delay).
//
// Everything is built from channels and timers only: every blocking operation
// is a channel operation, so goroutines blocked in memnet are "durably
// blocked" in the synctest sense and virtual time advances. Create the
// Network inside the synctest bubble that uses it.
//
// Semantics follow UDP and TCP where it matters to memberlist: a packet send
// never blocks and never fails because of the receiver (it is dropped and
// counted when the receiver is unknown, partitioned away, randomly lost or its
// queue is full); a dial to an unknown, closed or partitioned address fails at
// once; every buffer handed to memnet is copied.
//
// Usage:
//
//	synctest.Test(t, func(t *testing.T) {
//		nw := memnet.New(1)
//		tr, _ := nw.NewTransport("10.0.0.1:7946")
//		// memberlist.Config.Transport = tr
//		nw.Partition([]string{"10.0.0.1"}, []string{"10.0.0.2"})
//		nw.Heal()
//	})
//
// Addresses are "ip:port" strings (memberlist resolves anything else through
// DNS). Partition and Drop patterns are either a full "ip:port", a bare "ip"
// (every port of that host) or "*".
package memnet
