package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"shoal/internal/zeekdata"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"shoal/builtin"
	"shoal/gossip"
	"shoal/ingest"
	"shoal/internal/memnet"
	"shoal/internal/wire"
	"shoal/route"
	"shoal/site"
	"shoal/zeeklog"
)

// These tests run whole clusters of Nodes in one process, over memnet, inside
// a synctest bubble: gossip probes, suspicion timeouts and the transport's
// flush timers all run on virtual time, so failover is measured exactly and
// deterministically.

func sharedZeek(t *testing.T, rel string) string {
	t.Helper()
	return zeekdata.Path(t, rel)
}

type harness struct {
	t       *testing.T
	an      builtin.Config // the analyses of every node
	nw      *memnet.Network
	logDir  string
	nodes   map[string]*Node
	next    int
	base    func(*Config)
	crashed []*Node
}

func newHarness(t *testing.T, base func(*Config)) *harness {
	return &harness{t: t, nw: memnet.New(1), logDir: t.TempDir(), nodes: map[string]*Node{}, base: base}
}

// start creates and starts a node joined to the first node started. mut
// adjusts its configuration; register, if set, runs between New and Start,
// where handlers are registered.
func (h *harness) start(name string, role Role, mut func(*Config), register ...func(*Node)) *Node {
	h.t.Helper()
	h.next++
	host := fmt.Sprintf("127.0.0.%d", h.next)
	tr, err := h.nw.NewTransport(host + ":7946")
	if err != nil {
		h.t.Fatal(err)
	}
	ln, err := h.nw.Listen(host + ":9000")
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := Config{
		Name: name, Role: role, Bind: host + ":7946", Join: []string{"127.0.0.1:7946"},
		Profile: "fast", GossipTransport: tr, DataListener: ln, Dial: h.nw.DialFunc(host),
		Logger: zerolog.New(zerolog.NewTestWriter(h.t)).Level(zerolog.WarnLevel),
	}
	if role == RoleManager {
		cfg.LogDir = h.logDir
	}
	if h.base != nil {
		h.base(&cfg)
	}
	if mut != nil {
		mut(&cfg)
	}
	if cfg.Modules == nil {
		cfg.Modules = builtin.Modules(h.an)
	}
	n, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range register {
		r(n)
	}
	if err := n.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.nodes[name] = n
	return n
}

// crash stops a node the way SIGKILL does: no leave message, connections
// torn down mid-stream.
func (h *harness) crash(name string) {
	n := h.nodes[name]
	n.skipLeave.Store(true)
	n.Close()
	delete(h.nodes, name)
	h.crashed = append(h.crashed, n)
}

func (h *harness) closeAll() {
	for _, n := range h.nodes {
		n.Close()
	}
	// memberlist's probe and stream goroutines outlive Shutdown by up to a
	// timeout; let them end before the bubble does.
	time.Sleep(5 * time.Second)
}

// converged reports whether every node has the same ring checksum for pool
// and that ring holds exactly want.
func (h *harness) converged(pool string, want ...string) error {
	sort.Strings(want)
	var sum uint64
	for name, n := range h.nodes {
		r := n.router.Rings()[pool]
		if !slices.Equal(r.Members, want) {
			return fmt.Errorf("%s: %s ring %v, want %v", name, pool, r.Members, want)
		}
		if sum == 0 {
			sum = r.Checksum
		} else if r.Checksum != sum {
			return fmt.Errorf("%s: %s checksum %016x differs", name, pool, r.Checksum)
		}
	}
	return nil
}

