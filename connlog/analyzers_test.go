package connlog_test

import (
	"net/netip"
	"testing"
	"time"

	"shoal/flow"
	"shoal/packet"
	"shoal/service"
)

// TestAnalyzerPortsFlip checks the analyzer configuration's effect on the
// direction of a connection whose first packet comes from port 80 (a
// SYN-ACK): without HTTP loaded port 80 is not a likely server port and
// the sender stays the originator ("H"); with HTTP loaded, or loaded and
// disabled, Zeek flips it ("^h").
func TestAnalyzerPortsFlip(t *testing.T) {
	synack := &packet.Packet{TS: time.Unix(1700000000, 0), Src: netip.MustParseAddr("192.0.2.80"),
		Dst: netip.MustParseAddr("10.0.0.1"), SrcPort: 80, DstPort: 40000, Proto: packet.ProtoTCP,
		Flags: packet.FlagSYN | packet.FlagACK, Seq: 1, Ack: 100, Window: 1000, IPLen: 40}
	for name, tc := range map[string]struct {
		cfg     service.AnalyzerConfig
		history string
		orig    string
	}{
		"default scripts": {service.AnalyzerConfig{}, "^h", "10.0.0.1"},
		"without http":    {service.AnalyzerConfig{Loaded: []string{"DNS", "SSL"}}, "H", "192.0.2.80"},
		"http disabled":   {service.AnalyzerConfig{Disabled: []string{"HTTP"}}, "^h", "10.0.0.1"},
		"extra ports of an unloaded analyzer": {service.AnalyzerConfig{Loaded: []string{}, Ports: map[string][]service.PortProto{
			"HTTP": {{Port: 80, TCP: true}}}}, "H", "192.0.2.80"}, // HTTP not loaded: its extra ports do not count
	} {
		tcp, udp := tc.cfg.ServerPorts()
		var rec flow.Record
		tr := flow.NewTracker(flow.Config{ServerPorts: tcp, UDPServerPorts: udp,
			Handler: flow.Handler{Removed: func(r *flow.Record) { rec = *r }}})
		tr.Packet(synack)
		tr.Finish()
		if rec.History.String() != tc.history || rec.Orig.String() != tc.orig {
			t.Errorf("%s: history %q originator %v, want %q %s", name, rec.History, rec.Orig, tc.history, tc.orig)
		}
	}
}
