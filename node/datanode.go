package node

import (
	"context"
	"errors"
	"time"

	"shoal/internal/wire"
)

// datanode runs the analyses that are not modules yet for the keys this
// datanode owns; the modules' owner sides run through n.mods.
type datanode struct {
	n *Node

	scan     *scanOwner
	sumstats *sumstatsOwner
}

func newDatanode(n *Node) (*datanode, error) {
	d := &datanode{n: n}
	d.sumstats = newSumStatsOwner(n)
	var err error
	if d.scan, err = newScanOwner(n); err != nil {
		return nil, err
	}
	return d, nil
}

// managerWait is how long a datanode holds a record while no manager is
// live (one restarting, or suspected after an ack timeout), before it gives
// the record up.
const managerWait = 10 * time.Second

// toManager sends a record to the manager that owns key. While the manager
// pool is empty it retries for up to managerWait: the caller is a
// connection's handler, so waiting applies backpressure to the senders
// instead of losing the record.
func (n *Node) toManager(key []byte, ev wire.Event) error {
	deadline := time.Now().Add(managerWait)
	for {
		err := n.SendHashed(n.ctx, string(RoleManager), key, ev)
		if !errors.Is(err, ErrNoMembers) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-n.ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ownerLoop lets the modules' owner sides end and expire what is due, a
// few times a second.
func (n *Node) ownerLoop(ctx context.Context) {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.expireOwners()
		}
	}
}

func (d *datanode) status() *DatanodeStatus {
	c := d.n.moduleCounters()
	c["records_unsent"] = d.n.unsent.Load()
	c["scan_attempts"] = d.scan.attempts.Load()
	c["scanners"] = uint64(d.scan.scanners.Load())
	c["notices"] = d.scan.notices.Load()
	c["observations"] = d.sumstats.observations.Load()
	c["sumstats_keys"] = uint64(d.sumstats.numKeys())
	c["sumstats_outputs"] = d.sumstats.outputs.Load()
	return &DatanodeStatus{Counters: c}
}
