package ingest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"time"

	"shoal/packet"
)

// Default shares of the clients' connections that fail, in percent.
const (
	DefaultUnansweredPercent = 10 // a SYN that nobody answers
	DefaultRejectedPercent   = 5  // a SYN answered by RST-ACK
)

// genSpacing is the network-time gap between connection starts when Rate
// is 0.
const genSpacing = 100 * time.Microsecond

// Client ports are taken in turn from Linux's default ephemeral range, so a
// 5-tuple repeats only after ephemeralPorts connections of one client.
const (
	ephemeralLow   = 32768
	ephemeralPorts = 60999 - ephemeralLow + 1
)

// reuseWindow is how long a 5-tuple must stay unused after a connection
// started on it: the longest a generated connection is tracked (a DNS flow
// waits the 1 min UDP inactivity timeout of a tracker without analyzers)
// plus slack. NewGenerator refuses configurations that would reuse one
// sooner, because the tracker would then see one connection where the
// generator made two.
const reuseWindow = 90 * time.Second

// scanReuseWindow is the same for a scanner's probes, which a tracker holds
// only for its attempt delay (5 s).
const scanReuseWindow = 15 * time.Second

// Limits on the configuration.
const (
	maxHosts    = 1 << 24
	maxServers  = 1 << 22
	maxScanners = 1 << 16
	maxFavorite = 64 // servers one client talks to, at most
	minFavorite = 8
)

// GeneratorConfig configures a Generator.
type GeneratorConfig struct {
	// Seed makes the traffic reproducible: the same seed and configuration
	// give the same packets (and, with Start set, the same timestamps).
	Seed int64
	// Rate is connections started per second of wall time; 0 means as fast
	// as possible. Bursts are bounded to a tenth of a second's worth (at
	// least one connection).
	Rate int
	// Hosts is the number of distinct client addresses, taken in order from
	// LocalNet (skipping its first address). Must be at least 1.
	Hosts int
	// Servers is the number of distinct remote server addresses, outside
	// LocalNet (from 11.0.0.1 for IPv4, 2600::1 for IPv6). Must be at least
	// 1.
	Servers int
	// LocalServers is the number of servers inside LocalNet, numbered after
	// the clients. Local and remote servers are chosen alike; only local ones
	// appear in known_services.log and known_certs.log under the default
	// (local) tracking.
	LocalServers int
	// Count stops after that many connections; 0 runs until ctx is done.
	Count int
	// LocalNet holds the clients and the local servers. Default 10.0.0.0/8.
	LocalNet netip.Prefix
	// UnansweredPercent and RejectedPercent are the shares of the clients'
	// TCP connections whose SYN nobody answers or that are rejected with a
	// RST-ACK. 0 takes the default (10 and 5); a negative value means none.
	UnansweredPercent int
	RejectedPercent   int
	// Scanners is the number of remote scanners (from 203.0.113.1, or
	// 2001:db8::1 for IPv6; documentation ranges, the packets exist only in
	// memory). When set, ScanPercent (default 5) of the connections are a
	// scanner's SYN to a local host that nobody answers. Scanner i sweeps the
	// local hosts on one port (i%3 == 0), the ports 1-1024 of one host
	// (i%3 == 1), or (host, port) pairs (i%3 == 2), each target once before
	// any repeats.
	Scanners    int
	ScanPercent int
	// Start is the network time of the first packet; timestamps then follow
	// the schedule: connection starts 1/Rate apart (100µs if Rate is 0) and
	// each connection's packets by its round-trip time. Zero means the wall
	// clock at the start of Run. At full rate network time therefore runs
	// at 10,000 connections per second whatever the machine's speed, so the
	// tracker's working set does not depend on it.
	Start time.Time
	// Truth, when set, receives the ground truth of the run as JSON lines
	// (see Truth and ReadTruth), written as facts become final; Run returns
	// a write error after the traffic ends.
	Truth io.Writer
	// TruthConfig sets what the ground truth assumes of the tracker and the
	// SumStats epochs to report.
	TruthConfig TruthConfig
}

