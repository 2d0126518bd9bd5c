package memnet

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// Transport is an in-memory memberlist.NodeAwareTransport bound to one
// "ip:port" address of a Network. Safe for concurrent use.
type Transport struct {
	net      *Network
	addr     Addr
	ip       net.IP
	port     int
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	once     sync.Once
}

// NewTransport binds a transport at addr, which must be "ip:port". The
// address may be reused after the previous transport on it was shut down.
func (n *Network) NewTransport(addr string) (*Transport, error) {
	ip, port, err := checkAddr(addr)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.transports[addr] != nil || n.listeners[addr] != nil {
		return nil, fmt.Errorf("%w: %s", ErrAddrInUse, addr)
	}
	t := &Transport{
		net:      n,
		addr:     Addr(addr),
		ip:       ip,
		port:     port,
		packetCh: make(chan *memberlist.Packet, n.packetQueueLen),
		streamCh: make(chan net.Conn, DefaultAcceptQueueLen),
		done:     make(chan struct{}),
	}
	n.transports[addr] = t
	return t, nil
}

// Addr returns the transport's address.
func (t *Transport) Addr() string { return string(t.addr) }

// enqueue puts a packet on the receive queue without blocking. Called with
// the network lock held.
func (t *Transport) enqueue(buf []byte, from Addr, ts time.Time) bool {
	if closedChan(t.done) {
		return false
	}
	select {
	case t.packetCh <- &memberlist.Packet{Buf: buf, From: from, Timestamp: ts}:
		return true
	default:
		return false
	}
}

// FinalAdvertiseAddr returns ip and port when ip is given (port 0 means the
// bound port), and the bound address otherwise.
func (t *Transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip == "" {
		return t.ip, t.port, nil
	}
	adv := net.ParseIP(ip)
	if adv == nil {
		return nil, 0, fmt.Errorf("%w: advertise address %q", ErrBadAddr, ip)
	}
	if ip4 := adv.To4(); ip4 != nil {
		adv = ip4
	}
	if port == 0 {
		port = t.port
	}
	return adv, port, nil
}

// WriteTo sends a packet; see WriteToAddress.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress copies b and sends it to a.Addr (a.Name is ignored: routing
// is by address only, as on a real network). It never blocks and fails only
// when this transport is shut down; undeliverable packets are dropped and
// counted, as with UDP.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if closedChan(t.done) {
		return time.Time{}, opErr("write", t.addr, Addr(a.Addr), ErrClosed)
	}
	return t.net.sendPacket(string(t.addr), a.Addr, b), nil
}

// PacketCh returns the receive queue.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh returns the queue of accepted stream connections.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout connects to the transport at addr; see DialAddressTimeout.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout connects to the transport at a.Addr. It fails at once
// when nothing is bound there (ErrRefused) or a partition is in the way
// (ErrUnreachable). A configured Delay is waited for, up to timeout.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	to := Addr(a.Addr)
	if closedChan(t.done) {
		return nil, opErr("dial", t.addr, to, ErrClosed)
	}
	t.net.mu.Lock()
	d := t.net.delay
	t.net.mu.Unlock()
	if d > 0 {
		if timeout > 0 && d > timeout {
			time.Sleep(timeout)
			return nil, opErr("dial", t.addr, to, timeoutError{})
		}
		time.Sleep(d)
	}
	n := t.net
	n.mu.Lock()
	dst := n.transports[a.Addr]
	if dst == nil || closedChan(dst.done) {
		n.mu.Unlock()
		return nil, opErr("dial", t.addr, to, ErrRefused)
	}
	if n.blockedLocked(string(t.addr), a.Addr) {
		n.mu.Unlock()
		return nil, opErr("dial", t.addr, to, ErrUnreachable)
	}
	client, server := n.connectLocked(t.addr, to)
	select {
	case dst.streamCh <- server:
		n.mu.Unlock()
		return client, nil
	default:
		delete(n.conns, client.pair)
		n.mu.Unlock()
		return nil, opErr("dial", t.addr, to, ErrRefused)
	}
}

// Shutdown unbinds the transport and resets its connections, like a killed
// process. Packets still queued are never read. Idempotent.
func (t *Transport) Shutdown() error {
	t.once.Do(func() {
		close(t.done)
		t.net.mu.Lock()
		if t.net.transports[string(t.addr)] == t {
			delete(t.net.transports, string(t.addr))
		}
		t.net.mu.Unlock()
		t.net.resetConnsOf(t.addr)
	})
	return nil
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "memnet: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
