package site

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseNets(t *testing.T) {
	cases := map[string]struct {
		in      string
		want    string // canonical String
		wantErr string // substring of the error
	}{
		"single v4":           {in: "141.142.0.0/16", want: "141.142.0.0/16"},
		"spaces and order":    {in: " 192.168.0.0/16 , 10.0.0.0/8", want: "10.0.0.0/8,192.168.0.0/16"},
		"host bits masked":    {in: "10.1.2.3/8", want: "10.0.0.0/8"},
		"bare address":        {in: "192.168.2.22", want: "192.168.2.22/32"},
		"v6 and v4":           {in: "2001:db8::/32,10.0.0.0/8", want: "10.0.0.0/8,2001:db8::/32"},
		"covered dropped":     {in: "10.1.0.0/16,10.0.0.0/8,10.2.3.0/24", want: "10.0.0.0/8"},
		"duplicates":          {in: "10.0.0.0/8,10.0.0.0/8", want: "10.0.0.0/8"},
		"mapped prefix":       {in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		"bare v6":             {in: "fe80::1", want: "fe80::1/128"},
		"empty":               {in: "", wantErr: "empty list"},
		"blank":               {in: "   ", wantErr: "empty list"},
		"empty entry":         {in: "10.0.0.0/8,,192.168.0.0/16", wantErr: "entry 2 is empty"},
		"trailing comma":      {in: "10.0.0.0/8,", wantErr: "entry 2 is empty"},
		"garbage entry named": {in: "10.0.0.0/8, banana", wantErr: `entry 2 "banana"`},
		"bad length":          {in: "10.0.0.0/33", wantErr: `"10.0.0.0/33"`},
		"zone":                {in: "fe80::1%eth0", wantErr: "zones"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			n, err := ParseNets(tc.in)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseNets(%q) = %v, want error", tc.in, n)
				}
				if !errors.Is(err, ErrBadNets) {
					t.Errorf("error %v does not wrap ErrBadNets", err)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseNets(%q): %v", tc.in, err)
			}
			if got := n.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			// The canonical form parses back to itself.
			again, err := ParseNets(n.String())
			if err != nil || again.String() != n.String() {
				t.Errorf("round trip %q -> %q, %v", n.String(), again.String(), err)
			}
		})
	}
}

func TestContains(t *testing.T) {
	n, err := ParseNets("141.142.0.0/16,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		addr string
		want bool
	}{
		"inside v4":        {"141.142.220.118", true},
		"outside v4":       {"208.80.152.3", false},
		"edge low":         {"141.142.0.0", true},
		"edge high":        {"141.142.255.255", true},
		"just outside":     {"141.143.0.0", false},
		"mapped inside":    {"::ffff:141.142.1.1", true},
		"mapped outside":   {"::ffff:8.8.8.8", false},
		"inside v6":        {"2001:db8::1", true},
		"outside v6":       {"2001:db9::1", false},
		"v6 zone":          {"2001:db8::1%eth0", true},
		"v4 not in v6 set": {"32.1.13.184", false}, // 0x20010db8 as IPv4
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := n.Contains(netip.MustParseAddr(tc.addr)); got != tc.want {
				t.Errorf("Contains(%s) = %v, want %v", tc.addr, got, tc.want)
			}
		})
	}
	if (Nets{}).Contains(netip.MustParseAddr("10.0.0.1")) {
		t.Error("zero Nets contains an address")
	}
	if n.Contains(netip.Addr{}) {
		t.Error("invalid address is contained")
	}
}

func TestPrivateNets(t *testing.T) {
	p := PrivateNets()
	want := "10.0.0.0/8,100.64.0.0/10,127.0.0.0/8,169.254.0.0/16,172.16.0.0/12,192.168.0.0/16," +
		"224.0.0.0/24,239.0.0.0/8,240.0.0.0/4,::/128,::1/128,2001::/23,fc00::/7,fe80::/10" // 255.255.255.255/32 lies in 240/4
	if got := p.String(); got != want {
		t.Errorf("PrivateNets() = %q\nwant            %q", got, want)
	}
	cases := map[string]bool{
		"10.9.8.7": true, "172.31.255.255": true, "172.32.0.0": false, "192.168.4.149": true,
		"100.127.0.1": true, "100.128.0.1": false, "127.0.0.1": true, "169.254.1.1": true,
		"224.0.0.251": true, "224.0.1.1": false, "239.255.255.250": true, "250.1.1.1": true,
		"255.255.255.255": true, "141.142.220.118": false, "8.8.8.8": false,
		"2001:1::1": true, "2001:200::1": false, "fd00::1": true, "fe80::1": true, "ff02::fb": false,
		"2600::1": false, "::": true, "::1": true, "::2": false,
	}
	for a, want := range cases {
		if got := p.Contains(netip.MustParseAddr(a)); got != want {
			t.Errorf("PrivateNets().Contains(%s) = %v, want %v", a, got, want)
		}
	}
}