// Generator synthesises complete traffic between local clients and local
// and remote servers: TCP connections with a three-way handshake, a
// request and response of the server's protocol (HTTP, TLS 1.2 with a
// certificate or TLS 1.3, SSH, SMTP, FTP) and a FIN exchange or a RST; DNS
// queries and answers over UDP; SYNs nobody answers; SYNs rejected with a
// RST-ACK; and scanners' probes. Every connection ends, so a tracker holds
// each one only for its close or attempt delay. Connections overlap in
// time and their packets are interleaved by timestamp.
//
// Each client talks to a few servers of its own (at least 8, more when
// there are many servers per client, at most 64), so regular clients never
// look like scanners. It is not safe for concurrent use and runs once.
type Generator struct {
	cfg        GeneratorConfig
	nclients   int
	firstHost  netip.Addr   // LocalNet's first address; client i is firstHost + 1 + i
	servers    []netip.Addr // remote first, then local
	scanners   []netip.Addr
	srv        []serverInfo
	favorites  int    // servers per client
	favA, favB uint64 // affine permutation of the servers for favorites
	unanswered int
	rejected   int
	used       bool
	now        func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error
	tpl        *templates
}

// NewGenerator validates cfg and returns a Generator. Errors wrap
// ErrBadConfig and name the field.
func NewGenerator(cfg GeneratorConfig) (*Generator, error) {
	if !cfg.LocalNet.IsValid() {
		cfg.LocalNet = netip.MustParsePrefix("10.0.0.0/8")
	}
	cfg.LocalNet = cfg.LocalNet.Masked()
	if cfg.Scanners > 0 && cfg.ScanPercent == 0 {
		cfg.ScanPercent = 5
	}
	g := &Generator{cfg: cfg, now: time.Now, sleep: sleepCtx}
	g.unanswered = pick(cfg.UnansweredPercent, DefaultUnansweredPercent)
	g.rejected = pick(cfg.RejectedPercent, DefaultRejectedPercent)
	if err := g.validate(); err != nil {
		return nil, err
	}
	tc, err := cfg.TruthConfig.withDefaults()
	if err != nil {
		return nil, err
	}
	g.cfg.TruthConfig = tc
	g.addresses()
	total := len(g.servers)
	g.favorites = min(total, max(minFavorite, (total+cfg.Hosts-1)/cfg.Hosts), maxFavorite)
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0xfa7))
	g.favA, g.favB = coprime(rng, uint64(total)), rng.Uint64N(uint64(total))
	g.srv = make([]serverInfo, total)
	for i := range g.srv {
		g.srv[i] = newServerInfo(uint64(cfg.Seed), i, i >= cfg.Servers)
	}
	g.tpl = newTemplates(uint64(cfg.Seed))
	return g, nil
}

// pick returns the percent v, def for 0, and 0 for a negative v.
func pick(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

func (g *Generator) validate() error {
	cfg := &g.cfg
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...))
	}
	if cfg.Rate < 0 {
		bad("Rate %d is negative", cfg.Rate)
	}
	if cfg.Count < 0 {
		bad("Count %d is negative", cfg.Count)
	}
	if cfg.Hosts < 1 || cfg.Hosts > maxHosts {
		bad("Hosts %d out of range [1, %d]", cfg.Hosts, maxHosts)
	}
	if cfg.Servers < 1 || cfg.Servers > maxServers {
		bad("Servers %d out of range [1, %d]", cfg.Servers, maxServers)
	}
	if cfg.LocalServers < 0 || cfg.LocalServers > maxServers {
		bad("LocalServers %d out of range [0, %d]", cfg.LocalServers, maxServers)
	}
	if hostBits := cfg.LocalNet.Addr().BitLen() - cfg.LocalNet.Bits(); hostBits < 62 &&
		cfg.Hosts+cfg.LocalServers >= 1<<hostBits-1 {
		bad("Hosts %d and LocalServers %d do not fit in LocalNet %s", cfg.Hosts, cfg.LocalServers, cfg.LocalNet)
	}
	if cfg.Scanners < 0 || cfg.Scanners > maxScanners {
		bad("Scanners %d out of range [0, %d]", cfg.Scanners, maxScanners)
	}
	if cfg.ScanPercent < 0 || cfg.ScanPercent > 100 {
		bad("ScanPercent %d out of range [0, 100]", cfg.ScanPercent)
	}
	if g.unanswered+g.rejected > 100 {
		bad("UnansweredPercent %d and RejectedPercent %d exceed 100", g.unanswered, g.rejected)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Network-time connection rate, and how many connections reach one
	// client's and one scanner's port range within reuseWindow.
	rate := float64(time.Second / genSpacing)
	if cfg.Rate > 0 {
		rate = float64(cfg.Rate)
	}
	favorites := min(cfg.Servers+cfg.LocalServers, minFavorite)
	perPair := rate * reuseWindow.Seconds() / float64(cfg.Hosts) / float64(favorites)
	if perPair > ephemeralPorts {
		bad("Hosts %d are too few for %.0f connections/s: a client's ephemeral ports would repeat on one server within %v",
			cfg.Hosts, rate, reuseWindow)
	}
	if cfg.Scanners > 0 {
		perScanner := rate * float64(cfg.ScanPercent) / 100 * scanReuseWindow.Seconds() / float64(cfg.Scanners)
		if perScanner > ephemeralPorts {
			bad("Scanners %d are too few for %.0f probes/s: a scanner's ports would repeat within %v",
				cfg.Scanners, rate*float64(cfg.ScanPercent)/100, scanReuseWindow)
		}
	}
	return errors.Join(errs...)
}

