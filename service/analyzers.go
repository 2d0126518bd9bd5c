package service

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrBadAnalyzers is wrapped by ParseAnalyzerConfig and
// AnalyzerConfig.Validate for an unknown analyzer or a bad port.
var ErrBadAnalyzers = errors.New("service: bad analyzer configuration")

// AnalyzerInfo describes one of Zeek's protocol analyzers as far as the
// cluster uses it: the likely server ports its script adds to
// likely_server_ports (which decide the direction of a connection whose
// first packet does not tell), and the Detector service that identifies it
// from payload, if any.
type AnalyzerInfo struct {
	Name     string // Zeek's analyzer name, upper case ("HTTP")
	TCPPorts []uint16
	UDPPorts []uint16
	// Service is the Detector's service for this analyzer; Detects is
	// false for analyzers the Detector does not implement (their ports
	// still count).
	Service Service
	Detects bool
}

// analyzers are the protocol analyzers of Zeek's default scripts that
// register likely server ports (scripts/base/protocols/*/main.zeek).
var analyzers = []AnalyzerInfo{
	{Name: "DCE_RPC", TCPPorts: []uint16{135}},
	{Name: "DHCP", UDPPorts: []uint16{67, 547}},
	{Name: "DNP3", TCPPorts: []uint16{20000}, UDPPorts: []uint16{20000}},
	{Name: "DNS", TCPPorts: []uint16{53}, UDPPorts: []uint16{53, 137, 5353, 5355}, Service: DNS, Detects: true},
	{Name: "DTLS", UDPPorts: []uint16{443}},
	{Name: "FINGER", TCPPorts: []uint16{79}},
	{Name: "FTP", TCPPorts: []uint16{21, 2811}, Service: FTP, Detects: true},
	{Name: "HTTP", TCPPorts: []uint16{80, 81, 631, 1080, 3128, 8000, 8080, 8888}, Service: HTTP, Detects: true},
	{Name: "IMAP", TCPPorts: []uint16{143}},
	{Name: "IRC", TCPPorts: []uint16{6666, 6667, 6668, 6669}},
	{Name: "KRB", TCPPorts: []uint16{88}, UDPPorts: []uint16{88}},
	{Name: "LDAP", TCPPorts: []uint16{389, 3268}, UDPPorts: []uint16{389}},
	{Name: "MODBUS", TCPPorts: []uint16{502}},
	{Name: "MQTT", TCPPorts: []uint16{1883}},
	{Name: "MYSQL", TCPPorts: []uint16{1434, 3306}},
	{Name: "NTP", UDPPorts: []uint16{123}, Service: NTP, Detects: true},
	{Name: "POP3", TCPPorts: []uint16{110}},
	{Name: "POSTGRESQL", TCPPorts: []uint16{5432}},
	{Name: "QUIC", UDPPorts: []uint16{443}},
	{Name: "RADIUS", UDPPorts: []uint16{1812}},
	{Name: "RDP", TCPPorts: []uint16{3389}},
	{Name: "REDIS", TCPPorts: []uint16{6379}},
	{Name: "SIP", UDPPorts: []uint16{5060}},
	{Name: "SMB", TCPPorts: []uint16{139, 445}},
	{Name: "SMTP", TCPPorts: []uint16{25, 587}, Service: SMTP, Detects: true},
	{Name: "SNMP", UDPPorts: []uint16{161, 162}},
	{Name: "SOCKS", TCPPorts: []uint16{1080}},
	{Name: "SSH", TCPPorts: []uint16{22}, Service: SSH, Detects: true},
	{Name: "SSL", TCPPorts: []uint16{443, 563, 585, 614, 636, 989, 990, 992, 993, 995, 5223}, Service: SSL, Detects: true},
	{Name: "SYSLOG", UDPPorts: []uint16{514}},
	{Name: "XMPP", TCPPorts: []uint16{5222, 5269}},
}

// packetProtocolUDPPorts are the likely server ports of Zeek's packet
// analyzers (base/packet-protocols), which even a bare "zeek -b" loads:
// GTPv1, Teredo, VXLAN, AYIYA, Geneve.
var packetProtocolUDPPorts = []uint16{2123, 2152, 3544, 4789, 5072, 6081}

// Analyzers returns a copy of the analyzer table, sorted by name.
func Analyzers() []AnalyzerInfo {
	out := make([]AnalyzerInfo, len(analyzers))
	for i, a := range analyzers {
		a.TCPPorts, a.UDPPorts = slices.Clone(a.TCPPorts), slices.Clone(a.UDPPorts)
		out[i] = a
	}
	return out
}

// LookupAnalyzer returns the analyzer named name (any case).
func LookupAnalyzer(name string) (AnalyzerInfo, bool) {
	for _, a := range analyzers {
		if strings.EqualFold(a.Name, name) {
			return a, true
		}
	}
	return AnalyzerInfo{}, false
}

