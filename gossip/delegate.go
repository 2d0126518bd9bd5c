package gossip

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

// eventKind says what a callback reported.
type eventKind uint8

const (
	evJoin eventKind = iota + 1
	evLeave
	evUpdate
	evConflict
	evRefused
	evIntent
)

// nodeInfo is a private copy of what memberlist told us about a node.
type nodeInfo struct {
	name string
	addr string // host:port
	meta []byte
	left bool // memberlist said StateLeft (v0.7.0 never does in NotifyLeave)
}

func copyNode(n *memberlist.Node) nodeInfo {
	return nodeInfo{
		name: n.Name,
		addr: n.Address(),
		meta: bytes.Clone(n.Meta),
		left: n.State == memberlist.StateLeft,
	}
}

// event is one callback, handed from memberlist's goroutines to the consumer.
type event struct {
	kind   eventKind
	node   nodeInfo // the member; for evConflict the existing one
	other  nodeInfo // evConflict: the one that conflicts
	reason string   // evRefused: snake_case reason
	detail string   // evRefused: human readable detail
}

// delegate implements memberlist's delegate interfaces. Every method may be
// called concurrently, often with memberlist's node lock held: none blocks.
// Membership callbacks copy their arguments onto eventCh; when it is full the
// event is dropped, counted, and a resync is requested.
type delegate struct {
	name  string
	meta  []byte // our encoded metadata, immutable
	local Meta

	eventCh  chan event
	resyncCh chan struct{} // capacity 1
	dropped  atomic.Uint64

	// refusals counts merges refused by NotifyMerge; lastRefusal is the last
	// such error. Join uses them to report why a join failed.
	refusals    atomic.Uint64
	lastRefusal atomic.Pointer[error]
	// refused counts every refusal (alive messages and merges).
	refused atomic.Uint64

	// numAlive is the consumer's count of alive members; the broadcast
	// queue scales retransmissions with it (read without memberlist's lock,
	// since GetBroadcasts may run under it).
	numAlive atomic.Int64
	queue    memberlist.TransmitLimitedQueue

	// keyReqCh hands key requests to the key loop; waiters routes key
	// responses to the operation that sent the request.
	keyReqCh      chan keyRequest
	keyReqDropped atomic.Uint64
	waiters       keyWaiters

	mu      sync.Mutex          // guards intents and latest
	intents map[string]uint64   // name -> BootID of the instance that left gracefully
	latest  map[string]nodeInfo // name -> last joined/updated address and metadata (for resync)
}

var (
	_ memberlist.Delegate         = (*delegate)(nil)
	_ memberlist.EventDelegate    = (*delegate)(nil)
	_ memberlist.ConflictDelegate = (*delegate)(nil)
	_ memberlist.AliveDelegate    = (*delegate)(nil)
	_ memberlist.MergeDelegate    = (*delegate)(nil)
)

func newDelegate(name string, meta []byte, local Meta, queueLen, retransmitMult int) *delegate {
	d := &delegate{
		name:     name,
		meta:     meta,
		local:    local,
		eventCh:  make(chan event, queueLen),
		resyncCh: make(chan struct{}, 1),
		keyReqCh: make(chan keyRequest, keyReqQueueLen),
		intents:  make(map[string]uint64),
		latest:   make(map[string]nodeInfo),
	}
	d.queue.RetransmitMult = retransmitMult
	d.queue.NumNodes = func() int { return max(1, int(d.numAlive.Load())) }
	return d
}

// push hands ev to the consumer without blocking.
func (d *delegate) push(ev event) {
	select {
	case d.eventCh <- ev:
	default:
		d.dropped.Add(1)
		select {
		case d.resyncCh <- struct{}{}:
		default:
		}
	}
}

// check decides whether a peer's metadata is compatible with ours.
func (d *delegate) check(b []byte) (reason, detail string) {
	pm, err := DecodeMeta(b)
	switch {
	case err != nil:
		return "bad_meta", err.Error()
	case pm.Proto != d.local.Proto:
		return "proto_mismatch", fmt.Sprintf("protocol version %d, ours %d", pm.Proto, d.local.Proto)
	case pm.RingHash != d.local.RingHash:
		return "ring_hash_mismatch", fmt.Sprintf("ring hash %016x, ours %016x", pm.RingHash, d.local.RingHash)
	}
	return "", ""
}

func (d *delegate) refuse(n *memberlist.Node, reason, detail string) error {
	d.refused.Add(1)
	d.push(event{kind: evRefused, node: nodeInfo{name: n.Name, addr: n.Address()}, reason: reason, detail: detail})
	return fmt.Errorf("%w: %s (%s): %s", ErrRefused, n.Name, n.Address(), detail)
}

// NotifyAlive implements memberlist.AliveDelegate: an error makes memberlist
// ignore the alive message, so an incompatible node never becomes a member.
func (d *delegate) NotifyAlive(peer *memberlist.Node) error {
	if peer.Name == d.name && bytes.Equal(peer.Meta, d.meta) {
		return nil
	}
	if reason, detail := d.check(peer.Meta); reason != "" {
		return d.refuse(peer, reason, detail)
	}
	return nil
}

