package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"shoal/internal/memnet"
)

// These tests run whole memberlist clusters over memnet inside synctest
// bubbles: probe, suspicion and gossip timers run on virtual time, so the
// fast profile's timings can be asserted exactly and cheaply.

// logSink collects every node's JSON log lines for assertions.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// find returns the log lines containing every one of subs.
func (s *logSink) find(subs ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, line := range strings.Split(s.buf.String(), "\n") {
		ok := true
		for _, sub := range subs {
			if !strings.Contains(line, sub) {
				ok = false
				break
			}
		}
		if ok && line != "" {
			out = append(out, line)
		}
	}
	return out
}

type harness struct {
	t     *testing.T
	nw    *memnet.Network
	logs  *logSink
	rng   *rand.Rand
	nodes []*Gossip
}

const testSeed = 20240611

// newHarness must be called inside the synctest bubble; defer closeAll.
func newHarness(t *testing.T) *harness {
	t.Logf("memnet seed %d", testSeed)
	return &harness{t: t, nw: memnet.New(testSeed), logs: &logSink{}, rng: rand.New(rand.NewSource(testSeed))}
}

func addrOf(ip string) string { return ip + ":7946" }

// node creates (but does not start) a fast-profile node at ip:7946.
func (h *harness) node(name, ip string, seeds []string, mut func(*Config)) *Gossip {
	h.t.Helper()
	tr, err := h.nw.NewTransport(addrOf(ip))
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := Config{
		Name:      name,
		Transport: tr,
		Seeds:     seeds,
		Profile:   ProfileFast,
		Meta: Meta{Role: "datanode", DataAddr: ip + ":9000", BootID: h.rng.Uint64(),
			RingHash: 0xabc, SettingsHash: 1},
		Logger: zerolog.New(zerolog.MultiLevelWriter(zerolog.NewTestWriter(h.t), h.logs)).
			Level(zerolog.InfoLevel).With().Timestamp().Str("test_ip", ip).Logger(),
	}
	if mut != nil {
		mut(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		_ = tr.Shutdown()
		h.t.Fatal(err)
	}
	h.nodes = append(h.nodes, g)
	return g
}

// closeAll closes every node and lets memberlist's own goroutines (which
// Close cannot wait for: probes, stream handlers with deadlines) finish
// before the bubble ends.
func (h *harness) closeAll() {
	for _, g := range h.nodes {
		_ = g.Close()
	}
	time.Sleep(5 * time.Second)
}

// waitFor polls cond on virtual time until it returns nil, failing after
// limit; it returns the virtual time it took.
func waitFor(t *testing.T, limit time.Duration, cond func() error) time.Duration {
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
		time.Sleep(10 * time.Millisecond)
	}
}

func memberOf(g *Gossip, name string) (Member, bool) {
	for _, m := range g.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// seeAll checks that every observer sees every named member in state st.
func seeAll(observers []*Gossip, names []string, st State) error {
	for _, o := range observers {
		for _, n := range names {
			m, ok := memberOf(o, n)
			if !ok {
				return fmt.Errorf("%s does not know %s", o.LocalName(), n)
			}
			if m.State != st {
				return fmt.Errorf("%s sees %s %s, want %s", o.LocalName(), n, m.State, st)
			}
		}
	}
	return nil
}

func names(gs []*Gossip) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.LocalName())
	}
	return out
}

// startCluster creates n nodes 10.0.0.1.. seeded with the first and waits
// until all see all alive.
func (h *harness) startCluster(n int, mut func(i int, c *Config)) []*Gossip {
	h.t.Helper()
	seed := addrOf("10.0.0.1")
	var gs []*Gossip
	for i := 1; i <= n; i++ {
		gs = append(gs, h.node(fmt.Sprintf("n%d", i), fmt.Sprintf("10.0.0.%d", i), []string{seed}, func(c *Config) {
			if mut != nil {
				mut(i, c)
			}
		}))
	}
	for _, g := range gs {
		g.Start(context.Background())
	}
	took := waitFor(h.t, 10*time.Second, func() error { return seeAll(gs, names(gs), StateAlive) })
	h.t.Logf("%d nodes converged after %v", n, took)
	return gs
}

func TestClusterJoinFailureAndLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		defer h.closeAll()
		gs := h.startCluster(5, func(i int, c *Config) {
			if i == 5 {
				c.Meta.SettingsHash = 2
			}
		})
		n1, n3, n4 := gs[0], gs[2], gs[3]

		// metadata and settings flags as seen by n1
		m3, _ := memberOf(n1, "n3")
		if m3.Addr != "10.0.0.3:7946" || m3.Meta.DataAddr != "10.0.0.3:9000" || m3.Meta.BootID != n3.LocalMeta().BootID ||
			m3.Meta.Role != "datanode" || m3.Meta.Proto != ProtoVersion {
			t.Fatalf("n1 sees n3 as %+v", m3)
		}
		for _, tc := range []struct {
			name string
			want bool
		}{{"n1", false}, {"n2", false}, {"n5", true}} {
			if m, _ := memberOf(n1, tc.name); m.SettingsMismatch != tc.want {
				t.Fatalf("n1 sees %s SettingsMismatch=%v, want %v", tc.name, m.SettingsMismatch, tc.want)
			}
		}
		select {
		case <-n1.Changes():
		default:
			t.Fatal("Changes not signalled after joins")
		}
		if got := n1.NumMembers(); got != 5 {
			t.Fatalf("NumMembers = %d", got)
		}

		// kill n4 (no leave): everyone else sees it dead within the fast
		// profile's bound: a probe round over 4 peers (400ms), the probe
		// itself (100ms), suspicion (2 * 100ms) and gossip.
		_ = n4.Close()
		others := []*Gossip{gs[0], gs[1], gs[2], gs[4]}
		took := waitFor(t, 5*time.Second, func() error { return seeAll(others, []string{"n4"}, StateDead) })
		t.Logf("failure of n4 seen by all after %v", took)
		if took > 1500*time.Millisecond {
			t.Fatalf("failure detection took %v, want <= 1.5s with the fast profile", took)
		}

		// graceful leave of n3: others see it left, never dead
		stayers := []*Gossip{gs[0], gs[1], gs[4]}
		if err := n3.Leave(2 * time.Second); err != nil {
			t.Fatalf("Leave: %v", err)
		}
		_ = n3.Close()
		sawDead := ""
		took = waitFor(t, 3*time.Second, func() error {
			for _, o := range stayers {
				if m, _ := memberOf(o, "n3"); m.State == StateDead && sawDead == "" {
					sawDead = o.LocalName()
				}
			}
			return seeAll(stayers, []string{"n3"}, StateLeft)
		})
		t.Logf("leave of n3 seen by all after %v", took)
		if sawDead != "" {
			t.Fatalf("%s saw n3 dead before left", sawDead)
		}
		time.Sleep(2 * time.Second) // stays left; the failed n4 stays dead
		if err := seeAll(stayers, []string{"n3"}, StateLeft); err != nil {
			t.Fatal(err)
		}
		if err := seeAll(stayers, []string{"n4"}, StateDead); err != nil {
			t.Fatal(err)
		}
		cands := strings.Join(n1.rejoinCandidates(), ",")
		if !strings.Contains(cands, "10.0.0.4:7946") || strings.Contains(cands, "10.0.0.3:7946") {
			t.Fatalf("rejoin candidates %q: want the dead n4, not the departed n3", cands)
		}
		if err := n3.Leave(time.Second); !errors.Is(err, ErrClosed) {
			t.Fatalf("Leave after Close err = %v", err)
		}
		if _, err := n3.Join(context.Background(), []string{"10.0.0.1:7946"}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Join after Close err = %v", err)
		}
	})
}

func TestPartitionHealRejoin(t *testing.T) {
	tests := map[string]struct {
		rejoin      time.Duration
		wantReunion bool
	}{
		"rejoin loop reunites":                  {rejoin: 0, wantReunion: true},
		"control: rejoin disabled, split stays": {rejoin: -1, wantReunion: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				defer h.closeAll()
				gs := h.startCluster(4, func(_ int, c *Config) { c.RejoinInterval = tc.rejoin })
				a, b := gs[:2], gs[2:]
				h.nw.Partition([]string{"10.0.0.1", "10.0.0.2"}, []string{"10.0.0.3", "10.0.0.4"})
				waitFor(t, 5*time.Second, func() error {
					if err := seeAll(a, names(b), StateDead); err != nil {
						return err
					}
					return seeAll(b, names(a), StateDead)
				})
				// outlast GossipToTheDeadTime (5s) so memberlist itself has
				// stopped talking to the other half
				time.Sleep(8 * time.Second)
				h.nw.Heal()
				if tc.wantReunion {
					took := waitFor(t, 10*time.Second, func() error { return seeAll(gs, names(gs), StateAlive) })
					t.Logf("reunited %v after heal", took)
					return
				}
				time.Sleep(10 * time.Second)
				if err := seeAll(a, names(b), StateAlive); err == nil {
					t.Fatal("halves reunited without the rejoin loop: the control does not control anything")
				}
			})
		})
	}
}

