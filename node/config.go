package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"

	"shoal/analysis"
	"shoal/flow"
	"shoal/gossip"
	"shoal/ingest"
	"shoal/route"
	"shoal/scan"
	"shoal/service"
	"shoal/site"
	"shoal/ssconf"
	"shoal/zeeklog"
)

// Role is what a process does in the cluster; it is also the name of the
// pool the process belongs to.
type Role string

// The three roles.
const (
	RoleWorker   Role = "worker"
	RoleDatanode Role = "datanode"
	RoleManager  Role = "manager"
)

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleWorker, RoleDatanode, RoleManager:
		return r, nil
	}
	return "", fmt.Errorf("%w: role %q (want worker, datanode or manager)", ErrConfig, s)
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("node: invalid configuration")

// Settings are the cluster-wide settings of the analyses that are not
// modules yet. Every node is started with the same ones; their hash travels
// in gossip metadata so that status can flag a node whose settings differ.
type Settings struct {
	// LocalNets decides which scanners are local. The zero value means
	// the IANA private and special-purpose ranges, as Zeek >= 6.0 does.
	LocalNets site.Nets
	// Scan holds simple-scan's thresholds and darknets. Its LocalNets is
	// always LocalNets above. Zero fields take simple-scan's defaults.
	Scan scan.Config
	// Analyzers chooses the protocol analyzers workers run (Zeek's @load
	// list, Analyzer::disable_analyzer, extra ports): which services they
	// identify and which ports are likely server ports. The zero value is
	// every analyzer, as Zeek's default scripts.
	Analyzers Analyzers
}

// Analyzers is the analyzer configuration, hashed by its effect (the
// services detected and the likely server ports), so equivalent spellings
// hash equally.
type Analyzers struct{ service.AnalyzerConfig }

// String renders the effect of the configuration.
func (a Analyzers) String() string {
	tcp, udp := a.ServerPorts()
	return fmt.Sprintf("analyzers %d %v %v", a.Services(), tcp, udp)
}

// settingsHash identifies the modules' settings, the analysis settings and
// the SumStats definitions, which every node must share.
func (c *Config) settingsHash(modules uint64) uint64 {
	return modules ^ c.Settings.Hash() ^ ssconf.Hash(c.SumStats)
}

// Hash identifies the settings: every field, by reflection
// (analysis.SettingsHash), so a new field counts without being listed.
func (s Settings) Hash() uint64 {
	h, err := analysis.SettingsHash(s)
	if err != nil {
		panic(err) // Settings holds hashable types only: a broken invariant
	}
	return h
}

// Config configures a Node. The zero value of every optional field means
// the production default.
type Config struct {
	// Name must be unique in the cluster. Default: role-host-port of Bind.
	Name string
	Role Role
	// Bind is the gossip host:port (UDP and TCP). Port 0 picks a free port.
	Bind string
	// Join lists seed gossip addresses.
	Join []string
	// DataBind is the event transport's host:port. Default: Bind's host,
	// ephemeral port. The address actually bound is advertised in metadata.
	DataBind string
	// HTTP, when set, serves GET /status on this host:port.
	HTTP string
	// LogDir and LogFormat: where and how a manager writes logs.
	LogDir    string
	LogFormat zeeklog.Format
	// Profile is the gossip timing profile (default lan).
	Profile gossip.Profile
	// Ring is the cluster-wide ring configuration.
	Ring route.RingConfig
	// QueueLimit bounds each peer's queue of unacknowledged events.
	QueueLimit int
	// Block makes sends wait for room in a full queue instead of dropping
	// the event (counted). It is implied for datanodes, managers and
	// workers reading files; a worker on live traffic drops rather than
	// fall behind the wire.
	Block bool
	// Modules are the analyses the node runs (builtin.Modules): fresh
	// instances for this node, attached by New.
	Modules  []analysis.Module
	Settings Settings
	// Security: gossip keys, cluster name, HTTP token (see Security).
	Security Security

	// Worker inputs: pcap files read in order, the generator, a live
	// interface (AF_PACKET), Zeek logs (conn, ssl, x509) from files or
	// followed in a directory as Zeek writes and rotates them.
	Read         []string
	Generate     *ingest.GeneratorConfig
	Interface    string
	Capture      ingest.InterfaceConfig
	ZeekLogFiles []string
	ZeekLogDir   string
	// Observe lists files of SumStats observations as JSON lines ("-" is
	// standard input); a worker with --http also takes them at
	// POST /v1/observe.
	Observe []string
	// Checksums makes a worker validate checksums as Zeek does without -C
	// (see flow.Config.Checksums); off by default, as with -C.
	Checksums bool
	// MaxConnections caps the connections a worker tracks (flow.Config.MaxFlows,
	// about 1 KB each with the analyzers): beyond it the least recently
	// active one is evicted, reported like a removed connection and counted
	// in WorkerStatus.FlowsEvicted. 0 means flow.DefaultMaxFlows.
	MaxConnections int
	// Tunnels configures a worker's decapsulation (Zeek's defaults when
	// zero).
	Tunnels flow.TunnelConfig
	// SumStats are the cluster-wide SumStats definitions: datanodes run
	// them for the keys they own, managers log their results.
	SumStats []ssconf.Definition
	// PoolWait is how long a worker with inputs waits for a datanode and
	// a manager to appear before it starts reading (default 30s).
	PoolWait time.Duration

	Logger zerolog.Logger

	// Injected networks for in-process tests; nil means real sockets.
	// GossipTransport replaces memberlist's UDP/TCP transport (Bind is then
	// only the advertised address), DataListener the event listener bound on
	// DataBind, and Dial the event transport's dialer.
	GossipTransport memberlist.NodeAwareTransport
	DataListener    net.Listener
	Dial            func(ctx context.Context, addr string) (net.Conn, error)
}

