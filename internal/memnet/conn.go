package memnet

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// pipe is one direction of a connection.
type pipe struct {
	data   chan []byte   // written chunks, each a private copy
	closed chan struct{} // closed when the writing end closes (EOF after drain)
	once   sync.Once
}

func newPipe() *pipe {
	return &pipe{data: make(chan []byte, connChunks), closed: make(chan struct{})}
}

func (p *pipe) closeWrite() { p.once.Do(func() { close(p.closed) }) }

// connPair is both ends of one connection.
type connPair struct {
	net    *Network
	a, b   *Conn         // a is the dialling end
	broken chan struct{} // closed on reset (partition, shutdown)
	once   sync.Once
}

func newConnPair(n *Network, from, to Addr) *connPair {
	ab, ba := newPipe(), newPipe()
	p := &connPair{net: n, broken: make(chan struct{})}
	p.a = newConn(p, from, to, ba, ab)
	p.b = newConn(p, to, from, ab, ba)
	p.a.peerDone, p.b.peerDone = p.b.done, p.a.done
	return p
}

func (p *connPair) reset() { p.once.Do(func() { close(p.broken) }) }

// Conn is one end of an in-memory stream connection. It implements net.Conn:
// writes are buffered (up to 64 chunks) and copied, reads return data in
// order, deadlines are honoured and every blocking operation is a channel
// operation. Safe for concurrent use.
type Conn struct {
	pair          *connPair
	local, remote Addr
	rx, tx        *pipe
	done          chan struct{} // closed by Close on this end
	peerDone      chan struct{}
	closeOnce     sync.Once
	rlock         chan struct{} // 1-slot semaphore guarding pending
	pending       []byte
	rd, wd        deadline
}

func newConn(p *connPair, local, remote Addr, rx, tx *pipe) *Conn {
	return &Conn{
		pair:   p,
		local:  local,
		remote: remote,
		rx:     rx,
		tx:     tx,
		done:   make(chan struct{}),
		rlock:  make(chan struct{}, 1),
		rd:     makeDeadline(),
		wd:     makeDeadline(),
	}
}

func (c *Conn) err(op string, err error) error { return opErr(op, c.local, c.remote, err) }

func closedChan(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Read reads buffered data; it returns io.EOF once the peer has closed and
// everything it wrote has been read.
func (c *Conn) Read(b []byte) (int, error) {
	select {
	case c.rlock <- struct{}{}:
	case <-c.done:
		return 0, c.err("read", net.ErrClosed)
	}
	defer func() { <-c.rlock }()
	switch {
	case closedChan(c.done):
		return 0, c.err("read", net.ErrClosed)
	case closedChan(c.pair.broken):
		return 0, c.err("read", ErrReset)
	case closedChan(c.rd.wait()):
		return 0, c.err("read", os.ErrDeadlineExceeded)
	}
	if len(b) == 0 {
		return 0, nil
	}
	if len(c.pending) > 0 {
		return c.fill(b, c.pending), nil
	}
	select {
	case chunk := <-c.rx.data:
		return c.fill(b, chunk), nil
	case <-c.rx.closed:
		select {
		case chunk := <-c.rx.data:
			return c.fill(b, chunk), nil
		default:
			return 0, io.EOF
		}
	case <-c.done:
		return 0, c.err("read", net.ErrClosed)
	case <-c.pair.broken:
		return 0, c.err("read", ErrReset)
	case <-c.rd.wait():
		return 0, c.err("read", os.ErrDeadlineExceeded)
	}
}

// fill copies chunk into b and keeps the rest pending. Called with rlock held.
func (c *Conn) fill(b, chunk []byte) int {
	n := copy(b, chunk)
	c.pending = chunk[n:]
	return n
}

// Write copies b and queues it for the peer; it blocks only while the peer's
// buffer is full.
func (c *Conn) Write(b []byte) (int, error) {
	switch {
	case closedChan(c.done):
		return 0, c.err("write", net.ErrClosed)
	case closedChan(c.pair.broken):
		return 0, c.err("write", ErrReset)
	case closedChan(c.peerDone):
		return 0, c.err("write", io.ErrClosedPipe)
	case closedChan(c.wd.wait()):
		return 0, c.err("write", os.ErrDeadlineExceeded)
	}
	if len(b) == 0 {
		return 0, nil
	}
	chunk := append([]byte(nil), b...)
	select {
	case c.tx.data <- chunk:
		return len(b), nil
	case <-c.done:
		return 0, c.err("write", net.ErrClosed)
	case <-c.pair.broken:
		return 0, c.err("write", ErrReset)
	case <-c.peerDone:
		return 0, c.err("write", io.ErrClosedPipe)
	case <-c.wd.wait():
		return 0, c.err("write", os.ErrDeadlineExceeded)
	}
}

// Close closes this end: the peer reads EOF after the buffered data, and its
// writes fail.
func (c *Conn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.done)
		c.tx.closeWrite()
		c.pair.net.forget(c.pair)
	})
	if !first {
		return c.err("close", net.ErrClosed)
	}
	return nil
}

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// deadline is a resettable deadline signalled by closing a channel (the
// scheme of net.Pipe).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func makeDeadline() deadline { return deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	closed := closedChan(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}
