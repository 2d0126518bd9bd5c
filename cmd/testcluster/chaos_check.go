package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"shoal/testcluster"
	"shoal/testcluster/check"
)

// result is how the nodes ended a chaos run.
type result struct {
	exits       []string // "<name>: <how it ended>"
	problems    []error  // nodes that did not end cleanly
	suspicions  []string // datanodes suspected with no fault on them
	truthFiles  []string // workers' ground truth files
	managerDirs []string
}

// finish stops the workers (they drain and write their ground truth), lets
// the datanodes deliver what they hold, then stops the datanodes and the
// managers, each gracefully.
func (r *chaosRun) finish(ctx context.Context, c *testcluster.Cluster, workers []*testcluster.Proc) (*result, error) {
	res := &result{}
	r.say("traffic done; stopping the workers (SIGTERM): they drain and exit")
	for _, w := range workers {
		if err := w.Terminate(); err != nil {
			res.problems = append(res.problems, fmt.Errorf("%s: %w", w.Name, err))
		}
	}
	for _, w := range workers {
		r.stopped(ctx, w, 3*time.Minute, res)
		if path := r.truthPath(w); path != "" {
			res.truthFiles = append(res.truthFiles, path)
		}
	}
	r.settle(ctx, c)
	for _, role := range []string{testcluster.RoleDatanode, testcluster.RoleManager} {
		var procs []*testcluster.Proc
		for _, p := range c.ByRole(role) {
			if p.Running() && p.Terminate() == nil {
				procs = append(procs, p)
			}
		}
		for _, p := range procs {
			r.stopped(ctx, p, 30*time.Second, res)
		}
	}
	for _, m := range c.ByRole(testcluster.RoleManager) {
		res.managerDirs = append(res.managerDirs, m.LogDir)
	}
	return res, nil
}

// stopped waits for p to exit and records how it ended.
func (r *chaosRun) stopped(ctx context.Context, p *testcluster.Proc, limit time.Duration, res *result) {
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	code, err := p.Wait(wctx)
	how := exitText(code, err)
	if p.Role == testcluster.RoleWorker && p.DoneLine() != "" {
		how += " " + p.DoneLine()
	}
	res.exits = append(res.exits, p.Name+": "+how)
	if err != nil || code != 0 {
		res.problems = append(res.problems, fmt.Errorf("%s ended with %s; stderr tail:\n%s", p.Name, how, p.StderrTail(1500)))
	}
}

// settle waits until the managers' record counters have not moved for 3 s
// (at most a minute): the datanodes have delivered what they held.
func (r *chaosRun) settle(ctx context.Context, c *testcluster.Cluster) {
	var last uint64
	stable := time.Now()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && time.Since(stable) < 3*time.Second {
		var n uint64
		for _, m := range c.ByRole(testcluster.RoleManager) {
			if st, err := m.Status(ctx); err == nil && st.Manager != nil {
				for _, v := range st.Manager.Records {
					n += v
				}
			}
		}
		if n != last {
			last, stable = n, time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
	r.say("managers settled at %d records written", last)
}

// verdict checks every log, prints the report and returns the exit status.
func (r *chaosRun) verdict(c *testcluster.Cluster, res *result, runErr error) int {
	specs, note, err := r.specs(res)
	if err != nil {
		r.say("ground truth: %v", err)
		return 1
	}
	rep, err := check.Check(res.managerDirs, specs, 3)
	if err != nil {
		r.say("check: %v", err)
		return 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nnodes:\n")
	for _, e := range res.exits {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	fmt.Fprintf(&b, "\nlogs against ground truth (%s):\n", note)
	rep.Write(&b)
	fmt.Fprintf(&b, "datanodes suspected with no fault on them: %d\n", len(res.suspicions))
	for _, s := range res.suspicions {
		fmt.Fprintf(&b, "  %s\n", s)
	}
	r.mu.Lock()
	fmt.Fprint(r.out, b.String())
	r.mu.Unlock()

	bounds := r.bounds()
	var fails []error
	if runErr != nil {
		fails = append(fails, runErr)
	}
	fails = append(fails, res.problems...)
	if err := rep.Exceeds(bounds); err != nil {
		fails = append(fails, err)
	}
	if len(res.suspicions) > 0 {
		fails = append(fails, fmt.Errorf("%d datanode suspicions with no fault on the datanode", len(res.suspicions)))
	}
	if err := errors.Join(fails...); err != nil {
		r.say("FAILED (seed %d): %v", r.cfg.seed, err)
		return 1
	}
	r.say("OK (seed %d): every log within its bound", r.cfg.seed)
	return 0
}

// bounds are the guarantee the run is held to: none missing, repeated or
// wrong, every file intact.
func (r *chaosRun) bounds() check.Bounds {
	return check.Bounds{}
}

// supports reports whether the node binary bin has the flag name.
func supports(bin, name string) bool {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return strings.Contains(string(out), "-"+name+" ") || strings.Contains(string(out), "-"+name+"\n")
}
