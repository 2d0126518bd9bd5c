// Package node is shoal's composition root. A Node owns one process's
// lifecycle and goroutines: it wires gossip membership (gossip), key
// placement and the event transport (route), the role's services — a
// worker's traffic pipeline, a datanode's known-hosts state, a manager's log
// writers — and the status endpoint.
//
// The event API is the one the 2017 proposal asked for:
//
//	n.Send(ctx, "manager-1", ev)           // to one named node
//	n.SendHashed(ctx, "datanode", key, ev) // owner of key in the pool, with failover
//	n.SendRoundRobin(ctx, "datanode", ev)  // next live member of the pool
//	n.Broadcast(ctx, "worker", ev)         // every live member of the pool
//	node.Handle(n, func(from string, ev wire.HostSeen) { ... })
//
// A handler runs on every node that receives its event type, whatever the
// node's role; handlers are registered before Start.
package node
