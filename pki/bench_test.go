package pki

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"shoal/internal/wire"
	"shoal/route"
)

// benchCluster is a worker router and three datanode routers, over mutual
// TLS or plain TCP, counting what the datanodes receive.
type benchCluster struct {
	sender *route.Router
	counts []*atomic.Int64
	all    []*route.Router
}

func newBenchCluster(b *testing.B, ca *CA, useTLS bool) *benchCluster {
	b.Helper()
	bc := &benchCluster{}
	var peers []route.Peer
	start := func(name, pool string, deliver func(route.Sender, wire.Type, []byte) route.Outcome) *route.Router {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		cfg := route.Config{Name: name, Pool: pool, BootID: 1, Deliver: deliver, AckTimeout: 30 * time.Second,
			Full: route.FullBlock, Listener: ln}
		if useTLS {
			dir := b.TempDir()
			cb, kb, err := ca.Issue(Request{Role: pool, Name: name}, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			p := Paths{CA: dir + "/ca.pem", Cert: dir + "/c.pem", Key: dir + "/k.pem"}
			for path, data := range map[string][]byte{p.CA: ca.CertPEM(), p.Cert: cb, p.Key: kb} {
				if err := WriteFile(path, data, 0o600, true); err != nil {
					b.Fatal(err)
				}
			}
			f, err := Load(p, time.Now)
			if err != nil {
				b.Fatal(err)
			}
			tr, err := NewTransport(TransportConfig{Files: f, Listener: ln})
			if err != nil {
				b.Fatal(err)
			}
			cfg.Listener, cfg.Transport = nil, tr
		}
		r, err := route.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		r.Start(context.Background())
		bc.all = append(bc.all, r)
		peers = append(peers, route.Peer{Name: name, Pool: pool, DataAddr: r.Addr(), BootID: 1})
		return r
	}
	bc.sender = start("worker-1", "worker", func(route.Sender, wire.Type, []byte) route.Outcome { return route.OK })
	for i := range 3 {
		c := new(atomic.Int64)
		bc.counts = append(bc.counts, c)
		start(fmt.Sprintf("datanode-%d", i+1), "datanode", func(route.Sender, wire.Type, []byte) route.Outcome {
			c.Add(1)
			return route.OK
		})
	}
	for _, r := range bc.all {
		r.SetMembers(peers)
	}
	ctx := context.Background()
	for _, p := range peers[1:] { // connected (handshakes done) before timing
		if err := bc.sender.Send(ctx, p.Name, wire.HostSeen{}); err != nil {
			b.Fatal(err)
		}
	}
	if err := bc.sender.Drain(ctx); err != nil {
		b.Fatal(err)
	}
	return bc
}

func (bc *benchCluster) close() {
	for _, r := range bc.all {
		_ = r.Close()
	}
}

// run sends n hashed HostSeen events and waits until all are acknowledged.
func (bc *benchCluster) run(b *testing.B, keys [][]byte, evs []wire.Event, n int) time.Duration {
	ctx := context.Background()
	for _, c := range bc.counts {
		c.Store(0)
	}
	start := time.Now()
	for i := range n {
		j := i % len(keys)
		if err := bc.sender.SendHashed(ctx, "datanode", keys[j], evs[j]); err != nil {
			b.Fatal(err)
		}
	}
	if err := bc.sender.Drain(ctx); err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	var got int64
	for _, c := range bc.counts {
		got += c.Load()
	}
	if got != int64(n) {
		b.Fatalf("received %d of %d", got, n)
	}
	return d
}

// BenchmarkHashedSendsMTLS: hashed sends from a worker to 3 datanodes over
// mutual TLS 1.3 against the same over plain TCP, in the same run,
// alternating rounds of 200000 events; it reports both rates and their
// ratio (tls/plain, median of the rounds).
//
//	go test -run='^$' -bench=HashedSendsMTLS -count=3 ./pki/
func BenchmarkHashedSendsMTLS(b *testing.B) {
	const n = 200_000
	rng := rand.New(rand.NewPCG(7, 11))
	keys := make([][]byte, 1<<16)
	evs := make([]wire.Event, len(keys))
	for i := range keys {
		a := netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
		k := a.As4()
		keys[i], evs[i] = k[:], wire.HostSeen{TS: int64(i), Host: a}
	}
	ca, err := NewCA(CARequest{}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	plain, secure := newBenchCluster(b, ca, false), newBenchCluster(b, ca, true)
	defer plain.close()
	defer secure.close()
	var ratios []float64
	var plainRate, tlsRate float64
	b.ResetTimer()
	for range b.N {
		dp := plain.run(b, keys, evs, n)
		dt := secure.run(b, keys, evs, n)
		plainRate, tlsRate = float64(n)/dp.Seconds(), float64(n)/dt.Seconds()
		ratios = append(ratios, tlsRate/plainRate)
	}
	sort.Float64s(ratios)
	b.ReportMetric(plainRate, "plain-events/s")
	b.ReportMetric(tlsRate, "mtls-events/s")
	b.ReportMetric(ratios[len(ratios)/2], "mtls/plain")
}
