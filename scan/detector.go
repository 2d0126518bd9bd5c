package scan

import (
	"net/netip"
	"shoal/notice"
	"time"
)

// scanner is simple-scan's Scan_Info for one scanner, linked into the
// Detector's list ordered by last access.
type scanner struct {
	addr       netip.Addr
	first      int64 // network time of the first attempt (first_seen)
	last       int64 // network time of the last access (&read_expire)
	targets    targetSet
	ports      portCounts
	dark       []netip.Addr // at most Config.DarkHostThreshold darknet victims
	prev, next *scanner
}

// hasDark reports whether v is among the remembered darknet victims.
func (s *scanner) hasDark(v netip.Addr) bool {
	for _, d := range s.dark {
		if d == v {
			return true
		}
	}
	return false
}

// DetectorStats are a Detector's counters. Scanners and Suppressed are
// gauges; the rest only grow.
type DetectorStats struct {
	Scanners   int    // scanners with state now
	Suppressed int    // reported scanners remembered now (ignored until their deadline)
	Attempts   uint64 // valid attempts observed
	Invalid    uint64 // attempts without a scanner or victim address
	Ignored    uint64 // attempts of suppressed scanners
	Duplicates uint64 // attempts whose (victim, port) the scanner already had
	Notices    uint64 // notices returned
	Expired    uint64 // scanner states removed after ScanTimeout without attempts
	Evicted    uint64 // scanner states removed to respect MaxScanners
	// SuppressedEvicted counts suppressions dropped early to respect
	// MaxScanners.
	SuppressedEvicted uint64
}

// Detector is simple-scan's analysis for the scanners a datanode owns: the
// attacks table (state per scanner, forgotten ScanTimeout after its last
// attempt) and known_scanners (reported scanners, ignored for
// Suppression). Memory per scanner is bounded by the largest threshold
// (a scanner is reported, and its state dropped, once its unique attempts
// reach its threshold) and the number of scanners by MaxScanners.
//
// A Detector is not safe for concurrent use: one goroutine owns it.
type Detector struct {
	cfg     Config
	now     int64 // network time: the latest time passed in
	attacks map[netip.Addr]*scanner
	root    scanner // sentinel of the list ordered by last access: root.next is the oldest
	supp    suppressor
	stats   DetectorStats
}

// NewDetector returns an empty Detector. Zero fields of cfg take their
// defaults; an invalid cfg gives an error wrapping ErrBadConfig.
func NewDetector(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	d := &Detector{
		cfg:     cfg,
		attacks: make(map[netip.Addr]*scanner),
		supp:    newSuppressor(cfg.MaxScanners),
	}
	d.root.next, d.root.prev = &d.root, &d.root
	return d, nil
}

// Config returns the configuration in use, with defaults filled in.
func (d *Detector) Config() Config { return d.cfg }

// advance moves network time to max(current, t) and returns it. A zero t
// leaves it unchanged.
func (d *Detector) advance(t time.Time) int64 {
	if t.IsZero() {
		return d.now
	}
	if n := nanos(t); n > d.now {
		d.now = n
	}
	return d.now
}

// Now returns the Detector's network time: the latest time passed to it
// (the zero time if none was).
func (d *Detector) Now() time.Time {
	if d.now == 0 {
		return time.Time{}
	}
	return fromNanos(d.now)
}

// Observe records one attempt at network time now (pass a.TS when the
// caller has no other clock; an earlier time than one seen before is taken
// as the latest one). It first expires the state due at now, then follows
// simple-scan's add_scan_attempt:
//
//   - attempts of a suppressed scanner are ignored;
//   - a repeated (victim, port) only refreshes the scanner's last access;
//   - a new one is added, and a notice is returned when the unique attempts
//     reach the scanner's threshold (by side and darknet hits) or, for a
//     remote scanner, the unique attempts on this port reach the knock-knock
//     threshold. The scanner's state is then deleted and the scanner
//     suppressed until now+Suppression.
func (d *Detector) Observe(a Attempt, now time.Time) (notice.Notice, bool) {
	t := d.advance(now)
	d.expire(t)
	if !a.valid() {
		d.stats.Invalid++
		return notice.Notice{}, false
	}
	d.stats.Attempts++
	addr := a.scanner()
	if d.supp.active(addr, t) {
		d.stats.Ignored++
		return notice.Notice{}, false
	}
	s := d.attacks[addr]
	if s == nil {
		s = d.newScanner(addr, t)
	} else {
		s.last = t
		d.moveToBack(s)
	}
	tg := a.target()
	if !s.targets.add(tg) {
		d.stats.Duplicates++
		return notice.Notice{}, false
	}
	pk := portKey{tg.Port, tg.Proto}
	portCount := s.ports.inc(pk)
	if len(s.dark) < d.cfg.DarkHostThreshold && !s.hasDark(tg.Victim) && d.cfg.Darknets.Contains(tg.Victim) {
		s.dark = append(s.dark, tg.Victim)
	}
	local := d.cfg.LocalNets.Contains(addr)
	darknet := len(s.dark) >= d.cfg.DarkHostThreshold
	isScan := s.targets.len() >= d.cfg.threshold(local, darknet)
	kk := false
	if !local {
		knock := d.cfg.KnockKnockThreshold
		if darknet {
			knock = d.cfg.KnockKnockThresholdWithDarknetHits
		}
		kk = portCount >= uint32(knock)
	}
	if !isScan && !kk {
		return notice.Notice{}, false
	}
	n := d.notice(s, local, kk, t)
	d.removeScanner(s)
	d.supp.set(addr, t+int64(d.cfg.Suppression))
	d.stats.Notices++
	return n, true
}

