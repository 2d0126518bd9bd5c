package pki

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"shoal/route"
)

// TransportConfig configures a mutual-TLS event transport.
type TransportConfig struct {
	// Files are this node's CA, certificate and key (required).
	Files *Files
	// Listener accepts raw TCP connections (required); the transport owns it.
	Listener net.Listener
	// Dial opens a raw connection to an address; nil means a net.Dialer.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Member, when set, checks a hello against the cluster's membership
	// (the gossip identity): it returns an error unless name is a live
	// member of role pool with that boot id. It may wait, within ctx, for
	// gossip to learn of a member that just joined.
	Member func(ctx context.Context, p route.Peer) error
}

// TransportStats counts the connections a TLS transport refused.
type TransportStats struct {
	// Handshakes counts inbound TLS handshakes that failed: no client
	// certificate, a certificate from another CA or expired, not TLS at
	// all, or a client that went silent past the handshake deadline.
	Handshakes uint64 `json:"handshake_failures"`
	// Identity counts hellos whose name or pool differ from the peer's
	// certificate (a certificate presenting another node's name).
	Identity uint64 `json:"identity_mismatches"`
	// Membership counts hellos from a certificate holder that gossip does
	// not know as that member (name, role and boot id).
	Membership uint64 `json:"not_members"`
	// DialFailures counts outbound handshakes that failed (the server's
	// certificate did not verify or did not name the peer dialled).
	DialFailures uint64 `json:"dial_failures"`
}

// Transport is a route.Transport over mutual TLS 1.3: every connection,
// both ways, presents this node's certificate and verifies the peer's
// against the cluster CA (Files, reloaded as the files change); Verify
// accepts a hello only when its name and pool are the certificate's name
// and role, and (with Member) the live gossip member's. Safe for
// concurrent use.
type Transport struct {
	net.Listener
	files  *Files
	dial   func(ctx context.Context, addr string) (net.Conn, error)
	member func(ctx context.Context, p route.Peer) error

	handshakes, identity, membership, dialFailures atomic.Uint64
}

var _ route.Transport = (*Transport)(nil)

// NewTransport returns a mutual-TLS transport.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	if cfg.Files == nil || cfg.Listener == nil {
		return nil, fmt.Errorf("%w: a TLS transport needs files and a listener", ErrRequest)
	}
	dial := cfg.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: route.DefaultDialTimeout}
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return &Transport{Listener: cfg.Listener, files: cfg.Files, dial: dial, member: cfg.Member}, nil
}

// Stats returns the refusal counters.
func (t *Transport) Stats() TransportStats {
	return TransportStats{Handshakes: t.handshakes.Load(), Identity: t.identity.Load(),
		Membership: t.membership.Load(), DialFailures: t.dialFailures.Load()}
}

// serverConn is an accepted connection: its TLS handshake runs on the first
// Read or Write (within the deadline the router set) and a failure is
// counted once.
type serverConn struct {
	*tls.Conn
	t      *Transport
	failed atomic.Bool
}

func (c *serverConn) handshake() error {
	if err := c.Conn.Handshake(); err != nil {
		if c.failed.CompareAndSwap(false, true) {
			c.t.handshakes.Add(1)
		}
		return fmt.Errorf("pki: TLS handshake with %s: %w", c.RemoteAddr(), err)
	}
	return nil
}

func (c *serverConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *serverConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// Accept returns the next inbound connection, wrapped in TLS (the
// handshake happens on its first Read or Write).
func (t *Transport) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &serverConn{Conn: tls.Server(c, t.files.ServerConfig(true)), t: t}, nil
}

// Dial connects to to.DataAddr and completes the TLS handshake within ctx,
// accepting the server only if its certificate names to.Name with role
// to.Pool.
func (t *Transport) Dial(ctx context.Context, to route.Peer) (net.Conn, error) {
	raw, err := t.dial(ctx, to.DataAddr)
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, t.files.ClientConfig(to.Name, to.Pool))
	if err := c.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		t.dialFailures.Add(1)
		return nil, fmt.Errorf("pki: TLS handshake with %s (%s): %w", to.Name, to.DataAddr, err)
	}
	return c, nil
}

// memberWait bounds how long Verify waits for gossip to learn of a member
// that has just joined (the router's handshake deadline bounds it too).
const memberWait = 3 * time.Second

// ErrRefused is wrapped by Verify's refusals.
var ErrRefused = errors.New("pki: connection refused")

// Verify accepts a hello only if it names the peer's certificate (name and
// role) and, with Member, the live gossip member of that name.
func (t *Transport) Verify(c net.Conn, from route.Peer) error {
	var cs tls.ConnectionState
	switch tc := c.(type) {
	case *serverConn:
		cs = tc.ConnectionState()
	case *tls.Conn:
		cs = tc.ConnectionState()
	default:
		return fmt.Errorf("%w: %T is not a TLS connection", ErrRefused, c)
	}
	if !cs.HandshakeComplete {
		return fmt.Errorf("%w: TLS handshake not complete", ErrRefused)
	}
	id, err := PeerIdentity(cs)
	if err != nil {
		t.identity.Add(1)
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if id.Name != from.Name || id.Role != from.Pool {
		t.identity.Add(1)
		return fmt.Errorf("%w: the hello names %q of pool %q, the certificate is %s", ErrRefused, from.Name, from.Pool, id)
	}
	if t.member != nil {
		ctx, cancel := context.WithTimeout(context.Background(), memberWait)
		defer cancel()
		if err := t.member(ctx, from); err != nil {
			t.membership.Add(1)
			return fmt.Errorf("%w: %s: %w", ErrRefused, id, err)
		}
	}
	return nil
}
