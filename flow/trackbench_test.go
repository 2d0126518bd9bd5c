package flow_test

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"shoal/flow"
	"shoal/ingest"
	"shoal/packet"
	"shoal/service"
)

// writeBenchPcap writes the generator's complete traffic (TCP connections
// of every protocol with their payload and close, DNS over UDP, failed
// attempts) for conns connections to a pcap and returns the packet count.
func writeBenchPcap(tb testing.TB, path string, conns int) int {
	fh, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer fh.Close()
	w, err := ingest.NewPcapWriter(fh)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := ingest.NewGenerator(ingest.GeneratorConfig{Seed: 7, Hosts: 2000, Servers: 300, LocalServers: 100,
		Count: conns, Start: time.Unix(1700000000, 0)})
	if err != nil {
		tb.Fatal(err)
	}
	_, err = g.Run(context.Background(), func(p *packet.Packet) {
		if err := w.Write(p); err != nil {
			tb.Fatal(err)
		}
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		tb.Fatal(err)
	}
	return int(w.Packets())
}

// detector is the service hook as a worker runs it: shoal/service's
// payload-based protocol detection on every packet of every connection,
// with analyzers recycled through a free list as the node does.
type detector struct {
	det  service.Detector
	free *[]*detector
	seen *int
}

func (a *detector) Packet(c *flow.Conn, fromOrig bool, p *packet.Packet) {
	if len(p.Payload) == 0 || p.Has(packet.FlagRST) {
		return
	}
	seq := p.Seq
	if p.Has(packet.FlagSYN) {
		seq++
	}
	if conf, ok := a.det.Packet(c.Proto(), fromOrig, seq, p.Payload); ok {
		*a.seen++
		c.AddService(conf.Service.String())
	}
}

func (a *detector) Done(*flow.Conn) {
	free, seen := a.free, a.seen
	*a = detector{free: free, seen: seen}
	*free = append(*free, a)
}

// BenchmarkTrackVsRead measures packets/s through reading, decoding and
// tracking a generated pcap (about 200000 packets with payload), with
// shoal/service's protocol detection on every connection and every event handler set, as a
// ratio to merely reading the same file with pcapgo.Reader.ReadPacketData in
// the same run. One op is one pass of each; "ratio" compares the fastest
// pass of each (the least disturbed by other load), "ratio-mean" the means. A single Tracker serves every
// pass (shifted an hour later each time, finished at the end of each pass),
// so it runs in its steady state; allocs/pkt is the tracking pass's total,
// per-file allocations included.
func BenchmarkTrackVsRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.pcap")
	pkts := writeBenchPcap(b, path, 15000)

	seen, removed := 0, 0
	var free []*detector
	tr := flow.NewTracker(flow.Config{Handler: flow.Handler{
		NewConn: func(c *flow.Conn) {
			if n := len(free); n > 0 {
				c.Analyzer, free = free[n-1], free[:n-1]
				return
			}
			c.Analyzer = &detector{free: &free, seen: &seen}
		},
		Removed: func(*flow.Record) { removed++ },
	}})
	pass := 0
	track := func() {
		f, err := ingest.OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		shift := time.Duration(pass) * time.Hour
		st, err := f.Run(context.Background(), func(p *packet.Packet) {
			p.TS = p.TS.Add(shift)
			tr.Packet(p)
		})
		f.Close()
		if err != nil || int(st.Delivered) != pkts {
			b.Fatalf("pass %d: %+v, %v", pass, st, err)
		}
		tr.Finish()
		pass++
	}
	read := func() {
		fh, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer fh.Close()
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, _, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != pkts {
			b.Fatalf("read %d packets, want %d", n, pkts)
		}
	}
	track() // warm up: the tracker reaches its working size
	read()
	var readTime, trackTime time.Duration
	bestRead, bestTrack := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	var mallocs uint64
	var ms0, ms1 runtime.MemStats
	for b.Loop() {
		start := time.Now()
		read()
		d := time.Since(start)
		readTime += d
		bestRead = min(bestRead, d)

		runtime.ReadMemStats(&ms0)
		start = time.Now()
		track()
		d = time.Since(start)
		runtime.ReadMemStats(&ms1)
		trackTime += d
		bestTrack = min(bestTrack, d)
		mallocs += ms1.Mallocs - ms0.Mallocs
	}
	passes := float64(pass - 1)
	readRate := passes * float64(pkts) / readTime.Seconds()
	trackRate := passes * float64(pkts) / trackTime.Seconds()
	b.ReportMetric(float64(pkts), "pkts/pass")
	b.ReportMetric(readRate, "read-pkts/s")
	b.ReportMetric(trackRate, "track-pkts/s")
	// The ratio of the best passes is the least disturbed by other load on
	// the machine; the ratio of the means is reported too.
	b.ReportMetric(bestRead.Seconds()/bestTrack.Seconds(), "ratio")
	b.ReportMetric(trackRate/readRate, "ratio-mean")
	b.ReportMetric(float64(mallocs)/(passes*float64(pkts)), "allocs/pkt")
	if seen == 0 || removed == 0 {
		b.Fatal("the analyzer saw no payload or no connection was removed")
	}
}
