package zeekin

import (
	"net/netip"
	"testing"
)

func TestEstablishedHosts(t *testing.T) {
	a, b := netip.MustParseAddr("141.142.220.118"), netip.MustParseAddr("208.80.152.3")
	cases := map[string]struct {
		proto, history string
		orig, resp     netip.Addr
		want           bool
	}{
		"full handshake":            {"tcp", "ShADad", a, b, true},
		"handshake then reset":      {"tcp", "ShR", a, b, true},
		"handshake and fin":         {"tcp", "ShADadFf", a, b, true},
		"mid-stream":                {"tcp", "DdA", a, b, false},
		"lone SYN-ACK, flipped":     {"tcp", "^h", a, b, false},
		"SYN only":                  {"tcp", "S", a, b, false},
		"SYN rejected":              {"tcp", "Sr", a, b, false},
		"SYN-ACK before SYN":        {"tcp", "hS", a, b, false},
		"SYN then bare ACK":         {"tcp", "SaR", a, b, false},
		"originator SYN-ACK only":   {"tcp", "SH", a, b, false},
		"udp never counts":          {"udp", "Sh", a, b, false},
		"icmp never counts":         {"icmp", "Sh", a, b, false},
		"unset history":             {"tcp", "", a, b, false},
		"unset originator address":  {"tcp", "ShADad", netip.Addr{}, b, false},
		"unset responder address":   {"tcp", "ShADad", a, netip.Addr{}, false},
		"retransmitted SYN history": {"tcp", "ShAdDaTt", a, b, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := &Conn{Proto: tc.proto, History: tc.history, OrigH: tc.orig, RespH: tc.resp}
			o, r, ok := EstablishedHosts(c)
			if ok != tc.want {
				t.Fatalf("ok = %v, want %v", ok, tc.want)
			}
			if ok && (o != tc.orig || r != tc.resp) {
				t.Errorf("hosts %v %v", o, r)
			}
			if !ok && (o.IsValid() || r.IsValid()) {
				t.Errorf("hosts %v %v returned with ok=false", o, r)
			}
		})
	}
}

// TestEstablishedHostsWikipedia: of the 34 rows of the wikipedia conn.log,
// exactly the 8 ShADad rows count.
func TestEstablishedHostsWikipedia(t *testing.T) {
	r := readAll(t, expected(t, "conn-wikipedia", "conn.log"))
	n := 0
	for _, c := range r.conns {
		if _, _, ok := EstablishedHosts(c); ok {
			n++
			if c.History != "ShADad" {
				t.Errorf("row with history %q counted", c.History)
			}
		}
	}
	if n != 8 {
		t.Errorf("%d rows count, want 8", n)
	}
}
