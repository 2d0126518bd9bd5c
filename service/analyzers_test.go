package service_test

import (
	"errors"
	"slices"
	"testing"

	"shoal/flow"
	"shoal/service"
)

// TestDefaultPortsAreFlows: with every analyzer loaded, the likely server
// ports are those flow uses by default (Zeek's default scripts).
func TestDefaultPortsAreFlows(t *testing.T) {
	tcp, udp := service.AnalyzerConfig{}.ServerPorts()
	wantTCP, wantUDP := flow.DefaultTCPServerPorts(), flow.DefaultUDPServerPorts()
	slices.Sort(wantTCP)
	slices.Sort(wantUDP)
	if !slices.Equal(tcp, slices.Compact(wantTCP)) || !slices.Equal(udp, slices.Compact(wantUDP)) {
		t.Errorf("tcp %v\nflow %v\nudp %v\nflow %v", tcp, wantTCP, udp, wantUDP)
	}
}

// TestLoadedAndDisabled: a port is a likely server port only for loaded
// analyzers; disabling an analyzer leaves its ports but stops detection,
// as Analyzer::disable_analyzer does.
func TestLoadedAndDisabled(t *testing.T) {
	withoutHTTP := service.AnalyzerConfig{Loaded: []string{"DNS", "SSL"}}
	tcp, udp := withoutHTTP.ServerPorts()
	if slices.Contains(tcp, 80) || !slices.Contains(tcp, 443) || !slices.Contains(udp, 53) || !slices.Contains(udp, 4789) {
		t.Errorf("loaded DNS, SSL: tcp %v udp %v", tcp, udp)
	}
	if s := withoutHTTP.Services(); s.Has(service.HTTP) || !s.Has(service.DNS) || !s.Has(service.SSL) {
		t.Errorf("services %v", s)
	}
	disabled := service.AnalyzerConfig{Disabled: []string{"http"}}
	tcp, _ = disabled.ServerPorts()
	if !slices.Contains(tcp, 80) || disabled.Services().Has(service.HTTP) || !disabled.Services().Has(service.SSH) {
		t.Errorf("HTTP disabled: tcp %v services %v", tcp, disabled.Services())
	}
	bare := service.AnalyzerConfig{Loaded: []string{}}
	tcp, udp = bare.ServerPorts()
	if len(tcp) != 0 || !slices.Equal(udp, []uint16{2123, 2152, 3544, 4789, 5072, 6081}) || bare.Services() != 0 {
		t.Errorf("zeek -b: tcp %v udp %v services %v", tcp, udp, bare.Services())
	}
	name, ports, err := service.ParseAnalyzerPorts("http=8081,8082/tcp")
	if err != nil || name != "HTTP" || len(ports) != 2 || !ports[0].TCP || ports[0].UDP {
		t.Fatalf("ParseAnalyzerPorts = %q %+v %v", name, ports, err)
	}
	extra := service.AnalyzerConfig{Loaded: []string{"HTTP"}, Ports: map[string][]service.PortProto{name: ports}}
	if tcp, _ := extra.ServerPorts(); !slices.Contains(tcp, 8081) || !slices.Contains(tcp, 8082) {
		t.Errorf("extra ports: %v", tcp)
	}
	_, dnsPorts, _ := service.ParseAnalyzerPorts("DNS=5300")
	if !dnsPorts[0].TCP || !dnsPorts[0].UDP {
		t.Errorf("DNS port without transport: %+v", dnsPorts[0])
	}
}

func TestAnalyzerConfigErrors(t *testing.T) {
	for _, s := range []string{"HTTP", "=80", "FOO=80", "HTTP=0", "HTTP=99999", "HTTP=80/sctp", "HTTP=x"} {
		if _, _, err := service.ParseAnalyzerPorts(s); !errors.Is(err, service.ErrBadAnalyzers) {
			t.Errorf("ParseAnalyzerPorts(%q) = %v", s, err)
		}
	}
	if _, err := service.ParseAnalyzerList("HTTP,NOPE"); !errors.Is(err, service.ErrBadAnalyzers) {
		t.Errorf("ParseAnalyzerList: %v", err)
	}
	if l, err := service.ParseAnalyzerList(" http , dns,"); err != nil || !slices.Equal(l, []string{"HTTP", "DNS"}) {
		t.Errorf("ParseAnalyzerList = %v %v", l, err)
	}
	if err := (service.AnalyzerConfig{Disabled: []string{"X"}}).Validate(); !errors.Is(err, service.ErrBadAnalyzers) {
		t.Errorf("Validate: %v", err)
	}
}
