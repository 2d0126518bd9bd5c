package gossip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// This file distributes keyring changes. memberlist's Keyring acts on one
// node; KeyOperation applies a change here, then sends it directly to every
// alive member (an encrypted memberlist user message over TCP) and collects
// one answer per member, as serf's key manager does with queries. Each
// member applies it, rewrites its keyring file first, and answers with its
// key fingerprints.

const (
	// keyReqQueueLen bounds key requests waiting for the key loop.
	keyReqQueueLen = 64
	// keyReqMaxAge is how far a request's issue time may be from ours:
	// older (or replayed later) requests are refused.
	keyReqMaxAge = 5 * time.Minute
	// maxSeenKeyReqs bounds the request ids remembered against replays.
	maxSeenKeyReqs = 4096
)

// NodeKeys is one node's answer to a keyring operation.
type NodeKeys struct {
	// Answered is false when no answer came before the context ended.
	Answered bool `json:"answered"`
	// Err is the node's refusal or failure ("" = done).
	Err string `json:"error,omitempty"`
	// Persisted says the node rewrote its keyring file.
	Persisted bool `json:"persisted"`
	// Keys are the node's key fingerprints after the operation, primary first.
	Keys []string `json:"keys"`
}

// KeyResult is the outcome of a cluster-wide keyring operation.
type KeyResult struct {
	Op string `json:"op"`
	// Nodes has one entry per member alive when the operation started,
	// this node included.
	Nodes map[string]NodeKeys `json:"nodes"`
	// NotAsked lists known members that were not alive (dead or left):
	// they missed the change and must get the keyring file by hand.
	NotAsked []string `json:"not_asked,omitempty"`
}

// Failed lists the nodes that did not answer or answered with an error.
func (r *KeyResult) Failed() []string {
	var out []string
	for name, n := range r.Nodes {
		if !n.Answered || n.Err != "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// keyWaiters routes key responses to the operation waiting for them.
type keyWaiters struct {
	mu sync.Mutex
	m  map[uint64]chan keyResponse
}

func (w *keyWaiters) add(id uint64, n int) chan keyResponse {
	ch := make(chan keyResponse, n)
	w.mu.Lock()
	if w.m == nil {
		w.m = make(map[uint64]chan keyResponse)
	}
	w.m[id] = ch
	w.mu.Unlock()
	return ch
}

func (w *keyWaiters) remove(id uint64) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

// deliver hands p to its waiter without blocking; it reports whether
// anyone was waiting.
func (w *keyWaiters) deliver(p keyResponse) bool {
	w.mu.Lock()
	ch, ok := w.m[p.ID]
	w.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case ch <- p:
		return true
	default:
		return false
	}
}

// Keys returns this node's key fingerprints, primary first (nil without
// encryption).
func (g *Gossip) Keys() []string {
	if g.keyring == nil {
		return nil
	}
	return fingerprints(g.keyring.keys())
}

// Encrypted reports whether gossip is encrypted.
func (g *Gossip) Encrypted() bool { return g.keyring != nil }

func fingerprints(keys [][]byte) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fingerprint(k)
	}
	return out
}

// KeyOperation applies op (with key; nil for KeyList) on this node and
// then on every alive member, and waits for their answers until all
// answered or ctx is done. A change refused here (say, using a key that
// is not installed) is returned as an error wrapping ErrKeyOp and is sent
// to no one. Rotation without downtime is install everywhere, use
// everywhere, remove the old key everywhere, checking each step's result.
// Safe for concurrent use.
func (g *Gossip) KeyOperation(ctx context.Context, op KeyOp, key []byte) (*KeyResult, error) {
	if g.closed.Load() {
		return nil, ErrClosed
	}
	if g.keyring == nil {
		return nil, ErrNoEncryption
	}
	if op < KeyList || op > KeyRemove {
		return nil, fmt.Errorf("%w: unknown operation %v", ErrKeyOp, op)
	}
	self := g.localKeyAnswer(op, key)
	if self.Err != "" {
		return nil, fmt.Errorf("%w: %s: %s", ErrKeyOp, g.cfg.Name, self.Err)
	}
	res := &KeyResult{Op: op.String(), Nodes: map[string]NodeKeys{g.cfg.Name: self}}
	var targets []*memberlist.Node
	for _, n := range g.ml.Members() {
		if n.Name != g.cfg.Name {
			targets = append(targets, n)
			res.Nodes[n.Name] = NodeKeys{}
		}
	}
	for _, m := range g.Members() {
		if _, asked := res.Nodes[m.Name]; !asked && (m.State == StateDead || m.State == StateLeft) {
			res.NotAsked = append(res.NotAsked, m.Name)
		}
	}
	if len(targets) == 0 {
		return res, nil
	}
	q := keyRequest{ID: randomID(), Issued: time.Now().UnixNano(), Op: op, Origin: g.cfg.Name, Key: key}
	ch := g.d.waiters.add(q.ID, len(targets))
	defer g.d.waiters.remove(q.ID)
	msg := encodeKeyRequest(q)
	sendErrs := make(chan keyResponse, len(targets))
	for _, n := range targets {
		g.goFunc(func(context.Context) {
			if err := g.ml.SendReliable(n, msg); err != nil {
				sendErrs <- keyResponse{Node: n.Name, Err: "not sent: " + err.Error()}
			}
		})
	}
	g.log.Info().Str("op", op.String()).Int("members", len(targets)).Msg("keyring operation sent")
	for pending := len(targets); pending > 0; pending-- {
		select {
		case p := <-ch:
			if _, ok := res.Nodes[p.Node]; ok {
				res.Nodes[p.Node] = NodeKeys{Answered: true, Err: p.Err, Persisted: p.Persisted, Keys: p.Keys}
			}
		case p := <-sendErrs:
			res.Nodes[p.Node] = NodeKeys{Err: p.Err}
		case <-ctx.Done():
			return res, nil
		}
	}
	return res, nil
}