// notice builds simple-scan's generate_notice for s at network time t.
func (d *Detector) notice(s *scanner, local, kk bool, t int64) notice.Notice {
	c := Classify(s.targets.list)
	sub := "remote"
	if local {
		sub = "local"
	}
	n := notice.Notice{
		TS:          fromNanos(t),
		Note:        c.Note,
		Msg:         Message(s.addr, c.Text, time.Duration(t-s.first), kk),
		Sub:         sub,
		Src:         s.addr,
		Actions:     []string{notice.ActionLog},
		EmailDest:   []string{},
		SuppressFor: d.cfg.Suppression,
		Identifier:  s.addr.String(),
	}
	if c.HasP {
		n.P, n.Proto, n.HasP = c.Port, c.Proto, true
	}
	return n
}

// Suppress marks scanner as reported at time at (for example on a
// "scanner reported" message from another node): its state is deleted and
// its attempts are ignored until at+Suppression. An already suppressed
// scanner keeps its deadline, as Zeek's known_scanners does.
func (d *Detector) Suppress(scanner netip.Addr, at time.Time) {
	t := d.advance(at)
	if !scanner.IsValid() {
		return
	}
	scanner = scanner.Unmap().WithZone("")
	if s := d.attacks[scanner]; s != nil {
		d.removeScanner(s)
	}
	if !at.IsZero() {
		t = nanos(at)
	}
	if !d.supp.active(scanner, d.now) {
		d.supp.remove(scanner)
		d.supp.set(scanner, t+int64(d.cfg.Suppression))
	}
}

// Suppressed reports whether scanner's attempts are ignored at now.
func (d *Detector) Suppressed(scanner netip.Addr, now time.Time) bool {
	t := d.advance(now)
	return d.supp.active(scanner.Unmap().WithZone(""), t)
}

// Expire removes, at network time now, the scanner states not accessed for
// ScanTimeout and the suppressions that ended, and returns how many entries
// it removed. Observe does the same, so calling Expire only matters for a
// Detector that receives no attempts; it is amortised O(1) per entry.
func (d *Detector) Expire(now time.Time) int {
	return d.expire(d.advance(now))
}

func (d *Detector) expire(now int64) int {
	n := 0
	timeout := int64(d.cfg.ScanTimeout)
	for s := d.root.next; s != &d.root && s.last+timeout <= now; s = d.root.next {
		d.removeScanner(s)
		d.stats.Expired++
		n++
	}
	return n + d.supp.expire(now)
}

// Stats returns the counters.
func (d *Detector) Stats() DetectorStats {
	st := d.stats
	st.Scanners = len(d.attacks)
	st.Suppressed = len(d.supp.until)
	st.SuppressedEvicted = d.supp.evicted
	return st
}

// Len returns the number of scanners with state (not counting suppressed
// scanners).
func (d *Detector) Len() int { return len(d.attacks) }

// newScanner adds empty state for addr, first seen at t, evicting the least
// recently used scanner when MaxScanners are tracked.
func (d *Detector) newScanner(addr netip.Addr, t int64) *scanner {
	if len(d.attacks) >= d.cfg.MaxScanners {
		d.removeScanner(d.root.next)
		d.stats.Evicted++
	}
	s := &scanner{addr: addr, first: t, last: t}
	d.attacks[addr] = s
	d.insertSorted(s)
	return s
}

// insertSorted links s into the list by its last access, searching from
// the newest end (the common case is appending).
func (d *Detector) insertSorted(s *scanner) {
	at := d.root.prev
	for at != &d.root && at.last > s.last {
		at = at.prev
	}
	s.prev, s.next = at, at.next
	at.next.prev = s
	at.next = s
}

func (d *Detector) unlink(s *scanner) {
	s.prev.next = s.next
	s.next.prev = s.prev
	s.prev, s.next = nil, nil
}

// moveToBack makes s the most recently used scanner.
func (d *Detector) moveToBack(s *scanner) {
	if d.root.prev == s {
		return
	}
	d.unlink(s)
	s.prev, s.next = d.root.prev, &d.root
	d.root.prev.next = s
	d.root.prev = s
}

func (d *Detector) removeScanner(s *scanner) {
	d.unlink(s)
	delete(d.attacks, s.addr)
}
