package software

import (
	"net/netip"
	"time"
)

// Owner-side defaults (Zeek's base/frameworks/software/main.zeek).
const (
	// DefaultMaxVersions is Software::max_software_cache_size: the versions
	// remembered per host and name before the set restarts.
	DefaultMaxVersions = 20
	// DefaultExpire is the &create_expire of Software::tracked_software: a
	// host's software is forgotten this long after the host was first
	// registered, so it is logged again once a day.
	DefaultExpire = 24 * time.Hour
)

// OwnerConfig configures the datanode side. The zero value is Zeek's
// default configuration.
type OwnerConfig struct {
	// Interesting lists the software names whose version changes raise a
	// Software::Software_Version_Change notice
	// (Software::interesting_version_changes).
	Interesting []string
	// MaxVersions caps the versions remembered per host and name; 0 means
	// DefaultMaxVersions, a negative value no cap.
	MaxVersions int
	// Expire is how long after its first registration a host's software is
	// forgotten; 0 means DefaultExpire.
	Expire time.Duration
}

// Owner keeps Zeek's Software::tracked_software for the hosts a datanode
// owns, one state per ring partition, and decides what is logged
// (Software::register). It is deterministic: the same events applied at the
// same network times give the same state and the same results, whatever
// the partitions' history of Export, Import and Merge. It is not safe for
// concurrent use.
type Owner struct {
	maxVersions int
	expire      time.Duration
	interesting map[string]bool
	parts       map[int]*partition
}

// partition is the state of one ring partition: its network time (the
// latest time anything was applied to it) and its hosts.
type partition struct {
	clock time.Time
	hosts map[netip.Addr]*hostSoftware
}

// hostSoftware is Software::SoftwareSets for one host.
type hostSoftware struct {
	created time.Time
	names   map[string]*versionSet
}

// versionSet is Software::Set: the versions seen of one name and the most
// recent registration.
type versionSet struct {
	seen map[string]struct{}
	last Info
}

// NewOwner returns an empty Owner.
func NewOwner(cfg OwnerConfig) *Owner {
	o := &Owner{maxVersions: cfg.MaxVersions, expire: cfg.Expire, interesting: map[string]bool{},
		parts: map[int]*partition{}}
	if o.maxVersions == 0 {
		o.maxVersions = DefaultMaxVersions
	}
	if o.expire <= 0 {
		o.expire = DefaultExpire
	}
	for _, n := range cfg.Interesting {
		o.interesting[n] = true
	}
	return o
}

// Result is what registering one Info decided.
type Result struct {
	// Log is set when the Info is to be written to software.log.
	Log bool
	// Change is set when the host was known to run another version of the
	// same name: Software::version_change.
	Change *VersionChange
	// Notice is set when Change concerns an interesting name: a
	// Software::Software_Version_Change notice is to be raised.
	Notice bool
}

// Apply registers one Info in partition part at network time now
// (Software::register): a version of a name not yet seen on the host is
// logged, and raises a version change when the host had another version of
// that name; a version already seen is not logged again unless ForceLog.
// When more than the configured number of versions were seen, the set
// restarts with the newest one. A host's software is forgotten Expire after
// the host was first registered, whether or not Expire ran.
//
// The partition's network time never goes back: an Info applied at a time
// before the partition's latest is registered at the latest.
func (o *Owner) Apply(part int, ev Info, now time.Time) Result {
	p := o.parts[part]
	if p == nil {
		p = &partition{hosts: map[netip.Addr]*hostSoftware{}}
		o.parts[part] = p
	}
	if now.After(p.clock) {
		p.clock = now
	}
	now = p.clock
	h := p.hosts[ev.Host]
	if h == nil || !now.Before(h.created.Add(o.expire)) {
		h = &hostSoftware{created: now, names: map[string]*versionSet{}}
		p.hosts[ev.Host] = h
	}
	vs := ev.VersionString()
	set := h.names[ev.Name]
	if set != nil {
		if _, ok := set.seen[vs]; ok {
			return Result{Log: ev.ForceLog}
		}
	}
	var r Result
	if set == nil {
		set = &versionSet{seen: map[string]struct{}{}}
		h.names[ev.Name] = set
	} else {
		r.Change = &VersionChange{TS: now, Old: set.last, New: ev}
		r.Notice = o.interesting[set.last.Name]
	}
	set.seen[vs] = struct{}{}
	set.last = ev
	if o.maxVersions > 0 && len(set.seen) > o.maxVersions {
		set.seen = map[string]struct{}{vs: {}}
	}
	r.Log = true
	return r
}

