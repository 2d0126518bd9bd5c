package route

import (
	"context"
	"net"
)

// Transport carries the router's event connections: it accepts inbound
// connections (the embedded net.Listener), dials a named peer, and
// verifies who is at the other end of a connection once its hello has
// arrived. The default is plain TCP (NewTCP); a TLS transport wraps the
// same three calls, authenticating both ends.
//
// Deadlines: the router sets the handshake deadline on an accepted
// connection before it reads or writes its first byte, and dials with a
// context bounded by the same deadline, so a handshake a transport performs
// inside Dial or on the first Read or Write (crypto/tls does both) counts
// against it. Verify runs within it too.
//
// Implementations must be safe for concurrent use.
type Transport interface {
	// Listener accepts inbound connections. Close stops accepting; Accept
	// then returns an error wrapping net.ErrClosed. Addr is the address
	// peers dial (advertised in gossip metadata).
	net.Listener
	// Dial opens a connection to the peer to (to.DataAddr) within ctx. It
	// knows the peer's name and pool, so that it can check the answering
	// end's identity (the name and role in its certificate).
	Dial(ctx context.Context, to Peer) (net.Conn, error)
	// Verify checks that the remote end of c may speak as from: the name,
	// pool and boot id its hello states (DataAddr is empty). It is called
	// on both ends, after the remote hello arrived and before any event is
	// read or written. An error refuses the connection; the router closes
	// it and counts it in Stats.Refused.
	Verify(c net.Conn, from Peer) error
}

// tcpTransport is plain TCP: connections are accepted from a listener and
// dialled by address, and Verify accepts every hello (without TLS nothing
// is authenticated; the hello merely names the peer).
type tcpTransport struct {
	net.Listener
	dial func(ctx context.Context, addr string) (net.Conn, error)
}

// NewTCP returns the default transport over ln. dial opens an outbound
// connection to an address; nil means a net.Dialer with
// DefaultDialTimeout. The transport owns ln: its Close closes ln.
func NewTCP(ln net.Listener, dial func(ctx context.Context, addr string) (net.Conn, error)) Transport {
	if dial == nil {
		d := &net.Dialer{Timeout: DefaultDialTimeout}
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	return &tcpTransport{Listener: ln, dial: dial}
}

func (t *tcpTransport) Dial(ctx context.Context, to Peer) (net.Conn, error) {
	return t.dial(ctx, to.DataAddr)
}

func (t *tcpTransport) Verify(net.Conn, Peer) error { return nil }
