package ingest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// ErrBadTruth is wrapped by ReadTruth for a line that is not ground truth.
var ErrBadTruth = errors.New("ingest: bad ground truth")

// truthLine is one JSON line of the ground truth; Type says which fields
// are set. Times are integer nanoseconds since the Unix epoch.
type truthLine struct {
	Type        string           `json:"type"` // host, service, cert, sumstats, originator, summary
	Host        string           `json:"host,omitempty"`
	Port        uint16           `json:"port,omitempty"`
	Proto       string           `json:"proto,omitempty"`
	Service     string           `json:"service,omitempty"`
	NS          int64            `json:"ns,omitempty"`
	SHA1        string           `json:"sha1,omitempty"`
	Subject     string           `json:"subject,omitempty"`
	Issuer      string           `json:"issuer,omitempty"`
	Serial      string           `json:"serial,omitempty"`
	Stream      string           `json:"stream,omitempty"`
	EpochNS     int64            `json:"epoch_ns,omitempty"`
	StartNS     int64            `json:"start_ns,omitempty"`
	Num         uint64           `json:"num,omitempty"`
	Unique      uint64           `json:"unique,omitempty"`
	Values      []string         `json:"values,omitempty"`
	Scanner     bool             `json:"scanner,omitempty"`
	Kind        string           `json:"kind,omitempty"`
	Unanswered  uint64           `json:"unanswered,omitempty"`
	Rejected    uint64           `json:"rejected,omitempty"`
	UniqueHosts uint64           `json:"unique_hosts,omitempty"`
	UniquePorts uint64           `json:"unique_ports,omitempty"`
	FirstNS     int64            `json:"first_ns,omitempty"`
	LastNS      int64            `json:"last_ns,omitempty"`
	Milestones  map[string]int64 `json:"milestones,omitempty"`
	Seed        int64            `json:"seed,omitempty"`
	Connections uint64           `json:"connections,omitempty"`
	Packets     uint64           `json:"packets,omitempty"`
	Established uint64           `json:"established,omitempty"`
	Probes      uint64           `json:"probes,omitempty"`
	DNS         uint64           `json:"dns,omitempty"`
	Hosts       uint64           `json:"hosts,omitempty"`
	Services    uint64           `json:"services,omitempty"`
	Certs       uint64           `json:"certs,omitempty"`
}

// Truth is the ground truth of one generator run (or, merged, of several),
// independent of any tracker: what the traffic contains, in the terms the
// analyses decide on. It is what a checker compares the cluster's logs
// with. Times are network times (packet timestamps).
type Truth struct {
	// Hosts maps every host that completed a TCP handshake, as originator
	// or responder, to the time of its first one (the SYN-ACK): what
	// known_hosts.log logs for the hosts the tracking mode selects.
	Hosts map[netip.Addr]time.Time
	// Services maps every service identified on a responder to when
	// known_services.log would first log it: the packet that identified it
	// (TCP) or the removal of the first answered DNS flow (UDP).
	Services map[ServiceKey]time.Time
	// Certs are the TLS 1.2 servers' leaf certificates, with the first
	// ssl_established (TLS 1.3 certificates are encrypted).
	Certs map[CertKey]Cert
	// Originators are the sources of unanswered and rejected attempts:
	// the generator's scanners and the clients whose SYNs failed.
	Originators map[netip.Addr]Originator
	// SumStats are the values of the built-in streams per epoch window and
	// key.
	SumStats map[SumStatsKey]SumStatsValue
	// Summary counts what the run produced.
	Summary TruthSummary
	// Complete reports that every truth read ended with its summary line
	// (a generator that was killed leaves none).
	Complete bool
}

// ServiceKey identifies a service: Zeek's Known::services key plus the
// name.
type ServiceKey struct {
	Host    netip.Addr
	Port    uint16
	Proto   string // "tcp" or "udp"
	Service string // as identified: HTTP, SSL, SSH, SMTP, FTP, DNS
}

// CertKey identifies a server certificate as Known::certs does (host and
// the SHA-1 of the leaf) plus the port.
type CertKey struct {
	Host netip.Addr
	Port uint16
	SHA1 string // lower-case hex
}

