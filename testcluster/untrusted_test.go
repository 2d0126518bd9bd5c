package testcluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"shoal/internal/wire"
)

// rssSampler samples a process's resident set size (VmRSS) every 10ms
// and keeps the peak since the last reset.
type rssSampler struct {
	pid  int
	mu   sync.Mutex
	peak int64
	err  error
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			kb, err := vmRSS(pid)
			s.mu.Lock()
			if err != nil && s.err == nil {
				s.err = err
			}
			s.peak = max(s.peak, kb)
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// take returns the peak in KiB since the last take and starts a new phase.
func (s *rssSampler) take() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.peak, s.err
	s.peak = 0
	return p, err
}

func (s *rssSampler) close() {
	close(s.stop)
	<-s.done
}

// vmRSS reads VmRSS (KiB) from /proc/pid/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS line")
}

// claimAttack opens n connections to addr that each send a hello (no
// credentials) and a batch header claiming 4 MiB, then nothing; it
// returns how long each took to be closed by the other end (-1: not
// within 30s).
func claimAttack(addr string, n int) ([]time.Duration, error) {
	hello := wire.AppendHello(nil, wire.Hello{Name: "intruder", Pool: "worker", BootID: 7, Proto: wire.Proto})
	claim := binary.BigEndian.AppendUint32(hello, 4<<20)
	claim = append(claim, wire.Version, byte(wire.KindBatch))
	out := make([]time.Duration, n)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		if _, err := c.Write(claim); err != nil {
			// Refused at once (reset before the write): closed at once.
			out[i] = time.Since(start)
			_ = c.Close()
			continue
		}
		wg.Go(func() {
			defer c.Close()
			_ = c.SetReadDeadline(start.Add(30 * time.Second))
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					out[i] = time.Since(start)
					if errors.Is(err, os.ErrDeadlineExceeded) {
						out[i] = -1
					}
					return
				}
			}
		})
	}
	wg.Wait()
	return out, nil
}

// TestUntrustedMemory is issue 10's memory attack against a real
// datanode under load from a generating worker: waves of 320 connections
// that each send a hello and a batch header claiming 4 MiB, with no
// credentials. The datanode's peak RSS during the attack stays within 16
// MiB of the quiet phases before and after it, in the same run, and every
// such connection is closed within the handshake deadline (the default,
// 5s: the frame that was started must arrive whole within it).
func TestUntrustedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process memory test (about 45s)")
	}
	const (
		wave     = 320
		waves    = 2
		deadline = 5 * time.Second // route's default handshake and frame timeout
	)
	ctx := testCtx(t, 150*time.Second)
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 1, Args: settings("--known-hosts-tracking=all")})
	if err := c.WaitConverged(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	dn := c.ByRole(RoleDatanode)[0]
	w, err := c.Add(ctx, RoleWorker, "--generate", "--gen-seed=3", "--gen-rate=10000", "--gen-hosts=5000")
	if err != nil {
		t.Fatal(err)
	}
	status := func() (received, frameTimeouts, refused, suspected uint64) {
		t.Helper()
		st, err := dn.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := w.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Transport.Received, st.Transport.FrameTimeouts, st.Transport.InboundRefused, ws.Transport.Suspected
	}
	// Warm up: the worker's suppression cache and the datanode's state
	// for the 5000 hosts fill, then traffic continues at a steady rate.
	if err := waitFor(ctx, 30*time.Second, 100*time.Millisecond, func() error {
		if r, _, _, _ := status(); r < 10000 {
			return fmt.Errorf("datanode received %d events", r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	rss := sampleRSS(dn.Pid)
	defer rss.close()
	phase := func(name string, d time.Duration, attack bool) (peak int64, closed []time.Duration) {
		t.Helper()
		if _, err := rss.take(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for attack && len(closed) < waves*wave {
			got, err := claimAttack(dn.Data, wave)
			if err != nil {
				t.Fatal(err)
			}
			closed = append(closed, got...)
		}
		if rest := d - time.Since(start); rest > 0 {
			time.Sleep(rest)
		}
		peak, err := rss.take()
		if err != nil {
			t.Fatal(err)
		}
		r, _, _, _ := status()
		t.Logf("%s (%v): datanode peak RSS %d KiB, %d events received so far", name, time.Since(start).Round(time.Millisecond), peak, r)
		return peak, closed
	}
	_, ft0, ref0, susp0 := status()
	quiet1, _ := phase("quiet", 12*time.Second, false)
	attacked, closed := phase("attack", 12*time.Second, true)
	quiet2, _ := phase("quiet again", 12*time.Second, false)
	_, ft1, ref1, susp1 := status()

	var slowest time.Duration
	for i, d := range closed {
		if d < 0 || d > deadline+500*time.Millisecond {
			t.Errorf("attack connection %d closed after %v, handshake deadline %v", i, d, deadline)
		}
		slowest = max(slowest, d)
	}
	t.Logf("%d attack connections: %d frame timeouts, %d refused at once (handshake cap per source); slowest closed after %v",
		len(closed), ft1-ft0, ref1-ref0, slowest)
	if got := (ft1 - ft0) + (ref1 - ref0); got != uint64(len(closed)) {
		t.Errorf("frame timeouts %d + refused %d = %d, want %d", ft1-ft0, ref1-ref0, got, len(closed))
	}
	base := max(quiet1, quiet2)
	t.Logf("peak RSS: quiet %d KiB, attack %d KiB, quiet again %d KiB: attack %+d KiB over the quiet phases",
		quiet1, attacked, quiet2, attacked-base)
	if attacked > base+16<<10 {
		t.Errorf("attack raised the datanode's peak RSS to %d KiB, quiet phases %d KiB: more than 16 MiB", attacked, base)
	}
	if susp1 != susp0 {
		t.Errorf("the worker suspected a peer during the attack (%d -> %d)", susp0, susp1)
	}
}
