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
// them. With mutual TLS a sender's role is its certificate's (the
// transport refuses a hello whose pool differs); without, it is the role
// the sender's hello claims.
//
// A type registered with Handle that is not in the table (an application's
// own event) is accepted from any cluster member; an unregistered type is
// dropped and counted as unknown.

// senderRoles maps the message types the node itself handles (not
// declared by a module) to the roles allowed to send them. A module's
// declaration (EventSpec.From) takes precedence for its own types.
var senderRoles = map[wire.Type][]Role{
	// Analysis events: a worker to the datanode owning the key.
	wire.TypeHostSeen:    {RoleWorker},
	wire.TypeServiceSeen: {RoleWorker},
	wire.TypeCertSeen:    {RoleWorker},
	wire.TypeScanAttempt: {RoleWorker},
	wire.TypeObservation: {RoleWorker},
	// Records: a datanode to a manager.
	wire.TypeKnownHost:      {RoleDatanode},
	wire.TypeKnownService:   {RoleDatanode},
	wire.TypeKnownCert:      {RoleDatanode},
	wire.TypeNotice:         {RoleDatanode},
	wire.TypeSumStatsOutput: {RoleDatanode},
	// A datanode tells every worker to stop sending for a reported scanner.
	wire.TypeScannerReported: {RoleDatanode},
	// Epoch control: every node serves POST /v1/sumstats/next-epoch (which
	// itself needs a manager certificate or the token) and broadcasts it.
	wire.TypeNextEpoch: {RoleWorker, RoleDatanode, RoleManager},
	// Lookups: any node asks the owning datanode, which answers the asker.
	wire.TypeLookup:      {RoleWorker, RoleDatanode, RoleManager},
	wire.TypeLookupReply: {RoleDatanode},
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

// authz is one node's table: senderRoles plus the From of every event its
// modules declare (analysis.EventSpec), filled before Start and read-only
// afterwards; and the count of refused events.
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

// declare records the roles allowed to send t (a module's EventSpec.From;
// analysis.RoleAny allows every role).
func (a *authz) declare(t wire.Type, from []analysis.Role) {
	if a.roles == nil {
		a.roles = make(map[wire.Type][]Role)
	}
	var roles []Role
	for _, r := range from {
		if r == analysis.RoleAny {
			roles = []Role{RoleWorker, RoleDatanode, RoleManager}
			break
		}
		roles = append(roles, Role(r))
	}
	a.roles[t] = roles
}

// lookup returns the roles allowed to send t and whether t has a row.
func (a *authz) lookup(t wire.Type) ([]Role, bool) {
	if roles, ok := a.roles[t]; ok {
		return roles, true
	}
	roles, ok := senderRoles[t]
	return roles, ok
}

// allowed reports whether sender may send a message of type t.
func (a *authz) allowed(sender route.Sender, t wire.Type) bool {
	roles, ok := a.lookup(t)
	if !ok {
		return true // an application's own event type (or unknown, counted apart)
	}
	return slices.Contains(roles, Role(sender.Pool))
}

// moduleRule is the rule of an endpoint a module contributes: a write needs
// the token or a worker or manager certificate, a read is a read.
func moduleRule(e analysis.Endpoint) httpRule {
	if e.Write {
		return httpRule{need: accessWrite, roles: []Role{RoleWorker, RoleManager}}
	}
	return httpRule{need: accessRead}
}
