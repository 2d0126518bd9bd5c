package memnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/memberlist"
)

func mustTransport(t *testing.T, n *Network, addr string) *Transport {
	t.Helper()
	tr, err := n.NewTransport(addr)
	if err != nil {
		t.Fatalf("NewTransport(%s): %v", addr, err)
	}
	t.Cleanup(func() { _ = tr.Shutdown() })
	return tr
}

func recvPacket(t *testing.T, tr *Transport) (*memberlist.Packet, bool) {
	t.Helper()
	select {
	case p := <-tr.PacketCh():
		return p, true
	default:
		return nil, false
	}
}

func TestNewTransportAddresses(t *testing.T) {
	tests := map[string]struct {
		addr    string
		wantErr error
	}{
		"ipv4":      {addr: "10.0.0.1:7946"},
		"ipv6":      {addr: "[::1]:7946"},
		"hostname":  {addr: "node1:7946", wantErr: ErrBadAddr},
		"no port":   {addr: "10.0.0.1", wantErr: ErrBadAddr},
		"port zero": {addr: "10.0.0.1:0", wantErr: ErrBadAddr},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n := New(1)
			tr, err := n.NewTransport(tc.addr)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil {
				ip, port, err := tr.FinalAdvertiseAddr("", 0)
				if err != nil || ip == nil || port != 7946 {
					t.Fatalf("FinalAdvertiseAddr = %v %d %v", ip, port, err)
				}
			}
		})
	}
}

func TestAddrInUseAndReuseAfterShutdown(t *testing.T) {
	n := New(1)
	tr := mustTransport(t, n, "10.0.0.1:1")
	if _, err := n.NewTransport("10.0.0.1:1"); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("second bind err = %v, want ErrAddrInUse", err)
	}
	if _, err := n.Listen("10.0.0.1:1"); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("listen on transport addr err = %v, want ErrAddrInUse", err)
	}
	_ = tr.Shutdown()
	if _, err := n.NewTransport("10.0.0.1:1"); err != nil {
		t.Fatalf("rebind after shutdown: %v", err)
	}
}

func TestPacketCopiedAndDelivered(t *testing.T) {
	n := New(1)
	a := mustTransport(t, n, "10.0.0.1:1")
	b := mustTransport(t, n, "10.0.0.2:1")
	buf := []byte("hello")
	if _, err := a.WriteToAddress(buf, memberlist.Address{Addr: "10.0.0.2:1", Name: "ignored"}); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'X'
	p, ok := recvPacket(t, b)
	if !ok {
		t.Fatal("no packet")
	}
	if string(p.Buf) != "hello" || p.From.String() != "10.0.0.1:1" || p.From.Network() != "memnet" {
		t.Fatalf("packet = %q from %v", p.Buf, p.From)
	}
	// unknown destination: no error (UDP semantics), counted
	if _, err := a.WriteTo([]byte("x"), "10.0.0.9:1"); err != nil {
		t.Fatalf("write to unknown: %v", err)
	}
	if s := n.Stats(); s.Delivered != 1 || s.Unroutable != 1 {
		t.Fatalf("stats = %+v", s)
	}
	_ = a.Shutdown()
	if _, err := a.WriteTo([]byte("x"), "10.0.0.2:1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after shutdown err = %v", err)
	}
}

func TestPacketQueueOverflowDrops(t *testing.T) {
	n := New(1)
	n.SetPacketQueueLen(2)
	a := mustTransport(t, n, "10.0.0.1:1")
	_ = mustTransport(t, n, "10.0.0.2:1")
	for range 5 {
		if _, err := a.WriteTo([]byte("x"), "10.0.0.2:1"); err != nil {
			t.Fatal(err)
		}
	}
	if s := n.Stats(); s.Delivered != 2 || s.Overflow != 3 {
		t.Fatalf("stats = %+v, want 2 delivered 3 overflow", s)
	}
}