// waitFor polls cond on virtual time.
func waitFor(t *testing.T, timeout time.Duration, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInProcessKnownHostsWikipedia(t *testing.T) {
	tests := map[string]struct {
		mode     string
		expected string
		format   zeeklog.Format
	}{
		"local":    {"local", "known_hosts-local.v3.log", zeeklog.FormatTSV},
		"remote":   {"remote", "known_hosts-remote.v3.log", zeeklog.FormatTSV},
		"all":      {"all", "known_hosts-all.v3.log", zeeklog.FormatTSV},
		"all json": {"all", "known_hosts-all.v3.log", zeeklog.FormatJSON},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			want, err := zeeklog.ReadTSVFile(sharedZeek(t, "expected/known-hosts/"+tt.expected))
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, func(c *Config) { c.LogFormat = tt.format })
				nets, _ := site.ParseNets("141.142.0.0/16")
				h.an.SetLocalNets(nets)
				h.an.Hosts.Tracking, _ = site.ParseMode(tt.mode)
				defer h.closeAll()
				h.start("manager-1", RoleManager, nil)
				for i := 1; i <= 3; i++ {
					h.start(fmt.Sprintf("datanode-%d", i), RoleDatanode, nil)
				}
				w := h.start("worker-1", RoleWorker, func(c *Config) { c.Read = []string{sharedZeek(t, "traces/wikipedia.pcap")} })
				waitFor(t, 10*time.Second, func() error { return h.converged("datanode", "datanode-1", "datanode-2", "datanode-3") })
				if err := w.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * flushInterval)
				synctest.Wait()
				got, err := readLog(filepath.Join(h.logDir, "known_hosts.log"), tt.format, want.Fields)
				if err != nil {
					t.Fatal(err)
				}
				if g, w := rowSet(got.Rows), rowSet(want.Rows); !slices.Equal(g, w) {
					t.Fatalf("known_hosts rows\n got %v\nwant %v", g, w)
				}
			})
		})
	}
}

func readLog(name string, format zeeklog.Format, fields []string) (*zeeklog.Log, error) {
	if format == zeeklog.FormatTSV {
		return zeeklog.ReadTSVFile(name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return zeeklog.ReadJSON(f, fields)
}

func rowSet(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, strings.Join(r, " "))
	}
	sort.Strings(out)
	return out
}

// TestInProcessFailover kills a datanode while a worker streams generated
// traffic and measures, on virtual time, how long the killed node's keys
// take to reach their new owner.
func TestInProcessFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.an.Hosts.Tracking = site.AllHosts
		defer h.closeAll()
		h.start("manager-1", RoleManager, nil)
		for i := 1; i <= 3; i++ {
			h.start(fmt.Sprintf("datanode-%d", i), RoleDatanode, nil)
		}
		w := h.start("worker-1", RoleWorker, func(c *Config) {
			c.Generate = &ingest.GeneratorConfig{Seed: 7, Rate: 2000, Hosts: 100000, Servers: 100}
		})
		waitFor(t, 10*time.Second, func() error { return h.converged("datanode", "datanode-1", "datanode-2", "datanode-3") })
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- w.Run(ctx) }()

		time.Sleep(time.Second)
		synctest.Wait()
		before := h.nodes["datanode-2"].Status().Datanode.Counter("hosts_seen")
		if before == 0 {
			t.Fatal("datanode-2 received nothing before the kill")
		}
		kill := time.Now()
		h.crash("datanode-2")

		took := waitFor(t, 5*time.Second, func() error {
			for _, f := range w.router.Failovers() {
				if f.Peer == "datanode-2" && !f.FirstAckAt.IsZero() {
					return nil
				}
			}
			return errors.New("no acknowledged re-route for datanode-2 yet")
		})
		var fo route.Failover
		for _, f := range w.router.Failovers() {
			if f.Peer == "datanode-2" {
				fo = f
			}
		}
		t.Logf("kill -> detected %v, kill -> first ack by a new owner %v (virtual time), %d re-routed",
			fo.DetectedAt.Sub(kill), fo.FirstAckAt.Sub(kill), fo.Rerouted)
		if d := fo.FirstAckAt.Sub(kill); d > time.Second || took > time.Second {
			t.Fatalf("re-route took %v, want <= 1s", d)
		}

		// Gossip confirms the death; every survivor agrees on one ring.
		waitFor(t, 5*time.Second, func() error { return h.converged("datanode", "datanode-1", "datanode-3") })
		waitFor(t, 5*time.Second, func() error {
			for _, m := range w.gossip.Members() {
				if m.Name == "datanode-2" && m.State != gossip.StateDead {
					return fmt.Errorf("datanode-2 is %s", m.State)
				}
			}
			return nil
		})
		sent := w.Status().Worker.Counter("hosts_sent")
		time.Sleep(500 * time.Millisecond)
		if w.Status().Worker.Counter("hosts_sent") <= sent {
			t.Fatal("worker stopped sending after the failover")
		}
		cancel()
		if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		for _, name := range []string{"datanode-1", "datanode-3"} {
			if h.nodes[name].Status().Datanode.Counter("hosts_seen") == 0 {
				t.Errorf("%s received nothing", name)
			}
		}
	})
}

