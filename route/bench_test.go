package route

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"

	"shoal/internal/wire"
)

const benchKeys = 1 << 16

// benchInput is a precomputed workload: random IPv4 hosts as keys and
// their HostSeen events, boxed once so the loops do not allocate.
type benchInput struct {
	keys [][]byte
	evs  []wire.Event
}

func newBenchInput() benchInput {
	rng := rand.New(rand.NewPCG(7, 11))
	in := benchInput{keys: make([][]byte, benchKeys), evs: make([]wire.Event, benchKeys)}
	ts := time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range in.keys {
		a := netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
		k := a.As4()
		in.keys[i] = k[:]
		in.evs[i] = wire.HostSeen{TS: ts + int64(i)*1000, Host: a}
	}
	return in
}

// benchCluster is one sending router and three receiving routers that
// count what they get.
type benchCluster struct {
	sender *Router
	recv   []*Router
	counts []*atomic.Int64
	close  func()
}

func newBenchCluster(b *testing.B) *benchCluster {
	b.Helper()
	bc := &benchCluster{}
	var routers []*Router
	start := func(name, pool string, deliver func(Sender, wire.Type, []byte) Outcome) *Router {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		// FullBlock: the benchmark measures throughput under backpressure
		// (with FullDrop a sender faster than the network is refused).
		r, err := New(Config{Name: name, Pool: pool, BootID: 1, Listener: ln, Deliver: deliver, AckTimeout: 30 * time.Second, Full: FullBlock})
		if err != nil {
			b.Fatal(err)
		}
		r.Start(context.Background())
		routers = append(routers, r)
		return r
	}
	bc.sender = start("worker-1", "worker", func(Sender, wire.Type, []byte) Outcome { return OK })
	for i := range 3 {
		c := new(atomic.Int64)
		bc.counts = append(bc.counts, c)
		bc.recv = append(bc.recv, start(fmt.Sprintf("datanode-%d", i+1), "datanode", func(Sender, wire.Type, []byte) Outcome { c.Add(1); return OK }))
	}
	var v []Peer
	for _, r := range routers {
		v = append(v, Peer{Name: r.cfg.Name, Pool: r.cfg.Pool, DataAddr: r.Addr(), BootID: 1})
	}
	for _, r := range routers {
		r.SetMembers(v)
	}
	// Connected before timing starts.
	ctx := context.Background()
	for _, r := range bc.recv {
		if err := bc.sender.Send(ctx, r.cfg.Name, wire.HostSeen{}); err != nil {
			b.Fatal(err)
		}
	}
	if err := bc.sender.Drain(ctx); err != nil {
		b.Fatal(err)
	}
	for _, c := range bc.counts {
		c.Store(0)
	}
	bc.close = func() {
		for _, r := range routers {
			_ = r.Close()
		}
	}
	return bc
}

func (bc *benchCluster) received() int64 {
	var n int64
	for _, c := range bc.counts {
		n += c.Load()
	}
	return n
}

// run sends n hashed events and waits until all are acknowledged.
func (bc *benchCluster) run(b *testing.B, in benchInput, n int) time.Duration {
	ctx := context.Background()
	for _, c := range bc.counts {
		c.Store(0)
	}
	start := time.Now()
	for i := range n {
		j := i & (benchKeys - 1)
		if err := bc.sender.SendHashed(ctx, "datanode", in.keys[j], in.evs[j]); err != nil {
			b.Fatal(err)
		}
	}
	if err := bc.sender.Drain(ctx); err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	if got := bc.received(); got != int64(n) {
		b.Fatalf("received %d of %d", got, n)
	}
	return d
}

// rawBaseline is three plain TCP receivers that parse u32 length prefixes
// and count, and a sender with one 64 KiB bufio.Writer per receiver.
type rawBaseline struct {
	conns   []net.Conn
	writers []*bufio.Writer
	count   atomic.Int64
	owners  []int32 // partition -> receiver, the same placement as the router's
	parts   uint64
	wg      sync.WaitGroup
	lns     []net.Listener
}

func newRawBaseline(b *testing.B) *rawBaseline {
	b.Helper()
	ring, err := NewRing(DefaultRingConfig(), []string{"datanode-1", "datanode-2", "datanode-3"})
	if err != nil {
		b.Fatal(err)
	}
	rb := &rawBaseline{parts: uint64(ring.Partitions())}
	for p := range ring.Partitions() {
		rb.owners = append(rb.owners, int32(ring.PartitionOwner(p)))
	}
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		rb.lns = append(rb.lns, ln)
		rb.wg.Add(1)
		go func() {
			defer rb.wg.Done()
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			br := bufio.NewReaderSize(c, 64<<10)
			var hdr [4]byte
			for {
				if _, err := io.ReadFull(br, hdr[:]); err != nil {
					return
				}
				if _, err := br.Discard(int(binary.BigEndian.Uint32(hdr[:]))); err != nil {
					return
				}
				rb.count.Add(1)
			}
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		rb.conns = append(rb.conns, c)
		rb.writers = append(rb.writers, bufio.NewWriterSize(c, 64<<10))
	}
	return rb
}

