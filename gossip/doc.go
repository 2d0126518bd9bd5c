// Package gossip is shoal's adapter over hashicorp/memberlist (v0.7.0). It
// owns cluster membership and nothing else: node metadata (role, event
// transport address, boot id, protocol version, ring and settings hashes),
// joining and periodically re-joining, refusing incompatible peers,
// detecting a duplicate node name, and turning memberlist's callbacks into a
// member table plus a change signal. It has no business rules: what a role
// means and how the ring is built is up to its callers.
//
// Usage:
//
//	cfg := gossip.DefaultConfig()
//	cfg.Name, cfg.BindAddr, cfg.Seeds = "dn-1", "127.0.0.1:0", []string{"127.0.0.1:7946"}
//	cfg.Profile = gossip.ProfileFast
//	cfg.Meta = gossip.Meta{Role: "datanode", DataAddr: "127.0.0.1:9000", BootID: rnd, RingHash: rh}
//	g, err := gossip.New(cfg) // binds, does not join yet
//	if err != nil { ... }
//	defer g.Close()
//	g.Start(ctx) // join seeds with retries, then rejoin lost peers forever
//	for {
//		select {
//		case <-g.Changes():
//			rebuild(g.Members())
//		case err := <-g.Fatal():
//			return err // e.g. ErrDuplicateName
//		}
//	}
//	// on SIGTERM: g.Leave(5*time.Second); g.Close()
//
// # Design
//
// memberlist calls its delegates while holding its node lock, so every
// callback here only copies what it was given onto a bounded queue and
// returns; on overflow the event is dropped, counted, and the member table is
// rebuilt from memberlist.Members() once the queue drains. One goroutine
// consumes the queue, owns the table (readers copy it under a small mutex)
// and signals Changes.
//
// memberlist v0.7.0 does not tell a graceful leave from a failure in
// NotifyLeave (Node.State is never set there), so, as serf does, a leaving
// node first gossips an explicit leave intent (name and boot id), which is
// re-gossiped by receivers and carried in push/pull state; a member whose
// departure matches an intent is StateLeft, otherwise StateDead. memberlist
// does not expose suspicion either: Members reports StateSuspect for no one,
// a suspect member stays StateAlive until memberlist declares it dead.
//
// # Security
//
// With Config.Keys, memberlist encrypts every packet and stream with
// AES-GCM under the primary key and decrypts with any installed key;
// Config.ClusterName becomes memberlist's label, prefixed to every message
// and (with keys) authenticated as additional data. memberlist discards a
// message with another label, or one no key decrypts, and only logs it: the
// log writer counts those lines (Security). A label without keys is a naming
// aid, not security. KeyOperation changes the keyring of every alive member
// (install, use, remove, list), each rewriting its KeyFile first; the
// requests are encrypted gossip messages, so the gossip key is a
// cluster-wide secret: its holders can change keys as they can disturb
// membership. memberlist's RemoveKey writes into the slice decrypting
// goroutines read; keyring.removeLocked avoids that.
//
// memberlist never re-joins on its own. Start runs a rejoin loop that
// periodically joins every known member that is not alive (except those that
// left gracefully) and every seed whose address no alive member holds; this
// reunites a restarted seed or the two halves of a healed partition.
package gossip
