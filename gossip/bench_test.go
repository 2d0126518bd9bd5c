package gossip

import (
	"context"
	"fmt"
	"math/rand"

	"syscall"
	"testing"
	"time"
)

// cpuTime returns this process's user plus system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// idleCluster starts n gossip nodes on 127.0.0.1 with the given profile,
// keys and cluster name, waits until all see all, and returns them.
func idleCluster(b *testing.B, n int, profile Profile, keys [][]byte, label string) []*Gossip {
	b.Helper()
	var gs []*Gossip
	var seed string
	for i := range n {
		cfg := DefaultConfig()
		cfg.Name, cfg.BindAddr, cfg.Profile = fmt.Sprintf("n%d", i), "127.0.0.1:0", profile
		cfg.Keys, cfg.ClusterName = keys, label
		cfg.Meta = Meta{Role: "datanode", BootID: rand.Uint64(), RingHash: 1}
		if seed != "" {
			cfg.Seeds = []string{seed}
		}
		g, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if seed == "" {
			seed = g.LocalAddr()
		}
		g.Start(context.Background())
		gs = append(gs, g)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		all := true
		for _, g := range gs {
			if g.NumMembers() != n {
				all = false
			}
		}
		if all {
			return gs
		}
		if time.Now().After(deadline) {
			b.Fatal("idle cluster did not converge")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func closeAll(gs []*Gossip) {
	for _, g := range gs {
		_ = g.Close()
	}
}

// BenchmarkIdleGossipCPU: the CPU time an idle cluster of 6 members spends
// on gossip with encryption (AES-256-GCM keyring and a cluster name) and
// without, in the same run: each round starts a plain cluster, measures a
// 5-second window, closes it, then does the same with an encrypted one; it
// reports the CPU time of this process (every member's goroutines) per
// member per second, and the ratio (median of the rounds). The fast
// profile's 20 ms gossip and 100 ms probes make it measurable.
//
//	go test -run='^$' -bench=IdleGossipCPU -benchtime=3x -count=3 ./gossip/
func BenchmarkIdleGossipCPU(b *testing.B) {
	const members, window = 6, 5 * time.Second
	for _, profile := range []Profile{ProfileFast, ProfileLAN} {
		b.Run(string(profile), func(b *testing.B) {
			var plainCPU, encCPU time.Duration
			var ratios []float64
			for range b.N {
				var per [2]time.Duration
				for i, enc := range []bool{false, true} {
					var keys [][]byte
					label := ""
					if enc {
						keys, label = [][]byte{GenerateKey()}, "bench"
					}
					gs := idleCluster(b, members, profile, keys, label)
					time.Sleep(time.Second) // past the joins
					c0 := cpuTime(b)
					time.Sleep(window)
					per[i] = cpuTime(b) - c0
					closeAll(gs)
				}
				plainCPU, encCPU = plainCPU+per[0], encCPU+per[1]
				ratios = append(ratios, float64(per[1])/float64(per[0]))
			}
			perMemberSec := func(d time.Duration) float64 {
				return float64(d) / float64(b.N) / float64(members) / window.Seconds() / float64(time.Millisecond)
			}
			b.ReportMetric(perMemberSec(plainCPU), "plain-cpu-ms/member/s")
			b.ReportMetric(perMemberSec(encCPU), "enc-cpu-ms/member/s")
			b.ReportMetric(median(ratios), "enc/plain")
		})
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
