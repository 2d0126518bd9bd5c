package testcluster

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"shoal/ingest"
	"shoal/packet"
)

// connBenchPackets is the size of TestConnLogThroughput's generated pcap;
// SHOAL_CONNLOG_BENCH sets it (the test runs only then).
func connBenchPackets(t *testing.T) int {
	s := os.Getenv("SHOAL_CONNLOG_BENCH")
	if s == "" {
		t.Skip("throughput measurement: set SHOAL_CONNLOG_BENCH=3000000 (packets of the generated pcap)")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 10000 {
		t.Fatalf("SHOAL_CONNLOG_BENCH=%q: want a packet count >= 10000", s)
	}
	return n
}

// writeGenPcap writes the generator's complete traffic (every protocol with
// payload and close, DNS, failed attempts) until at least n packets.
func writeGenPcap(t *testing.T, path string, n int) (packets, conns int) {
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w, err := ingest.NewPcapWriter(fh)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := ingest.NewGenerator(ingest.GeneratorConfig{Seed: 11, Hosts: 20000, Servers: 2000, LocalServers: 200,
		Start: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := g.Run(ctx, func(p *packet.Packet) {
		if err := w.Write(p); err != nil {
			t.Error(err)
			cancel()
		}
		if int(w.Packets()) >= n {
			cancel()
		}
	})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
	return int(w.Packets()), int(st.Connections)
}

// TestConnLogThroughput measures what conn.log costs a worker: the same
// generated pcap (SHOAL_CONNLOG_BENCH packets) read by a worker with
// --conn-log=off and with --conn-log=on, alternately, three times each in
// one run against one manager and one datanode. A worker's time runs from
// its ready line to its exit, which waits until every row is acknowledged:
// a manager that fell behind would show in the "on" times. It reports the
// ratio of packets/s (on/off) per round, min/median/max.
func TestConnLogThroughput(t *testing.T) {
	n := connBenchPackets(t)
	ctx := testCtx(t, 30*time.Minute)
	pcap := filepath.Join(t.TempDir(), "gen.pcap")
	start := time.Now()
	pkts, conns := writeGenPcap(t, pcap, n)
	t.Logf("generated %d packets (%d connections) in %v", pkts, conns, time.Since(start).Round(time.Millisecond))

	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 1})
	m := c.ByRole(RoleManager)[0]
	// run returns the worker's wall time and CPU time.
	run := func(connLog string) (time.Duration, float64, map[string]any) {
		t.Helper()
		began := time.Now()
		w, err := c.Add(ctx, RoleWorker, "--read", pcap, "--conn-log="+connLog, "--tunnel-log="+connLog)
		if err != nil {
			t.Fatal(err)
		}
		if code := waitExit(t, ctx, w, 20*time.Minute); code != 0 {
			t.Fatalf("%s exited %d:\n%s", w.Name, code, w.StderrTail(2000))
		}
		took := time.Since(began)
		var done struct {
			Worker map[string]any `json:"worker"`
			CPU    float64        `json:"cpu_seconds"`
		}
		if err := json.Unmarshal([]byte(w.DoneLine()), &done); err != nil || done.CPU <= 0 {
			t.Fatalf("done line %q: %v", w.DoneLine(), err)
		}
		return took, done.CPU, done.Worker
	}
	var ratios, cpuRatios []float64
	rowsBefore := 0.0
	for round := range 3 {
		off, offCPU, _ := run("off")
		on, onCPU, st := run("on")
		sent, _ := st["conn_rows_sent"].(float64)
		if unsent, _ := st["conn_rows_unsent"].(float64); sent == 0 || unsent != 0 {
			t.Fatalf("conn rows sent %v, unsent %v", sent, unsent)
		}
		// The worker exits only once every row was acknowledged: the
		// manager has written them all by then.
		ms, err := m.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := float64(ms.Manager.Records["conn"]); got != rowsBefore+sent {
			t.Errorf("round %d: manager wrote %v conn rows, want %v", round, got, rowsBefore+sent)
		}
		rowsBefore += sent
		offRate, onRate := float64(pkts)/off.Seconds(), float64(pkts)/on.Seconds()
		ratios = append(ratios, onRate/offRate)
		cpuRatios = append(cpuRatios, offCPU/onCPU)
		t.Logf("round %d: off %v wall, %.2fs cpu (%.0f pkts/s); on %v wall, %.2fs cpu (%.0f pkts/s, %v conn rows): "+
			"packets/s ratio %.3f, packets per cpu-second ratio %.3f", round, off.Round(time.Millisecond), offCPU,
			offRate, on.Round(time.Millisecond), onCPU, onRate, sent, onRate/offRate, offCPU/onCPU)
	}
	slices.Sort(ratios)
	slices.Sort(cpuRatios)
	t.Logf("packets/s (wall) with conn.log on / off: min %.3f median %.3f max %.3f", ratios[0], ratios[1], ratios[2])
	t.Logf("packets per worker cpu-second on / off: min %.3f median %.3f max %.3f", cpuRatios[0], cpuRatios[1],
		cpuRatios[2])
	if cpuRatios[1] < 0.75 {
		t.Errorf("conn.log costs the worker more than 25%% of its packets per cpu-second (median %.3f)", cpuRatios[1])
	}
}
