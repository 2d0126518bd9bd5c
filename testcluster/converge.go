package testcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"shoal/node"
)

// ErrNotConverged is wrapped by WaitConverged's error when time runs out.
var ErrNotConverged = errors.New("testcluster: not converged")

// WaitConverged polls every running, non-stopped node's /status every 100 ms
// until, for every pool, all nodes that report a ring for it report the same
// checksum and the ring's members are exactly the running, non-stopped nodes
// of that role. The error names the node that disagreed last.
func (c *Cluster) WaitConverged(ctx context.Context, timeout time.Duration) error {
	return c.waitConverged(ctx, timeout, c.Running)
}

// WaitConvergedAmong is WaitConverged for one side of a cut network: every
// running, non-stopped node of nodes must report rings whose members are
// exactly those nodes (by role), with the same checksums. The other nodes
// are not asked.
func (c *Cluster) WaitConvergedAmong(ctx context.Context, timeout time.Duration, nodes ...*Proc) error {
	return c.waitConverged(ctx, timeout, func() []*Proc {
		var live []*Proc
		for _, p := range nodes {
			if p.Running() && !p.Stopped() {
				live = append(live, p)
			}
		}
		return live
	})
}

func (c *Cluster) waitConverged(ctx context.Context, timeout time.Duration, running func() []*Proc) error {
	start := time.Now()
	err := waitFor(ctx, timeout, 100*time.Millisecond, func() error {
		live := running()
		if len(live) == 0 {
			return errors.New("no running node")
		}
		views := make([]view, 0, len(live))
		expected := map[string][]string{}
		for _, p := range live {
			expected[p.Role] = append(expected[p.Role], p.Name)
		}
		for _, p := range live {
			st, err := p.Status(ctx)
			if err != nil {
				return err
			}
			views = append(views, view{name: p.Name, st: st})
		}
		return converged(views, expected)
	})
	if err != nil {
		return fmt.Errorf("%w after %v: %w", ErrNotConverged, time.Since(start).Round(time.Millisecond), err)
	}
	c.log.Info().Dur("elapsed", time.Since(start)).Msg("cluster converged")
	return nil
}

// view is one node's status, as fetched by WaitConverged.
type view struct {
	name string
	st   *node.Status
}

// converged checks one round of statuses: every pool's ring must list
// exactly expected[pool] (any order) and carry the same checksum on every node
// that reports it. At least one node must report a ring.
func converged(views []view, expected map[string][]string) error {
	type ref struct {
		node     string
		checksum string
	}
	first := map[string]ref{}
	rings := 0
	for _, v := range views {
		pools := make([]string, 0, len(v.st.Rings))
		for pool := range v.st.Rings {
			pools = append(pools, pool)
		}
		sort.Strings(pools)
		for _, pool := range pools {
			r := v.st.Rings[pool]
			rings++
			want := slices.Clone(expected[pool])
			got := slices.Clone(r.Members)
			sort.Strings(want)
			sort.Strings(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("%s: ring %q (v%d %s) has members [%s], want [%s]",
					v.name, pool, r.Version, r.Checksum, strings.Join(got, " "), strings.Join(want, " "))
			}
			f, ok := first[pool]
			if !ok {
				first[pool] = ref{v.name, r.Checksum}
				continue
			}
			if r.Checksum != f.checksum {
				return fmt.Errorf("%s: ring %q checksum %s (v%d), but %s has %s",
					v.name, pool, r.Checksum, r.Version, f.node, f.checksum)
			}
		}
	}
	if rings == 0 {
		return errors.New("no node reports a ring")
	}
	return nil
}

// waitFor calls f every interval until it returns nil, timeout passes or ctx
// ends; the error then wraps f's last error.
func waitFor(ctx context.Context, timeout, interval time.Duration, f func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-deadline.C:
			return fmt.Errorf("timed out after %v: %w", timeout, err)
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-tick.C:
		}
	}
}
