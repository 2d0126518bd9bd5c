package testcluster

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The fault primitives beside Kill, Stop, Cont, Terminate, Restart and Add:
// a stop for a duration, network cuts and splits (Options.Netns), and a full
// disk for a manager (Options.ManagerDisk).

// ErrNoNetns is returned by the network faults of a cluster started without
// Options.Netns; ErrNoDisk by the disk faults of a node without a small disk.
var (
	ErrNoNetns = errors.New("testcluster: the cluster was not started with Options.Netns")
	ErrNoDisk  = errors.New("testcluster: the node has no small disk (Options.ManagerDisk, managers only)")
)

// Pause stops p with SIGSTOP, waits d (or until ctx ends) and continues it
// with SIGCONT. The process is continued even when ctx ends first; the error
// then wraps ctx.Err().
func (p *Proc) Pause(ctx context.Context, d time.Duration) error {
	if err := p.Stop(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	var werr error
	select {
	case <-t.C:
	case <-ctx.Done():
		werr = fmt.Errorf("testcluster: pause of %s cut short: %w", p.Name, ctx.Err())
	}
	return errors.Join(werr, p.Cont())
}

// Isolate cuts p's link to the cluster network (ip link set … down on its
// bridge port): everything p sends or is sent is dropped silently, as in a
// real cut. The harness still reaches p's HTTP through the management
// network. Undo with Reconnect or Heal.
func (c *Cluster) Isolate(p *Proc) error {
	if c.net == nil {
		return ErrNoNetns
	}
	if err := c.net.setCut(p.Name+p.suffix, true); err != nil {
		return err
	}
	c.log.Info().Str("node", p.Name).Msg("node isolated")
	return nil
}

// Reconnect brings p's cluster link up again after Isolate.
func (c *Cluster) Reconnect(p *Proc) error {
	if c.net == nil {
		return ErrNoNetns
	}
	if err := c.net.setCut(p.Name+p.suffix, false); err != nil {
		return err
	}
	c.log.Info().Str("node", p.Name).Msg("node reconnected")
	return nil
}

// Split partitions the cluster network in two: the nodes of side reach each
// other and nobody else; every other node stays with the rest. Undo with Heal.
func (c *Cluster) Split(side ...*Proc) error {
	if c.net == nil {
		return ErrNoNetns
	}
	var errs []error
	for _, p := range side {
		errs = append(errs, c.net.moveSplit(p.Name+p.suffix, true))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	names := make([]string, len(side))
	for i, p := range side {
		names[i] = p.Name
	}
	c.log.Info().Strs("side", names).Msg("network split")
	return nil
}

// Heal undoes every Isolate and Split: one cluster network again.
func (c *Cluster) Heal() error {
	if c.net == nil {
		return ErrNoNetns
	}
	if err := c.net.heal(); err != nil {
		return err
	}
	c.log.Info().Msg("network healed")
	return nil
}

// FillDisk fills the small disk of manager p until no block is free and
// returns the filler's size in bytes. Undo with FreeDisk.
func (c *Cluster) FillDisk(p *Proc) (int64, error) {
	if p.disk == nil {
		return 0, fmt.Errorf("%w: %s", ErrNoDisk, p.Name)
	}
	n, err := p.disk.fill()
	if err != nil {
		return n, err
	}
	c.log.Info().Str("node", p.Name).Int64("bytes", n).Msg("disk filled")
	return n, nil
}

// FreeDisk removes what FillDisk wrote.
func (c *Cluster) FreeDisk(p *Proc) error {
	if p.disk == nil {
		return fmt.Errorf("%w: %s", ErrNoDisk, p.Name)
	}
	if err := p.disk.free(); err != nil {
		return err
	}
	c.log.Info().Str("node", p.Name).Msg("disk freed")
	return nil
}
