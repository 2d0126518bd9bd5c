package chaos

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"shoal/node"
	"shoal/testcluster"
)

// suspicionGrace is how long after a fault on a datanode ends that its
// suspicion by a worker still counts as caused by that fault (the worker
// may notice a restarted node's old connection late).
const suspicionGrace = 3 * time.Second

// observer polls the workers' status during a chaos run: it prints the
// traffic every 5 s and records every datanode a worker suspected (a broken
// connection, or a gossip state other than alive), so that a suspicion no
// fault on that datanode explains (a slow manager must never look like a
// dead datanode) is reported. note is safe for concurrent use with run.
type observer struct {
	c     *testcluster.Cluster
	start time.Time
	say   func(format string, args ...any)

	mu          sync.Mutex
	windows     map[string][][2]time.Time // datanode -> [begin, end] of faults on it
	open        map[string]time.Time      // datanode -> begin of a fault not ended yet
	seen        map[string]bool           // worker/peer/detected_at, worker/member/state episode
	unexplained []string

	lastRecords uint64
	lastAt      time.Time
}

func newObserver(c *testcluster.Cluster, start time.Time, say func(format string, args ...any)) *observer {
	return &observer{c: c, start: start, say: say, windows: map[string][][2]time.Time{}, open: map[string]time.Time{}, seen: map[string]bool{}}
}

// note records the fault windows of datanodes from the run's events.
func (o *observer) note(e Event) {
	if e.Fault.Kind.Manager() || e.Fault.Kind == AddDatanode {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	at := o.start.Add(e.At)
	for _, name := range []string{e.Node, e.Fault.With} {
		if name == "" {
			continue
		}
		if begin, ok := o.open[name]; ok {
			o.windows[name] = append(o.windows[name], [2]time.Time{begin, at})
			delete(o.open, name)
			continue
		}
		o.open[name] = at
	}
}

// explainedLocked reports whether a suspicion of dn by worker at t falls
// in a fault on dn, or in a split that cut worker off from it.
func (o *observer) explainedLocked(dn, worker string, t time.Time) bool {
	for _, name := range []string{dn, worker} {
		if begin, ok := o.open[name]; ok && !t.Before(begin) {
			return true
		}
		for _, w := range o.windows[name] {
			if !t.Before(w[0]) && !t.After(w[1].Add(suspicionGrace)) {
				return true
			}
		}
	}
	return false
}

func (o *observer) run(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			o.poll(ctx)
		case <-progress.C:
			o.progress(ctx)
		}
	}
}

// poll reads every worker's status and records unexplained suspicions.
func (o *observer) poll(ctx context.Context) {
	for _, w := range o.c.ByRole(testcluster.RoleWorker) {
		if !w.Running() {
			continue
		}
		st, err := w.Status(ctx)
		if err != nil {
			continue
		}
		now := time.Now()
		o.mu.Lock()
		for _, f := range st.Failovers {
			if p := o.c.Node(f.Peer); p == nil || p.Role != testcluster.RoleDatanode {
				continue // a manager's connection breaks when it is faulted
			}
			key := w.Name + "/" + f.Peer + "/" + f.DetectedAt
			if o.seen[key] {
				continue
			}
			o.seen[key] = true
			at, err := time.Parse(time.RFC3339Nano, f.DetectedAt)
			if err != nil {
				at = now
			}
			if !o.explainedLocked(f.Peer, w.Name, at) {
				o.unexplained = append(o.unexplained, fmt.Sprintf("%s lost its connection to %s at +%s, with no fault on %s",
					w.Name, f.Peer, at.Sub(o.start).Round(time.Millisecond), f.Peer))
			}
		}
		for _, m := range st.Members {
			if m.Role != string(node.RoleDatanode) {
				continue
			}
			key := w.Name + "/" + m.Name + "/state"
			if m.State == "alive" {
				delete(o.seen, key)
				continue
			}
			if o.seen[key] {
				continue
			}
			o.seen[key] = true
			if !o.explainedLocked(m.Name, w.Name, now) {
				o.unexplained = append(o.unexplained, fmt.Sprintf("%s saw %s %s at +%s, with no fault on %s",
					w.Name, m.Name, m.State, now.Sub(o.start).Round(time.Millisecond), m.Name))
			}
		}
		o.mu.Unlock()
	}
}

// progress prints the traffic: what the workers sent and had acknowledged,
// and the records the managers wrote.
func (o *observer) progress(ctx context.Context) {
	var sent, acked, dropped, records uint64
	answered, managers := 0, 0
	for _, p := range o.c.Running() {
		st, err := p.Status(ctx)
		if err != nil {
			continue
		}
		answered++
		switch p.Role {
		case testcluster.RoleWorker:
			sent += st.Counters.Sent
			acked += st.Counters.Acknowledged
			dropped += st.Counters.Dropped
		case testcluster.RoleManager:
			if st.Manager != nil {
				managers++
				for _, n := range st.Manager.Records {
					records += n
				}
			}
		}
	}
	if ctx.Err() != nil || answered == 0 {
		return
	}
	if managers == 0 {
		// Stopped, killed or cut off: no rate across the gap (a restarted
		// manager counts from zero).
		o.lastAt = time.Time{}
		o.say("workers sent %d events, %d acknowledged, %d dropped; no manager answers", sent, acked, dropped)
		return
	}
	now := time.Now()
	rate := ""
	if !o.lastAt.IsZero() && records >= o.lastRecords {
		rate = fmt.Sprintf(" (%.0f/s)", float64(records-o.lastRecords)/now.Sub(o.lastAt).Seconds())
	}
	o.lastRecords, o.lastAt = records, now
	o.say("workers sent %d events, %d acknowledged, %d dropped; managers wrote %d records%s",
		sent, acked, dropped, records, rate)
}

// unexplainedSuspicions returns the unexplained suspicions, sorted.
func (o *observer) unexplainedSuspicions() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := append([]string(nil), o.unexplained...)
	sort.Strings(out)
	return out
}
