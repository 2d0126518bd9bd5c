package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"shoal/testcluster"
)

// Event is one action Run took (or failed to take).
type Event struct {
	At     time.Duration // from the start of the traffic, when the action began
	Fault  Fault
	Node   string // the node acted on (for AddDatanode the new one)
	Action string // e.g. "kill -9", "restart", "sigstop", "sigcont"
	Err    error
}

func (e Event) String() string {
	s := fmt.Sprintf("%8s  %-18s %-12s %s", fmtOffset(e.At), e.Fault.Kind, e.Node, e.Action)
	if e.Err != nil {
		s += ": FAILED: " + e.Err.Error()
	}
	return s
}

// Run applies faults to c, each at start+Fault.At, and its end at
// start+Fault.End(), calling report after every action. It returns when the
// last fault has ended, or at the first action that fails (the faulted node
// is then brought back as far as possible), or when ctx ends.
// testcluster.Options must allow the kinds: Netns for partitions and
// splits, ManagerDisk for a full disk.
func Run(ctx context.Context, c *testcluster.Cluster, faults []Fault, start time.Time, report func(Event)) error {
	for _, f := range faults {
		if err := sleepUntil(ctx, start.Add(f.At)); err != nil {
			return err
		}
		if err := apply(ctx, c, f, start, report); err != nil {
			return fmt.Errorf("chaos: %s %s at %v: %w", f.Kind, f.Target, f.At, err)
		}
	}
	return nil
}

// apply runs one fault: its beginning, the outage, its end.
func apply(ctx context.Context, c *testcluster.Cluster, f Fault, start time.Time, report func(Event)) error {
	act := func(action string, do func() error) error {
		at := time.Since(start)
		err := do()
		report(Event{At: at, Fault: f, Node: f.Target, Action: action, Err: err})
		return err
	}
	if f.Kind == RollingRestart {
		return rolling(ctx, c, f, start, report)
	}
	if f.Kind == AddDatanode {
		return act("add", func() error {
			_, err := c.Launch(ctx, testcluster.Spec{Role: testcluster.RoleDatanode, Name: f.Target})
			return err
		})
	}
	p := c.Node(f.Target)
	if p == nil {
		return fmt.Errorf("no node %s", f.Target)
	}
	// The end is applied even when the wait is cut short, so that no node
	// stays stopped, cut off or on a full disk.
	wait := func() error { return sleepUntil(ctx, start.Add(f.End())) }
	restart := func() error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return p.Restart(rctx)
	}
	switch f.Kind {
	case KillManager, KillDatanode:
		if err := act("kill -9", p.Kill); err != nil {
			return err
		}
		werr := wait()
		return errors.Join(werr, act("restart", restart))
	case LeaveDatanode:
		if err := act("sigterm (leave)", p.Terminate); err != nil {
			return err
		}
		werr := wait()
		return errors.Join(werr, act("restart", restart))
	case StopManager, StopDatanode:
		if err := act("sigstop", p.Stop); err != nil {
			return err
		}
		werr := wait()
		return errors.Join(werr, act("sigcont", p.Cont))
	case PartitionManager, PartitionDatanode:
		if err := act("link down", func() error { return c.Isolate(p) }); err != nil {
			return err
		}
		werr := wait()
		return errors.Join(werr, act("link up", func() error { return c.Reconnect(p) }))
	case SplitDatanode:
		w := c.Node(f.With)
		if w == nil {
			return fmt.Errorf("no node %s", f.With)
		}
		if err := act("split", func() error { return c.Split(p, w) }); err != nil {
			return errors.Join(err, c.Heal())
		}
		werr := wait()
		return errors.Join(werr, act("heal", c.Heal))
	case DiskFull:
		at := time.Since(start)
		n, err := c.FillDisk(p)
		report(Event{At: at, Fault: f, Node: f.Target, Action: fmt.Sprintf("disk full (%d bytes filled)", n), Err: err})
		if err != nil {
			return errors.Join(err, c.FreeDisk(p))
		}
		werr := wait()
		return errors.Join(werr, act("disk freed", func() error { return c.FreeDisk(p) }))
	}
	return fmt.Errorf("unknown fault kind %q", f.Kind)
}

// rolling restarts the datanodes of f.Target in turn, one per step.
func rolling(ctx context.Context, c *testcluster.Cluster, f Fault, start time.Time, report func(Event)) error {
	names := strings.Split(f.Target, ",")
	step := f.For / time.Duration(len(names))
	for i, name := range names {
		p := c.Node(name)
		if p == nil {
			return fmt.Errorf("no node %s", name)
		}
		at := time.Since(start)
		err := p.Terminate()
		report(Event{At: at, Fault: f, Node: name, Action: "sigterm (leave)", Err: err})
		if err != nil {
			return err
		}
		werr := sleepUntil(ctx, start.Add(f.At+time.Duration(i)*step+step/2))
		at = time.Since(start)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = p.Restart(rctx)
		cancel()
		report(Event{At: at, Fault: f, Node: name, Action: "restart", Err: err})
		if err := errors.Join(werr, err); err != nil {
			return err
		}
		if err := sleepUntil(ctx, start.Add(f.At+time.Duration(i+1)*step)); err != nil {
			return err
		}
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
