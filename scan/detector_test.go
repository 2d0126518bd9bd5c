package scan

import (
	"errors"
	"net/netip"
	"shoal/notice"
	"strconv"
	"strings"
	"testing"
	"time"

	"shoal/site"
)

var t0 = time.Unix(1508968601, 767055000).UTC()

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// host returns the i-th address of 10.1.0.0/16 (remote in these tests
// unless a case says otherwise).
func host(prefix string, i int) netip.Addr {
	return addr(prefix + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250+1))
}

func nets(t testing.TB, s string) site.Nets {
	t.Helper()
	n, err := site.ParseNets(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newDetector(t testing.TB, cfg Config) *Detector {
	t.Helper()
	d, err := NewDetector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestIsAttempt(t *testing.T) {
	cases := map[string]struct {
		history  string
		rejected bool
		want     bool
	}{
		"unanswered syn":               {"S", false, true},
		"zero window syn":              {"SW", false, true},
		"rejected":                     {"Sr", true, true},
		"zero window rejected":         {"SWr", true, true},
		"rejected history as attempt":  {"Sr", false, false},
		"attempt history as rejected":  {"S", true, false},
		"zero window as rejected":      {"SW", true, false},
		"backscatter syn-ack":          {"^h", false, false},
		"backscatter syn-ack rejected": {"Hr", true, false},
		"handshake then reset":         {"ShR", true, false},
		"handshake then reset attempt": {"ShR", false, false},
		"syn with data":                {"SD", false, false},
		"retransmitted syn rejected":   {"SSr", true, false},
		"empty":                        {"", false, false},
		"lower case":                   {"s", false, false},
		"originator reset":             {"SR", true, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := IsAttempt(tc.history, tc.rejected); got != tc.want {
				t.Errorf("IsAttempt(%q, %v) = %v, want %v", tc.history, tc.rejected, got, tc.want)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config invalid: %v", err)
	}
	d := newDetector(t, Config{ScanThreshold: 5})
	got := d.Config()
	want := DefaultConfig()
	want.ScanThreshold = 5
	if got.ScanThreshold != 5 || got.LocalScanThreshold != want.LocalScanThreshold ||
		got.KnockKnockThresholdWithDarknetHits != 3 || got.ScanTimeout != 15*time.Minute ||
		got.Suppression != time.Hour || got.WorkerDedup != time.Minute || got.MaxScanners != DefaultMaxScanners ||
		got.DarkHostThreshold != 3 || got.ScanThresholdWithDarknetHits != 10 || got.LocalScanThresholdWithDarknetHits != 100 ||
		got.KnockKnockThreshold != 20 {
		t.Errorf("defaults not applied: %+v", got)
	}
	bad := map[string]Config{
		"ScanThreshold":                      {ScanThreshold: -1},
		"LocalScanThreshold":                 {LocalScanThreshold: -1},
		"ScanThresholdWithDarknetHits":       {ScanThresholdWithDarknetHits: -1},
		"LocalScanThresholdWithDarknetHits":  {LocalScanThresholdWithDarknetHits: -2},
		"KnockKnockThreshold ":               {KnockKnockThreshold: -1},
		"KnockKnockThresholdWithDarknetHits": {KnockKnockThresholdWithDarknetHits: -1},
		"DarkHostThreshold ":                 {DarkHostThreshold: -1},
		"DarkHostThreshold 300":              {DarkHostThreshold: 300},
		"MaxScanners":                        {MaxScanners: -1},
		"ScanTimeout":                        {ScanTimeout: -time.Second},
		"Suppression":                        {Suppression: -time.Second},
		"WorkerDedup":                        {WorkerDedup: -time.Second},
	}
	for name, cfg := range bad {
		t.Run(name, func(t *testing.T) {
			err := cfg.Validate()
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), strings.Fields(name)[0]) {
				t.Errorf("Validate = %v, want ErrBadConfig naming %s", err, name)
			}
			if _, err := NewDetector(cfg); !errors.Is(err, ErrBadConfig) {
				t.Errorf("NewDetector = %v", err)
			}
			if _, err := NewWorkerFilter(cfg); !errors.Is(err, ErrBadConfig) {
				t.Errorf("NewWorkerFilter = %v", err)
			}
		})
	}
	if err := (Config{ScanThreshold: -1, Suppression: -1}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "ScanThreshold") || !strings.Contains(err.Error(), "Suppression") {
		t.Errorf("Validate should report every bad field: %v", err)
	}
}

func TestPortString(t *testing.T) {
	cases := map[string]struct {
		port  uint16
		proto uint8
		want  string
	}{
		"tcp":      {23, 6, "23/tcp"},
		"zero tcp": {80, 0, "80/tcp"},
		"udp":      {53, 17, "53/udp"},
		"icmp":     {8, 1, "8/icmp"},
		"icmp6":    {128, 58, "128/icmp"},
		"other":    {0, 132, "0/unknown"},
		"max":      {65535, 6, "65535/tcp"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := PortString(tc.port, tc.proto); got != tc.want {
				t.Errorf("PortString = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tg := func(victim string, port uint16) Target { return Target{Victim: addr(victim), Port: port, Proto: 6} }
	many := func(victims, ports int) []Target {
		var out []Target
		for v := range victims {
			for p := range ports {
				out = append(out, Target{Victim: host("10.9.", v), Port: uint16(1000 + p), Proto: 6})
			}
		}
		return out
	}
	cases := map[string]struct {
		targets []Target
		want    Classification
	}{
		"one port many hosts": {
			targets: []Target{tg("10.0.0.1", 23), tg("10.0.0.2", 23), tg("10.0.0.3", 23)},
			want:    Classification{Note: AddressScan, Text: "3 unique hosts on port 23/tcp", Port: 23, Proto: 6, HasP: true},
		},
		"one port one host": {
			targets: []Target{tg("10.0.0.1", 22)},
			want:    Classification{Note: AddressScan, Text: "1 unique hosts on port 22/tcp", Port: 22, Proto: 6, HasP: true},
		},
		"one host many ports": {
			targets: []Target{tg("192.168.2.22", 21), tg("192.168.2.22", 113), tg("192.168.2.22", 23)},
			want:    Classification{Note: PortScan, Text: "3 unique ports on host 192.168.2.22"},
		},
		"few ports many hosts": {
			targets: []Target{tg("10.0.0.1", 445), tg("10.0.0.2", 139), tg("10.0.0.3", 445), tg("10.0.0.4", 22)},
			want:    Classification{Note: AddressScan, Text: "4 unique hosts on ports 22/tcp, 139/tcp, 445/tcp"},
		},
		"five ports": {
			targets: many(6, 5),
			want:    Classification{Note: AddressScan, Text: "6 unique hosts on ports 1000/tcp, 1001/tcp, 1002/tcp, 1003/tcp, 1004/tcp"},
		},
		"few hosts many ports": {
			targets: []Target{
				tg("10.0.0.2", 1), tg("10.0.0.10", 2), tg("10.0.0.2", 3), tg("10.0.0.10", 4), tg("10.0.0.2", 5), tg("10.0.0.2", 6),
			},
			want: Classification{Note: PortScan, Text: "6 unique ports on hosts 10.0.0.2, 10.0.0.10"},
		},
		"five hosts six ports": {
			targets: many(5, 6),
			want:    Classification{Note: PortScan, Text: "6 unique ports on hosts 10.9.0.1, 10.9.0.2, 10.9.0.3, 10.9.0.4, 10.9.0.5"},
		},
		"random": {
			targets: many(6, 6),
			want:    Classification{Note: RandomScan, Text: "6 hosts on 6 ports"},
		},
		"ipv6 victim": {
			targets: []Target{tg("2001:db8::1", 80), tg("2001:db8::1", 443)},
			want:    Classification{Note: PortScan, Text: "2 unique ports on host 2001:db8::1"},
		},
		"proto distinguishes ports": {
			targets: []Target{{Victim: addr("10.0.0.1"), Port: 53, Proto: 6}, {Victim: addr("10.0.0.2"), Port: 53, Proto: 17}},
			want:    Classification{Note: AddressScan, Text: "2 unique hosts on ports 53/tcp, 53/udp"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Classify(tc.targets); got != tc.want {
				t.Errorf("Classify =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	cases := map[string]struct {
		dur  time.Duration
		kk   bool
		text string
		want string
	}{
		"zero":           {0, false, "5 unique hosts on port 23/tcp", "10.0.0.1 scanned at least 5 unique hosts on port 23/tcp in 0m0s"},
		"truncated":      {59*time.Second + 999*time.Millisecond, false, "x", "10.0.0.1 scanned at least x in 0m59s"},
		"one minute":     {time.Minute, false, "x", "10.0.0.1 scanned at least x in 1m0s"},
		"minutes":        {3*time.Minute + 34*time.Second + 700*time.Millisecond, false, "x", "10.0.0.1 scanned at least x in 3m34s"},
		"hours":          {2*time.Hour + 5*time.Second, false, "x", "10.0.0.1 scanned at least x in 120m5s"},
		"negative":       {-time.Second, false, "x", "10.0.0.1 scanned at least x in 0m0s"},
		"knock knock":    {14 * time.Second, true, "20 unique hosts on port 80/tcp", "kk: 10.0.0.1 scanned at least 20 unique hosts on port 80/tcp in 0m14s"},
		"random text kk": {0, true, "6 hosts on 7 ports", "kk: 10.0.0.1 scanned at least 6 hosts on 7 ports in 0m0s"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Message(addr("10.0.0.1"), tc.text, tc.dur, tc.kk); got != tc.want {
				t.Errorf("Message = %q, want %q", got, tc.want)
			}
		})
	}
}

// feed observes attempts from scanner to victims[i] on ports[i] at times[i]
// and returns the notices.
type obs struct {
	scanner, victim string
	port            uint16
	at              float64
}

func run(d *Detector, steps []obs) []notice.Notice {
	var out []notice.Notice
	for _, s := range steps {
		a := Attempt{TS: at(s.at), Scanner: addr(s.scanner), Victim: addr(s.victim), Port: s.port, Proto: 6}
		if n, ok := d.Observe(a, a.TS); ok {
			out = append(out, n)
		}
	}
	return out
}

// sweep returns n attempts from scanner: victims prefix+i on port, or one
// victim on ports base+i, one every step seconds from start.
func sweepHosts(scanner, prefix string, port uint16, n int, start, step float64) []obs {
	out := make([]obs, n)
	for i := range out {
		out[i] = obs{scanner, host(prefix, i).String(), port, start + float64(i)*step}
	}
	return out
}

func sweepPorts(scanner, victim string, base uint16, n int, start, step float64) []obs {
	out := make([]obs, n)
	for i := range out {
		out[i] = obs{scanner, victim, base + uint16(i), start + float64(i)*step}
	}
	return out
}

func TestThresholds(t *testing.T) {
	type want struct {
		after int // index (1-based count of attempts) at which the single notice fires; 0 none
		note  notice.Note
		msg   string
		sub   string
		p     uint16
	}
	cases := map[string]struct {
		cfg   func(*Config)
		steps []obs
		want  want
	}{
		"remote port scan at 25": {
			steps: sweepPorts("1.2.3.4", "10.0.0.1", 1, 30, 0, 1),
			want:  want{25, PortScan, "1.2.3.4 scanned at least 25 unique ports on host 10.0.0.1 in 0m24s", "remote", 0},
		},
		"remote below threshold": {
			steps: sweepPorts("1.2.3.4", "10.0.0.1", 1, 24, 0, 1),
		},
		"local port scan at 250": {
			cfg:   func(c *Config) { c.LocalNets = nets(t, "10.0.0.0/8") },
			steps: sweepPorts("10.5.5.5", "10.0.0.1", 1, 260, 0, 0.5),
			want:  want{250, PortScan, "10.5.5.5 scanned at least 250 unique ports on host 10.0.0.1 in 2m4s", "local", 0},
		},
		"local below threshold": {
			cfg:   func(c *Config) { c.LocalNets = nets(t, "10.0.0.0/8") },
			steps: sweepPorts("10.5.5.5", "10.0.0.1", 1, 249, 0, 0.5),
		},
		"remote knock knock at 20": {
			steps: sweepHosts("1.2.3.4", "10.1.", 80, 30, 0, 1),
			want:  want{20, AddressScan, "kk: 1.2.3.4 scanned at least 20 unique hosts on port 80/tcp in 0m19s", "remote", 80},
		},
		"local scanners never knock": {
			cfg:   func(c *Config) { c.LocalNets = nets(t, "1.2.3.0/24") },
			steps: sweepHosts("1.2.3.4", "10.1.", 80, 249, 0, 1),
		},
		"local address scan at 250": {
			cfg:   func(c *Config) { c.LocalNets = nets(t, "1.2.3.0/24") },
			steps: sweepHosts("1.2.3.4", "10.1.", 80, 250, 0, 1),
			want:  want{250, AddressScan, "1.2.3.4 scanned at least 250 unique hosts on port 80/tcp in 4m9s", "local", 80},
		},
		"knock knock and scan at once": {
			cfg:   func(c *Config) { c.ScanThreshold = 20 },
			steps: sweepHosts("1.2.3.4", "10.1.", 80, 20, 0, 0),
			want:  want{20, AddressScan, "kk: 1.2.3.4 scanned at least 20 unique hosts on port 80/tcp in 0m0s", "remote", 80},
		},
		"remote darknet lowers to 10": {
			cfg: func(c *Config) { c.Darknets = nets(t, "10.0.0.0/24") },
			// 3 darknet victims then other hosts, two ports each so knock-knock stays low.
			steps: append(append(sweepPorts("1.2.3.4", "10.0.0.1", 1, 1, 0, 0), sweepPorts("1.2.3.4", "10.0.0.2", 2, 1, 1, 0)...),
				append(sweepPorts("1.2.3.4", "10.0.0.3", 3, 1, 2, 0), sweepPorts("1.2.3.4", "10.7.0.1", 10, 20, 3, 1)...)...),
			want: want{10, PortScan, "1.2.3.4 scanned at least 10 unique ports on hosts 10.0.0.1, 10.0.0.2, 10.0.0.3, 10.7.0.1 in 0m9s", "remote", 0},
		},
		"two darknet hosts keep 25": {
			cfg: func(c *Config) { c.Darknets = nets(t, "10.0.0.0/24") },
			steps: append(append(sweepPorts("1.2.3.4", "10.0.0.1", 1, 1, 0, 0), sweepPorts("1.2.3.4", "10.0.0.2", 2, 1, 1, 0)...),
				sweepPorts("1.2.3.4", "10.7.0.1", 10, 30, 3, 1)...),
			want: want{25, PortScan, "1.2.3.4 scanned at least 25 unique ports on hosts 10.0.0.1, 10.0.0.2, 10.7.0.1 in 0m25s", "remote", 0},
		},
		"same darknet host twice counts once": {
			cfg: func(c *Config) { c.Darknets = nets(t, "10.0.0.0/24") },
			steps: append(sweepPorts("1.2.3.4", "10.0.0.1", 1, 3, 0, 0),
				sweepPorts("1.2.3.4", "10.7.0.1", 10, 30, 3, 1)...),
			want: want{25, PortScan, "1.2.3.4 scanned at least 25 unique ports on hosts 10.0.0.1, 10.7.0.1 in 0m24s", "remote", 0},
		},
		"darknet knock knock at 3": {
			cfg:   func(c *Config) { c.Darknets = nets(t, "10.1.0.0/16") },
			steps: sweepHosts("1.2.3.4", "10.1.", 445, 10, 0, 1),
			want:  want{3, AddressScan, "kk: 1.2.3.4 scanned at least 3 unique hosts on port 445/tcp in 0m2s", "remote", 445},
		},
		"local darknet lowers to 100": {
			cfg: func(c *Config) {
				c.Darknets = nets(t, "10.1.0.0/16")
				c.LocalNets = nets(t, "1.2.3.0/24")
			},
			steps: sweepHosts("1.2.3.4", "10.1.", 445, 120, 0, 1),
			want:  want{100, AddressScan, "1.2.3.4 scanned at least 100 unique hosts on port 445/tcp in 1m39s", "local", 445},
		},
		"duplicates do not count": {
			cfg: func(c *Config) { c.ScanThreshold = 3 },
			steps: []obs{
				{"1.2.3.4", "10.0.0.1", 22, 0}, {"1.2.3.4", "10.0.0.1", 22, 1}, {"1.2.3.4", "10.0.0.1", 22, 2},
				{"1.2.3.4", "10.0.0.1", 23, 3}, {"1.2.3.4", "10.0.0.1", 23, 4}, {"1.2.3.4", "10.0.0.1", 24, 5},
			},
			want: want{6, PortScan, "1.2.3.4 scanned at least 3 unique ports on host 10.0.0.1 in 0m5s", "remote", 0},
		},
		"random scan": {
			cfg: func(c *Config) { c.ScanThreshold = 36 },
			steps: func() []obs {
				var s []obs
				for v := range 6 {
					s = append(s, sweepPorts("1.2.3.4", host("10.3.", v).String(), 100, 6, float64(v), 0)...)
				}
				return s
			}(),
			want: want{36, RandomScan, "1.2.3.4 scanned at least 6 hosts on 6 ports in 0m5s", "remote", 0},
		},
		"scanners are independent": {
			cfg: func(c *Config) { c.ScanThreshold = 3 },
			steps: []obs{
				{"1.1.1.1", "10.0.0.1", 1, 0}, {"2.2.2.2", "10.0.0.1", 1, 0}, {"1.1.1.1", "10.0.0.1", 2, 1},
				{"2.2.2.2", "10.0.0.2", 1, 1}, {"2.2.2.2", "10.0.0.3", 1, 2},
			},
			want: want{5, AddressScan, "2.2.2.2 scanned at least 3 unique hosts on port 1/tcp in 0m2s", "remote", 1},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			d := newDetector(t, cfg)
			var got []notice.Notice
			firedAt := 0
			for i, s := range tc.steps {
				ns := run(d, []obs{s})
				if len(ns) > 0 && firedAt == 0 {
					firedAt = i + 1
				}
				got = append(got, ns...)
			}
			if tc.want.after == 0 {
				if len(got) != 0 {
					t.Fatalf("unexpected notices: %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d notices, want 1: %+v", len(got), got)
			}
			n := got[0]
			if firedAt != tc.want.after || n.Note != tc.want.note || n.Msg != tc.want.msg || n.Sub != tc.want.sub ||
				n.HasP != (tc.want.p != 0) || n.P != tc.want.p {
				t.Errorf("notice after %d attempts: %s %q %s p=%d/%v\nwant after %d: %s %q %s p=%d",
					firedAt, n.Note, n.Msg, n.Sub, n.P, n.HasP, tc.want.after, tc.want.note, tc.want.msg, tc.want.sub, tc.want.p)
			}
			if n.HasP && n.Proto != 6 || !n.HasP && n.Proto != 0 {
				t.Errorf("proto %d with HasP %v", n.Proto, n.HasP)
			}
			if n.Src.String() != n.Identifier || !n.TS.Equal(at(tc.steps[firedAt-1].at)) || n.Dst.IsValid() {
				t.Errorf("src %v identifier %q ts %v dst %v", n.Src, n.Identifier, n.TS, n.Dst)
			}
			st := d.Export(func(a netip.Addr) bool { return a == n.Src })
			if len(st.Scanners) != 1 || len(st.Scanners[0].Attempts) != 0 ||
				!st.Scanners[0].SuppressedUntil.Equal(n.TS.Add(time.Hour)) {
				t.Errorf("after the notice the scanner should have no state and be suppressed for 1h: %+v", st)
			}
		})
	}
}