func TestUnionAndPrefixes(t *testing.T) {
	a, _ := ParseNets("141.142.0.0/16")
	u := a.Union(PrivateNets())
	if !u.Contains(netip.MustParseAddr("141.142.1.1")) || !u.Contains(netip.MustParseAddr("10.0.0.1")) {
		t.Errorf("union %s misses members", u)
	}
	if got, want := u.Len(), PrivateNets().Len()+1; got != want {
		t.Errorf("union Len = %d, want %d", got, want)
	}
	ps := a.Prefixes()
	ps[0] = netip.MustParsePrefix("1.0.0.0/8")
	if a.String() != "141.142.0.0/16" {
		t.Error("Prefixes returned internal storage")
	}
}

func TestParseMode(t *testing.T) {
	cases := map[string]struct {
		in   string
		want Mode
		err  bool
	}{
		"local":       {in: "local", want: LocalHosts},
		"remote":      {in: "remote", want: RemoteHosts},
		"all":         {in: "all", want: AllHosts},
		"none":        {in: "none", want: NoHosts},
		"zeek name":   {in: "REMOTE_HOSTS", want: RemoteHosts},
		"upper":       {in: "ALL", want: AllHosts},
		"no_hosts":    {in: "NO_HOSTS", want: NoHosts},
		"empty":       {in: "", err: true},
		"bogus":       {in: "some", err: true},
		"plural junk": {in: "locals", err: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := ParseMode(tc.in)
			if tc.err {
				if err == nil || !errors.Is(err, ErrBadMode) {
					t.Fatalf("ParseMode(%q) = %v, %v; want ErrBadMode", tc.in, m, err)
				}
				return
			}
			if err != nil || m != tc.want {
				t.Fatalf("ParseMode(%q) = %v, %v; want %v", tc.in, m, err, tc.want)
			}
			back, err := ParseMode(m.String())
			if err != nil || back != m {
				t.Errorf("round trip of %v: %v, %v", m, back, err)
			}
		})
	}
	if got := Mode(9).String(); got != "mode(9)" {
		t.Errorf("Mode(9).String() = %q", got)
	}
	var m Mode
	if err := m.UnmarshalText([]byte("remote")); err != nil || m != RemoteHosts {
		t.Errorf("UnmarshalText = %v, %v", m, err)
	}
	if b, err := AllHosts.MarshalText(); err != nil || string(b) != "all" {
		t.Errorf("MarshalText = %q, %v", b, err)
	}
	if _, err := Mode(7).MarshalText(); err == nil {
		t.Error("MarshalText of invalid mode succeeded")
	}
	if Mode(0) != LocalHosts {
		t.Error("zero Mode is not LocalHosts (Zeek's default)")
	}
}

func TestMatches(t *testing.T) {
	n, _ := ParseNets("141.142.0.0/16")
	local := netip.MustParseAddr("141.142.220.118")
	remote := netip.MustParseAddr("208.80.152.3")
	cases := map[string]struct {
		mode              Mode
		wantLocal, wantRm bool
	}{
		"local":  {LocalHosts, true, false},
		"remote": {RemoteHosts, false, true},
		"all":    {AllHosts, true, true},
		"none":   {NoHosts, false, false},
		"bogus":  {Mode(42), false, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := n.Matches(local, tc.mode); got != tc.wantLocal {
				t.Errorf("Matches(local, %v) = %v", tc.mode, got)
			}
			if got := n.Matches(remote, tc.mode); got != tc.wantRm {
				t.Errorf("Matches(remote, %v) = %v", tc.mode, got)
			}
		})
	}
}
