package gossip

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// These tests use memberlist's real UDP/TCP transport on 127.0.0.1 with the
// fast profile, polling on real time.

// guardedTestWriter forwards to t.Log until the test ends (memberlist's own
// goroutines may still log after Close) and to a sink.
type guardedTestWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
	sink *logSink
}

func (w *guardedTestWriter) Write(p []byte) (int, error) {
	_, _ = w.sink.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func realNode(t *testing.T, name, bind string, seeds []string) (*Gossip, *logSink) {
	t.Helper()
	sink := &logSink{}
	w := &guardedTestWriter{t: t, sink: sink}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	cfg := DefaultConfig()
	cfg.Name, cfg.BindAddr, cfg.Seeds, cfg.Profile = name, bind, seeds, ProfileFast
	cfg.Meta = Meta{Role: "worker", BootID: rand.Uint64(), RingHash: 1}
	cfg.Logger = zerolog.New(w).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s on %s): %v", name, bind, err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g, sink
}

// poll checks cond every 20ms of real time, failing after limit.
func poll(t *testing.T, limit time.Duration, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("condition not met after %v: %v", limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLoopbackJoinAndDuplicateName(t *testing.T) {
	n1, n1logs := realNode(t, "n1", "127.0.0.1:0", nil)
	seed := n1.LocalAddr()
	host, port, err := net.SplitHostPort(seed)
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("LocalAddr = %q, want 127.0.0.1 and the bound port", seed)
	}
	// the same port is bound for TCP and UDP
	c, err := net.DialTimeout("tcp", seed, time.Second)
	if err != nil {
		t.Fatalf("TCP %s: %v", seed, err)
	}
	_ = c.Close()
	p, _ := strconv.Atoi(port)
	if u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p}); err == nil {
		_ = u.Close()
		t.Fatalf("UDP port %d is free: memberlist did not bind UDP on the TCP port", p)
	}

	n2, _ := realNode(t, "n2", "127.0.0.1:0", []string{seed})
	n3, _ := realNode(t, "n3", "127.0.0.1:0", []string{seed})
	gs := []*Gossip{n1, n2, n3}
	for _, g := range gs {
		g.Start(context.Background())
	}
	took := poll(t, 10*time.Second, func() error { return seeAll(gs, names(gs), StateAlive) })
	t.Logf("3 loopback nodes converged after %v", took)

	// a newcomer with n1's name joins n1: it must stop, the cluster must not notice
	boot := n1.LocalMeta().BootID
	dup, _ := realNode(t, "n1", "127.0.0.1:0", []string{seed})
	dup.Start(context.Background())
	select {
	case err := <-dup.Fatal():
		if !errors.Is(err, ErrDuplicateName) || !strings.Contains(err.Error(), seed) || !strings.Contains(err.Error(), dup.LocalAddr()) {
			t.Fatalf("Fatal = %v", err)
		}
		t.Logf("newcomer: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("newcomer got no ErrDuplicateName within 5s")
	}
	_ = dup.Close()
	for _, g := range gs {
		select {
		case err := <-g.Fatal():
			t.Fatalf("existing %s got Fatal %v", g.LocalName(), err)
		default:
		}
		m, _ := memberOf(g, "n1")
		if m.State != StateAlive || m.Addr != seed || m.Meta.BootID != boot {
			t.Fatalf("%s sees n1 as %+v, want the original", g.LocalName(), m)
		}
	}
	if len(n1logs.find(`"level":"warn"`, "another node uses our name", dup.LocalAddr())) == 0 {
		t.Fatal("the existing n1 logged no warning about the newcomer")
	}
	if err := seeAll(gs, names(gs), StateAlive); err != nil {
		t.Fatal(err)
	}
}

func TestLoopbackDeadSeedRetried(t *testing.T) {
	// reserve a port, then free it: nothing listens there for now
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadSeed := l.Addr().String()
	_ = l.Close()

	x, xlogs := realNode(t, "x", "127.0.0.1:0", []string{deadSeed})
	_, err = x.Join(context.Background(), []string{deadSeed})
	if err == nil || !strings.Contains(err.Error(), "gossip: join "+deadSeed+": ") {
		t.Fatalf("Join(dead seed) err = %v, want one naming %s", err, deadSeed)
	}
	t.Logf("Join error: %v", err)

	x.Start(context.Background())
	poll(t, 5*time.Second, func() error {
		if len(xlogs.find(`"level":"warn"`, `"seed":"`+deadSeed+`"`, "join failed, will retry")) == 0 {
			return fmt.Errorf("no join failure logged yet")
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // a few more retries (fast profile: every 200ms)

	// the seed comes up: the join loop, still retrying, gets in
	s, _ := realNode(t, "s", deadSeed, nil)
	s.Start(context.Background())
	both := []*Gossip{x, s}
	took := poll(t, 5*time.Second, func() error { return seeAll(both, names(both), StateAlive) })
	t.Logf("joined the late seed %v after it came up", took)
	if n := len(xlogs.find(`"level":"warn"`, "join failed, will retry")); n > 3 {
		t.Fatalf("%d join failure warnings in ~1s: not rate limited", n)
	}
}