// NotifyMerge implements memberlist.MergeDelegate: on a join (either side),
// the whole remote state is refused when any alive node in it is
// incompatible. The joiner's Join then fails with that error.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if p.State != memberlist.StateAlive {
			continue
		}
		if reason, detail := d.check(p.Meta); reason != "" {
			err := d.refuse(p, reason, detail)
			d.lastRefusal.Store(&err)
			d.refusals.Add(1)
			return err
		}
	}
	return nil
}

// NotifyJoin implements memberlist.EventDelegate.
func (d *delegate) NotifyJoin(n *memberlist.Node) {
	ni := copyNode(n)
	d.remember(ni)
	d.push(event{kind: evJoin, node: ni})
}

// NotifyLeave implements memberlist.EventDelegate (failure or leave).
func (d *delegate) NotifyLeave(n *memberlist.Node) { d.push(event{kind: evLeave, node: copyNode(n)}) }

// NotifyUpdate implements memberlist.EventDelegate (metadata change).
func (d *delegate) NotifyUpdate(n *memberlist.Node) {
	ni := copyNode(n)
	d.remember(ni)
	d.push(event{kind: evUpdate, node: ni})
}

// remember keeps the latest address and metadata of a live node.
func (d *delegate) remember(ni nodeInfo) {
	d.mu.Lock()
	d.latest[ni.name] = ni
	d.mu.Unlock()
}

// latestOf returns what remember last kept for name.
func (d *delegate) latestOf(name string) (nodeInfo, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ni, ok := d.latest[name]
	return ni, ok
}

// NotifyConflict implements memberlist.ConflictDelegate: memberlist saw an
// alive message for a known live name at another address and ignored it.
func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	d.push(event{kind: evConflict, node: copyNode(existing), other: copyNode(other)})
}

// NodeMeta implements memberlist.Delegate. The result is a fresh copy.
func (d *delegate) NodeMeta(limit int) []byte {
	if len(d.meta) > limit {
		return nil // cannot happen: New checked the size
	}
	return bytes.Clone(d.meta)
}

// NotifyMsg implements memberlist.Delegate: user messages are leave
// intents (gossiped) and keyring requests and responses (sent directly).
// Malformed messages are ignored. b is not retained.
func (d *delegate) NotifyMsg(b []byte) {
	switch msgKind(b) {
	case intentKindLeave:
		in, err := decodeIntent(b)
		if err != nil {
			return
		}
		if d.recordIntent(in) {
			d.queue.QueueBroadcast(newIntentBroadcast(in, nil)) // re-gossip, as memberlist does for its own messages
		}
	case msgKindKeyRequest:
		q, err := decodeKeyRequest(b)
		if err != nil {
			return
		}
		select {
		case d.keyReqCh <- q:
		default:
			d.keyReqDropped.Add(1) // the origin reports this node as not answering
		}
	case msgKindKeyResponse:
		if p, err := decodeKeyResponse(b); err == nil {
			d.waiters.deliver(p)
		}
	}
}

// GetBroadcasts implements memberlist.Delegate.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

// LocalState implements memberlist.Delegate: the known leave intents.
func (d *delegate) LocalState(join bool) []byte {
	d.mu.Lock()
	ins := make([]intent, 0, len(d.intents))
	for name, boot := range d.intents {
		ins = append(ins, intent{Name: name, BootID: boot})
	}
	d.mu.Unlock()
	return encodeIntents(ins)
}

// MergeRemoteState implements memberlist.Delegate. buf is not retained.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	ins, err := decodeIntents(buf)
	if err != nil {
		return
	}
	for _, in := range ins {
		d.recordIntent(in)
	}
}

// recordIntent stores in and tells the consumer; it reports whether it was new.
func (d *delegate) recordIntent(in intent) bool {
	d.mu.Lock()
	if boot, ok := d.intents[in.Name]; ok && boot == in.BootID {
		d.mu.Unlock()
		return false
	}
	if len(d.intents) >= maxIntents {
		for k := range d.intents { // evict an arbitrary entry
			delete(d.intents, k)
			break
		}
	}
	d.intents[in.Name] = in.BootID
	d.mu.Unlock()
	d.push(event{kind: evIntent, node: nodeInfo{name: in.Name}})
	return true
}

// leftIntent returns the boot id of the instance of name known to have left.
func (d *delegate) leftIntent(name string) (uint64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	boot, ok := d.intents[name]
	return boot, ok
}

// forgetIntent drops the intent for name unless it is about boot (a newer
// instance of the node is alive).
func (d *delegate) forgetIntent(name string, boot uint64) {
	d.mu.Lock()
	if b, ok := d.intents[name]; ok && b != boot {
		delete(d.intents, name)
	}
	d.mu.Unlock()
}

// announceLeave records our own intent and queues it for gossip; the
// returned channel is closed when it has been retransmitted enough. msg is
// the encoded intent, for direct sends.
func (d *delegate) announceLeave() (done <-chan struct{}, msg []byte) {
	in := intent{Name: d.name, BootID: d.local.BootID}
	d.recordIntent(in)
	ch := make(chan struct{})
	d.queue.QueueBroadcast(newIntentBroadcast(in, ch))
	return ch, encodeIntent(in)
}
