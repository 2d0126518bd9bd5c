package scan

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"shoal/notice"
	"shoal/site"
)

// Defaults, from simple-scan's scripts/scan.zeek and Zeek's notice framework.
const (
	DefaultScanThreshold                      = 25               // scan_threshold (remote scanners)
	DefaultLocalScanThreshold                 = 250              // local_scan_threshold
	DefaultScanThresholdWithDarknetHits       = 10               // scan_threshold_with_darknet_hits
	DefaultLocalScanThresholdWithDarknetHits  = 100              // local_scan_threshold_with_darknet_hits
	DefaultKnockKnockThreshold                = 20               // knockknock_threshold
	DefaultKnockKnockThresholdWithDarknetHits = 3                // knockknock_threshold_with_darknet_hits
	DefaultDarkHostThreshold                  = 3                // dark_host_threshold
	DefaultScanTimeout                        = 15 * time.Minute // scan_timeout (&read_expire of attacks)
	DefaultSuppression                        = time.Hour        // Notice::default_suppression_interval, known_scanners
	DefaultWorkerDedup                        = time.Minute      // recent_scan_attempts &create_expire
	DefaultMaxScanners                        = 1 << 20
)

// The notes simple-scan raises.
const (
	AddressScan notice.Note = "Scan::Address_Scan" // one port (or ≤ 5 ports) over many hosts
	PortScan    notice.Note = "Scan::Port_Scan"    // many ports on one host (or ≤ 5 hosts)
	RandomScan  notice.Note = "Scan::Random_Scan"  // many hosts on many ports
)

// IP protocol numbers accepted in Attempt.Proto.
const (
	protoICMP   uint8 = 1
	protoTCP    uint8 = 6
	protoUDP    uint8 = 17
	protoICMPv6 uint8 = 58
)

// ErrBadConfig is wrapped by Config.Validate and the constructors.
var ErrBadConfig = errors.New("scan: bad config")

// Config configures a Detector and a WorkerFilter. Zero numeric fields take
// the defaults (DefaultConfig); negative ones are invalid. Config is plain
// data, safe to copy and share.
type Config struct {
	// ScanThreshold is the number of unique (victim, port) attempts that
	// makes a remote scanner (outside LocalNets) a scanner. Default 25.
	ScanThreshold int
	// LocalScanThreshold is the same for a local scanner. Default 250.
	LocalScanThreshold int
	// ScanThresholdWithDarknetHits replaces ScanThreshold once the scanner
	// hit DarkHostThreshold darknet victims. Default 10.
	ScanThresholdWithDarknetHits int
	// LocalScanThresholdWithDarknetHits replaces LocalScanThreshold once the
	// scanner hit DarkHostThreshold darknet victims. Default 100.
	LocalScanThresholdWithDarknetHits int
	// KnockKnockThreshold: a remote scanner whose unique attempts on one port
	// reach this count is reported ("kk: " message). Local scanners are never
	// knock-knock scanners. Default 20.
	KnockKnockThreshold int
	// KnockKnockThresholdWithDarknetHits replaces KnockKnockThreshold after
	// darknet hits. Default 3.
	KnockKnockThresholdWithDarknetHits int
	// DarkHostThreshold is the number of distinct darknet victims that makes
	// a scan a darknet scan; at most this many are remembered per scanner.
	// Default 3, at most 255.
	DarkHostThreshold int
	// ScanTimeout forgets a scanner's state this long after its last
	// attempt (&read_expire): the state is gone at last+ScanTimeout.
	// Default 15 min.
	ScanTimeout time.Duration
	// Suppression is how long a reported scanner is ignored (known_scanners,
	// and the notice's suppress_for): from the notice at t to t+Suppression.
	// Default 1 h.
	Suppression time.Duration
	// WorkerDedup is how long a WorkerFilter remembers the attempts it sent
	// for one scanner (recent_scan_attempts &create_expire): the scanner's
	// set is dropped this long after its first attempt. Default 1 min.
	WorkerDedup time.Duration
	// MaxScanners caps the scanners a Detector or WorkerFilter tracks, and
	// separately the suppressed scanners it remembers. Beyond it the least
	// recently used scanner state (the earliest ending suppression) is
	// evicted and counted in the stats. Default 1<<20.
	MaxScanners int
	// LocalNets decides whether a scanner is local (thresholds, sub).
	// Empty: every scanner is remote.
	LocalNets site.Nets
	// Darknets is Site::darknet_address_space: a victim inside it is a
	// darknet hit. Empty: no darknet.
	Darknets site.Nets
}

// DefaultConfig returns simple-scan's defaults, with no local nets and no
// darknet.
func DefaultConfig() Config {
	return Config{
		ScanThreshold:                      DefaultScanThreshold,
		LocalScanThreshold:                 DefaultLocalScanThreshold,
		ScanThresholdWithDarknetHits:       DefaultScanThresholdWithDarknetHits,
		LocalScanThresholdWithDarknetHits:  DefaultLocalScanThresholdWithDarknetHits,
		KnockKnockThreshold:                DefaultKnockKnockThreshold,
		KnockKnockThresholdWithDarknetHits: DefaultKnockKnockThresholdWithDarknetHits,
		DarkHostThreshold:                  DefaultDarkHostThreshold,
		ScanTimeout:                        DefaultScanTimeout,
		Suppression:                        DefaultSuppression,
		WorkerDedup:                        DefaultWorkerDedup,
		MaxScanners:                        DefaultMaxScanners,
	}
}

