package software

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"shoal/analysis"
	"shoal/analysis/analysistest"
	"shoal/analysis/lawtest"
	"shoal/internal/wire"
	"shoal/notice"
	"shoal/service"
	"shoal/site"
	"shoal/traffic"
	"shoal/zeeklog"
)

const testParts = 7

func attach(t *testing.T, cfg Config, role analysis.Role, s analysis.Sender) analysis.Parts {
	t.Helper()
	p, err := New(cfg).Attach(analysis.Env{Node: "n1", Role: role, Partitions: testParts, Send: s})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestModuleEvents(t *testing.T) {
	m := New(Config{})
	if err := analysis.CheckEvents([]analysis.Module{notice.New(), m}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Attach(analysis.Env{Role: analysis.RoleWorker, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Attach(analysis.Env{Role: analysis.RoleWorker, Partitions: 1}); !errors.Is(err, analysis.ErrAttached) {
		t.Fatalf("second Attach: %v", err)
	}
	if _, err := New(Config{Tracking: 9}).Attach(analysis.Env{Role: analysis.RoleWorker, Partitions: 1}); err == nil {
		t.Fatal("bad tracking mode accepted")
	}
}

func subject(t *testing.T) lawtest.Subject {
	hosts := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("2001:db8::4")}
	t0 := time.Unix(1700000000, 0)
	return lawtest.Subject{
		New: func() analysis.Owner {
			return attach(t, Config{MaxVersions: 3, Tracking: site.AllHosts}, analysis.RoleDatanode, nil).Owner
		},
		Partitions: testParts,
		Event: func(r *rand.Rand) (wire.Type, []byte) {
			name := []string{"Apache", "OpenSSH"}[r.IntN(2)]
			i := Info{TS: t0.Add(time.Duration(r.IntN(7200)) * time.Second), Host: hosts[r.IntN(len(hosts))],
				Type: HTTPServer, Name: name, Unparsed: name + "/" + string(rune('0'+r.IntN(6)))}
			return TypeFound, Found{i}.AppendWire(nil)
		},
	}
}

func TestOwnerLaws(t *testing.T) { lawtest.Check(t, subject(t)) }

// TestModulePath runs one fact through the worker, owner and manager
// sides as the node wires them: a browser's User-Agent becomes a
// detection hashed by host, a software.log record, then a row; the same
// fact again is suppressed; after its partition moved it is sent again and
// not logged again; a new version raises the notice for an interesting name.
func TestModulePath(t *testing.T) {
	cfg := Config{Tracking: site.AllHosts, Interesting: []string{"Firefox"}}
	var sent analysistest.Sender
	w := attach(t, cfg, analysis.RoleWorker, &sent).Worker
	o := attach(t, cfg, analysis.RoleDatanode, nil).Owner
	m := attach(t, cfg, analysis.RoleManager, nil).Manager
	hook, ok := w.(traffic.FactHook)
	if !ok {
		t.Fatal("worker side is not a traffic.FactHook")
	}
	ctx := context.Background()
	t0 := time.Unix(1700000000, 0)
	orig := netip.MustParseAddr("192.0.2.7")
	fact := func(ua string, at time.Time) {
		hook.Fact(ctx, &traffic.Fact{TS: at, Orig: orig, Resp: netip.MustParseAddr("198.51.100.1"), RespPort: 80,
			Fact: service.Fact{Kind: service.HTTPUserAgent, Value: ua}})
	}
	fact("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", t0)
	fact("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", t0.Add(time.Second))
	key := hostKey(orig)
	part := analysis.Partition(key[:], testParts)
	moved := make([]bool, testParts)
	moved[part] = true
	if n := w.Moved(moved); n != 1 {
		t.Fatalf("Moved dropped %d entries, want 1", n)
	}
	fact("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", t0.Add(2*time.Second))
	fact("Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0", t0.Add(3*time.Second))
	evs := sent.Take()
	if len(evs) != 3 {
		t.Fatalf("%d events sent, want 3", len(evs))
	}
	var rows []analysis.Row
	var notices []notice.Record
	for _, s := range evs {
		if s.To != analysis.RoleDatanode || s.Part != part {
			t.Fatalf("sent to %v partition %d, want datanode %d", s.To, s.Part, part)
		}
		payload := s.Event.AppendWire(nil)
		p, err := o.Partition(s.Event.WireType(), payload)
		if err != nil || p != part {
			t.Fatalf("owner partition %d %v", p, err)
		}
		var out analysis.Out
		if err := o.Apply(p, s.Event.WireType(), payload, time.Time{}, &out); err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			switch ev := r.Event.(type) {
			case Record:
				if err := m.Rows("dn", ev.WireType(), ev.AppendWire(nil), time.Time{}, &rows); err != nil {
					t.Fatal(err)
				}
			case notice.Record:
				notices = append(notices, ev)
			}
		}
	}
	if len(rows) != 2 || rows[0].Path != "software" || !reflect.DeepEqual(rows[1].Values[5], zeeklog.Count(122)) {
		t.Fatalf("rows %v", rows)
	}
	if len(notices) != 1 || notices[0].Msg != "1700000003.000000 HTTP::BROWSER 'Firefox' version changed from 121.0 to 122.0" ||
		notices[0].Sub != "Firefox 122.0" || notices[0].Src != orig || notices[0].SuppressFor != time.Hour {
		t.Fatalf("notices %+v", notices)
	}
}

// TestSendFailure: a detection that could not be sent is not cached, so it
// is sent when it is found again.
func TestSendFailure(t *testing.T) {
	sent := analysistest.Sender{Fail: errors.New("no datanode")}
	w := attach(t, Config{Tracking: site.AllHosts}, analysis.RoleWorker, &sent).Worker
	hook := w.(traffic.FactHook)
	f := &traffic.Fact{TS: time.Unix(1700000000, 0), Orig: netip.MustParseAddr("192.0.2.7"),
		Fact: service.Fact{Kind: service.SSHClient, Value: "SSH-2.0-OpenSSH_9.6"}}
	hook.Fact(context.Background(), f)
	sent.Fail = nil
	hook.Fact(context.Background(), f)
	if n := len(sent.Take()); n != 1 {
		t.Fatalf("%d sent after the failure, want 1", n)
	}
}

// The owner applies the tracking mode itself: a detection outside it (a
// worker's mistake, or a forged event) makes no record and is counted; a
// forced one (Software::found's force_log) is registered whatever the mode.
func TestOwnerAppliesTracking(t *testing.T) {
	o := attach(t, Config{}, analysis.RoleDatanode, nil).Owner // local: the private ranges
	t0 := time.Unix(1700000000, 0)
	remote := Info{TS: t0, Host: netip.MustParseAddr("8.8.8.8"), Type: HTTPServer, Name: "Apache", Unparsed: "Apache/2"}
	forced := remote
	forced.ForceLog = true
	for _, tc := range []struct {
		i       Info
		records int
	}{{remote, 0}, {forced, 1}} {
		payload := Found{tc.i}.AppendWire(nil)
		part, err := o.Partition(TypeFound, payload)
		if err != nil {
			t.Fatal(err)
		}
		var out analysis.Out
		if err := o.Apply(part, TypeFound, payload, t0, &out); err != nil || len(out.Records) != tc.records {
			t.Fatalf("force_log %v: records %+v, err %v; want %d", tc.i.ForceLog, out.Records, err, tc.records)
		}
	}
	found := false
	for _, c := range o.Counters() {
		if c.Name == "received_untracked" {
			found = true
			if c.Value != 1 {
				t.Fatalf("received_untracked = %d, want 1", c.Value)
			}
		}
	}
	if !found {
		t.Fatal("no received_untracked counter")
	}
}