func (rb *rawBaseline) run(b *testing.B, in benchInput, n int) time.Duration {
	rb.count.Store(0)
	scratch := make([]byte, 0, 256)
	start := time.Now()
	for i := range n {
		j := i & (benchKeys - 1)
		w := rb.writers[rb.owners[xxhash.Sum64(in.keys[j])%rb.parts]]
		scratch = in.evs[j].AppendWire(scratch[:4])
		binary.BigEndian.PutUint32(scratch, uint32(len(scratch)-4))
		if _, err := w.Write(scratch); err != nil {
			b.Fatal(err)
		}
	}
	for _, w := range rb.writers {
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	for rb.count.Load() < int64(n) {
		time.Sleep(50 * time.Microsecond)
	}
	return time.Since(start)
}

func (rb *rawBaseline) close() {
	for _, c := range rb.conns {
		_ = c.Close()
	}
	for _, ln := range rb.lns {
		_ = ln.Close()
	}
	rb.wg.Wait()
}

// BenchmarkHashedSend compares the router (one sender, three receivers over
// loopback, real codec, batching and acks) with raw length-prefixed TCP
// carrying the same encoded events, b.N events each, in the same run.
// ns/op covers both halves; the metrics split them.
func BenchmarkHashedSend(b *testing.B) {
	in := newBenchInput()
	b.StopTimer()
	rb := newRawBaseline(b)
	defer rb.close()
	bc := newBenchCluster(b)
	defer bc.close()
	b.StartTimer()
	// Interleaved in rounds so that a noisy neighbour slows both alike.
	var raw, routed time.Duration
	const rounds = 4
	for k := range rounds {
		n := b.N / rounds
		if k == rounds-1 {
			n = b.N - (rounds-1)*(b.N/rounds)
		}
		raw += rb.run(b, in, n)
		routed += bc.run(b, in, n)
	}
	b.StopTimer()
	rawRate := float64(b.N) / raw.Seconds()
	routerRate := float64(b.N) / routed.Seconds()
	b.ReportMetric(rawRate, "raw_ev/s")
	b.ReportMetric(routerRate, "router_ev/s")
	b.ReportMetric(routerRate/rawRate, "ratio")
	s := bc.sender.Stats()
	if s.Writes > 0 {
		b.ReportMetric(float64(s.Sent)/float64(s.Writes), "ev/write")
	}
}

// BenchmarkEventsPerWrite reports how many events share one write system
// call when one sender loads three receivers.
func BenchmarkEventsPerWrite(b *testing.B) {
	in := newBenchInput()
	b.StopTimer()
	bc := newBenchCluster(b)
	defer bc.close()
	before := bc.sender.Stats()
	b.StartTimer()
	bc.run(b, in, b.N)
	b.StopTimer()
	s := bc.sender.Stats()
	writes := s.Writes - before.Writes
	batches := s.Batches - before.Batches
	if writes == 0 {
		b.Fatal("no writes")
	}
	b.ReportMetric(float64(b.N)/float64(writes), "ev/write")
	b.ReportMetric(float64(b.N)/float64(batches), "ev/batch")
	var acks uint64
	for _, r := range bc.recv {
		acks += r.Stats().AcksSent
	}
	b.ReportMetric(float64(b.N)/float64(max(acks, 1)), "ev/ack")
}

// BenchmarkPartitionLookup measures the per-event routing lookup: routing
// table load, partition hash and owner, lock-free, against
// consistent.LocateKey, which takes a read lock. Run with -cpu 1,2.
func BenchmarkPartitionLookup(b *testing.B) {
	in := newBenchInput()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(Config{Name: "worker-1", Pool: "worker", Listener: ln, Deliver: func(Sender, wire.Type, []byte) Outcome { return OK }})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var v []Peer
	members := []consistent.Member{}
	for i := range 3 {
		name := fmt.Sprintf("datanode-%d", i+1)
		v = append(v, Peer{Name: name, Pool: "datanode", DataAddr: "127.0.0.1:1", BootID: 1})
		members = append(members, ringMember(name))
	}
	r.SetMembers(v) // not started: no connections are made
	b.Run("table", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(benchKeys)
			var sink *peer
			n := 0
			for pb.Next() {
				_, p, _ := r.table.Load().hashed("datanode", in.keys[i&(benchKeys-1)])
				sink = p
				i++
				n++
			}
			if n > 0 && sink == nil {
				b.Error("no owner")
			}
		})
	})
	cfg := DefaultRingConfig()
	c := consistent.New(members, consistent.Config{Hasher: xxhasher{}, PartitionCount: cfg.Partitions, ReplicationFactor: cfg.ReplicationFactor, Load: cfg.Load})
	b.Run("consistent.LocateKey", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(benchKeys)
			var sink consistent.Member
			n := 0
			for pb.Next() {
				sink = c.LocateKey(in.keys[i&(benchKeys-1)])
				i++
				n++
			}
			if n > 0 && sink == nil {
				b.Error("no owner")
			}
		})
	})
}