// Cert is a leaf certificate as known_certs.log shows it.
type Cert struct {
	Subject, Issuer, Serial string
	SHA1                    string    // lower-case hex of the DER's SHA-1
	TS                      time.Time // the first ssl_established (zero in a certificate description)
}

// Originator is what one source of attempts did.
type Originator struct {
	Scanner    bool   // one of the generator's scanners
	Kind       string // a scanner's sweep: address, port or random
	Unanswered uint64 // attempts whose SYN nobody answered
	Rejected   uint64 // attempts rejected with a RST-ACK
	// Unique counts distinct (victim, port) attempts, UniqueHosts distinct
	// victims and UniquePorts distinct ports.
	Unique, UniqueHosts, UniquePorts uint64
	First, Last                      time.Time // first and last attempt event
	// Milestones maps unique-attempt counts (TruthConfig.Milestones) to the
	// attempt event that reached them.
	Milestones map[int]time.Time
	// Approx is set by Merge when two truths had the same originator: the
	// unique counts are then the larger of the two, a lower bound.
	Approx bool
}

// SumStatsKey identifies one key's values in one epoch window of a stream.
type SumStatsKey struct {
	Stream string
	Epoch  time.Duration // 0: one window over the whole run
	Start  int64         // window start, ns since the Unix epoch (0 with Epoch 0)
	Key    netip.Addr
}

// SumStatsValue is what a key's observations in a window add up to.
type SumStatsValue struct {
	Num    uint64   // observations (the sum of a count)
	Unique uint64   // distinct values
	Values []string // the distinct values, for clients' keys (nil for scanners: targets are distinct by construction)
	Approx bool     // set by Merge when Values were missing on one side: Unique is then a lower bound
}

// TruthSummary counts what a run produced (summed by Merge).
type TruthSummary struct {
	Seeds                             []int64
	Connections, Packets, Established uint64
	Unanswered, Rejected, Probes, DNS uint64
	Hosts, Services, Certs            uint64
}

// NewTruth returns an empty, complete Truth (the identity for Merge).
func NewTruth() *Truth {
	return &Truth{Hosts: map[netip.Addr]time.Time{}, Services: map[ServiceKey]time.Time{},
		Certs: map[CertKey]Cert{}, Originators: map[netip.Addr]Originator{},
		SumStats: map[SumStatsKey]SumStatsValue{}, Complete: true}
}

// ReadTruth reads the JSON lines a Generator wrote to GeneratorConfig.Truth.
// A stream without its final summary line is read in full with Complete
// false. Errors wrap ErrBadTruth and name the line.
func ReadTruth(r io.Reader) (*Truth, error) {
	t := NewTruth()
	t.Complete = false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		var l truthLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return t, fmt.Errorf("%w: line %d: %w", ErrBadTruth, n, err)
		}
		if err := t.add(&l); err != nil {
			return t, fmt.Errorf("%w: line %d: %w", ErrBadTruth, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return t, fmt.Errorf("%w: %w", ErrBadTruth, err)
	}
	return t, nil
}

