package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shoal/builtin"
	knownhosts "shoal/known/hosts"
	"shoal/ssconf"
	"shoal/sumstats"
)

// benchCluster starts a manager, three datanodes and a worker in this process, over
// real loopback sockets, with one sumstat on stream "s".
func benchCluster(b *testing.B) (w *Node, dns []*Node) {
	defs, err := ssconf.Parse("bench.yaml", strings.NewReader("sumstats:\n  - name: b\n    epoch: manual\n    reducers:\n      - stream: s\n        apply: [sum]\n"))
	if err != nil {
		b.Fatal(err)
	}
	var seed string
	start := func(name string, role Role) *Node {
		cfg := Config{Name: name, Role: role, Modules: builtin.Modules(builtin.Config{}), Bind: "127.0.0.1:0", DataBind: "127.0.0.1:0", Profile: "fast",
			SumStats: defs, QueueLimit: 1 << 16, Block: true, Logger: zerolog.Nop()}
		if seed != "" {
			cfg.Join = []string{seed}
		}
		if role == RoleManager {
			cfg.LogDir = b.TempDir()
		}
		n, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		if seed == "" {
			seed = n.GossipAddr()
		}
		b.Cleanup(func() { n.Close() })
		return n
	}
	start("bench-manager", RoleManager)
	for i := 1; i <= 3; i++ {
		dns = append(dns, start(fmt.Sprintf("bench-dn-%d", i), RoleDatanode))
	}
	w = start("bench-worker", RoleWorker)
	deadline := time.Now().Add(10 * time.Second)
	for len(w.router.Rings()["datanode"].Members) < 3 {
		if time.Now().After(deadline) {
			b.Fatal("the worker never saw three datanodes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return w, dns
}

// BenchmarkObserveVsHashedSend measures SumStats observations worker -> 3
// datanodes end to end (codec, transport, the datanodes' engines) against
// the core's hashed sends of known-host candidates through the same nodes
// in the same run, and reports the ratio.
func BenchmarkObserveVsHashedSend(b *testing.B) {
	w, dns := benchCluster(b)
	ctx := context.Background()
	keys := make([]sumstats.Key, 1<<16)
	hosts := make([]netip.Addr, len(keys))
	for i := range keys {
		hosts[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		keys[i] = sumstats.Key{Host: hosts[i]}
	}
	seen := func(f func(d *Node) uint64) uint64 {
		var t uint64
		for _, d := range dns {
			t += f(d)
		}
		return t
	}
	wait := func(f func(d *Node) uint64, want uint64) {
		for seen(f) < want {
			time.Sleep(time.Millisecond)
		}
	}
	ts := time.Unix(1700000000, 0)
	b.ResetTimer()
	t0 := time.Now()
	hostsSeen := func(d *Node) uint64 { return d.mods.owners[hostsOwner(d)].o.Counters()[0].Value }
	base := seen(hostsSeen)
	for i := range b.N {
		h := hosts[i&(len(hosts)-1)]
		k := h.As16()
		if err := w.SendHashed(ctx, "datanode", k[:], knownhosts.Seen{TS: ts.UnixNano(), Host: h}); err != nil {
			b.Fatal(err)
		}
	}
	wait(hostsSeen, base+uint64(b.N))
	sendDur := time.Since(t0)

	t1 := time.Now()
	base = seen(func(d *Node) uint64 { return d.datanode.sumstats.observations.Load() })
	for i := range b.N {
		if err := w.Observe(ctx, "s", keys[i&(len(keys)-1)], sumstats.Num(uint64(i)), ts); err != nil {
			b.Fatal(err)
		}
	}
	wait(func(d *Node) uint64 { return d.datanode.sumstats.observations.Load() }, base+uint64(b.N))
	obsDur := time.Since(t1)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/sendDur.Seconds(), "hashed_ev/s")
	b.ReportMetric(float64(b.N)/obsDur.Seconds(), "observe_ev/s")
	b.ReportMetric(sendDur.Seconds()/obsDur.Seconds(), "ratio")
}

// hostsOwner is the index of the known-hosts owner side among d's modules.
func hostsOwner(d *Node) int {
	for i, s := range d.mods.owners {
		if s.name == "known_hosts" {
			return i
		}
	}
	panic("no known_hosts module")
}

// BenchmarkObserveFeedVsObserve measures the --observe feed (JSON lines
// from a file: read, decoded, observed) against in-process Node.Observe of
// the same observations through the same worker and 3 datanodes, in the
// same run, and reports the ratio (feed rate / Observe rate).
func BenchmarkObserveFeedVsObserve(b *testing.B) {
	w, dns := benchCluster(b)
	ctx := context.Background()
	n := b.N
	keys := make([]sumstats.Key, n)
	path := filepath.Join(b.TempDir(), "feed.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	for i := range keys {
		h := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		keys[i] = sumstats.Key{Host: h}
		fmt.Fprintf(bw, `{"stream":"s","key":{"host":"%s"},"value":{"num":%d},"ts":1700000000}`+"\n", h, i)
	}
	if err := errors.Join(bw.Flush(), f.Close()); err != nil {
		b.Fatal(err)
	}
	observed := func() uint64 {
		var t uint64
		for _, d := range dns {
			t += d.datanode.sumstats.observations.Load()
		}
		return t
	}
	wait := func(want uint64) {
		for observed() < want {
			time.Sleep(time.Millisecond)
		}
	}
	ts := time.Unix(1700000000, 0)
	b.ResetTimer()
	base := observed()
	t0 := time.Now()
	for i := range n {
		if err := w.Observe(ctx, "s", keys[i], sumstats.Num(uint64(i)), ts); err != nil {
			b.Fatal(err)
		}
	}
	wait(base + uint64(n))
	obsDur := time.Since(t0)

	base = observed()
	t1 := time.Now()
	if err := w.worker.leg.feedObservations(ctx, path); err != nil {
		b.Fatal(err)
	}
	wait(base + uint64(n))
	feedDur := time.Since(t1)
	b.StopTimer()
	b.ReportMetric(float64(n)/obsDur.Seconds(), "observe_ev/s")
	b.ReportMetric(float64(n)/feedDur.Seconds(), "feed_ev/s")
	b.ReportMetric(obsDur.Seconds()/feedDur.Seconds(), "ratio")
}