// Expire forgets, in every partition, the hosts registered Expire or
// longer before the partition's network time, and returns how many. It
// changes no decision (Apply treats such a host as new anyway); it frees
// the memory.
func (o *Owner) Expire() int {
	n := 0
	for part, p := range o.parts {
		for a, h := range p.hosts {
			if !p.clock.Before(h.created.Add(o.expire)) {
				delete(p.hosts, a)
				n++
			}
		}
		if len(p.hosts) == 0 {
			delete(o.parts, part)
		}
	}
	return n
}

// Unregister takes back the registration of i in partition part, whose
// record could not be delivered: its version is forgotten, so it is logged
// when it is found again (the name too, when it was its only version).
func (o *Owner) Unregister(part int, i *Info) {
	p := o.parts[part]
	if p == nil {
		return
	}
	if h := p.hosts[i.Host]; h != nil {
		if s := h.names[i.Name]; s != nil {
			delete(s.seen, i.VersionString())
			if len(s.seen) == 0 {
				delete(h.names, i.Name)
			}
		}
	}
}

// Drop forgets partition part.
func (o *Owner) Drop(part int) { delete(o.parts, part) }

// Hosts returns the number of hosts tracked in all partitions.
func (o *Owner) Hosts() int {
	n := 0
	for _, p := range o.parts {
		n += len(p.hosts)
	}
	return n
}

// Partitions returns the number of partitions that hold state.
func (o *Owner) Partitions() int { return len(o.parts) }

// Import replaces partition part with the state b, an Export of it (taking
// over a partition). On error the partition is left unchanged.
func (o *Owner) Import(part int, b []byte) error {
	p, err := decodePartition(b)
	if err != nil {
		return err
	}
	if len(p.hosts) == 0 {
		delete(o.parts, part)
		return nil
	}
	o.parts[part] = p
	return nil
}

// Merge combines partition part with the state b, an Export of another copy
// of it (after a split): the hosts and versions known to either are known,
// a host's registration time is the earlier one, the most recent
// registration per name is the later one (ties broken by content), and the
// network time is the later one. Merge is idempotent, commutative and
// associative. On error the partition is left unchanged.
func (o *Owner) Merge(part int, b []byte) error {
	q, err := decodePartition(b)
	if err != nil {
		return err
	}
	p := o.parts[part]
	if p == nil {
		if len(q.hosts) > 0 {
			o.parts[part] = q
		}
		return nil
	}
	if q.clock.After(p.clock) {
		p.clock = q.clock
	}
	for a, qh := range q.hosts {
		h := p.hosts[a]
		if h == nil {
			p.hosts[a] = qh
			continue
		}
		if qh.created.Before(h.created) {
			h.created = qh.created
		}
		for name, qs := range qh.names {
			s := h.names[name]
			if s == nil {
				h.names[name] = qs
				continue
			}
			for v := range qs.seen {
				s.seen[v] = struct{}{}
			}
			if laterInfo(&qs.last, &s.last) {
				s.last = qs.last
			}
		}
	}
	return nil
}

// laterInfo reports whether a is the more recent registration: the later
// time, or at equal times the greater encoding.
func laterInfo(a, b *Info) bool {
	if !a.TS.Equal(b.TS) {
		return a.TS.After(b.TS)
	}
	return string(AppendInfo(nil, a)) > string(AppendInfo(nil, b))
}