// addresses lays out the clients, the servers and the scanners.
func (g *Generator) addresses() {
	cfg := &g.cfg
	g.nclients, g.firstHost = cfg.Hosts, cfg.LocalNet.Addr()
	g.servers = make([]netip.Addr, 0, cfg.Servers+cfg.LocalServers)
	s := netip.MustParseAddr("11.0.0.0")
	if cfg.LocalNet.Addr().Is6() {
		s = netip.MustParseAddr("2600::")
	}
	for len(g.servers) < cfg.Servers {
		s = s.Next()
		if !cfg.LocalNet.Contains(s) {
			g.servers = append(g.servers, s)
		}
	}
	for i := range cfg.LocalServers {
		g.servers = append(g.servers, g.client(cfg.Hosts+i))
	}
	sc := netip.MustParseAddr("203.0.113.0")
	if cfg.LocalNet.Addr().Is6() {
		sc = netip.MustParseAddr("2001:db8::")
	}
	for range cfg.Scanners {
		sc = sc.Next()
		g.scanners = append(g.scanners, sc)
	}
}

// favorite returns the server index of client c's k-th server.
func (g *Generator) favorite(c, k int) int {
	n := uint64(len(g.servers))
	x := (uint64(c)*uint64(g.favorites) + uint64(k)) % n
	return int((g.favA*x + g.favB) % n)
}

// localHost returns the i-th local host (a scanner's victim): the clients,
// then the local servers.
func (g *Generator) localHost(i int) netip.Addr {
	if i < g.nclients {
		return g.client(i)
	}
	return g.servers[g.cfg.Servers+i-g.nclients]
}

func (g *Generator) numLocal() int { return g.nclients + g.cfg.LocalServers }

// client returns the address of client i (beyond the clients: of local
// server i - Hosts), computed rather than stored: a generator may have
// millions of clients.
func (g *Generator) client(i int) netip.Addr { return addrAdd(g.firstHost, uint64(i)+1) }

// addrAdd returns a + n (in a's family, wrapping).
func addrAdd(a netip.Addr, n uint64) netip.Addr {
	if a.Is4() {
		b := a.As4()
		binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])+uint32(n))
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	sum, carry := bits.Add64(lo, n, 0)
	binary.BigEndian.PutUint64(b[:8], hi+carry)
	binary.BigEndian.PutUint64(b[8:], sum)
	return netip.AddrFrom16(b)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run emits the packets of Count connections (or, with Count 0, until ctx
// is done) to fn, in timestamp order. When ctx ends, no new connection
// starts and the connections under way are completed without pacing, then
// the error is ctx.Err(). The packet sequence depends only on the seed and
// configuration; with Rate > 0 Run paces connection starts in wall time.
// A Truth write error is returned after the traffic ended.
func (g *Generator) Run(ctx context.Context, fn func(*packet.Packet)) (Stats, error) {
	var st Stats
	if g.used {
		return st, ErrUsed
	}
	g.used = true
	r := newRun(g, fn, &st)
	err := r.loop(ctx)
	if terr := r.finish(); terr != nil {
		err = errors.Join(err, terr)
	}
	return st, err
}

// coprime returns a random multiplier in [1, n) coprime with n (1 if n < 3).
func coprime(rng *rand.Rand, n uint64) uint64 {
	if n < 3 {
		return 1
	}
	for {
		if a := 1 + rng.Uint64N(n-1); gcd(a, n) == 1 {
			return a
		}
	}
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
