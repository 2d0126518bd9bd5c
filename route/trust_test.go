package route

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"shoal/internal/wire"
)

// chunkConn is a net.Conn whose Read returns data in the given chunk
// sizes, then io.EOF.
type chunkConn struct {
	net.Conn
	data   []byte
	chunks []int
	got    int // bytes returned so far
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.chunks) > 0 {
		n = max(min(c.chunks[0], n), 1)
		c.chunks = c.chunks[1:]
	}
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	c.got += n
	return n, nil
}

func (c *chunkConn) SetReadDeadline(time.Time) error { return nil }

// TestFrameReaderGrowsWithBytes: a length prefix claiming 4 MiB allocates
// nothing; the buffer then grows with the bytes that arrive, at most
// twice what was received.
func TestFrameReaderGrowsWithBytes(t *testing.T) {
	const claim = 4 << 20
	hdr := binary.BigEndian.AppendUint32(nil, claim)
	hdr = append(hdr, wire.Version, byte(wire.KindBatch))
	body := make([]byte, 300<<10)
	c := &chunkConn{data: append(hdr, body...), chunks: []int{6}}
	for range 2000 {
		c.chunks = append(c.chunks, 1000)
	}
	fr := newFrameReader(c, claim)
	for {
		err := fr.fill()
		if len(fr.buf) > max(initialReadBuf, 2*c.got) {
			t.Fatalf("buffer of %d bytes after %d received", len(fr.buf), c.got)
		}
		if c.got == 6 && len(fr.buf) != initialReadBuf {
			t.Fatalf("a claimed length grew the buffer to %d", len(fr.buf))
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := fr.parse(); ok || err != nil {
			t.Fatalf("parsed a frame of %d claimed bytes from %d: %v", claim, c.got, err)
		}
	}
	if c.got != len(hdr)+len(body) {
		t.Fatalf("read %d bytes", c.got)
	}
}

// FuzzFrameReader feeds a byte stream in chunks through the frame reader:
// the frames equal those wire.ParseFrame finds in the whole stream, the
// buffer never exceeds twice the bytes received, and an error is a bad
// frame exactly when the whole-stream parse fails.
func FuzzFrameReader(f *testing.F) {
	hello := wire.AppendHello(nil, wire.Hello{Name: "w", Pool: "worker", BootID: 1, Proto: wire.Proto})
	b := wire.ReserveBatchHeader(nil)
	b = wire.AppendEvent(b, wire.HostSeen{TS: 1, Host: hostKey(1)})
	batch, _ := wire.PutBatchHeader(b, 1, 1)
	ack := wire.AppendAck(nil, wire.Ack{First: 1, Last: 1, Events: 1})
	f.Add(append(append(append([]byte{}, hello...), batch...), ack...), []byte{3, 1, 200})
	f.Add([]byte{0, 0x40, 0, 0, wire.Version, byte(wire.KindBatch), 1, 2, 3}, []byte{6})
	f.Add(append(hello, make([]byte, 600)...), []byte{1})
	f.Fuzz(func(t *testing.T, data, chunks []byte) {
		const maxBody = 1 << 16
		var want []wire.Frame
		rest := data
		var werr error
		for len(rest) > 0 {
			var fr wire.Frame
			fr, rest, werr = wire.ParseFrame(rest, maxBody)
			if werr != nil {
				break
			}
			want = append(want, wire.Frame{Kind: fr.Kind, Body: append([]byte(nil), fr.Body...)})
		}
		c := &chunkConn{data: data}
		for _, k := range chunks {
			c.chunks = append(c.chunks, int(k)+1)
		}
		fr := newFrameReader(c, maxBody)
		var got []wire.Frame
		var err error
		for {
			var f wire.Frame
			f, err = fr.next()
			if len(fr.buf) > max(initialReadBuf, 2*c.got) {
				t.Fatalf("buffer of %d bytes after %d received", len(fr.buf), c.got)
			}
			if err != nil {
				break
			}
			got = append(got, wire.Frame{Kind: f.Kind, Body: append([]byte(nil), f.Body...)})
		}
		if len(got) != len(want) {
			t.Fatalf("%d frames, want %d (%v / %v)", len(got), len(want), err, werr)
		}
		for i := range got {
			if got[i].Kind != want[i].Kind || string(got[i].Body) != string(want[i].Body) {
				t.Fatalf("frame %d differs", i)
			}
		}
		bad := werr != nil && !errors.Is(werr, wire.ErrShort)
		if bad != errors.As(err, new(badFrameError)) {
			t.Fatalf("reader error %v, whole-stream error %v", err, werr)
		}
	})
}

// heapInuse returns the heap in use after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// attack opens n connections to addr that each send a hello and a batch
// header claiming 4 MiB, then nothing; it returns how long each took to
// be closed by the other end.
func attack(t *testing.T, addr string, n int) []time.Duration {
	t.Helper()
	hello := wire.AppendHello(nil, wire.Hello{Name: "attacker", Pool: "worker", BootID: 1, Proto: wire.Proto})
	claim := binary.BigEndian.AppendUint32(append([]byte{}, hello...), 4<<20)
	claim = append(claim, wire.Version, byte(wire.KindBatch))
	out := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := c.Write(claim); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			buf := make([]byte, 256)
			for {
				if _, err := c.Read(buf); err != nil {
					if errors.Is(err, os.ErrDeadlineExceeded) {
						out[i] = -1
					} else {
						out[i] = time.Since(start)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	return out
}

// TestUntrustedBounded: 300 connections that each send a hello and a
// batch header claiming 4 MiB cost the receiver little memory and are
// each closed once the frame timeout passes; connections that never say
// hello beyond the per-source cap are refused at once; the legitimate
// peer is served throughout.
func TestUntrustedBounded(t *testing.T) {
	const deadline = 500 * time.Millisecond
	w, dns := cluster(t, func(c *Config) {
		c.HandshakeTimeout = deadline
		c.MaxHandshakesPerSource = 16
	})
	dn := dns[0]
	sendDirect(t, w.r, dn.name, 0, 100) // connected before the attack
	drain(t, w.r, 5*time.Second)
	before := heapInuse()
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	closed := attack(t, dn.r.Addr(), 300)
	close(stop)
	<-sampled
	for i, d := range closed {
		if d < 0 || d > deadline+time.Second {
			t.Fatalf("connection %d closed after %v, frame timeout %v", i, d, deadline)
		}
	}
	if grew := int64(peak) - int64(before); grew > 8<<20 {
		t.Fatalf("heap grew by %d MiB during the attack", grew>>20)
	}
	// Each was refused at once (more than 16 handshakes at a time from
	// this source) or timed out: in its frame, or, when this loaded
	// process did not even read its hello in time, in its handshake.
	s := dn.r.Stats()
	if s.FrameTimeouts+s.InboundRefused+s.HandshakeTimeouts != 300 || s.FrameTimeouts == 0 {
		t.Fatalf("frame timeouts %d + refused %d + handshake timeouts %d, want 300: %+v",
			s.FrameTimeouts, s.InboundRefused, s.HandshakeTimeouts, s)
	}
	t.Logf("300 connections claiming 4 MiB: %d timed out, %d refused; heap %d -> peak %d KiB; closed after %v..%v",
		s.FrameTimeouts, s.InboundRefused, before>>10, peak>>10, minDur(closed), maxDur(closed))

	// Silent connections: 16 at a time wait for the handshake deadline,
	// the rest are refused at once (on a loaded machine, a slot freed by a
	// timeout may admit one more before the 40 are all open).
	var silent []net.Conn
	for range 40 {
		c, err := net.Dial("tcp", dn.r.Addr())
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
	}
	base, hbase := s.InboundRefused, s.HandshakeTimeouts
	waitFor(t, 5*time.Second, func() error {
		s := dn.r.Stats()
		return countErr("refused + handshake timeouts", s.InboundRefused-base+s.HandshakeTimeouts-hbase, 40)
	})
	s = dn.r.Stats()
	if refused, timeouts := s.InboundRefused-base, s.HandshakeTimeouts-hbase; refused == 0 || timeouts < 16 {
		t.Fatalf("40 silent connections: %d refused, %d handshake timeouts; want 16 timeouts and the rest refused", refused, timeouts)
	}
	for _, c := range silent {
		_ = c.Close()
	}
	sendDirect(t, w.r, dn.name, 100, 200)
	drain(t, w.r, 5*time.Second)
	checkInOrder(t, dn, 0, 200)
	if s := w.r.Stats(); s.Suspected != 0 {
		t.Fatalf("legitimate peer disturbed: %+v", s)
	}
}

func minDur(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m
}

func maxDur(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// TestFrameTimeoutNotChargedForOwnDelay: the frame timeout measures the
// peer, not this node: a frame whose rest waits while the receiver spends
// longer than the timeout on the frames before it is still read.
func TestFrameTimeoutNotChargedForOwnDelay(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	hello := wire.AppendHello(nil, wire.Hello{Name: "w", Pool: "worker", BootID: 1, Proto: wire.Proto})
	second := wire.AppendHello(nil, wire.Hello{Name: "second", Pool: "worker", BootID: 2, Proto: wire.Proto})
	go func() {
		_, _ = b.Write(append(append([]byte{}, hello...), second[:5]...))
		_, _ = b.Write(second[5:]) // blocks until the receiver reads again
	}()
	const timeout = 50 * time.Millisecond
	fr := newFrameReader(a, 1<<10)
	fr.limit(1<<10, timeout)
	f, err := fr.next()
	if err != nil || f.Kind != wire.KindHello {
		t.Fatalf("first frame: %v", err)
	}
	time.Sleep(3 * timeout) // a slow Deliver
	f, err = fr.next()
	if err != nil {
		t.Fatalf("second frame after a slow receiver: %v", err)
	}
	if h, err := f.Hello(); err != nil || h.Name != "second" {
		t.Fatalf("second frame %+v, %v", h, err)
	}
	// A peer that stops inside a frame is still timed out.
	go func() { _, _ = b.Write(hello[:3]) }()
	start := time.Now()
	if _, err := fr.next(); !errors.Is(err, errFrameTimeout) {
		t.Fatalf("stalled frame: %v, want a frame timeout", err)
	}
	if d := time.Since(start); d > 10*timeout {
		t.Fatalf("stalled frame timed out after %v", d)
	}
}
