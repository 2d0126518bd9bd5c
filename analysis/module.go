package analysis

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"shoal/internal/wire"
)

// Role is a node's role, which is also the name of the pool its members
// form.
type Role string

// The roles. RoleAny in EventSpec.To means the event is handled on every
// node that receives it (replies to a request any node may make).
const (
	RoleWorker   Role = "worker"
	RoleDatanode Role = "datanode"
	RoleManager  Role = "manager"
	RoleAny      Role = "*"
)

// Delivery is how an event travels.
type Delivery uint8

// The deliveries.
const (
	// Hashed: to the member of the To pool that owns the event's key, with
	// failover to the next owner.
	Hashed Delivery = iota + 1
	// Broadcast: to every live member of the To pool.
	Broadcast
	// Direct: to one named node (a reply to the node that asked).
	Direct
)

// String names the delivery.
func (d Delivery) String() string {
	switch d {
	case Hashed:
		return "hashed"
	case Broadcast:
		return "broadcast"
	case Direct:
		return "direct"
	}
	return fmt.Sprintf("delivery(%d)", uint8(d))
}

// EventSpec declares one event of a module: its wire type number (stable:
// part of the protocol), a name for logs and metrics, how it travels, the
// role that handles it and the roles allowed to send it. The node refuses
// two modules that claim the same type; issue 10's authorization enforces
// From.
type EventSpec struct {
	Type     wire.Type
	Name     string
	Delivery Delivery
	To       Role
	From     []Role
}

// Module is one analysis. The value is built from the module's
// configuration (New in its package) and attached once, to one node.
type Module interface {
	// Name is the module's stable name ("known_hosts"): a prefix of its
	// metrics and the key of its status fragment.
	Name() string
	// Events declares the module's events.
	Events() []EventSpec
	// Settings returns the module's cluster-wide settings (a struct of
	// plain values). Every node must run with equal settings; the node
	// hashes them with SettingsHash into its gossip metadata, so a new
	// field changes the hash without anyone listing it.
	Settings() any
	// Attach builds the module's sides for the node described by env. It is
	// called once, before the node starts; a second call fails.
	Attach(env Env) (Parts, error)
}

// Env describes the node a module is attached to.
type Env struct {
	Node       string // the node's name (notice peer_descr)
	Role       Role
	Partitions int // ring partitions of every pool (Partition's n)
	Send       Sender
}

// Sender is how a module sends events; the node implements it. Blocking
// sends (a full queue on a node that applies backpressure) end with ctx.
// Safe for concurrent use.
type Sender interface {
	// Hashed sends ev to the member of pool to that owns partition part:
	// Partition(key, Env.Partitions) of the event's key. If that member
	// fails before it acknowledges ev, ev goes to the partition's next
	// owner.
	Hashed(ctx context.Context, to Role, part int, ev wire.Event) error
	// Broadcast sends ev to every live member of pool to.
	Broadcast(ctx context.Context, to Role, ev wire.Event) error
	// Direct sends ev to the named node.
	Direct(ctx context.Context, node string, ev wire.Event) error
	// Members is the number of live members of pool to.
	Members(to Role) int
}

// Parts are the sides of a module on one node; the ones that do not apply
// to the node's role are nil.
type Parts struct {
	Worker  Worker
	Owner   Owner
	Manager Manager
	// Handle receives the module's events whose To is RoleAny, on every
	// node, on the receiving connection's goroutine (concurrently for
	// different senders). It must not block.
	Handle func(from string, t wire.Type, payload []byte) error
	// Endpoints are HTTP handlers the node serves on its --http address.
	Endpoints []Endpoint
}

// Endpoint is an HTTP handler a module contributes: Pattern is a
// net/http.ServeMux pattern ("POST /v1/observe"). Write marks a handler
// that changes something, which the node guards as it guards its own
// writes (an HTTP token off loopback); the others need read access.
type Endpoint struct {
	Pattern string
	Handler http.HandlerFunc
	Write   bool
}

// Errors shared by modules.
var (
	// ErrAttached: Attach was called twice.
	ErrAttached = errors.New("analysis: module already attached")
	// ErrUnknownEvent: a side was given an event type it does not handle.
	ErrUnknownEvent = errors.New("analysis: unknown event type")
	// ErrNotMergeable: Merge on a module whose Laws do not allow it.
	ErrNotMergeable = errors.New("analysis: state is not mergeable")
	// ErrBadState: Import or Merge got bytes that are not a valid state.
	ErrBadState = errors.New("analysis: bad state encoding")
)

// CheckEvents reports the first inconsistency between modules' event
// declarations: a type claimed twice, or a declaration without a name,
// delivery, destination or sender.
func CheckEvents(mods []Module) error {
	seen := map[wire.Type]string{}
	names := map[string]bool{}
	for _, m := range mods {
		if names[m.Name()] {
			return fmt.Errorf("analysis: module %q registered twice", m.Name())
		}
		names[m.Name()] = true
		for _, e := range m.Events() {
			if other, ok := seen[e.Type]; ok {
				return fmt.Errorf("analysis: event type %d claimed by %s and %s", e.Type, other, m.Name())
			}
			seen[e.Type] = m.Name()
			if e.Name == "" || e.Delivery < Hashed || e.Delivery > Direct || e.To == "" || len(e.From) == 0 {
				return fmt.Errorf("analysis: %s: incomplete declaration of event type %d", m.Name(), e.Type)
			}
		}
	}
	return nil
}
