package service

import (
	"net/netip"
	"testing"
)

func TestFTPParsers(t *testing.T) {
	ap := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	for _, tc := range []struct {
		name string
		f    func(string) (netip.AddrPort, bool)
		in   string
		want netip.AddrPort
		ok   bool
	}{
		{"port", ParseFTPPort, "199,233,217,249,221,90", ap("199.233.217.249:56666"), true},
		{"port blanks", ParseFTPPort, " 10, 0,0,1,0,21", ap("10.0.0.1:21"), true},
		{"port byte too big", ParseFTPPort, "10,0,0,256,0,21", netip.AddrPort{}, false},
		{"port short", ParseFTPPort, "10,0,0,1,0", netip.AddrPort{}, false},
		{"pasv parens", ParseFTPPASV, "Entering Passive Mode (199,233,217,249,221,90).", ap("199.233.217.249:56666"), true},
		{"pasv bare list", ParseFTPPASV, "Entering Passive Mode 199,233,217,249,221,91", ap("199.233.217.249:56667"), true},
		{"pasv no address", ParseFTPPASV, "Entering Passive Mode", netip.AddrPort{}, false},
		{"epsv", ParseFTPEPSV, "Entering Extended Passive Mode (|||6446|)", netip.AddrPortFrom(netip.Addr{}, 6446), true},
		{"epsv other delimiter", ParseFTPEPSV, "ok (!!!6446!)", netip.AddrPortFrom(netip.Addr{}, 6446), true},
		{"epsv garbage", ParseFTPEPSV, "(|x|6446|)", netip.AddrPort{}, false},
		{"eprt v4", ParseFTPEPRT, "|1|132.235.1.2|6275|", ap("132.235.1.2:6275"), true},
		{"eprt v6", ParseFTPEPRT, "|2|1080::8:800:200c:417a|5282|", ap("[1080::8:800:200c:417a]:5282"), true},
		{"eprt family mismatch", ParseFTPEPRT, "|1|::1|5282|", netip.AddrPort{}, false},
	} {
		got, ok := tc.f(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s: %q -> %v %v, want %v %v", tc.name, tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFTPControl(t *testing.T) {
	client, server := netip.MustParseAddr("141.142.220.235"), netip.MustParseAddr("199.233.217.249")
	var f FTPControl
	var got []FTPData
	fn := func(d FTPData) { got = append(got, d) }
	seq := [2]uint32{100, 500}
	feed := func(orig bool, s string) {
		i := 1
		if orig {
			i = 0
		}
		f.Packet(orig, seq[i], []byte(s), client, server, fn)
		seq[i] += uint32(len(s))
	}
	feed(true, "USER anonymous\r\nPA")
	feed(true, "SV\r\n")
	feed(false, "227 Entering Passive Mode (199,233,217,249,221,90)\r\n")
	feed(true, "PORT 141,142,220,235,131,46\r\n")
	seq[0] -= 29
	feed(true, "PORT 141,142,220,235,131,46\r\n") // retransmitted: seen once
	feed(false, "229 Extended (|||6446|)\r\n")
	want := []FTPData{
		{Orig: client, Resp: server, RespPort: 56666, Passive: true},
		{Orig: server, Resp: client, RespPort: 33582},
		{Orig: client, Resp: server, RespPort: 6446, Passive: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
