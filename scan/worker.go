package scan

import (
	"net/netip"
	"time"
)

// recentSet is recent_scan_attempts[scanner]: the attempts a worker sent for
// one scanner since the set was created.
type recentSet struct {
	created int64
	targets targetSet
}

// WorkerStats are a WorkerFilter's counters. Scanners and Suppressed are
// gauges; the rest only grow.
type WorkerStats struct {
	Scanners   int    // scanners with a recent-attempts set now
	Suppressed int    // scanners not sent for now
	Allowed    uint64 // attempts to send
	Invalid    uint64 // attempts without a scanner or victim address
	Recent     uint64 // dropped: sent for this scanner within WorkerDedup
	Ignored    uint64 // dropped: the scanner is suppressed
	Stopped    uint64 // scanners stopped because they reached their threshold
	Evicted    uint64 // recent-attempt sets dropped to respect MaxScanners
	// SuppressedEvicted counts suppressions dropped early to respect
	// MaxScanners.
	SuppressedEvicted uint64
}

// WorkerFilter is the worker side of simple-scan in a cluster (add_scan in
// cluster mode): it decides which attempts a worker sends to the datanode
// that owns the scanner.
//
//   - An attempt whose (victim, port) was already sent for the same scanner
//     within the scanner's dedup window is dropped. The window is
//     recent_scan_attempts' &create_expire: the scanner's set is dropped
//     WorkerDedup after its first attempt, then starts afresh.
//   - Once a set holds the scanner's threshold of attempts (LocalScanThreshold
//     for a local scanner, ScanThreshold otherwise), the attempt that reached
//     it is still sent, and the scanner is then not sent for Suppression.
//   - A reported scanner (Reported, on the datanode's "scanner reported"
//     broadcast) is not sent for Suppression from the report.
//
// Memory is bounded: a set holds fewer than the scanner's threshold of
// attempts, and at most MaxScanners sets and MaxScanners suppressions are
// kept (the oldest is evicted first).
//
// A WorkerFilter is not safe for concurrent use: one goroutine owns it.
type WorkerFilter struct {
	cfg    Config
	now    int64
	recent map[netip.Addr]*recentSet
	q      expQueue // creation times of the recent sets
	supp   suppressor
	stats  WorkerStats
}

// NewWorkerFilter returns an empty WorkerFilter. Zero fields of cfg take
// their defaults; an invalid cfg gives an error wrapping ErrBadConfig.
func NewWorkerFilter(cfg Config) (*WorkerFilter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &WorkerFilter{
		cfg:    cfg,
		recent: make(map[netip.Addr]*recentSet),
		supp:   newSuppressor(cfg.MaxScanners),
	}, nil
}

// Config returns the configuration in use, with defaults filled in.
func (f *WorkerFilter) Config() Config { return f.cfg }

func (f *WorkerFilter) advance(t time.Time) int64 {
	if t.IsZero() {
		return f.now
	}
	if n := nanos(t); n > f.now {
		f.now = n
	}
	return f.now
}

// Allow reports whether the worker should send attempt a, observed at
// network time now (an earlier time than one seen before is taken as the
// latest one), to the datanode that owns a.Scanner. It records the attempt
// as sent when it returns true. Attempts without addresses are never sent.
func (f *WorkerFilter) Allow(a Attempt, now time.Time) bool {
	t := f.advance(now)
	f.expire(t)
	if !a.valid() {
		f.stats.Invalid++
		return false
	}
	addr := a.scanner()
	if f.supp.active(addr, t) {
		f.stats.Ignored++
		return false
	}
	rs := f.recent[addr]
	if rs == nil {
		if len(f.recent) >= f.cfg.MaxScanners {
			f.evictOne()
		}
		rs = &recentSet{created: t}
		f.recent[addr] = rs
		f.q.push(addr, t)
		f.q.compact(len(f.recent), f.live)
	}
	if !rs.targets.add(a.target()) {
		f.stats.Recent++
		return false
	}
	f.stats.Allowed++
	thresh := f.cfg.ScanThreshold
	if f.cfg.LocalNets.Contains(addr) {
		thresh = f.cfg.LocalScanThreshold
	}
	if rs.targets.len() >= thresh {
		delete(f.recent, addr)
		f.supp.remove(addr)
		f.supp.set(addr, t+int64(f.cfg.Suppression))
		f.stats.Stopped++
	}
	return true
}

// Reported records that scanner was reported at time at (the notice's ts,
// or the worker's network time when the broadcast arrived): its attempts are
// not sent until at+Suppression and its recent set is dropped
// (Notice::begin_suppression on a worker). An already suppressed scanner
// keeps its deadline.
func (f *WorkerFilter) Reported(scanner netip.Addr, at time.Time) {
	f.advance(at)
	if !scanner.IsValid() || at.IsZero() {
		return
	}
	scanner = scanner.Unmap().WithZone("")
	delete(f.recent, scanner)
	if !f.supp.active(scanner, f.now) {
		f.supp.remove(scanner)
		f.supp.set(scanner, nanos(at)+int64(f.cfg.Suppression))
	}
}

// Suppressed reports whether scanner's attempts are dropped at now.
func (f *WorkerFilter) Suppressed(scanner netip.Addr, now time.Time) bool {
	return f.supp.active(scanner.Unmap().WithZone(""), f.advance(now))
}

// Expire drops, at network time now, the recent sets older than
// WorkerDedup and the suppressions that ended, and returns how many it
// dropped. Allow does the same; it is amortised O(1) per entry.
func (f *WorkerFilter) Expire(now time.Time) int {
	return f.expire(f.advance(now))
}

func (f *WorkerFilter) expire(now int64) int {
	n := 0
	dedup := int64(f.cfg.WorkerDedup)
	for {
		x, ok := f.q.front()
		if !ok || x.at+dedup > now {
			break
		}
		f.q.pop()
		if f.live(x) {
			delete(f.recent, x.addr)
			n++
		}
	}
	f.q.compact(len(f.recent), f.live)
	return n + f.supp.expire(now)
}

// Clear forgets every recent set and suppression (for example after the
// owner of many scanners changed and the new owner should see their
// attempts again). Counters are kept.
func (f *WorkerFilter) Clear() {
	clear(f.recent)
	f.q = expQueue{}
	f.stats.SuppressedEvicted += f.supp.evicted
	f.supp = newSuppressor(f.cfg.MaxScanners)
}

// live reports whether queue entry x is the creation time of a current set.
func (f *WorkerFilter) live(x qEntry) bool {
	rs := f.recent[x.addr]
	return rs != nil && rs.created == x.at
}

// evictOne drops the oldest recent set.
func (f *WorkerFilter) evictOne() {
	for {
		x, ok := f.q.front()
		if !ok {
			return
		}
		f.q.pop()
		if f.live(x) {
			delete(f.recent, x.addr)
			f.stats.Evicted++
			return
		}
	}
}

// Stats returns the counters.
func (f *WorkerFilter) Stats() WorkerStats {
	st := f.stats
	st.Scanners = len(f.recent)
	st.Suppressed = len(f.supp.until)
	st.SuppressedEvicted = f.supp.evicted + f.stats.SuppressedEvicted
	return st
}
