// Package analysis is the seam between shoal's analyses and the node that
// runs them. Every analysis (known hosts, known services, known certs, scan,
// SumStats, notice, software) is one package that implements Module, and
// the node holds a list of modules it wires to inputs, routing and logs; it
// knows none of them by name. This package owns the interface, the
// per-partition send-suppression cache every worker side keeps (PartSet),
// the partition function shared with the ring (Partition), the reflection
// hash of the cluster-wide settings (SettingsHash) and the merge laws a
// module claims for its state (Laws, CheckLaws).
//
// A module has up to three sides, one per role, made by Attach for the
// role of the node it runs on:
//
//   - Worker: takes protocol events (the hooks of package traffic), Zeek
//     log rows turned into the same events, or observations, filters them
//     through its send-suppression cache (PartSet: one expiring set per
//     ring partition) and sends each event hashed by its key to the owning
//     datanode (Env.Send). When the ring changes, Moved drops exactly the
//     partitions whose owner changed.
//   - Owner (datanode): keeps its state per ring partition of the datanode
//     pool. Apply(part, event, now) is deterministic given its inputs and
//     the state: it reads no clock and returns what it decided as values
//     (Out: records for a manager, notifications for workers, replies); the
//     node decides where they go. Export, Import, Merge and Drop move a
//     partition's state between owners; Merge is offered only where the
//     module's Laws say it is safe.
//   - Manager: its log streams (path, Zeek field names and types) and how
//     a record becomes a row.
//
// Every side reports its counters (Counter: name, help, value), which the
// node serves in /status and later in /metrics. A module declares each of
// its events (EventSpec): wire type number, direction, routing and the
// roles allowed to send it.
//
// Usage sketch (node side):
//
//	for _, m := range cfg.Modules {
//		parts, err := m.Attach(analysis.Env{Node: name, Role: role, Partitions: p, Send: sender})
//		// register parts.Worker / parts.Owner / parts.Manager for m.Events()
//	}
//
// Adding an analysis: a package implementing Module, one line in the
// registration list (package builtin), its flags in cmd/node.
//
// The package is pure: no I/O, no goroutines, no clock.
package analysis