// AnalyzerConfig chooses the protocol analyzers, as a Zeek site does with
// its @load list, Analyzer::disable_analyzer and port redefinitions.
type AnalyzerConfig struct {
	// Loaded names the loaded analyzers (as "zeek -b" with an @load of
	// each protocol script); nil means all of them (Zeek's default
	// scripts). Only loaded analyzers identify services and contribute
	// likely server ports.
	Loaded []string
	// Disabled names loaded analyzers turned off at run time
	// (Analyzer::disable_analyzer): they identify nothing, but their
	// ports stay likely server ports.
	Disabled []string
	// Ports adds likely server ports to an analyzer, by name. A port of
	// an analyzer that speaks both TCP and UDP counts for both unless it
	// was given as "53/udp" (see ParseAnalyzerPorts).
	Ports map[string][]PortProto
}

// PortProto is a port with the transports it applies to.
type PortProto struct {
	Port     uint16
	TCP, UDP bool
}

// Validate reports unknown analyzer names.
func (c AnalyzerConfig) Validate() error {
	var errs []error
	check := func(what, name string) {
		if _, ok := LookupAnalyzer(name); !ok {
			errs = append(errs, fmt.Errorf("%w: %s: unknown analyzer %q", ErrBadAnalyzers, what, name))
		}
	}
	for _, n := range c.Loaded {
		check("analyzers", n)
	}
	for _, n := range c.Disabled {
		check("disable-analyzers", n)
	}
	for n := range c.Ports {
		check("analyzer-ports", n)
	}
	return errors.Join(errs...)
}

func (c AnalyzerConfig) loaded(a *AnalyzerInfo) bool {
	if c.Loaded == nil {
		return true
	}
	return slices.ContainsFunc(c.Loaded, func(n string) bool { return strings.EqualFold(n, a.Name) })
}

// ServerPorts returns the likely server ports: those of the loaded
// analyzers (disabled ones included), their extra ports, and the packet
// analyzers' UDP ports. Each list is sorted and without duplicates.
func (c AnalyzerConfig) ServerPorts() (tcp, udp []uint16) {
	tcp, udp = []uint16{}, slices.Clone(packetProtocolUDPPorts)
	for i := range analyzers {
		a := &analyzers[i]
		if !c.loaded(a) {
			continue
		}
		tcp = append(tcp, a.TCPPorts...)
		udp = append(udp, a.UDPPorts...)
		for name, ps := range c.Ports {
			if !strings.EqualFold(name, a.Name) {
				continue
			}
			for _, p := range ps {
				if p.TCP {
					tcp = append(tcp, p.Port)
				}
				if p.UDP {
					udp = append(udp, p.Port)
				}
			}
		}
	}
	slices.Sort(tcp)
	slices.Sort(udp)
	return slices.Compact(tcp), slices.Compact(udp)
}

// Services returns the Detector services of the loaded analyzers that are
// not disabled (see Detector.Restrict).
func (c AnalyzerConfig) Services() Set {
	var s Set
	for i := range analyzers {
		a := &analyzers[i]
		if !a.Detects || !c.loaded(a) {
			continue
		}
		if slices.ContainsFunc(c.Disabled, func(n string) bool { return strings.EqualFold(n, a.Name) }) {
			continue
		}
		s = s.Add(a.Service)
	}
	return s
}

// ParseAnalyzerList parses a comma-separated list of analyzer names
// ("HTTP,DNS"), checking each; "" and "none" give an empty, non-nil list
// (no protocol analyzer, as a bare "zeek -b").
func ParseAnalyzerList(s string) ([]string, error) {
	out := []string{}
	if strings.TrimSpace(s) == "none" {
		return out, nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, ok := LookupAnalyzer(f)
		if !ok {
			return nil, fmt.Errorf("%w: unknown analyzer %q", ErrBadAnalyzers, f)
		}
		out = append(out, a.Name)
	}
	return out, nil
}

// ParseAnalyzerPorts parses "NAME=PORT,PORT[/tcp|/udp],..." for one
// analyzer (--analyzer-ports HTTP=8080,8000). A port without a transport
// applies to the analyzer's transports (TCP for HTTP, both for DNS).
func ParseAnalyzerPorts(s string) (name string, ports []PortProto, err error) {
	name, list, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return "", nil, fmt.Errorf("%w: %q: want NAME=PORT,PORT", ErrBadAnalyzers, s)
	}
	a, ok := LookupAnalyzer(strings.TrimSpace(name))
	if !ok {
		return "", nil, fmt.Errorf("%w: unknown analyzer %q", ErrBadAnalyzers, name)
	}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		num, proto, _ := strings.Cut(f, "/")
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil || n == 0 {
			return "", nil, fmt.Errorf("%w: %s: bad port %q", ErrBadAnalyzers, a.Name, f)
		}
		p := PortProto{Port: uint16(n)}
		switch strings.ToLower(proto) {
		case "":
			p.TCP, p.UDP = len(a.TCPPorts) > 0 || len(a.UDPPorts) == 0, len(a.UDPPorts) > 0
		case "tcp":
			p.TCP = true
		case "udp":
			p.UDP = true
		default:
			return "", nil, fmt.Errorf("%w: %s: bad transport in %q", ErrBadAnalyzers, a.Name, f)
		}
		ports = append(ports, p)
	}
	return a.Name, ports, nil
}
