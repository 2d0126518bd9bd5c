package node

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"shoal/internal/wire"
	"shoal/known"
)

// datanode owns the known-hosts state for the hosts it owns and decides
// which are new; only it sends their log records to a manager.
type datanode struct {
	n *Node

	mu    sync.Mutex
	hosts *known.Hosts
	now   time.Time // network time: the latest event timestamp seen

	seen, fresh, logErrors atomic.Uint64
	size                   atomic.Int64

	scan     *scanOwner
	known    *knownOwner
	sumstats *sumstatsOwner
}

func newDatanode(n *Node) (*datanode, error) {
	d := &datanode{n: n, hosts: known.NewSet[netip.Addr](n.cfg.Settings.HostExpire)}
	Handle(n, d.hostSeen)
	d.known = newKnownOwner(n)
	d.sumstats = newSumStatsOwner(n)
	var err error
	if d.scan, err = newScanOwner(n); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *datanode) hostSeen(from string, ev wire.HostSeen) {
	d.seen.Add(1)
	ts := time.Unix(0, ev.TS)
	d.mu.Lock()
	if ts.After(d.now) {
		d.now = ts
	}
	isNew := d.hosts.Observe(ev.Host, d.now)
	d.size.Store(int64(d.hosts.Len()))
	d.mu.Unlock()
	if !isNew {
		return
	}
	d.fresh.Add(1)
	key := ev.Host.As16()
	if err := d.n.toManager(key[:], wire.KnownHost(ev)); err != nil {
		// Forget the decision so that the host is logged when it is offered
		// again (after the workers' caches clear on the next ring change).
		d.mu.Lock()
		d.hosts.Delete(ev.Host)
		d.size.Store(int64(d.hosts.Len()))
		d.mu.Unlock()
		if c := d.logErrors.Add(1); c&(c-1) == 0 {
			d.n.log.Error().Err(err).Str("host", ev.Host.String()).Uint64("log_errors", c).Msg("known host record not sent to a manager")
		}
	}
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

func (d *datanode) status() *DatanodeStatus {
	return &DatanodeStatus{
		HostsSeen:      d.seen.Load(),
		HostsNew:       d.fresh.Load(),
		KnownHosts:     int(d.size.Load()),
		LogErrors:      d.logErrors.Load(),
		Attempts:       d.scan.attempts.Load(),
		Scanners:       int(d.scan.scanners.Load()),
		Notices:        d.scan.notices.Load(),
		ServicesNew:    d.known.servicesNew.Load(),
		CertsNew:       d.known.certsNew.Load(),
		Observations:   d.sumstats.observations.Load(),
		SumStatsKeys:   d.sumstats.numKeys(),
		SumStatsOutput: d.sumstats.outputs.Load(),
	}
}