func (t *Truth) add(l *truthLine) error {
	if t.Complete {
		return errors.New("line after the summary")
	}
	var host netip.Addr
	if l.Type != "summary" {
		var err error
		if host, err = netip.ParseAddr(l.Host); err != nil {
			return err
		}
	}
	ts := time.Unix(0, l.NS)
	switch l.Type {
	case "host":
		t.Hosts[host] = ts
	case "service":
		t.Services[ServiceKey{Host: host, Port: l.Port, Proto: l.Proto, Service: l.Service}] = ts
	case "cert":
		t.Certs[CertKey{Host: host, Port: l.Port, SHA1: l.SHA1}] = Cert{Subject: l.Subject, Issuer: l.Issuer,
			Serial: l.Serial, SHA1: l.SHA1, TS: ts}
	case "sumstats":
		k := SumStatsKey{Stream: l.Stream, Epoch: time.Duration(l.EpochNS), Start: l.StartNS, Key: host}
		t.SumStats[k] = SumStatsValue{Num: l.Num, Unique: l.Unique, Values: l.Values}
	case "originator":
		o := Originator{Scanner: l.Scanner, Kind: l.Kind, Unanswered: l.Unanswered, Rejected: l.Rejected,
			Unique: l.Unique, UniqueHosts: l.UniqueHosts, UniquePorts: l.UniquePorts,
			First: time.Unix(0, l.FirstNS), Last: time.Unix(0, l.LastNS)}
		for m, ns := range l.Milestones {
			k, err := strconv.Atoi(m)
			if err != nil {
				return fmt.Errorf("milestone %q: %w", m, err)
			}
			if o.Milestones == nil {
				o.Milestones = map[int]time.Time{}
			}
			o.Milestones[k] = time.Unix(0, ns)
		}
		t.Originators[host] = o
	case "summary":
		t.Summary = TruthSummary{Seeds: []int64{l.Seed}, Connections: l.Connections, Packets: l.Packets,
			Established: l.Established, Unanswered: l.Unanswered, Rejected: l.Rejected, Probes: l.Probes, DNS: l.DNS,
			Hosts: l.Hosts, Services: l.Services, Certs: l.Certs}
		t.Complete = true
	default:
		return fmt.Errorf("unknown type %q", l.Type)
	}
	return nil
}

// Merge adds o (another worker's run) to t: first times are the earlier,
// counts add up, value sets are unioned. Unique counts that cannot be
// unioned (originators, scanners' windows) keep the larger and are marked
// Approx.
func (t *Truth) Merge(o *Truth) {
	earlier := func(a, b time.Time) time.Time {
		if b.Before(a) {
			return b
		}
		return a
	}
	for h, ts := range o.Hosts {
		if cur, ok := t.Hosts[h]; ok {
			ts = earlier(cur, ts)
		}
		t.Hosts[h] = ts
	}
	for k, ts := range o.Services {
		if cur, ok := t.Services[k]; ok {
			ts = earlier(cur, ts)
		}
		t.Services[k] = ts
	}
	for k, c := range o.Certs {
		if cur, ok := t.Certs[k]; ok {
			c.TS = earlier(cur.TS, c.TS)
		}
		t.Certs[k] = c
	}
	for h, b := range o.Originators {
		if a, ok := t.Originators[h]; ok {
			b = mergeOriginator(a, b)
		}
		t.Originators[h] = b
	}
	for k, b := range o.SumStats {
		if a, ok := t.SumStats[k]; ok {
			b = mergeValue(a, b)
		}
		t.SumStats[k] = b
	}
	s, os := &t.Summary, &o.Summary
	s.Seeds = append(s.Seeds, os.Seeds...)
	s.Connections += os.Connections
	s.Packets += os.Packets
	s.Established += os.Established
	s.Unanswered += os.Unanswered
	s.Rejected += os.Rejected
	s.Probes += os.Probes
	s.DNS += os.DNS
	s.Hosts, s.Services, s.Certs = uint64(len(t.Hosts)), uint64(len(t.Services)), uint64(len(t.Certs))
	t.Complete = t.Complete && o.Complete
}

func mergeOriginator(a, b Originator) Originator {
	a.Unanswered += b.Unanswered
	a.Rejected += b.Rejected
	a.Unique, a.UniqueHosts, a.UniquePorts = max(a.Unique, b.Unique), max(a.UniqueHosts, b.UniqueHosts),
		max(a.UniquePorts, b.UniquePorts)
	if b.First.Before(a.First) {
		a.First = b.First
	}
	if b.Last.After(a.Last) {
		a.Last = b.Last
	}
	a.Milestones = nil // the merged stream's milestones are unknown
	a.Approx = true
	return a
}

func mergeValue(a, b SumStatsValue) SumStatsValue {
	a.Num += b.Num
	if a.Values == nil || b.Values == nil {
		a.Unique, a.Values, a.Approx = max(a.Unique, b.Unique), nil, true
		return a
	}
	set := map[string]bool{}
	for _, v := range a.Values {
		set[v] = true
	}
	for _, v := range b.Values {
		set[v] = true
	}
	a.Values = slices.Sorted(maps.Keys(set))
	a.Unique = uint64(len(a.Values))
	a.Approx = a.Approx || b.Approx
	return a
}