func TestDropIsSeededAndDirectional(t *testing.T) {
	run := func(seed int64) (lost uint64, reverse uint64) {
		n := New(seed)
		a, _ := n.NewTransport("10.0.0.1:1")
		b, _ := n.NewTransport("10.0.0.2:1")
		n.Drop("10.0.0.1", "10.0.0.2:1", 0.5)
		for range 200 {
			_, _ = a.WriteTo([]byte("x"), "10.0.0.2:1")
			_, _ = b.WriteTo([]byte("x"), "10.0.0.1:1")
		}
		s := n.Stats()
		return s.Lost, s.Delivered
	}
	l1, d1 := run(7)
	l2, d2 := run(7)
	if l1 != l2 || d1 != d2 {
		t.Fatalf("same seed differs: %d/%d vs %d/%d", l1, d1, l2, d2)
	}
	if l1 < 60 || l1 > 140 {
		t.Fatalf("lost %d of 200 with p=0.5", l1)
	}
	if d1 != 400-l1 {
		t.Fatalf("delivered %d, want %d (reverse direction must not be lossy)", d1, 400-l1)
	}
	n := New(1)
	a := mustTransport(t, n, "10.0.0.1:1")
	b := mustTransport(t, n, "10.0.0.2:1")
	n.Drop("*", "*", 1)
	_, _ = a.WriteTo([]byte("x"), "10.0.0.2:1")
	if _, ok := recvPacket(t, b); ok {
		t.Fatal("packet delivered with p=1")
	}
	n.Drop("*", "*", 0)
	_, _ = a.WriteTo([]byte("x"), "10.0.0.2:1")
	if _, ok := recvPacket(t, b); !ok {
		t.Fatal("packet lost after removing rule")
	}
}

func TestPartitionCutsPacketsDialsAndConns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		a := mustTransport(t, n, "10.0.0.1:1")
		b := mustTransport(t, n, "10.0.0.2:1")
		c := mustTransport(t, n, "10.0.0.3:1")
		ab, err := a.DialTimeout("10.0.0.2:1", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		srv := <-b.StreamCh()
		ac, err := a.DialTimeout("10.0.0.3:1", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		<-c.StreamCh()

		n.Partition([]string{"10.0.0.1"}, []string{"10.0.0.2:1"})
		_, _ = a.WriteTo([]byte("x"), "10.0.0.2:1")
		_, _ = b.WriteTo([]byte("x"), "10.0.0.1:1")
		if _, ok := recvPacket(t, b); ok {
			t.Fatal("packet crossed partition")
		}
		if _, ok := recvPacket(t, a); ok {
			t.Fatal("packet crossed partition backwards")
		}
		if _, err := a.DialTimeout("10.0.0.2:1", time.Second); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("dial across partition err = %v", err)
		}
		if _, err := ab.Write([]byte("x")); !errors.Is(err, ErrReset) {
			t.Fatalf("write on cut conn err = %v", err)
		}
		if _, err := srv.Read(make([]byte, 1)); !errors.Is(err, ErrReset) {
			t.Fatalf("read on cut conn err = %v", err)
		}
		if _, err := ac.Write([]byte("ok")); err != nil {
			t.Fatalf("unrelated conn cut: %v", err)
		}
		_, _ = a.WriteTo([]byte("y"), "10.0.0.3:1")
		if _, ok := recvPacket(t, c); !ok {
			t.Fatal("packet to unpartitioned node lost")
		}

		n.Heal()
		_, _ = a.WriteTo([]byte("x"), "10.0.0.2:1")
		if _, ok := recvPacket(t, b); !ok {
			t.Fatal("packet lost after heal")
		}
		if _, err := a.DialTimeout("10.0.0.2:1", time.Second); err != nil {
			t.Fatalf("dial after heal: %v", err)
		}
	})
}

func TestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		a := mustTransport(t, n, "10.0.0.1:1")
		b := mustTransport(t, n, "10.0.0.2:1")
		n.Delay(30 * time.Millisecond)
		start := time.Now()
		_, _ = a.WriteTo([]byte("x"), "10.0.0.2:1")
		synctest.Wait()
		if _, ok := recvPacket(t, b); ok {
			t.Fatal("delayed packet arrived at once")
		}
		p := <-b.PacketCh()
		if got := time.Since(start); got != 30*time.Millisecond || !p.Timestamp.Equal(start.Add(30*time.Millisecond)) {
			t.Fatalf("arrived after %v (ts %v)", got, p.Timestamp.Sub(start))
		}
		start = time.Now()
		if _, err := a.DialTimeout("10.0.0.2:1", time.Second); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 30*time.Millisecond {
			t.Fatalf("dial took %v", got)
		}
		if _, err := a.DialTimeout("10.0.0.2:1", 10*time.Millisecond); err == nil {
			t.Fatal("dial with timeout shorter than delay succeeded")
		}
	})
}

