package flow_test

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"shoal/internal/zeekdata"
	"slices"
	"strings"
	"testing"
	"time"

	"shoal/flow"
	"shoal/ingest"
	"shoal/known"
	"shoal/packet"
	"shoal/site"
)

// zeekDir finds ../shared/zeek next to the module root.
func zeekDir(t testing.TB) string {
	t.Helper()
	return zeekdata.Path(t)
}

// zeekTime formats t as Zeek's ASCII writer prints a time: 6 decimals.
func zeekTime(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

// track reads a trace through ingest and the tracker, returning the
// Established events, the tracker and the ingest counters.
func track(t *testing.T, trace string, cfg flow.Config) ([]flow.Established, *flow.Tracker, ingest.Stats) {
	t.Helper()
	f, err := ingest.OpenFile(filepath.Join(zeekDir(t), "traces", trace))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := flow.NewTracker(cfg)
	var evs []flow.Established
	st, err := f.Run(context.Background(), func(p *packet.Packet) {
		if ev, ok := tr.Packet(p); ok {
			evs = append(evs, ev)
		}
	})
	if err != nil {
		t.Fatalf("%s: %v", trace, err)
	}
	return evs, tr, st
}

// TestWikipediaHandshakes checks the handshakes of the known-hosts case
// (README.md case notes).
func TestWikipediaHandshakes(t *testing.T) {
	evs, tr, st := track(t, "wikipedia.pcap", flow.Config{})
	if st.Packets != 136 || st.Malformed != 0 {
		t.Errorf("ingest stats %+v, want 136 packets, none malformed", st)
	}
	if len(evs) != 8 {
		t.Fatalf("%d established connections, want 8: %v", len(evs), evs)
	}
	first := map[netip.Addr]flow.Established{}
	perResp := map[string]int{}
	for _, ev := range evs {
		for _, h := range []netip.Addr{ev.Orig, ev.Resp} {
			if _, ok := first[h]; !ok {
				first[h] = ev
			}
		}
		if ev.Orig.String() != "141.142.220.118" || ev.RespPort != 80 {
			t.Errorf("unexpected handshake %+v", ev)
		}
		perResp[ev.Resp.String()]++
	}
	if want := map[string]int{"208.80.152.3": 6, "208.80.152.118": 1, "208.80.152.2": 1}; !equalMaps(perResp, want) {
		t.Errorf("handshakes per server %v, want %v", perResp, want)
	}
	for host, ts := range map[string]string{
		"141.142.220.118": "1300475168.783842",
		"208.80.152.118":  "1300475168.783842",
		"208.80.152.3":    "1300475168.915940",
		"208.80.152.2":    "1300475168.962628",
	} {
		ev, ok := first[netip.MustParseAddr(host)]
		if !ok {
			t.Errorf("%s never in a handshake", host)
			continue
		}
		if got := zeekTime(ev.TS); got != ts {
			t.Errorf("%s first at %s, want %s", host, got, ts)
		}
	}
	if ev := first[netip.MustParseAddr("208.80.152.2")]; ev.OrigPort != 35642 {
		t.Errorf("208.80.152.2 dated by source port %d, want 35642", ev.OrigPort)
	}
	for _, never := range []string{"173.192.163.128", "141.142.220.235"} {
		if ev, ok := first[netip.MustParseAddr(never)]; ok {
			t.Errorf("%s made known by %+v", never, ev)
		}
	}
	if s := tr.Stats(); s.Created != 10 || s.Established != 8 {
		t.Errorf("tracker stats %+v, want 10 TCP connections", s)
	}
}

func equalMaps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

type row struct{ ts, host string }

// knownHosts applies known-hosts.zeek to the events: both endpoints,
// filtered by the mode, deduplicated by the expiring set.
func knownHosts(evs []flow.Established, nets site.Nets, mode site.Mode) []row {
	hosts := known.NewSet[netip.Addr](known.DefaultExpiry)
	var rows []row
	for _, ev := range evs {
		for _, h := range []netip.Addr{ev.Orig, ev.Resp} {
			if nets.Matches(h, mode) && hosts.Observe(h, ev.TS) {
				rows = append(rows, row{zeekTime(ev.TS), h.String()})
			}
		}
	}
	return rows
}

// readLog returns the data rows (ts, host) of a Zeek known_hosts log.
func readLog(t *testing.T, path string) []row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 2 {
			t.Fatalf("%s: unexpected row %q", path, line)
		}
		rows = append(rows, row{fields[0], fields[1]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// sorted orders rows by ts then host: rows with equal ts may appear in
// either order in Zeek's output.
func sorted(rows []row) []row {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b row) int {
		if c := strings.Compare(a.ts, b.ts); c != 0 {
			return c
		}
		return strings.Compare(a.host, b.host)
	})
	return rows
}

func TestWikipediaKnownHosts(t *testing.T) {
	evs, _, _ := track(t, "wikipedia.pcap", flow.Config{})
	nets, err := site.ParseNets("141.142.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(zeekDir(t), "expected", "known-hosts")
	cases := map[string]struct {
		mode site.Mode
		file string
		n    int
	}{
		"local":  {site.LocalHosts, "known_hosts-local.v3.log", 1},
		"remote": {site.RemoteHosts, "known_hosts-remote.v3.log", 3},
		"all":    {site.AllHosts, "known_hosts-all.v3.log", 4},
		"none":   {site.NoHosts, "", 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := knownHosts(evs, nets, tc.mode)
			if len(got) != tc.n {
				t.Fatalf("%d rows, want %d: %v", len(got), tc.n, got)
			}
			if tc.file == "" {
				return
			}
			want := readLog(t, filepath.Join(dir, tc.file))
			if !slices.Equal(sorted(got), sorted(want)) {
				t.Errorf("rows\n got  %v\n want %v", sorted(got), sorted(want))
			}
			// The current (masked) baseline lists the same hosts.
			current := readLog(t, filepath.Join(dir, strings.Replace(tc.file, ".v3", "", 1)))
			var gotHosts, wantHosts []string
			for _, r := range got {
				gotHosts = append(gotHosts, r.host)
			}
			for _, r := range current {
				wantHosts = append(wantHosts, r.host)
			}
			slices.Sort(gotHosts)
			slices.Sort(wantHosts)
			if !slices.Equal(gotHosts, wantHosts) {
				t.Errorf("hosts %v, current baseline %v", gotHosts, wantHosts)
			}
		})
	}
}

// TestOtherTraces checks handshake counts that the README's case notes fix
// for the other traces.
func TestOtherTraces(t *testing.T) {
	cases := map[string]struct {
		cfg         flow.Config
		established int
		attempted   int // connections removed by the attempt timer by the end of input
	}{
		"http-get.pcap":               {established: 1}, // one SF connection
		"ftp-ipv4.pcap":               {established: 5}, // control + 4 data connections, all SF
		"google-duplicate.pcap":       {established: 2}, // two TLS connections
		"port_scan.pcap":              {attempted: 10},  // 10 unanswered SYNs
		"scan_with_zero_windows.pcap": {attempted: 10},  // unanswered zero-window SYNs
		// SYN-ACKs from port 80 and RSTs only. With port 80 a likely server
		// port (HTTP analyzer loaded) the SYN-ACK sender is the responder,
		// so nothing is an attempt either.
		"backscatter.trace":            {cfg: flow.Config{ServerPorts: []uint16{80}}},
		"single-rst.pcap":              {established: 0}, // R
		"syn-then-rst.pcap":            {established: 0}, // SR
		"syn-then-ack-then-rst.pcap":   {established: 0}, // SaR
		"syn-then-stuff-then-rst.pcap": {established: 0}, // SaFR
	}
	for trace, tc := range cases {
		t.Run(trace, func(t *testing.T) {
			evs, tr, _ := track(t, trace, tc.cfg)
			if len(evs) != tc.established {
				t.Errorf("%d established, want %d: %v", len(evs), tc.established, evs)
			}
			tr.Expire(tr.Now().Add(24 * time.Hour)) // end of input: all timers fire
			if s := tr.Stats(); int(s.Attempted) != tc.attempted || s.Flows != 0 {
				t.Errorf("after the end: %+v, want %d attempts and no flows", s, tc.attempted)
			}
		})
	}
}
