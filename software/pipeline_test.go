package software

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"shoal/flow"
	"shoal/ingest"
	"shoal/internal/zeekdata"
	"shoal/packet"
	"shoal/service"
	"shoal/site"
)

// pipeline is a worker and a datanode in one process: the connection
// tracker with the payload analyzers, FromFact, Worker.Found and
// Owner.Apply, as the cluster runs them on separate nodes.
type pipeline struct {
	t       *testing.T
	tracker *flow.Tracker
	w       *Worker
	o       *Owner
	logged  []Info
	changes []*VersionChange
	facts   []service.Fact
}

type connAnalyzer struct {
	p       *pipeline
	started bool
	d       service.Detector
	f       service.Facts
}

func (a *connAnalyzer) Packet(c *flow.Conn, fromOrig bool, pk *packet.Packet) {
	if !a.started {
		a.started = true
		a.d.SetPartial(c.Proto() == packet.ProtoTCP && !pk.Has(packet.FlagSYN))
	}
	seq := pk.Seq
	if pk.Has(packet.FlagSYN) {
		seq++
	}
	if pk.Has(packet.FlagRST) || len(pk.Payload) == 0 {
		return
	}
	a.d.Packet(c.Proto(), fromOrig, seq, pk.Payload)
	a.p.facts = a.f.Packet(&a.d, c.Proto(), fromOrig, seq, pk.Payload, a.p.facts[:0])
	a.p.found(c, pk.TS)
}

func (a *connAnalyzer) Done(c *flow.Conn) {
	a.p.facts = a.f.Finish(a.p.facts[:0])
	a.p.found(c, a.p.tracker.Now())
}

func (p *pipeline) found(c *flow.Conn, ts time.Time) {
	orig, _ := c.Orig()
	resp, port := c.Resp()
	for k := range p.facts {
		for _, i := range FromFact(nil, &p.facts[k], Conn{Orig: orig, Resp: resp, RespPort: port}, p.w.Config()) {
			part := int(i.Host.As16()[15]) % 7
			sent, ok := p.w.Found(part, i, ts)
			if !ok {
				continue
			}
			// The datanode decodes what the worker encoded.
			got, _, err := DecodeInfo(AppendInfo(nil, &sent))
			if err != nil {
				p.t.Fatal(err)
			}
			r := p.o.Apply(part, got, got.TS)
			if r.Log {
				p.logged = append(p.logged, got)
			}
			if r.Change != nil {
				p.changes = append(p.changes, r.Change)
			}
		}
	}
}

func runTrace(t *testing.T, name string, cfg WorkerConfig) *pipeline {
	t.Helper()
	p := &pipeline{t: t, w: NewWorker(cfg), o: NewOwner(OwnerConfig{})}
	fc := flow.DefaultConfig()
	fc.Handler.NewConn = func(c *flow.Conn) { c.Analyzer = &connAnalyzer{p: p} }
	p.tracker = flow.NewTracker(fc)
	f, err := ingest.OpenFile(filepath.Join(zeekdata.Path(t), "traces", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Run(context.Background(), func(pk *packet.Packet) { p.tracker.Packet(pk) }); err != nil {
		t.Fatal(err)
	}
	p.tracker.Finish()
	return p
}

// TestHTTPFlashCase is Zeek's software-http-flash case: flash-version.pcap
// with asset tracking ALL gives the browser, its Flash plugin and the
// server, equal to the baseline in every column (times are masked there;
// here they are the packets' times).
func TestHTTPFlashCase(t *testing.T) {
	p := runTrace(t, "flash-version.pcap", WorkerConfig{Tracking: site.AllHosts})
	want := readBaseline(t, "software-http-flash/software.log")
	got := renderRows(t, p.logged)
	if len(got) != len(want.Rows) || len(got) != 3 {
		t.Fatalf("%d rows %q, want %d", len(got), got, len(want.Rows))
	}
	for k := range got {
		if !slices.Equal(got[k][1:], want.Rows[k][1:]) {
			t.Errorf("row %d\n got  %q\n want %q", k, got[k], want.Rows[k])
		}
	}
	if got[0][0] != "1320279616.824058" || got[2][0] != "1320279616.907315" {
		t.Errorf("times %s %s %s", got[0][0], got[1][0], got[2][0])
	}
	// With the default tracking (local hosts) and Zeek's default local nets
	// (the private ranges), only the browser side, 192.168.2.76, is tracked.
	p = runTrace(t, "flash-version.pcap", WorkerConfig{Nets: site.PrivateNets()})
	if len(p.logged) != 2 || p.logged[0].Host.String() != "192.168.2.76" || p.logged[1].Host.String() != "192.168.2.76" {
		t.Errorf("local tracking: %q", renderRows(t, p.logged))
	}
	if p.w.Untracked != 1 {
		t.Errorf("untracked %d, want 1", p.w.Untracked)
	}
}

// TestVarServicesTrace runs the SSH and HTTP connections of
// var-services-std-ports.pcap: each (host, name, version) is logged once,
// the repeated requests and replies are suppressed by the worker's cache
// (three of them), and OpenSSH_5.8p1 on 172.16.238.131, seen first as its
// server and later as its client, is one version of one name there, as in
// Zeek, whose sets are kept per host and name whatever the type.
func TestVarServicesTrace(t *testing.T) {
	p := runTrace(t, "var-services-std-ports.pcap", WorkerConfig{Tracking: site.AllHosts})
	var got []string
	for _, r := range renderRows(t, p.logged) {
		got = append(got, r[1]+" "+r[2]+" "+r[3]+" "+r[4]+" "+r[5]+"."+r[6]+"."+r[7]+" "+r[9]+" | "+r[10])
	}
	want := []string{
		"172.16.238.1 - SSH::CLIENT OpenSSH 5.2.- - | OpenSSH_5.2",
		"172.16.238.131 22 SSH::SERVER OpenSSH 5.8.- p1 | OpenSSH_5.8p1 Debian-1ubuntu3",
		"172.16.238.1 - HTTP::BROWSER Chrome 12.0.742 - | " + "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_6_8) AppleWebKit/534.30 (KHTML, like Gecko) Chrome/12.0.742.100 Safari/534.30",
		"172.16.238.131 80 HTTP::SERVER Apache 2.2.17 Ubuntu | Apache/2.2.17 (Ubuntu)",
		"172.16.238.131 - HTTP::BROWSER Firefox 5.0.- - | Mozilla/5.0 (X11; Linux i686; rv:5.0) Gecko/20100101 Firefox/5.0",
		"74.125.225.81 80 HTTP::SERVER gws -.-.- - | gws",
		"74.125.225.81 80 HTTP::SERVER Golfe -.-.- - | Golfe",
		"141.142.192.39 22 SSH::SERVER OpenSSH 4.3.- - | OpenSSH_4.3",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if p.w.Suppressed != 3 {
		t.Errorf("suppressed %d, want 3", p.w.Suppressed)
	}
}