func TestConnSemantics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		l, err := n.Listen("10.0.0.2:9000")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if _, err := n.Dial(context.Background(), "10.0.0.9:9000"); !errors.Is(err, ErrRefused) {
			t.Fatalf("dial nobody err = %v", err)
		}
		ctx := WithSource(context.Background(), "10.0.0.1")
		cl, err := n.Dial(ctx, "10.0.0.2:9000")
		if err != nil {
			t.Fatal(err)
		}
		sv, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if cl.RemoteAddr().String() != "10.0.0.2:9000" || sv.RemoteAddr().String() != cl.LocalAddr().String() {
			t.Fatalf("addrs: %v %v %v", cl.LocalAddr(), cl.RemoteAddr(), sv.RemoteAddr())
		}
		msg := []byte("hello world")
		if _, err := cl.Write(msg); err != nil {
			t.Fatal(err)
		}
		msg[0] = 'X'
		if _, err := cl.Write([]byte("!")); err != nil {
			t.Fatal(err)
		}
		_ = cl.Close()
		got, err := io.ReadAll(sv)
		if err != nil || string(got) != "hello world!" {
			t.Fatalf("ReadAll = %q, %v", got, err)
		}
		if _, err := sv.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("write to closed peer err = %v", err)
		}
		if err := sv.Close(); err != nil {
			t.Fatal(err)
		}
		if err := sv.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("double close err = %v", err)
		}

		// deadlines on virtual time
		cl2, _ := n.Dial(ctx, "10.0.0.2:9000")
		sv2, _ := l.Accept()
		defer cl2.Close()
		defer sv2.Close()
		start := time.Now()
		_ = sv2.SetReadDeadline(start.Add(50 * time.Millisecond))
		_, err = sv2.Read(make([]byte, 4))
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 50*time.Millisecond {
			t.Fatalf("read deadline: err=%v after %v", err, time.Since(start))
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("deadline error is not a timeout: %v", err)
		}
		_ = sv2.SetReadDeadline(time.Time{})
		go func() { _, _ = cl2.Write([]byte("late")) }()
		buf := make([]byte, 2)
		if k, err := sv2.Read(buf); err != nil || string(buf[:k]) != "la" {
			t.Fatalf("read after clearing deadline = %q %v", buf[:k], err)
		}
		if k, err := sv2.Read(buf); err != nil || string(buf[:k]) != "te" {
			t.Fatalf("read rest = %q %v", buf[:k], err)
		}
		// a full buffer blocks the writer until the write deadline
		_ = cl2.SetWriteDeadline(time.Now().Add(time.Second))
		var werr error
		for range connChunks + 1 {
			if _, werr = cl2.Write([]byte("x")); werr != nil {
				break
			}
		}
		if !errors.Is(werr, os.ErrDeadlineExceeded) {
			t.Fatalf("write into full buffer err = %v", werr)
		}

		// partitions apply to Dial with a source, and cut live connections
		cl3, _ := n.Dial(ctx, "10.0.0.2:9000")
		sv3, _ := l.Accept()
		n.Partition([]string{"10.0.0.1"}, []string{"10.0.0.2"})
		if _, err := cl3.Read(make([]byte, 1)); !errors.Is(err, ErrReset) {
			t.Fatalf("read on cut conn err = %v", err)
		}
		if _, err := sv3.Write([]byte("x")); !errors.Is(err, ErrReset) {
			t.Fatalf("write on cut conn err = %v", err)
		}
		if _, err := n.DialFunc("10.0.0.1:5000")(context.Background(), "10.0.0.2:9000"); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("dial across partition err = %v", err)
		}
		n.Heal()
		if c, err := n.Dial(ctx, "10.0.0.2:9000"); err != nil {
			t.Fatalf("dial after heal: %v", err)
		} else {
			_ = c.Close()
		}
		_ = l.Close()
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accept after close err = %v", err)
		}
	})
}

func TestShutdownResetsConnections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		a := mustTransport(t, n, "10.0.0.1:1")
		b := mustTransport(t, n, "10.0.0.2:1")
		c, err := a.DialTimeout("10.0.0.2:1", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		<-b.StreamCh()
		done := make(chan error)
		go func() {
			_, err := c.Read(make([]byte, 1))
			done <- err
		}()
		synctest.Wait()
		_ = b.Shutdown()
		if err := <-done; !errors.Is(err, ErrReset) {
			t.Fatalf("blocked read after peer shutdown err = %v", err)
		}
		if _, err := a.DialTimeout("10.0.0.2:1", time.Second); !errors.Is(err, ErrRefused) {
			t.Fatalf("dial shut down transport err = %v", err)
		}
	})
}
