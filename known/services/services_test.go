package services

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"shoal/analysis"
	"shoal/analysis/analysistest"
	"shoal/analysis/lawtest"
	"shoal/internal/wire"
	"shoal/service"
	"shoal/site"
	"shoal/traffic"
)

const parts = 5

var t0 = time.Unix(1300475168, 0)

func attach(t *testing.T, cfg Config, role analysis.Role, s analysis.Sender) analysis.Parts {
	t.Helper()
	p, err := New(cfg).Attach(analysis.Env{Node: "n", Role: role, Partitions: parts, Send: s})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func host(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }

func TestOwnerLaws(t *testing.T) {
	names := []string{"", "HTTP", "SSH", "DNS"}
	lawtest.Check(t, lawtest.Subject{
		New:        func() analysis.Owner { return attach(t, Config{}, analysis.RoleDatanode, nil).Owner },
		Partitions: parts,
		Event: func(r *rand.Rand) (wire.Type, []byte) {
			ev := Seen{TS: t0.Add(time.Duration(r.IntN(3600)) * time.Second).UnixNano(), Host: host(r.IntN(12)),
				Port: uint16(80 + r.IntN(3)), Proto: 6, Service: names[r.IntN(len(names))]}
			return TypeSeen, ev.AppendWire(nil)
		},
	})
}

// TestUnnamedAfterNamed: an unidentified service on a port is dropped once
// the port has a named one; before that it is logged.
func TestUnnamedAfterNamed(t *testing.T) {
	o := attach(t, Config{}, analysis.RoleDatanode, nil).Owner
	apply := func(svc string) int {
		ev := Seen{TS: t0.UnixNano(), Host: host(1), Port: 80, Proto: 6, Service: svc}
		b := ev.AppendWire(nil)
		part, _ := o.Partition(TypeSeen, b)
		var out analysis.Out
		if err := o.Apply(part, TypeSeen, b, t0, &out); err != nil {
			t.Fatal(err)
		}
		return len(out.Records)
	}
	if apply("HTTP") != 1 || apply("") != 0 || apply("HTTP") != 0 || apply("SSH") != 1 {
		t.Fatal("wrong decisions")
	}
}

// TestWorkerPendingAndMoved: a connection without identified service is
// offered 5 minutes later (or at Finish); identified ones at once; a
// moved partition is offered again.
func TestWorkerPendingAndMoved(t *testing.T) {
	var s analysistest.Sender
	w := attach(t, Config{Tracking: site.AllHosts}, analysis.RoleWorker, &s).Worker
	h := w.(traffic.ServiceHook)
	ctx := context.Background()
	h.Service(ctx, &traffic.Service{TS: t0, Host: host(1), Port: 80, Proto: 6, Services: service.Set(0).Add(service.HTTP)})
	h.Service(ctx, &traffic.Service{TS: t0, Host: host(2), Port: 81, Proto: 6})
	if got := s.Take(); len(got) != 1 || got[0].Event.(Seen).Service != "HTTP" {
		t.Fatalf("sent %+v", got)
	}
	w.Expire(ctx, t0.Add(EmptyServiceDelay-time.Second))
	if got := s.Take(); len(got) != 0 {
		t.Fatalf("held service sent early: %+v", got)
	}
	w.Expire(ctx, t0.Add(EmptyServiceDelay))
	if got := s.Take(); len(got) != 1 || got[0].Event.(Seen).Host != host(2) || got[0].Event.(Seen).Service != "" {
		t.Fatalf("held service: %+v", got)
	}
	k := host(1).As16()
	moved := make([]bool, parts)
	moved[analysis.Partition(k[:], parts)] = true
	w.Moved(moved)
	h.Service(ctx, &traffic.Service{TS: t0, Host: host(1), Port: 80, Proto: 6, Services: service.Set(0).Add(service.HTTP)})
	if got := s.Take(); len(got) != 1 {
		t.Fatalf("moved partition not offered again: %+v", got)
	}
	h.Service(ctx, &traffic.Service{TS: t0, Host: host(3), Port: 1, Proto: 17})
	w.Finish(ctx)
	if got := s.Take(); len(got) != 1 || got[0].Event.(Seen).Host != host(3) {
		t.Fatalf("Finish did not send the held service: %+v", got)
	}
}

func TestSettingsHashCoversEveryField(t *testing.T) {
	analysistest.CheckSettingsHash(t, New(Config{}).Settings())
}

// The owner applies the tracking mode itself (by responder).
func TestOwnerAppliesTracking(t *testing.T) {
	o := attach(t, Config{}, analysis.RoleDatanode, nil).Owner
	ev := Seen{TS: t0.UnixNano(), Host: netip.MustParseAddr("8.8.8.8"), Port: 53, Proto: 17, Service: "DNS"}.AppendWire(nil)
	part, err := o.Partition(TypeSeen, ev)
	if err != nil {
		t.Fatal(err)
	}
	var out analysis.Out
	if err := o.Apply(part, TypeSeen, ev, t0, &out); err != nil || len(out.Records) != 0 {
		t.Fatalf("a remote responder under local tracking: records %+v, err %v", out.Records, err)
	}
}