func TestRestartedSeedRejoins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		defer h.closeAll()
		gs := h.startCluster(3, nil)
		oldBoot := gs[0].LocalMeta().BootID
		_ = gs[0].Close()
		rest := gs[1:]
		waitFor(t, 5*time.Second, func() error { return seeAll(rest, []string{"n1"}, StateDead) })

		n1 := h.node("n1", "10.0.0.1", []string{addrOf("10.0.0.1")}, nil)
		newBoot := n1.LocalMeta().BootID
		if newBoot == oldBoot {
			t.Fatal("test needs a new boot id")
		}
		n1.Start(context.Background())
		all := append([]*Gossip{n1}, rest...)
		took := waitFor(t, 10*time.Second, func() error {
			if err := seeAll(all, names(all), StateAlive); err != nil {
				return err
			}
			for _, o := range rest {
				if m, _ := memberOf(o, "n1"); m.Meta.BootID != newBoot {
					return fmt.Errorf("%s sees n1 boot %d, want %d", o.LocalName(), m.Meta.BootID, newBoot)
				}
			}
			return nil
		})
		t.Logf("restarted seed reunited after %v", took)
	})
}

func TestIncompatiblePeerRefused(t *testing.T) {
	tests := map[string]struct {
		mut    func(*Config)
		reason string
	}{
		"ring hash":        {func(c *Config) { c.Meta.RingHash = 0xdef }, "ring_hash_mismatch"},
		"protocol version": {func(c *Config) { c.Meta.Proto = ProtoVersion + 1 }, "proto_mismatch"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				defer h.closeAll()
				gs := h.startCluster(2, nil)
				seed := addrOf("10.0.0.1")
				m := h.node("m", "10.0.0.9", []string{seed}, tc.mut)
				_, err := m.Join(context.Background(), []string{seed})
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), seed) {
					t.Fatalf("Join err = %v, want ErrRefused naming %s", err, seed)
				}
				m.Start(context.Background())
				time.Sleep(3 * time.Second)
				for _, g := range gs {
					if mm, ok := memberOf(g, "m"); ok {
						t.Fatalf("%s sees refused node as %+v", g.LocalName(), mm)
					}
					if g.NumMembers() != 2 {
						t.Fatalf("%s NumMembers = %d", g.LocalName(), g.NumMembers())
					}
				}
				if got := m.Members(); len(got) != 1 || got[0].Name != "m" {
					t.Fatalf("refused node sees %+v", got)
				}
				if w := h.logs.find(`"level":"warn"`, `"node":"n1"`, `"peer":"m"`, `"reason":"`+tc.reason+`"`, `"message":"peer refused"`); len(w) == 0 {
					t.Fatalf("n1 logged no refusal warning for m")
				}
				if w := h.logs.find(`"level":"warn"`, `"node":"m"`, `"seed":"`+seed+`"`, `"message":"join failed, will retry"`); len(w) == 0 {
					t.Fatalf("m logged no join failure for its seed")
				}
			})
		})
	}
}