// Validate reports every negative field, each as an error wrapping
// ErrBadConfig that names the field (joined with errors.Join).
func (c Config) Validate() error {
	var errs []error
	ints := []struct {
		name string
		v    int
	}{
		{"ScanThreshold", c.ScanThreshold},
		{"LocalScanThreshold", c.LocalScanThreshold},
		{"ScanThresholdWithDarknetHits", c.ScanThresholdWithDarknetHits},
		{"LocalScanThresholdWithDarknetHits", c.LocalScanThresholdWithDarknetHits},
		{"KnockKnockThreshold", c.KnockKnockThreshold},
		{"KnockKnockThresholdWithDarknetHits", c.KnockKnockThresholdWithDarknetHits},
		{"DarkHostThreshold", c.DarkHostThreshold},
		{"MaxScanners", c.MaxScanners},
	}
	for _, f := range ints {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%w: %s %d is negative", ErrBadConfig, f.name, f.v))
		}
	}
	durs := []struct {
		name string
		v    time.Duration
	}{
		{"ScanTimeout", c.ScanTimeout},
		{"Suppression", c.Suppression},
		{"WorkerDedup", c.WorkerDedup},
	}
	for _, f := range durs {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%w: %s %v is negative", ErrBadConfig, f.name, f.v))
		}
	}
	if c.DarkHostThreshold > 255 {
		errs = append(errs, fmt.Errorf("%w: DarkHostThreshold %d is above 255", ErrBadConfig, c.DarkHostThreshold))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setInt := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	setDur := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	setInt(&d.ScanThreshold, c.ScanThreshold)
	setInt(&d.LocalScanThreshold, c.LocalScanThreshold)
	setInt(&d.ScanThresholdWithDarknetHits, c.ScanThresholdWithDarknetHits)
	setInt(&d.LocalScanThresholdWithDarknetHits, c.LocalScanThresholdWithDarknetHits)
	setInt(&d.KnockKnockThreshold, c.KnockKnockThreshold)
	setInt(&d.KnockKnockThresholdWithDarknetHits, c.KnockKnockThresholdWithDarknetHits)
	setInt(&d.DarkHostThreshold, c.DarkHostThreshold)
	setInt(&d.MaxScanners, c.MaxScanners)
	setDur(&d.ScanTimeout, c.ScanTimeout)
	setDur(&d.Suppression, c.Suppression)
	setDur(&d.WorkerDedup, c.WorkerDedup)
	d.LocalNets = c.LocalNets
	d.Darknets = c.Darknets
	return d
}

// threshold returns the unique-attempt threshold for a scanner on the given
// side, with or without darknet hits (simple-scan's thresh).
func (c *Config) threshold(local, darknet bool) int {
	switch {
	case local && darknet:
		return c.LocalScanThresholdWithDarknetHits
	case local:
		return c.LocalScanThreshold
	case darknet:
		return c.ScanThresholdWithDarknetHits
	default:
		return c.ScanThreshold
	}
}

// Attempt is one scan attempt as a worker's connection tracker reports it:
// Scanner is the originator, Victim the responder, Port the responder port.
// Proto is the IP protocol of Port (always TCP for simple-scan; 0 is taken
// as TCP). TS is network time when the attempt was raised. Attempt is a
// plain value.
type Attempt struct {
	TS      time.Time
	Scanner netip.Addr
	Victim  netip.Addr
	Port    uint16
	Proto   uint8
}

// Target is one scan destination, simple-scan's Attempt record: the victim
// and the scanned port with its protocol. Target is a plain comparable value.
type Target struct {
	Victim netip.Addr
	Port   uint16
	Proto  uint8
}

// target returns the normalised destination of a: IPv4-mapped addresses
// unmapped, zones dropped and Proto 0 taken as TCP.
func (a *Attempt) target() Target {
	p := a.Proto
	if p == 0 {
		p = protoTCP
	}
	return Target{Victim: a.Victim.Unmap().WithZone(""), Port: a.Port, Proto: p}
}

// scanner returns the normalised scanner address of a.
func (a *Attempt) scanner() netip.Addr { return a.Scanner.Unmap().WithZone("") }

// valid reports whether a has both addresses.
func (a *Attempt) valid() bool { return a.Scanner.IsValid() && a.Victim.IsValid() }

// IsAttempt reports whether a TCP connection with Zeek history history
// counts as a scan attempt. rejected selects the event: false for
// connection_attempt (history exactly "S" or "SW"), true for
// connection_rejected (exactly "Sr" or "SWr"). Every other history,
// including backscatter ("^h", "h", "Hr") and a handshake later reset, does
// not count. It is a pure function, safe for concurrent use.
func IsAttempt(history string, rejected bool) bool {
	if rejected {
		return history == "Sr" || history == "SWr"
	}
	return history == "S" || history == "SW"
}

// protoName returns Zeek's transport_proto name of an IP protocol.
func protoName(p uint8) string {
	switch p {
	case protoTCP, 0:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoICMP, protoICMPv6:
		return "icmp"
	}
	return "unknown"
}

// PortString formats a port as Zeek prints a port value: "23/tcp",
// "53/udp", "8/icmp" ("unknown" for other protocols; proto 0 is TCP). It is
// a pure function, safe for concurrent use.
func PortString(port uint16, proto uint8) string {
	return strconv.Itoa(int(port)) + "/" + protoName(proto)
}
