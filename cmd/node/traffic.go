package main

import (
	"fmt"

	"shoal/flow"
	"shoal/node"
	"shoal/service"
)

// parseTraffic applies the packet-analysis flags: --analyzers,
// --disable-analyzers, --analyzer-ports, --validate-checksums and
// --tunnel-max-depth.
func parseTraffic(c *node.Config, analyzers, disabled string, ports []string, checksums bool, depth int) error {
	a := &c.Settings.Analyzers
	var err error
	if analyzers != "" {
		if a.Loaded, err = service.ParseAnalyzerList(analyzers); err != nil {
			return fmt.Errorf("--analyzers: %w", err)
		}
	}
	if disabled != "" {
		if a.Disabled, err = service.ParseAnalyzerList(disabled); err != nil {
			return fmt.Errorf("--disable-analyzers: %w", err)
		}
	}
	for _, p := range ports {
		name, pp, err := service.ParseAnalyzerPorts(p)
		if err != nil {
			return fmt.Errorf("--analyzer-ports: %w", err)
		}
		if a.Ports == nil {
			a.Ports = map[string][]service.PortProto{}
		}
		a.Ports[name] = append(a.Ports[name], pp...)
	}
	c.Checksums = checksums
	switch {
	case depth < 0 || depth > flow.MaxTunnelDepth:
		return fmt.Errorf("--tunnel-max-depth: %d is not within 0-%d", depth, flow.MaxTunnelDepth)
	case depth == 0:
		c.Tunnels.Disabled = true
	default:
		c.Tunnels.MaxDepth = depth
	}
	return nil
}