func TestDuplicateNameMemnet(t *testing.T) {
	tests := map[string]struct {
		via          string // seed the newcomer joins
		existingWarn bool   // the existing n1 must have logged a warning
	}{
		"joins the holder of the name": {via: "10.0.0.1", existingWarn: true},
		"joins another member":         {via: "10.0.0.2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				defer h.closeAll()
				gs := h.startCluster(3, nil)
				n1 := gs[0]
				boot := n1.LocalMeta().BootID
				time.Sleep(time.Millisecond) // the newcomer starts strictly later
				dup := h.node("n1", "10.0.0.9", []string{addrOf(tc.via)}, nil)
				start := time.Now()
				dup.Start(context.Background())
				select {
				case err := <-dup.Fatal():
					if !errors.Is(err, ErrDuplicateName) || !strings.Contains(err.Error(), "10.0.0.1:7946") ||
						!strings.Contains(err.Error(), "10.0.0.9:7946") || !strings.Contains(err.Error(), `"n1"`) {
						t.Fatalf("Fatal = %v", err)
					}
					t.Logf("newcomer got %v after %v", err, time.Since(start))
				case <-time.After(5 * time.Second):
					t.Fatal("newcomer got no ErrDuplicateName within 5s")
				}
				time.Sleep(2 * time.Second)
				_ = dup.Close()
				time.Sleep(2 * time.Second)
				for _, g := range gs {
					select {
					case err := <-g.Fatal():
						t.Fatalf("existing %s got Fatal %v", g.LocalName(), err)
					default:
					}
					m, _ := memberOf(g, "n1")
					if m.State != StateAlive || m.Addr != "10.0.0.1:7946" || m.Meta.BootID != boot {
						t.Fatalf("%s sees n1 as %+v, want the original", g.LocalName(), m)
					}
					if g.NumMembers() != 3 {
						t.Fatalf("%s NumMembers = %d", g.LocalName(), g.NumMembers())
					}
				}
				for _, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9"} {
					t.Logf("%s logged %d conflict warnings", ip, len(h.logs.find(`"level":"warn"`, `"test_ip":"`+ip+`"`, "onflict")))
				}
				existing := h.logs.find(`"level":"warn"`, `"test_ip":"10.0.0.1"`, `"message":"another node uses our name`)
				if tc.existingWarn && len(existing) == 0 {
					t.Fatal("the existing n1 logged no warning")
				}
			})
		})
	}
}

// gateWriter blocks the writer of any "member joined" line until gate is
// closed: it stalls a node's consumer goroutine (the only writer of that
// message) on a channel, so callbacks pile up deterministically.
type gateWriter struct {
	gate chan struct{}
	next *logSink
}

func (w *gateWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"message":"member joined"`)) {
		<-w.gate
	}
	return w.next.Write(p)
}

func TestEventQueueOverflowResyncs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		defer h.closeAll()
		gate := &gateWriter{gate: make(chan struct{}), next: h.logs}
		seed := addrOf("10.0.0.1")
		n1 := h.node("n1", "10.0.0.1", nil, func(c *Config) {
			c.eventQueueLen = 1
			c.Logger = zerolog.New(gate).With().Str("test_ip", "10.0.0.1").Logger()
		})
		gs := []*Gossip{n1}
		for i := 2; i <= 5; i++ {
			gs = append(gs, h.node(fmt.Sprintf("n%d", i), fmt.Sprintf("10.0.0.%d", i), []string{seed}, nil))
		}
		for _, g := range gs {
			g.Start(context.Background())
		}
		// n1's consumer is stuck logging its own join; the others converge
		waitFor(t, 10*time.Second, func() error { return seeAll(gs[1:], names(gs), StateAlive) })
		if n1.DroppedEvents() == 0 {
			t.Fatal("no event dropped although n1's consumer is stalled with a queue of 1")
		}
		if _, ok := memberOf(n1, "n5"); ok {
			t.Fatal("n1's table changed while its consumer was stalled")
		}
		close(gate.gate)
		took := waitFor(t, 5*time.Second, func() error { return seeAll(gs, names(gs), StateAlive) })
		t.Logf("n1 resynchronised after %v (%d events dropped)", took, n1.DroppedEvents())
		if len(h.logs.find(`"level":"warn"`, `"test_ip":"10.0.0.1"`, "event queue full")) == 0 {
			t.Fatal("overflow not logged")
		}
		_ = gs[4].Close()
		waitFor(t, 5*time.Second, func() error { return seeAll(gs[:4], []string{"n5"}, StateDead) })
	})
}

func TestDelegatePushNeverBlocks(t *testing.T) {
	d := newDelegate("n1", nil, Meta{}, 2, 2)
	for i := range 5 {
		d.push(event{kind: evJoin, node: nodeInfo{name: fmt.Sprint(i)}})
	}
	if got := d.dropped.Load(); got != 3 {
		t.Fatalf("dropped = %d, want 3", got)
	}
	select {
	case <-d.resyncCh:
	default:
		t.Fatal("resync not requested")
	}
	if len(d.eventCh) != 2 {
		t.Fatalf("queued %d, want 2", len(d.eventCh))
	}
}
