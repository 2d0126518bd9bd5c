// Command node runs one shoal process: a worker, a datanode or a manager.
//
//	node --role datanode --bind 127.0.0.1:7947 --join 127.0.0.1:7946
//	node members --http 127.0.0.1:8080
//
// On start it prints one JSON "ready" line on stdout with the addresses it
// bound; logs go to stderr. Exit status: 0 on a clean stop, 1 on a runtime
// error, 2 on invalid flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"shoal/builtin"
	"shoal/flow"
	"shoal/gossip"
	"shoal/ingest"
	"shoal/node"
	"shoal/route"
	"shoal/site"
	"shoal/ssconf"
	"shoal/zeeklog"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "members":
			os.Exit(members(os.Args[2:], os.Stdout, os.Stderr))
		case "keys":
			os.Exit(keys(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
		case "tls":
			os.Exit(tlsCommand(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// fileFlag is a repeatable flag that keeps each value whole.
type fileFlag []string

func (l *fileFlag) String() string     { return strings.Join(*l, ",") }
func (l *fileFlag) Set(s string) error { *l = append(*l, s); return nil }

type options struct {
	cfg       node.Config
	an        builtin.Config // the analyses' configurations
	logLevel  string
	truthFile string // --gen-truth
}

// parse turns the command line into a node configuration. Any error is a
// usage error (exit 2).
func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		role, name, bind, dataBind, httpAddr  string
		logDir, logFormat, localNets          string
		tracking, profile, logLevel           string
		svcTracking, certTracking             string
		swTracking, swChanges                 string
		join                                  listFlag
		read, zeekLogs, observe               fileFlag
		sumstatsFile                          string
		iface, zeekDir, darknets              string
		promisc                               bool
		scanT, localScanT, scanDarkT          int
		localScanDarkT, knockT                int
		scanTimeout                           time.Duration
		generate                              bool
		genSeed                               int64
		genRate, genHosts, genServers, genCnt int
		genScanners, genScanPct               int
		genLocalServers, genUnans, genRej     int
		genTruth                              string
		partitions, queue, maxConns           int
		expire                                time.Duration
		keyFile, clusterName, tokenFile       string
		tlsCA, tlsCert, tlsKey                string
		insecure                              bool
	)
	fs.StringVar(&role, "role", "", "worker, datanode or manager (required)")
	fs.StringVar(&name, "name", "", "unique node name (default: role-host-port)")
	fs.StringVar(&bind, "bind", "127.0.0.1:7946", "gossip `host:port` (UDP and TCP; port 0 picks one)")
	fs.Var(&join, "join", "seed gossip `addresses` (comma-separated or repeated)")
	fs.StringVar(&dataBind, "data-bind", "", "event transport `host:port` (default: the bind host, ephemeral port)")
	fs.StringVar(&httpAddr, "http", "", "serve GET /status on `host:port`")
	fs.StringVar(&logDir, "log-dir", "", "manager: directory for Zeek logs")
	fs.StringVar(&logFormat, "log-format", "tsv", "manager: log format, tsv or json")
	fs.Var(&read, "read", "worker: pcap or pcapng `file` to read (repeatable)")
	fs.BoolVar(&generate, "generate", false, "worker: read built-in generated traffic")
	fs.StringVar(&iface, "interface", "", "worker: capture live traffic on this `interface` (AF_PACKET; needs root or CAP_NET_RAW)")
	fs.BoolVar(&promisc, "promisc", true, "worker: put the capture interface in promiscuous mode")
	fs.Var(&zeekLogs, "zeek-log", "worker: Zeek conn.log, ssl.log or x509.log `file` (TSV or JSON) to read (repeatable)")
	fs.Var(&observe, "observe", "worker: SumStats observations as JSON lines from `file` (- = stdin; repeatable)")
	fs.StringVar(&sumstatsFile, "sumstats", "", "SumStats definitions (YAML `file`; cluster-wide: give every node the same)")
	fs.StringVar(&zeekDir, "zeek-logs", "", "worker: follow the Zeek logs in `dir` as Zeek writes and rotates them")
	fs.IntVar(&scanT, "scan-threshold", 25, "scan: unique attempts that make a remote scanner")
	fs.IntVar(&localScanT, "local-scan-threshold", 250, "scan: unique attempts that make a local scanner")
	fs.IntVar(&scanDarkT, "scan-threshold-with-darknet-hits", 10, "scan: remote threshold after darknet hits")
	fs.IntVar(&localScanDarkT, "local-scan-threshold-with-darknet-hits", 100, "scan: local threshold after darknet hits")
	fs.IntVar(&knockT, "knockknock-threshold", 20, "scan: attempts on one port that make a remote knock-knock scanner")
	fs.StringVar(&darknets, "darknets", "", "scan: comma-separated CIDRs of unused address space")
	fs.DurationVar(&scanTimeout, "scan-timeout", 15*time.Minute, "scan: forget a scanner this long after its last attempt")
	fs.Int64Var(&genSeed, "gen-seed", 1, "generator: random seed")
	fs.IntVar(&genRate, "gen-rate", 1000, "generator: connections per second (0 = unlimited)")
	fs.IntVar(&genHosts, "gen-hosts", 10000, "generator: distinct client hosts")
	fs.IntVar(&genServers, "gen-servers", 1000, "generator: distinct server hosts")
	fs.IntVar(&genScanners, "gen-scanners", 0, "generator: remote scanners probing local hosts (documentation addresses)")
	fs.IntVar(&genScanPct, "gen-scan-percent", 5, "generator: percent of connections that are scanner probes")
	fs.IntVar(&genCnt, "gen-count", 0, "generator: stop after this many connections (0 = until stopped)")
	fs.IntVar(&genLocalServers, "gen-local-servers", 100, "generator: distinct server hosts inside the local network")
	fs.IntVar(&genUnans, "gen-unanswered-percent", ingest.DefaultUnansweredPercent, "generator: percent of client connections nobody answers")
	fs.IntVar(&genRej, "gen-rejected-percent", ingest.DefaultRejectedPercent, "generator: percent of client connections rejected with a RST")
	fs.StringVar(&genTruth, "gen-truth", "", "generator: write the ground truth of the generated traffic to `file` (JSON lines)")
	var tf trafficFlags
	tf.register(fs)
	fs.StringVar(&localNets, "local-nets", "", "comma-separated CIDRs that are local (default: the private ranges)")
	fs.StringVar(&tracking, "known-hosts-tracking", "local", "hosts known_hosts logs: local, remote, all or none")
	fs.StringVar(&svcTracking, "known-services-tracking", "local", "services known_services logs (by responder): local, remote, all or none")
	fs.StringVar(&certTracking, "known-certs-tracking", "local", "certificates known_certs logs (by server): local, remote, all or none")
	fs.StringVar(&swTracking, "software-tracking", "local", "hosts whose software software.log logs: local, remote, all or none")
	fs.StringVar(&swChanges, "software-version-changes", "", "comma-separated software `names` whose version changes raise Software::Software_Version_Change notices")
	fs.DurationVar(&expire, "known-hosts-expire", 24*time.Hour, "how long a known host, service or certificate stays known")
	fs.StringVar(&profile, "gossip-profile", "lan", "gossip timing: lan, local or fast")
	fs.IntVar(&partitions, "partitions", route.DefaultPartitions, "ring partitions (cluster-wide; must exceed any pool's size)")
	fs.IntVar(&queue, "queue", 65536, "per-peer limit of unacknowledged events")
	fs.IntVar(&maxConns, "max-connections", flow.DefaultMaxFlows, "worker: connections tracked at most (about 1 KB each); beyond, the least recently active is evicted and counted")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&keyFile, "gossip-key-file", "", "encrypt gossip with the base64 keys in `file` (one per line, first primary; rewritten by `node keys`)")
	fs.StringVar(&clusterName, "cluster-name", "", "cluster `name`: gossip with another name is refused (authenticated only with --gossip-key-file)")
	fs.StringVar(&tokenFile, "http-token-file", "", "bearer token in `file` that HTTP clients must present (writes always; reads off loopback)")
	fs.StringVar(&tlsCA, "tls-ca", "", "mutual TLS: the cluster CA certificate `file`")
	fs.StringVar(&tlsCert, "tls-cert", "", "mutual TLS: this node's certificate `file` (from `node tls cert`; names this node's --name and --role)")
	fs.StringVar(&tlsKey, "tls-key", "", "mutual TLS: this node's key `file`")
	fs.BoolVar(&insecure, "insecure", false, "allow listening on non-loopback addresses without protection")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	o := &options{logLevel: logLevel}
	c := &o.cfg
	var err error
	if c.Role, err = node.ParseRole(role); err != nil {
		return nil, fmt.Errorf("--role: %w", err)
	}
	c.Name, c.Bind, c.Join, c.DataBind, c.HTTP, c.LogDir = name, bind, join, dataBind, httpAddr, logDir
	if c.LogFormat, err = zeeklog.ParseFormat(logFormat); err != nil {
		return nil, fmt.Errorf("--log-format: %w", err)
	}
	if c.Profile, err = gossip.ParseProfile(profile); err != nil {
		return nil, fmt.Errorf("--gossip-profile: %w", err)
	}
	an := &o.an
	if localNets != "" {
		if c.Settings.LocalNets, err = site.ParseNets(localNets); err != nil {
			return nil, fmt.Errorf("--local-nets: %w", err)
		}
		an.SetLocalNets(c.Settings.LocalNets)
	}
	if an.Hosts.Tracking, err = site.ParseMode(tracking); err != nil {
		return nil, fmt.Errorf("--known-hosts-tracking: %w", err)
	}
	if an.Services.Tracking, err = site.ParseMode(svcTracking); err != nil {
		return nil, fmt.Errorf("--known-services-tracking: %w", err)
	}
	if an.Certs.Tracking, err = site.ParseMode(certTracking); err != nil {
		return nil, fmt.Errorf("--known-certs-tracking: %w", err)
	}
	if an.Software.Tracking, err = site.ParseMode(swTracking); err != nil {
		return nil, fmt.Errorf("--software-tracking: %w", err)
	}
	for _, n := range strings.Split(swChanges, ",") {
		if n = strings.TrimSpace(n); n != "" {
			an.Software.Interesting = append(an.Software.Interesting, n)
		}
	}
	if expire <= 0 {
		return nil, fmt.Errorf("--known-hosts-expire: must be positive, got %v", expire)
	}
	an.SetExpire(expire)
	c.Ring = route.DefaultRingConfig()
	c.Ring.Partitions = partitions
	if err := c.Ring.Validate(); err != nil {
		return nil, fmt.Errorf("--partitions: %w", err)
	}
	if queue < 1 {
		return nil, fmt.Errorf("--queue: must be positive, got %d", queue)
	}
	c.QueueLimit = queue
	if maxConns < 1 {
		return nil, fmt.Errorf("--max-connections: must be positive, got %d", maxConns)
	}
	c.MaxConnections = maxConns
	if c.Role != node.RoleWorker && (len(read) > 0 || generate || iface != "" || len(zeekLogs) > 0 || zeekDir != "" || len(observe) > 0) {
		return nil, errors.New("--read, --generate, --interface, --zeek-log, --zeek-logs and --observe need --role worker")
	}
	if sumstatsFile != "" {
		if c.SumStats, err = ssconf.ParseFile(sumstatsFile); err != nil {
			return nil, fmt.Errorf("--sumstats: %w", err)
		}
	}
	c.Observe = observe
	for name, v := range map[string]int{"--scan-threshold": scanT, "--local-scan-threshold": localScanT,
		"--scan-threshold-with-darknet-hits": scanDarkT, "--local-scan-threshold-with-darknet-hits": localScanDarkT,
		"--knockknock-threshold": knockT} {
		if v < 1 {
			return nil, fmt.Errorf("%s: must be at least 1, got %d", name, v)
		}
	}
	if scanTimeout <= 0 {
		return nil, fmt.Errorf("--scan-timeout: must be positive, got %v", scanTimeout)
	}
	sc := &c.Settings.Scan
	sc.ScanThreshold, sc.LocalScanThreshold, sc.ScanThresholdWithDarknetHits = scanT, localScanT, scanDarkT
	sc.LocalScanThresholdWithDarknetHits, sc.KnockKnockThreshold, sc.ScanTimeout = localScanDarkT, knockT, scanTimeout
	if darknets != "" {
		if sc.Darknets, err = site.ParseNets(darknets); err != nil {
			return nil, fmt.Errorf("--darknets: %w", err)
		}
	}
	c.Interface, c.ZeekLogFiles, c.ZeekLogDir = iface, zeekLogs, zeekDir
	c.Capture.Promiscuous = promisc
	if c.Role == node.RoleManager && logDir == "" {
		return nil, errors.New("--log-dir is required for a manager")
	}
	if len(read) > 0 && generate {
		return nil, errors.New("--read and --generate are exclusive")
	}
	c.Read = read
	if generate {
		c.Generate = &ingest.GeneratorConfig{Seed: genSeed, Rate: genRate, Hosts: genHosts, Servers: genServers,
			LocalServers: genLocalServers, Count: genCnt, UnansweredPercent: percentFlag(genUnans),
			RejectedPercent: percentFlag(genRej), TruthConfig: ingest.TruthConfig{Epochs: builtinEpochs(c.SumStats)}}
		if genScanners > 0 {
			c.Generate.Scanners, c.Generate.ScanPercent = genScanners, genScanPct
		}
		if _, err := ingest.NewGenerator(*c.Generate); err != nil {
			return nil, fmt.Errorf("--gen-*: %w", err)
		}
		o.truthFile = genTruth
	} else if genTruth != "" {
		return nil, errors.New("--gen-truth needs --generate")
	}
	if _, err := zerolog.ParseLevel(logLevel); err != nil || logLevel == "" {
		return nil, fmt.Errorf("--log-level: unknown level %q", logLevel)
	}
	if err := parseTLS(c, name, tlsCA, tlsCert, tlsKey); err != nil {
		return nil, err
	}
	if err := parseSecurity(c, keyFile, clusterName, tokenFile, insecure); err != nil {
		return nil, err
	}
	if err := tf.apply(c, &o.an); err != nil {
		return nil, err
	}
	return o, nil
}

// percentFlag maps a percent flag to the generator's convention (0 takes
// the default, negative means none).
func percentFlag(v int) int {
	if v == 0 {
		return -1
	}
	return v
}

// builtinEpochs returns the fixed epochs of the SumStats definitions that
// reduce the built-in streams, for the generator's ground truth (which also
// reports the whole run).
func builtinEpochs(defs []ssconf.Definition) []time.Duration {
	epochs := []time.Duration{0}
	for _, d := range defs {
		for _, r := range d.Def.Reducers {
			if r.Stream == ingest.StreamEstablished || r.Stream == ingest.StreamAttempt {
				epochs = append(epochs, d.Def.Epoch)
			}
		}
	}
	return epochs
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 2
	}
	o.cfg.Modules = builtin.Modules(o.an)
	if o.truthFile != "" {
		f, err := os.Create(o.truthFile)
		if err != nil {
			fmt.Fprintf(stderr, "node: --gen-truth: %v\n", err)
			return 2
		}
		// Closed after the node stopped: the generator has written
		// everything by the time its run returns.
		defer f.Close()
		o.cfg.Generate.Truth = f
	}
	level, _ := zerolog.ParseLevel(o.logLevel)
	o.cfg.Logger = zerolog.New(stderr).Level(level).With().Timestamp().Logger()

	n, err := node.New(o.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := n.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		n.Close()
		return 1
	}
	ready, _ := json.Marshal(map[string]string{
		"event": "ready", "name": n.Name(), "role": string(n.Role()), "gossip": n.GossipAddr(),
		"data": n.DataAddr(), "http": n.HTTPAddr(), "boot_id": n.BootID(),
	})
	fmt.Fprintf(stdout, "%s\n", ready)

	code := 0
	done := make(chan error, 1)
	if n.HasInput() {
		go func() { done <- n.Run(ctx) }()
	}
	select {
	case <-ctx.Done():
		if n.HasInput() {
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(stderr, "node: %v\n", err)
				code = 1
			}
		}
	case err := <-n.Fatal():
		fmt.Fprintf(stderr, "node: %v\n", err)
		code = 1
	case err := <-done:
		st := n.Status()
		summary, _ := json.Marshal(map[string]any{"event": "done", "name": n.Name(), "counters": st.Counters, "worker": st.Worker,
			"cpu_seconds": cpuSeconds()})
		fmt.Fprintf(stdout, "%s\n", summary)
		if err != nil {
			fmt.Fprintf(stderr, "node: %v\n", err)
			code = 1
		}
	}
	if err := n.Close(); err != nil && code == 0 {
		fmt.Fprintf(stderr, "node: close: %v\n", err)
	}
	return code
}
