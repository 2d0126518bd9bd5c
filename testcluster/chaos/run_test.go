package chaos_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shoal/testcluster"
	"shoal/testcluster/chaos"
)

var nodeBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "shoal-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if nodeBin, err = testcluster.Build(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// TestRunEveryKind applies one fault of every kind to a real cluster (nodes
// in namespaces, the manager on a small disk, two workers on light
// generated traffic): every action succeeds, in schedule order and on time,
// and afterwards the cluster, grown by the added datanode, converges with
// every node back.
func TestRunEveryKind(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, tmpfs mounts)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	c, err := testcluster.Start(ctx, testcluster.Options{
		Binary: nodeBin, Dir: t.TempDir(), Managers: 1, Datanodes: 2, Workers: 2,
		Args:  map[string][]string{testcluster.RoleWorker: {"--generate", "--gen-rate=100"}},
		Netns: true, ManagerDisk: 16 << 20, Logger: zerolog.New(zerolog.NewTestWriter(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			for _, p := range c.Nodes() {
				t.Logf("--- %s stderr tail:\n%s", p.Name, p.StderrTail(2000))
			}
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := c.WaitConverged(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	var faults []chaos.Fault
	at := 500 * time.Millisecond
	for i, k := range chaos.Kinds {
		f := chaos.Fault{At: at, Kind: k, Target: "manager-1", For: time.Second}
		switch {
		case k == chaos.AddDatanode:
			f.Target, f.For = "datanode-3", 0
		case !k.Manager():
			f.Target = fmt.Sprintf("datanode-%d", 1+i%2)
		}
		if k == chaos.SplitDatanode {
			f.With = "worker-1"
		}
		if k == chaos.RollingRestart {
			f.Target, f.For = "datanode-1,datanode-2", 6*time.Second
		}
		faults = append(faults, f)
		at = f.End() + time.Second
	}
	var mu sync.Mutex
	var events []chaos.Event
	start := time.Now()
	err = chaos.Run(ctx, c, faults, start, func(e chaos.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
		t.Log(e)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Two actions per fault (begin, end), one for the addition, two per
	// datanode of the rolling restart.
	if want := 2*len(faults) - 1 + 2; len(events) != want {
		t.Fatalf("%d events, want %d", len(events), want)
	}
	k := 0
	for _, f := range faults {
		dues := []time.Duration{f.At, f.End()}
		switch f.Kind {
		case chaos.AddDatanode:
			dues = dues[:1]
		case chaos.RollingRestart:
			dues = []time.Duration{f.At, f.At + f.For/4, f.At + f.For/2, f.At + 3*f.For/4}
		}
		for _, due := range dues {
			e := events[k]
			k++
			if e.Fault != f || e.Err != nil || e.At < due || e.At > due+5*time.Second {
				t.Errorf("event %v for fault %v due at %v", e, f, due)
			}
		}
	}
	if err := c.WaitConverged(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range c.Running() {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, " "); got != "manager-1 datanode-1 datanode-2 worker-1 worker-2 datanode-3" {
		t.Fatalf("running after the schedule: %s", got)
	}
}
