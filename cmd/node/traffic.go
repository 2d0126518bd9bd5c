package main

import (
	"flag"
	"fmt"

	"shoal/builtin"
	"shoal/connlog"
	"shoal/flow"
	"shoal/node"
	"shoal/service"
)

// trafficFlags are the packet-analysis flags: the analyzers, checksums,
// tunnels, and conn.log and tunnel.log.
type trafficFlags struct {
	analyzers, disabled string
	ports               fileFlag
	checksums           bool
	depth               int
	connLog, tunnelLog  string
}

func (f *trafficFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.analyzers, "analyzers", "", "protocol analyzers to load, comma-separated (default: all; as zeek -b with an @load of each)")
	fs.StringVar(&f.disabled, "disable-analyzers", "", "loaded analyzers to turn off (they identify nothing; their ports stay likely server ports)")
	fs.Var(&f.ports, "analyzer-ports", "extra likely server ports of an analyzer, `NAME=PORT[/tcp|/udp],...` (repeatable)")
	fs.BoolVar(&f.checksums, "validate-checksums", false, "worker: validate IP, TCP, UDP and ICMP checksums as Zeek does without -C")
	fs.IntVar(&f.depth, "tunnel-max-depth", flow.DefaultTunnelMaxDepth, "worker: tunnels a packet may be nested in (Tunnel::max_depth; 0 = no decapsulation)")
	fs.StringVar(&f.connLog, "conn-log", "on", "write conn.log: workers send every connection's row to a manager (on or off; cluster-wide)")
	fs.StringVar(&f.tunnelLog, "tunnel-log", "on", "write tunnel.log (on or off; cluster-wide)")
}

// apply checks the flags and sets them in the node's and the analyses'
// configurations.
func (f *trafficFlags) apply(c *node.Config, an *builtin.Config) error {
	a := &c.Settings.Analyzers.AnalyzerConfig
	var err error
	if f.analyzers != "" {
		if a.Loaded, err = service.ParseAnalyzerList(f.analyzers); err != nil {
			return fmt.Errorf("--analyzers: %w", err)
		}
	}
	if f.disabled != "" {
		if a.Disabled, err = service.ParseAnalyzerList(f.disabled); err != nil {
			return fmt.Errorf("--disable-analyzers: %w", err)
		}
	}
	for _, p := range f.ports {
		name, pp, err := service.ParseAnalyzerPorts(p)
		if err != nil {
			return fmt.Errorf("--analyzer-ports: %w", err)
		}
		if a.Ports == nil {
			a.Ports = map[string][]service.PortProto{}
		}
		a.Ports[name] = append(a.Ports[name], pp...)
	}
	c.Checksums = f.checksums
	switch {
	case f.depth < 0 || f.depth > flow.MaxTunnelDepth:
		return fmt.Errorf("--tunnel-max-depth: %d is not within 0-%d", f.depth, flow.MaxTunnelDepth)
	case f.depth == 0:
		c.Tunnels.Disabled = true
	default:
		c.Tunnels.MaxDepth = f.depth
	}
	if an.Conn.ConnOff, err = connlog.ParseSwitch("--conn-log", f.connLog); err != nil {
		return err
	}
	if an.Conn.TunnelOff, err = connlog.ParseSwitch("--tunnel-log", f.tunnelLog); err != nil {
		return err
	}
	return nil
}
