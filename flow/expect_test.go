package flow_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"shoal/flow"
	"shoal/packet"
)

// TestExpect checks expected connections (Zeek's schedule_analyzer, used
// for ftp-data): a matching new connection gets the service, from the
// given originator or any, until the expectation expires.
func TestExpect(t *testing.T) {
	r := newTunRun(t, flow.Config{})
	syn := func(src, dst string, sport, dport uint16) []byte {
		return frame(t, ethernet(layers.EthernetTypeIPv4), v4(src, dst, layers.IPProtocolTCP),
			&layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1, SYN: true, Window: 10})
	}
	r.feed(syn("10.0.0.2", "10.0.0.1", 30000, 21)) // the control connection sets network time
	server, client := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	r.tr.Expect(flow.Expectation{Orig: server, Resp: client, RespPort: 5000, Proto: packet.ProtoTCP,
		Service: "ftp-data", TTL: 5 * time.Minute})
	r.tr.Expect(flow.Expectation{Resp: server, RespPort: 6000, Proto: packet.ProtoTCP, Service: "ftp-data", TTL: time.Minute})
	r.feed(syn("10.0.0.1", "10.0.0.2", 20, 5000), // active data connection
		syn("10.0.0.3", "10.0.0.2", 20, 5000),    // another originator: no
		syn("10.0.0.9", "10.0.0.1", 40000, 6000), // any originator
		syn("10.0.0.2", "10.0.0.1", 40001, 6001)) // another port: no
	r.now = r.now.Add(2 * time.Minute)
	r.feed(syn("10.0.0.9", "10.0.0.1", 40002, 6000)) // expired
	r.tr.Finish()
	want := map[uint16]string{21: "", 5000: "ftp-data", 6000: "ftp-data", 6001: ""}
	for _, rec := range r.recs {
		w := want[rec.RespPort]
		if rec.RespPort == 5000 && rec.Orig.String() == "10.0.0.3" || rec.OrigPort == 40002 {
			w = ""
		}
		if rec.Service.String() != w {
			t.Errorf("%v:%d -> %v:%d service %q, want %q", rec.Orig, rec.OrigPort, rec.Resp, rec.RespPort, rec.Service, w)
		}
	}
	if len(r.recs) != 6 {
		t.Errorf("%d records", len(r.recs))
	}
}
