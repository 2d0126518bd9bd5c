package certs

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
	"shoal/traffic"
)

const parts = 5

var t0 = time.Unix(1394747126, 0)

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
	lawtest.Check(t, lawtest.Subject{
		New:        func() analysis.Owner { return attach(t, Config{}, analysis.RoleDatanode, nil).Owner },
		Partitions: parts,
		Event: func(r *rand.Rand) (wire.Type, []byte) {
			ev := Seen{TS: t0.Add(time.Duration(r.IntN(3600)) * time.Second).UnixNano(), Host: host(r.IntN(12)),
				Port: 443, Subject: "CN=x", SHA1: [20]byte{byte(r.IntN(3))}}
			return TypeSeen, ev.AppendWire(nil)
		},
	})
}

func TestWorkerAndOwner(t *testing.T) {
	var s analysistest.Sender
	w := attach(t, Config{}, analysis.RoleWorker, &s).Worker
	ctx := context.Background()
	leaf := &service.Cert{Subject: "CN=a", Issuer: "CN=b", Serial: "01", SHA1: [20]byte{1}}
	for range 2 {
		w.(traffic.CertHook).Cert(ctx, &traffic.Cert{TS: t0, Host: host(1), Port: 443, Leaf: leaf})
	}
	w.(traffic.CertHook).Cert(ctx, &traffic.Cert{TS: t0, Host: netip.MustParseAddr("198.51.100.1"), Port: 443, Leaf: leaf})
	sent := s.Take()
	if len(sent) != 1 {
		t.Fatalf("sent %+v, want one candidate (cached once, remote server not tracked)", sent)
	}
	o := attach(t, Config{}, analysis.RoleDatanode, nil).Owner
	b := sent[0].Event.(Seen).AppendWire(nil)
	part, _ := o.Partition(TypeSeen, b)
	if part != sent[0].Part {
		t.Fatalf("owner partition %d, worker sent to %d", part, sent[0].Part)
	}
	var out analysis.Out
	for range 2 {
		if err := o.Apply(part, TypeSeen, b, t0, &out); err != nil {
			t.Fatal(err)
		}
	}
	if len(out.Records) != 1 {
		t.Fatalf("records %+v", out.Records)
	}
	var rows []analysis.Row
	m := attach(t, Config{}, analysis.RoleManager, nil).Manager
	if err := m.Rows("dn", TypeRecord, out.Records[0].Event.AppendWire(nil), t0, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || len(rows[0].Values) != len(Fields) {
		t.Fatalf("rows %+v", rows)
	}
}

func TestSettingsHashCoversEveryField(t *testing.T) {
	analysistest.CheckSettingsHash(t, New(Config{}).Settings())
}

// The owner applies the tracking mode itself (by server).
func TestOwnerAppliesTracking(t *testing.T) {
	o := attach(t, Config{}, analysis.RoleDatanode, nil).Owner
	ev := Seen{TS: t0.UnixNano(), Host: netip.MustParseAddr("8.8.8.8"), Port: 443, Subject: "CN=x"}.AppendWire(nil)
	part, err := o.Partition(TypeSeen, ev)
	if err != nil {
		t.Fatal(err)
	}
	var out analysis.Out
	if err := o.Apply(part, TypeSeen, ev, t0, &out); err != nil || len(out.Records) != 0 {
		t.Fatalf("a remote server under local tracking: records %+v, err %v", out.Records, err)
	}
}
