package analysis

import (
	"context"
	"time"

	"shoal/internal/wire"
	"shoal/zeeklog"
)

// Worker is a module's worker side. Besides these methods it implements
// the hooks of package traffic it needs (traffic.EstablishedHook, ...);
// the node calls hooks, Moved, Expire and Finish from the worker's input
// goroutine, never concurrently with each other. Handle may run on other
// goroutines at the same time: a module whose Handle touches state the
// hooks use guards it.
type Worker interface {
	// Moved drops the send-suppression state of every partition p with
	// moved[p] (its owner changed since the last call, or the last ring
	// change before the first call), so their keys are offered to the new
	// owner again and nothing else is. It returns how many entries it
	// dropped.
	Moved(moved []bool) int
	// Expire is called from time to time (every few thousand packets)
	// with the worker's network time: drop expired cache entries, send
	// what is due.
	Expire(ctx context.Context, now time.Time)
	// Finish is called when packet input ends: send what is still held.
	Finish(ctx context.Context)
	// Handle receives the module's events addressed to workers.
	Handle(from string, t wire.Type, payload []byte) error
	// Counters are the worker side's counters. Safe for concurrent use.
	Counters() []Counter
}

// NoPartition is the partition of an event that is not routed by key (a
// broadcast to every owner, such as the end of a manual epoch).
const NoPartition = -1

// Owner is a module's datanode side: its state per ring partition of the
// datanode pool. The node serialises every call (one goroutine at a time);
// an Owner never reads a clock, starts a goroutine or does I/O.
type Owner interface {
	// Partition returns the partition an event of type t belongs to (the
	// partition of the key its sender hashed), or NoPartition for an
	// event not routed by key.
	Partition(t wire.Type, payload []byte) (int, error)
	// Apply applies one event to partition part. now is the owner's clock
	// when it applies the event (read by the node, replicated with the
	// event): a module running on network time takes that from the
	// events and uses now only to let time pass while no event comes.
	// Apply is deterministic given (state, part, event, now) and appends
	// what it decided to out. payload is valid only during the call.
	Apply(part int, t wire.Type, payload []byte, now time.Time, out *Out) error
	// Expire ends and expires what is due at now (the node calls it a few
	// times a second).
	Expire(now time.Time, out *Out)
	// Unsent tells the owner that rec could not be delivered to any
	// manager: a module that can take the decision back does (a known
	// host is forgotten, so it is logged when it is offered again).
	Unsent(rec Record)
	// Export encodes partition part's state. The bytes are fresh.
	Export(part int) ([]byte, error)
	// Import replaces partition part's state with an exported one (taking
	// a partition over).
	Import(part int, b []byte) error
	// Merge combines an exported state into partition part's (two copies
	// that diverged). It fails with ErrNotMergeable unless Laws allow it.
	Merge(part int, b []byte) error
	// Drop forgets partition part.
	Drop(part int)
	// Laws states what Merge guarantees.
	Laws() Laws
	// Counters are the owner side's counters. Safe for concurrent use.
	Counters() []Counter
}

// Laws are the algebraic laws a module's Merge guarantees, checked by its
// property tests against a simple reference. Sets, HLL registers, minima
// and maxima merge idempotently; sums, counts, Welford moments, top-k and
// samples do not, so such state is only ever moved (Export, Import), never
// merged twice.
type Laws struct {
	// Mergeable: Merge is supported at all.
	Mergeable bool
	// Commutative: merge(a, b) = merge(b, a).
	Commutative bool
	// Associative: merge(merge(a, b), c) = merge(a, merge(b, c)).
	Associative bool
	// Idempotent: merge(a, a) = a, so merging a copy twice is harmless.
	Idempotent bool
}

// Out collects what an Owner decided. The node resets it before each call
// and then sends Records to managers, Notify to every worker and Replies
// to the sender of the event applied.
type Out struct {
	Records []Record
	Notify  []wire.Event
	Replies []wire.Event
}

// Reset empties o, keeping its capacity.
func (o *Out) Reset() {
	clear(o.Records)
	clear(o.Notify)
	clear(o.Replies)
	o.Records, o.Notify, o.Replies = o.Records[:0], o.Notify[:0], o.Replies[:0]
}

// Record is what an Owner sends to a manager: a log record or a notice.
// Key picks the manager (hashed in the manager pool). Records must be
// deterministic: the same decision always renders the same row.
type Record struct {
	Part  int // the partition whose decision produced it
	Key   []byte
	Event wire.Event
}

// Manager is a module's manager side: its log streams and the rows its
// records become. The node serialises calls per module.
type Manager interface {
	// Streams are the logs the module writes.
	Streams() []Stream
	// Rows turns one record (an event of the module sent to managers by
	// from) into log rows, appended to out. now is the manager's clock,
	// for a record that carries no time of its own.
	Rows(from string, t wire.Type, payload []byte, now time.Time, out *[]Row) error
	// Counters are the manager side's counters. Safe for concurrent use.
	Counters() []Counter
}

// Stream is one log: its path ("known_hosts" for known_hosts.log) and its
// Zeek columns.
type Stream struct {
	Path   string
	Fields []zeeklog.Field
}

// Row is one log row for a stream.
type Row struct {
	Path   string
	Values []zeeklog.Value
}

// CounterKind tells a monotonic count from a gauge.
type CounterKind uint8

// The counter kinds.
const (
	Count CounterKind = iota // only grows
	Gauge                    // goes up and down
)

// Counter is one named value a side reports. Name is its key in /status
// (snake_case, stable) and, prefixed, its metric name; Help describes it.
type Counter struct {
	Name  string
	Help  string
	Kind  CounterKind
	Value uint64
}
