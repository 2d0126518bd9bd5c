package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"shoal/gossip"
	"shoal/internal/wire"
	"shoal/pki"
	"shoal/route"
)

// This file wires mutual TLS: the event transport (pki.Transport), the
// gossip identity behind every hello, and the confirmation that keeps a
// gossip member out of the rings until an mTLS hello at its advertised data
// address proved its name and role.

// loadTLS loads the node's certificate files and checks they name this node.
func loadTLS(cfg *Config) (*pki.Files, error) {
	p := cfg.Security.TLS
	if p == (pki.Paths{}) {
		return nil, nil
	}
	f, err := pki.Load(p, time.Now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if id := f.Identity(); id.Name != cfg.Name || id.Role != string(cfg.Role) {
		return nil, fmt.Errorf("%w: the certificate %s names %s, this node is %s", ErrConfig, p.Cert, id,
			pki.Identity{Role: string(cfg.Role), Name: cfg.Name})
	}
	return f, nil
}

// gossipMember checks a hello against gossip: p must be a live member
// with that role and boot id. A node that has just joined may not be known
// yet: wait for gossip within ctx.
func (n *Node) gossipMember(ctx context.Context, p route.Peer) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		var found *gossip.Member
		for _, m := range n.gossip.Members() {
			if m.Name == p.Name && (m.State == gossip.StateAlive || m.State == gossip.StateSuspect) {
				found = &m
				break
			}
		}
		switch {
		case found != nil && found.Meta.Role == p.Pool && found.Meta.BootID == p.BootID:
			return nil
		case found != nil && found.Meta.BootID == p.BootID:
			return fmt.Errorf("gossip knows %s as a %s, the hello says %s", p.Name, found.Meta.Role, p.Pool)
		}
		select {
		case <-ctx.Done():
			if found != nil {
				return fmt.Errorf("gossip knows %s with boot id %016x, the hello says %016x", p.Name, found.Meta.BootID, p.BootID)
			}
			return fmt.Errorf("%s is not a live gossip member", p.Name)
		case <-t.C:
		}
	}
}

// confirmState is what this node knows of one member's certificate.
type confirmState struct {
	boot    uint64
	ok      bool
	probing bool
	err     string
	next    time.Time // earliest next probe after a failure
	backoff time.Duration
}

// confirmer probes every gossip member's data address with an mTLS hello
// before the member may enter a ring. Safe for concurrent use.
type confirmer struct {
	n       *Node
	tr      *pki.Transport
	mu      sync.Mutex
	members map[string]*confirmState
	refused atomic.Uint64
}

func newConfirmer(n *Node, tr *pki.Transport) *confirmer {
	return &confirmer{n: n, tr: tr, members: make(map[string]*confirmState)}
}

// allowed reports whether m may enter a ring: itself, or confirmed for its
// current boot id. Unconfirmed members are probed (in the background).
func (c *confirmer) allowed(m gossip.Member) bool {
	if m.Name == c.n.cfg.Name {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.members[m.Name]
	if st == nil || st.boot != m.Meta.BootID {
		st = &confirmState{boot: m.Meta.BootID, backoff: 250 * time.Millisecond}
		c.members[m.Name] = st
	}
	if st.ok {
		return true
	}
	if !st.probing && !time.Now().Before(st.next) && c.n.ctx != nil {
		st.probing = true
		peer := route.Peer{Name: m.Name, Pool: m.Meta.Role, DataAddr: m.Meta.DataAddr, BootID: m.Meta.BootID}
		c.n.goFunc(func(ctx context.Context) { c.probe(ctx, peer) })
	}
	return false
}

// settled reports whether every member in ms has been probed at least once
// (confirmed or refused).
func (c *confirmer) settled(ms []gossip.Member) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range ms {
		if m.Name == c.n.cfg.Name || (m.State != gossip.StateAlive && m.State != gossip.StateSuspect) {
			continue
		}
		st := c.members[m.Name]
		if st == nil || st.boot != m.Meta.BootID || (!st.ok && st.err == "") {
			return false
		}
	}
	return true
}

// unconfirmed lists the members refused so far with the reason.
func (c *confirmer) unconfirmed() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{}
	for name, st := range c.members {
		if !st.ok && st.err != "" {
			out[name] = st.err
		}
	}
	return out
}

// probe dials p over mutual TLS (its certificate must name p), exchanges
// hellos (its hello must be p's) and closes; the result is recorded and the
// rings rebuilt.
func (c *confirmer) probe(ctx context.Context, p route.Peer) {
	err := c.hello(ctx, p)
	c.mu.Lock()
	st := c.members[p.Name]
	if st != nil && st.boot == p.BootID {
		st.probing = false
		if err == nil {
			st.ok, st.err = true, ""
		} else {
			st.err = err.Error()
			st.next = time.Now().Add(st.backoff)
			st.backoff = min(2*st.backoff, 30*time.Second)
		}
	}
	c.mu.Unlock()
	if err != nil {
		c.refused.Add(1)
		c.n.log.Warn().Err(err).Str("peer", p.Name).Str("pool", p.Pool).Msg("member not confirmed, kept out of the rings")
	} else {
		c.n.log.Info().Str("peer", p.Name).Str("pool", p.Pool).Msg("member confirmed by mutual TLS")
	}
	signal(c.n.ringCh)
}

func (c *confirmer) hello(ctx context.Context, p route.Peer) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := c.tr.Dial(ctx, p)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	me := wire.Hello{Name: c.n.cfg.Name, Pool: string(c.n.cfg.Role), BootID: c.n.bootID, Proto: wire.Proto}
	if _, err := conn.Write(wire.AppendHello(nil, me)); err != nil {
		return fmt.Errorf("hello to %s: %w", p.Name, err)
	}
	h, err := readHello(conn)
	if err != nil {
		return fmt.Errorf("hello from %s: %w", p.Name, err)
	}
	if h.Name != p.Name || h.Pool != p.Pool || h.BootID != p.BootID {
		return fmt.Errorf("%s at %s answered as %s of %s (boot %016x)", p.Name, p.DataAddr, h.Name, h.Pool, h.BootID)
	}
	return c.tr.Verify(conn, route.Peer{Name: h.Name, Pool: h.Pool, BootID: h.BootID})
}

// readHello reads one hello frame (bounded: a hello is small).
func readHello(c net.Conn) (wire.Hello, error) {
	buf := make([]byte, 0, 1024)
	tmp := make([]byte, 1024)
	for len(buf) < 4096 {
		k, err := c.Read(tmp)
		buf = append(buf, tmp[:k]...)
		f, _, perr := wire.ParseFrame(buf, 4096)
		switch {
		case perr == nil:
			return f.Hello()
		case !errors.Is(perr, wire.ErrShort):
			return wire.Hello{}, perr
		case err != nil:
			return wire.Hello{}, err
		}
	}
	return wire.Hello{}, fmt.Errorf("no hello in %d bytes", len(buf))
}

// httpTLS wraps the HTTP listener in TLS 1.3 (client certificates verified
// when given: a bearer token is the alternative).
func httpTLS(ln net.Listener, f *pki.Files) net.Listener {
	return tls.NewListener(ln, f.ServerConfig(false))
}