// localKeyAnswer performs op on this node's keyring and describes the result.
func (g *Gossip) localKeyAnswer(op KeyOp, key []byte) NodeKeys {
	out := NodeKeys{Answered: true}
	if g.keyring == nil {
		out.Err = ErrNoEncryption.Error()
		return out
	}
	if op != KeyList {
		before := fingerprints(g.keyring.keys())
		if err := g.keyring.apply(op, key); err != nil {
			out.Err = err.Error()
		} else {
			out.Keys = g.Keys()
			out.Persisted = g.keyring.file != "" && !equalStrings(before, out.Keys)
			g.log.Info().Str("op", op.String()).Str("key", fingerprint(key)).Strs("keys", out.Keys).
				Bool("persisted", out.Persisted).Msg("keyring changed")
			return out
		}
	}
	out.Keys = g.Keys()
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// keyLoop answers key requests from other nodes, one at a time.
func (g *Gossip) keyLoop(ctx context.Context) {
	seen := make(map[uint64]time.Time)
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-g.d.keyReqCh:
			now := time.Now()
			p := keyResponse{ID: q.ID, Node: g.cfg.Name}
			if err := checkKeyRequest(q, now, seen); err != nil {
				p.Err = err.Error()
				g.log.Warn().Err(err).Str("peer", q.Origin).Str("op", q.Op.String()).Msg("keyring request refused")
			} else {
				a := g.localKeyAnswer(q.Op, q.Key)
				p.OK, p.Err, p.Persisted, p.Keys = a.Err == "", a.Err, a.Persisted, a.Keys
			}
			g.answerKeyRequest(q.Origin, p)
		}
	}
}

// checkKeyRequest refuses a request issued too far from now (clocks of a
// cluster are NTP-synchronised; a captured request replayed later is
// refused) or seen before, and remembers q's id.
func checkKeyRequest(q keyRequest, now time.Time, seen map[uint64]time.Time) error {
	issued := time.Unix(0, q.Issued)
	if d := now.Sub(issued); d > keyReqMaxAge || d < -keyReqMaxAge {
		return fmt.Errorf("%w: request issued %v from this node's clock (limit %v)", ErrKeyOp, d.Round(time.Second), keyReqMaxAge)
	}
	if _, dup := seen[q.ID]; dup {
		return fmt.Errorf("%w: request %016x seen before", ErrKeyOp, q.ID)
	}
	if len(seen) >= maxSeenKeyReqs {
		for id, t := range seen {
			if now.Sub(t) > 2*keyReqMaxAge {
				delete(seen, id)
			}
		}
		for id := range seen { // still full: forget an arbitrary one
			if len(seen) < maxSeenKeyReqs {
				break
			}
			delete(seen, id)
		}
	}
	seen[q.ID] = issued
	return nil
}

// answerKeyRequest sends p to the member named origin.
func (g *Gossip) answerKeyRequest(origin string, p keyResponse) {
	var to *memberlist.Node
	for _, n := range g.ml.Members() {
		if n.Name == origin {
			to = n
			break
		}
	}
	if to == nil {
		g.log.Warn().Str("peer", origin).Msg("keyring request from a node that is not a live member, not answered")
		return
	}
	if err := g.ml.SendReliable(to, encodeKeyResponse(p)); err != nil {
		g.log.Warn().Err(err).Str("peer", origin).Msg("keyring answer not sent")
	}
}

// randomID returns a random non-zero uint64.
func randomID() uint64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic("gossip: crypto/rand failed: " + err.Error())
		}
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}