// probe is a test event type outside the built-in range.
type probe struct{ N uint64 }

func (probe) WireType() wire.Type          { return 4000 }
func (p probe) AppendWire(b []byte) []byte { return binary.AppendUvarint(b, p.N) }
func (p *probe) DecodeWire(b []byte) error {
	v, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) {
		return wire.ErrShort
	}
	p.N = v
	return nil
}

// TestEventAPI exercises every send form and typed handlers registered on
// every node, whatever its role.
func TestEventAPI(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		got := map[string][]uint64{} // receiver -> values
		h := newHarness(t, nil)
		defer h.closeAll()
		names := []struct {
			name string
			role Role
		}{{"manager-1", RoleManager}, {"datanode-1", RoleDatanode}, {"datanode-2", RoleDatanode}, {"worker-1", RoleWorker}, {"worker-2", RoleWorker}}
		for _, nm := range names {
			h.start(nm.name, nm.role, nil, func(n *Node) {
				Allow(n, probe{}.WireType(), RoleWorker, RoleDatanode, RoleManager)
				Handle(n, func(from string, ev probe) {
					mu.Lock()
					got[n.Name()] = append(got[n.Name()], ev.N)
					mu.Unlock()
				})
			})
		}
		waitFor(t, 10*time.Second, func() error { return h.converged("worker", "worker-1", "worker-2") })
		waitFor(t, 10*time.Second, func() error { return h.converged("datanode", "datanode-1", "datanode-2") })
		m := h.nodes["manager-1"]
		ctx := context.Background()
		if err := m.Send(ctx, "worker-2", probe{1}); err != nil {
			t.Fatal(err)
		}
		if err := m.Broadcast(ctx, "worker", probe{2}); err != nil {
			t.Fatal(err)
		}
		for i := uint64(10); i < 14; i++ {
			if err := m.SendRoundRobin(ctx, "datanode", probe{i}); err != nil {
				t.Fatal(err)
			}
		}
		key := []byte("10.1.2.3")
		ring, err := route.NewRing(route.DefaultRingConfig(), []string{"datanode-1", "datanode-2"})
		if err != nil {
			t.Fatal(err)
		}
		owner, _ := ring.Owner(key)
		if err := m.SendHashed(ctx, "datanode", key, probe{99}); err != nil {
			t.Fatal(err)
		}
		if err := m.Send(ctx, "manager-1", probe{7}); err != nil { // to itself
			t.Fatal(err)
		}
		err = m.SendHashed(ctx, "proxy", key, probe{5})
		if !errors.Is(err, ErrNoMembers) {
			t.Fatalf("send to an empty pool: %v, want ErrNoMembers", err)
		}
		if err := m.router.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(got["worker-2"], []uint64{1, 2}) || !slices.Equal(got["worker-1"], []uint64{2}) {
			t.Errorf("workers got %v", got)
		}
		d1, d2 := got["datanode-1"], got["datanode-2"]
		if len(d1)+len(d2) != 5 || !slices.Contains(got[owner], 99) {
			t.Errorf("datanodes got %v / %v; owner of key is %s", d1, d2, owner)
		}
		if rr := len(d1) - len(d2); rr < -2 || rr > 2 {
			t.Errorf("round robin unbalanced: %v / %v", d1, d2)
		}
		if !slices.Equal(got["manager-1"], []uint64{7}) {
			t.Errorf("self-send: manager got %v", got["manager-1"])
		}
		if m.router.Stats().NoMembers == 0 {
			t.Error("send to an empty pool was not counted")
		}
	})
}
