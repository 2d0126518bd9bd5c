package node

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"shoal/analysis"
	"shoal/internal/wire"
	"shoal/route"
)

// Authorization: which roles may send each message type, and which HTTP
// endpoints need what. These tables are the whole policy; deliver and the
// HTTP guard enforce exactly them, and README's "Securing a cluster" shows
// them (generated: TestAuthorizationDoc fails when it drifts). With mutual
// TLS a sender's role is its certificate's (the transport refuses a hello
// whose pool differs); without, it is the role the sender's hello claims.
//
// A message type without a row is refused and counted like one from a
// role its row does not list: an application that registers its own event
// type with Handle gives it a row with Allow.

// Message is one row of the authorization table: a wire type, its name,
// the roles allowed to send it and the role that handles it ("*": every
// node).
type Message struct {
	Type wire.Type
	Name string
	From []Role
	To   Role
}

// coreMessages are the message types the node itself handles (not
// declared by a module). A module's declaration (analysis.EventSpec) takes
// precedence for its own types.
var coreMessages = []Message{
	{wire.TypeScanAttempt, "scan.attempt", []Role{RoleWorker}, RoleDatanode},
	// A datanode tells every worker to stop sending for a reported scanner.
	{wire.TypeScannerReported, "scan.reported", []Role{RoleDatanode}, RoleWorker},
	{wire.TypeObservation, "sumstats.observation", []Role{RoleWorker}, RoleDatanode},
	{wire.TypeSumStatsOutput, "sumstats.output", []Role{RoleDatanode}, RoleManager},
	// Epoch control: every node serves POST /v1/sumstats/next-epoch (which
	// itself needs a manager certificate or the token) and broadcasts it.
	{wire.TypeNextEpoch, "sumstats.next_epoch", allRoles, RoleDatanode},
	// Lookups: any node asks the owning datanode, which answers the asker.
	{wire.TypeLookup, "sumstats.lookup", allRoles, RoleDatanode},
	{wire.TypeLookupReply, "sumstats.lookup_reply", []Role{RoleDatanode}, "*"},
}

var allRoles = []Role{RoleWorker, RoleDatanode, RoleManager}

// MessageTable returns the authorization table of a node running mods:
// coreMessages with every module's declared events, sorted by type. A
// fresh slice; the node enforces exactly these rows (and Allow's).
func MessageTable(mods []analysis.Module) []Message {
	rows := map[wire.Type]Message{}
	for _, m := range coreMessages {
		rows[m.Type] = m
	}
	for _, mod := range mods {
		for _, e := range mod.Events() {
			rows[e.Type] = Message{Type: e.Type, Name: e.Name, From: roles(e.From), To: Role(e.To)}
		}
	}
	out := make([]Message, 0, len(rows))
	for _, m := range rows {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Message) int { return int(a.Type) - int(b.Type) })
	return out
}

// roles maps a module's declared senders to node roles (analysis.RoleAny:
// every role).
func roles(from []analysis.Role) []Role {
	var out []Role
	for _, r := range from {
		if r == analysis.RoleAny {
			return slices.Clone(allRoles)
		}
		out = append(out, Role(r))
	}
	return out
}

// httpRules maps every HTTP endpoint to its rule. Reads need the token or
// a client certificate of any role unless the listener is on loopback;
// writes need the token or a certificate of a listed role; key management
// needs a credential even on loopback.
var httpRules = map[string]httpRule{
	"GET /status":                  {need: accessRead},
	"GET /v1/sumstats/lookup":      {need: accessRead},
	"POST /v1/observe":             {need: accessWrite, roles: []Role{RoleWorker, RoleManager}},
	"POST /v1/sumstats/next-epoch": {need: accessWrite, roles: []Role{RoleManager}},
	"GET /v1/keys":                 {need: accessAdmin, roles: []Role{RoleManager}},
	"POST /v1/keys/{op}":           {need: accessAdmin, roles: []Role{RoleManager}},
}

// rule returns the rule of an HTTP pattern; a pattern without one is a
// programming error caught by the tests.
func rule(pattern string) httpRule {
	r, ok := httpRules[pattern]
	if !ok {
		panic(fmt.Sprintf("node: HTTP endpoint %q has no authorization rule", pattern))
	}
	return r
}

// authz is one node's table: coreMessages plus the From of every event its
// modules declare and every Allow, filled before Start and read-only
// afterwards; and the counts of refused events and not-owner answers.
type authz struct {
	roles    map[wire.Type][]Role
	refused  atomic.Uint64
	notOwner atomic.Uint64 // events for a partition this datanode does not own
}

// errNotOwner: an owner side was given an event for a partition this
// datanode does not own; deliver answers route.NotOwner.
var errNotOwner = errors.New("node: not the owner of the event's partition")

// owns reports whether this node owns partition part of its own pool's
// ring. Without a ring yet (nothing to compare with) it takes the event.
// Replication (issue 9) will extend this to the partitions it replicates.
func (n *Node) owns(part int) bool {
	r, _ := n.router.Ring(string(n.cfg.Role))
	if r == nil || r.Len() == 0 || part < 0 || part >= r.Partitions() {
		return true
	}
	i := r.PartitionOwner(part)
	return i >= 0 && r.Member(i) == n.cfg.Name
}

// declare sets the roles allowed to send t.
func (a *authz) declare(t wire.Type, from []Role) {
	if a.roles == nil {
		a.roles = make(map[wire.Type][]Role)
	}
	a.roles[t] = from
}

// lookup returns the roles allowed to send t and whether t has a row.
func (a *authz) lookup(t wire.Type) ([]Role, bool) {
	if roles, ok := a.roles[t]; ok {
		return roles, true
	}
	i := slices.IndexFunc(coreMessages, func(m Message) bool { return m.Type == t })
	if i < 0 {
		return nil, false
	}
	return coreMessages[i].From, true
}

// allowed reports whether sender may send a message of type t: t has a
// row and it lists the sender's role.
func (a *authz) allowed(sender route.Sender, t wire.Type) bool {
	roles, _ := a.lookup(t)
	return slices.Contains(roles, Role(sender.Pool))
}

// Allow gives an application's own event type t (one registered with
// Handle) its row in the authorization table: the roles allowed to send
// it. Without a row every event of type t is refused and counted. Call
// before Start; a type declared by a module or the node keeps that
// declaration's row unless Allow is called after it.
func Allow(n *Node, t wire.Type, from ...Role) {
	if n.started.Load() {
		panic("node: Allow after Start") // a programming error, not input
	}
	n.authz.declare(t, slices.Clone(from))
}

// moduleRule is the rule of an endpoint a module contributes: a write needs
// the token or a worker or manager certificate, a read is a read.
func moduleRule(e analysis.Endpoint) httpRule {
	if e.Write {
		return httpRule{need: accessWrite, roles: []Role{RoleWorker, RoleManager}}
	}
	return httpRule{need: accessRead}
}
