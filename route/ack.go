package route

import (
	"fmt"
	"time"

	"shoal/internal/wire"
)

// ackResult is what one acknowledgement settled, carried from ack (under
// the peer's mu) to settle (outside every lock). It is reused.
type ackResult struct {
	acked    []*batch     // answered batches, to recycle
	ok       int          // events answered OK
	busy     int          // events answered busy, queued again on the peer
	done     []Tracker    // trackers of events answered OK
	notOwner []movedEvent // events answered not-owner (private copies)
	ring     uint64       // the receiver's ring checksum
	clean    bool         // every event OK
}

func (res *ackResult) reset() {
	clear(res.acked)
	clear(res.done)
	clear(res.notOwner)
	*res = ackResult{acked: res.acked[:0], done: res.done[:0], notOwner: res.notOwner[:0]}
}

// ack applies an acknowledgement read on connection gen: it removes the
// answered batches from inflight, queues the events answered busy again
// (first in line, after a backoff) and hands the rest to res. An ack that
// does not match what was written is a protocol error.
func (p *peer) ack(a *wire.Ack, gen uint64, now time.Time, res *ackResult) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.gen || p.state != stateUp {
		return nil // a stale connection: its batches were taken
	}
	if len(p.inflight) == 0 || a.First != p.inflight[0].seq || a.Last > p.writtenSeq {
		first := uint64(0)
		if len(p.inflight) > 0 {
			first = p.inflight[0].seq
		}
		return fmt.Errorf("%w: ack of batches %d-%d, unanswered %d-%d", wire.ErrBadFrame, a.First, a.Last, first, p.writtenSeq)
	}
	i, events := 0, 0
	for ; i < len(p.inflight) && p.inflight[i].seq <= a.Last; i++ {
		events += len(p.inflight[i].metas)
	}
	if uint64(events) != a.Events {
		return fmt.Errorf("%w: ack of %d events, batches %d-%d hold %d", wire.ErrBadFrame, a.Events, a.First, a.Last, events)
	}
	p.lastAnswer = now
	answered := p.inflight[:i]
	res.ring = a.Ring
	if len(a.Runs) == 0 {
		res.clean = true
		res.ok = events
		for _, b := range answered {
			res.done = append(res.done, b.trackers...)
		}
	} else {
		p.settleRunsLocked(answered, a.Runs, res)
	}
	res.acked = append(res.acked, answered...)
	rest := copy(p.inflight, p.inflight[i:])
	clear(p.inflight[rest:])
	p.inflight = p.inflight[:rest]

	settled := res.ok + len(res.notOwner)
	if len(res.notOwner) > 0 {
		// Before done moves: Drain must not miss events on their way to
		// being parked (park.go).
		p.r.moving.Add(int32(len(res.notOwner)))
	}
	p.count -= settled
	p.done += uint64(settled)
	if res.busy > 0 {
		p.busyBackoff = min(max(2*p.busyBackoff, p.r.cfg.BusyBackoff), p.r.cfg.MaxBusyBackoff)
		p.busyUntil = now.Add(p.busyBackoff)
	} else if len(p.retry) == 0 {
		p.busyBackoff = 0
	}
	if settled > 0 && p.roomCh != nil {
		close(p.roomCh)
		p.roomCh = nil
	}
	return nil
}

// settleRunsLocked walks the answered batches' events against the ack's
// runs of non-OK outcomes.
func (p *peer) settleRunsLocked(answered []*batch, runs []wire.Run, res *ackResult) {
	idx, ri := uint64(0), 0
	skip := func() {
		for ri < len(runs) && runs[ri].Start+runs[ri].Len <= idx {
			ri++
		}
	}
	for _, b := range answered {
		n := uint64(len(b.metas))
		skip()
		if ri == len(runs) || runs[ri].Start >= idx+n {
			res.ok += int(n) // every event of b is OK
			res.done = append(res.done, b.trackers...)
			idx += n
			continue
		}
		b.each(func(raw []byte, m meta, tr Tracker) {
			skip()
			o := OK
			if ri < len(runs) && runs[ri].Start <= idx {
				o = runs[ri].Outcome
			}
			switch o {
			case OK:
				res.ok++
				if tr != nil {
					res.done = append(res.done, tr)
				}
			case Busy:
				res.busy++
				p.retryLocked(raw, m, tr)
			default: // NotOwner
				res.notOwner = append(res.notOwner, movedEvent{
					raw: append([]byte(nil), raw...), part: m.part(), kind: m.kind(), tries: m.tries(), tr: tr})
			}
			idx++
		})
	}
}

// retryLocked queues an event answered busy again, in order, ahead of
// every event not yet written. It stays counted in count.
func (p *peer) retryLocked(raw []byte, m meta, tr Tracker) {
	n := len(p.retry)
	if n == 0 || p.retry[n-1].size() >= p.maxBatch {
		p.retry = append(p.retry, p.newBatchLocked())
		n++
	}
	p.retry[n-1].add(raw, m, tr)
}

// settle acts, outside every lock, on what an acknowledgement from p
// settled: counters, failover bookkeeping, trackers, and the events
// answered not-owner, which are parked until they can be routed again.
func (r *Router) settle(p *peer, res *ackResult, now time.Time) {
	if res.ok > 0 {
		r.stats.acked.Add(uint64(res.ok))
		if res.clean && r.awaiting.Load() > 0 {
			r.noteAcked(p, res.acked, now)
		}
	}
	if res.busy > 0 {
		r.stats.busy.Add(uint64(res.busy))
		p.kick() // the writer re-plans around the backoff
		if ok, n := r.limit.allow("busy " + p.name); ok {
			r.log.Debug().Str("peer", p.name).Int("events", res.busy).Int("suppressed", n).Msg("peer busy, backing off")
		}
	}
	p.recycle(res.acked)
	for _, tr := range res.done {
		tr.Done(nil)
	}
	if len(res.notOwner) > 0 {
		r.stats.notOwner.Add(uint64(len(res.notOwner)))
		r.park(p, res.notOwner, res.ring, now)
	}
	if res.ok+len(res.notOwner) > 0 {
		r.notifyDrain()
	}
}
