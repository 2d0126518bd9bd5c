package testcluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"shoal/node"
)

// scaleKeys is the number of distinct SumStats keys TestSumStatsScale
// spreads over three datanodes; SHOAL_SCALE_KEYS overrides it.
func scaleKeys(t *testing.T) int {
	if s := os.Getenv("SHOAL_SCALE_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			t.Fatalf("SHOAL_SCALE_KEYS=%q: want an integer >= 1000", s)
		}
		return n
	}
	return 1_000_000
}

// TestSumStatsScale: one million distinct SumStats keys over three
// datanodes. Each datanode holds its share within ±25 %; memory per key is
// reported; killing one datanode loses only that datanode's keys (state
// replication is a later issue).
func TestSumStatsScale(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test: a million keys (run without -short)")
	}
	n := scaleKeys(t)
	ctx := testCtx(t, 5*time.Minute)
	dir := t.TempDir()
	defs := filepath.Join(dir, "scale.yaml")
	if err := os.WriteFile(defs, []byte("sumstats:\n  - name: scale\n    epoch: manual\n    reducers:\n      - stream: s\n        apply: [sum]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	feed := filepath.Join(dir, "feed.jsonl")
	f, err := os.Create(feed)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		fmt.Fprintf(bw, `{"stream":"s","key":{"str":"k%08d"},"value":{"num":%d},"ts":1700000000}`+"\n", i, i%97)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// The local profile: under a million observations on a loaded machine
	// the fast profile's 50 ms probe timeout can take a busy datanode for
	// dead and move its keys (seen in full-suite runs).
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 3, Profile: "local", Args: settings("--sumstats=" + defs)})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	dns := c.ByRole(RoleDatanode)
	before := map[string]uint64{}
	for _, d := range dns {
		before[d.Name] = statusGC(t, ctx, d).Memory.HeapAlloc
	}
	start := time.Now()
	w, err := c.Add(ctx, RoleWorker, "--observe", feed)
	if err != nil {
		t.Fatal(err)
	}
	// A million observations take 20-30 s under -race on a loaded 2-core
	// machine: more than checkTraceExit's 30 s allow.
	if code := waitExit(t, ctx, w, 3*time.Minute); code != 0 {
		t.Fatalf("%s exited %d, want 0\nstderr tail:\n%s", w.Name, code, w.StderrTail(2000))
	}
	if w.DoneLine() == "" {
		t.Errorf("%s printed no {\"event\":\"done\"} line on stdout", w.Name)
	}
	feedTime := time.Since(start)

	keys := map[string]int{}
	total := 0
	for _, d := range dns {
		st := statusGC(t, ctx, d)
		k := int(st.Datanode.Counter("sumstats_keys"))
		keys[d.Name] = k
		total += k
		share := float64(n) / float64(len(dns))
		dev := (float64(k) - share) / share * 100
		perKey := float64(st.Memory.HeapAlloc-min(before[d.Name], st.Memory.HeapAlloc)) / float64(max(k, 1))
		t.Logf("%s: %d keys (%+.1f%% of its share), %d observations, heap %d MiB, %.0f bytes per key",
			d.Name, k, dev, st.Datanode.Counter("observations"), st.Memory.HeapAlloc>>20, perKey)
		if dev < -25 || dev > 25 {
			t.Errorf("%s holds %d keys, %.1f%% away from its share %.0f (want within ±25%%)", d.Name, k, dev, share)
		}
	}
	t.Logf("%d keys fed in %v (%.0f observations/s end to end)", n, feedTime.Round(time.Millisecond), float64(n)/feedTime.Seconds())
	if total != n {
		t.Fatalf("datanodes hold %d keys in all, want %d", total, n)
	}

	victim := dns[1]
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := victim.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	left := 0
	for _, d := range dns {
		if d == victim {
			continue
		}
		k := int(statusGC(t, ctx, d).Datanode.Counter("sumstats_keys"))
		if k != keys[d.Name] {
			t.Errorf("%s held %d keys before the kill and %d after", d.Name, keys[d.Name], k)
		}
		left += k
	}
	t.Logf("killed %s: lost its %d keys (%.1f%%); the survivors kept all %d of theirs", victim.Name, n-left,
		float64(n-left)/float64(n)*100, left)
	if n-left != keys[victim.Name] {
		t.Errorf("lost %d keys, want exactly the %d of %s", n-left, keys[victim.Name], victim.Name)
	}
}

// statusGC reads a node's status after a garbage collection.
func statusGC(t *testing.T, ctx context.Context, p *Proc) *node.Status {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.HTTP+"/status?gc=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st node.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Datanode == nil {
		t.Fatalf("%s reports no datanode section", p.Name)
	}
	return &st
}
