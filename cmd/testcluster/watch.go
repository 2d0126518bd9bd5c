package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"shoal/node"
	"shoal/testcluster"
)

// watcher polls one node's view of the membership and rings, and the
// workers' failover records, every 100 ms and prints what changed. Used from
// one goroutine.
type watcher struct {
	d        *demo
	observer *testcluster.Proc
	workers  []*testcluster.Proc

	primed  bool
	states  map[string]string // member -> state
	rings   map[string]string // pool -> version/checksum
	seen    map[string]bool   // worker/peer/detected_at (+ "/ack") already printed
	lastErr string
}

func newWatcher(d *demo, observer *testcluster.Proc, workers []*testcluster.Proc) *watcher {
	return &watcher{d: d, observer: observer, workers: workers,
		states: map[string]string{}, rings: map[string]string{}, seen: map[string]bool{}}
}

func (w *watcher) run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		w.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (w *watcher) poll(ctx context.Context) {
	st, err := w.observer.Status(ctx)
	if err != nil {
		if ctx.Err() == nil && err.Error() != w.lastErr {
			w.d.say("%s does not answer: %v", w.observer.Name, err)
			w.lastErr = err.Error()
		}
	} else {
		w.lastErr = ""
		w.members(st)
		w.ringChanges(st)
		w.primed = true
	}
	for _, wk := range w.workers {
		if !wk.Running() {
			continue
		}
		ws, err := wk.Status(ctx)
		if err != nil {
			continue
		}
		w.failovers(wk.Name, ws)
	}
}

func (w *watcher) members(st *node.Status) {
	now := time.Now()
	present := map[string]bool{}
	for _, m := range st.Members {
		present[m.Name] = true
		old, ok := w.states[m.Name]
		w.states[m.Name] = m.State
		switch {
		case !w.primed:
		case !ok:
			w.d.say("%s sees %s (%s) join: %s%s", w.observer.Name, m.Name, m.Role, m.State, w.d.sinceKill(now))
		case old != m.State:
			w.d.say("%s sees %s (%s): %s -> %s%s", w.observer.Name, m.Name, m.Role, old, m.State, w.d.sinceKill(now))
		}
	}
	for name := range w.states {
		if !present[name] {
			delete(w.states, name)
			w.d.say("%s no longer lists %s%s", w.observer.Name, name, w.d.sinceKill(now))
		}
	}
}

func (w *watcher) ringChanges(st *node.Status) {
	now := time.Now()
	pools := make([]string, 0, len(st.Rings))
	for p := range st.Rings {
		pools = append(pools, p)
	}
	sort.Strings(pools)
	for _, pool := range pools {
		r := st.Rings[pool]
		key := fmt.Sprintf("v%d %s", r.Version, r.Checksum)
		if w.rings[pool] == key {
			continue
		}
		w.rings[pool] = key
		if w.primed {
			w.d.say("%s: ring %s is now v%d checksum %s: %s%s", w.observer.Name, pool, r.Version, r.Checksum, ownership(r), w.d.sinceKill(now))
		}
	}
}

func (w *watcher) failovers(worker string, st *node.Status) {
	for _, f := range st.Failovers {
		key := worker + "/" + f.Peer + "/" + f.DetectedAt
		if !w.seen[key] {
			w.seen[key] = true
			at, _ := time.Parse(time.RFC3339Nano, f.DetectedAt)
			w.d.say("%s lost its connection to %s at %s%s: re-routing that datanode's partitions",
				worker, f.Peer, at.Format("15:04:05.000"), w.d.sinceKill(at))
		}
		if f.FirstAckAt != "" && !w.seen[key+"/ack"] {
			w.seen[key+"/ack"] = true
			at, _ := time.Parse(time.RFC3339Nano, f.FirstAckAt)
			w.d.say("%s got the first ack from a new owner of %s's partitions at %s%s (%d unacknowledged events re-sent)",
				worker, f.Peer, at.Format("15:04:05.000"), w.d.sinceKill(at), f.Rerouted)
		}
	}
}