func (c *Config) setDefaults() error {
	if c.Bind == "" {
		c.Bind = "127.0.0.1:7946"
	}
	host, port, err := net.SplitHostPort(c.Bind)
	if err != nil {
		return fmt.Errorf("%w: bind %q: %v", ErrConfig, c.Bind, err)
	}
	if port == "0" && c.Name == "" && c.GossipTransport == nil {
		// The default name needs the port: reserve one now.
		p, err := freePort(host)
		if err != nil {
			return fmt.Errorf("node: bind %s: %w", c.Bind, err)
		}
		port = strconv.Itoa(p)
		c.Bind = net.JoinHostPort(host, port)
	}
	if c.Name == "" {
		c.Name = fmt.Sprintf("%s-%s-%s", c.Role, host, port)
	}
	if c.DataBind == "" {
		c.DataBind = net.JoinHostPort(host, "0")
	}
	if c.Profile == "" {
		c.Profile = gossip.Profile("lan")
	}
	if c.Ring == (route.RingConfig{}) {
		c.Ring = route.DefaultRingConfig()
	}
	if c.LogFormat == "" {
		c.LogFormat = zeeklog.Format("tsv")
	}
	if c.Settings.LocalNets.String() == "" {
		c.Settings.LocalNets = site.PrivateNets()
	}
	c.Settings.Scan = withScanDefaults(c.Settings.Scan, c.Settings.LocalNets)
	if c.PoolWait == 0 {
		c.PoolWait = 30 * time.Second
	}
	return nil
}

// Validate reports the first invalid field, after defaults are applied.
func (c *Config) validate() error {
	if _, err := ParseRole(string(c.Role)); err != nil {
		return err
	}
	if err := c.Ring.Validate(); err != nil {
		return err
	}
	if c.Role == RoleManager && c.LogDir == "" {
		return fmt.Errorf("%w: a manager needs a log directory", ErrConfig)
	}
	inputs := 0
	for _, set := range []bool{len(c.Read) > 0, c.Generate != nil, c.Interface != "", len(c.ZeekLogFiles) > 0, c.ZeekLogDir != "", len(c.Observe) > 0} {
		if set {
			inputs++
		}
	}
	if c.Role != RoleWorker && inputs > 0 {
		return fmt.Errorf("%w: only a worker reads traffic", ErrConfig)
	}
	if len(c.Read) > 0 && c.Generate != nil {
		return fmt.Errorf("%w: read and generate are exclusive", ErrConfig)
	}
	names := map[string]bool{}
	for _, d := range c.SumStats {
		if names[d.Def.Name] {
			return fmt.Errorf("%w: sumstat %q defined twice", ErrConfig, d.Def.Name)
		}
		names[d.Def.Name] = true
		if err := d.Def.Validate(); err != nil {
			return fmt.Errorf("%w: sumstat %q: %w", ErrConfig, d.Def.Name, err)
		}
	}
	if err := c.Settings.Scan.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return CheckExposure(*c)
}

// withScanDefaults fills the zero fields of c with simple-scan's defaults.
func withScanDefaults(c scan.Config, local site.Nets) scan.Config {
	d := scan.DefaultConfig()
	for _, f := range []struct{ v, def *int }{
		{&c.ScanThreshold, &d.ScanThreshold}, {&c.LocalScanThreshold, &d.LocalScanThreshold},
		{&c.ScanThresholdWithDarknetHits, &d.ScanThresholdWithDarknetHits},
		{&c.LocalScanThresholdWithDarknetHits, &d.LocalScanThresholdWithDarknetHits},
		{&c.KnockKnockThreshold, &d.KnockKnockThreshold},
		{&c.KnockKnockThresholdWithDarknetHits, &d.KnockKnockThresholdWithDarknetHits},
		{&c.DarkHostThreshold, &d.DarkHostThreshold}, {&c.MaxScanners, &d.MaxScanners},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *time.Duration }{
		{&c.ScanTimeout, &d.ScanTimeout}, {&c.Suppression, &d.Suppression}, {&c.WorkerDedup, &d.WorkerDedup},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	c.LocalNets = local
	return c
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
