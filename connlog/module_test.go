package connlog_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"shoal/analysis"
	"shoal/analysis/analysistest"
	"shoal/connlog"
	"shoal/flow"
	"shoal/packet"
	"shoal/site"
	"shoal/traffic"
	"shoal/zeeklog"
)

func attach(t *testing.T, cfg connlog.Config, role analysis.Role, s analysis.Sender) analysis.Parts {
	t.Helper()
	parts, err := connlog.New(cfg).Attach(analysis.Env{Node: "n", Role: role, Partitions: 1021, Send: s})
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

// TestModule: a worker sends each connection's record and each tunnel
// event to the manager pool, hashed by uid, and a manager renders the same
// row ConnRow renders.
func TestModule(t *testing.T) {
	s := &analysistest.Sender{}
	w := attach(t, connlog.Config{}, analysis.RoleWorker, s).Worker
	rec := flow.Record{UID: flow.UID{Hi: 1, Lo: 2}, TS: time.Unix(1700000000, 5000), Orig: netip.MustParseAddr("10.0.0.1"),
		OrigPort: 1234, Resp: netip.MustParseAddr("8.8.8.8"), RespPort: 53, Proto: packet.ProtoUDP,
		Duration: time.Second, OrigBytes: 40, State: flow.ConnS0, OrigPkts: 1, OrigIPBytes: 68}
	rec.Service.Add("dns")
	ev := flow.TunnelEvent{TS: rec.TS, Action: flow.TunnelDiscover, EncapConn: flow.EncapConn{Type: packet.TunnelGRE,
		Orig: rec.Orig, Resp: rec.Resp, UID: flow.UID{Hi: 3, Lo: 4}}}
	w.(traffic.RemovedHook).Removed(context.Background(), &rec)
	w.(traffic.TunnelHook).Tunnel(context.Background(), &ev)
	sent := s.Take()
	if len(sent) != 2 || sent[0].To != analysis.RoleManager || sent[1].To != analysis.RoleManager {
		t.Fatalf("sent %+v", sent)
	}
	m := attach(t, connlog.Config{}, analysis.RoleManager, nil).Manager
	var rows []analysis.Row
	for _, e := range sent {
		if err := m.Rows("worker-1", e.Event.WireType(), e.Event.AppendWire(nil), time.Now(), &rows); err != nil {
			t.Fatal(err)
		}
	}
	want := connlog.ConnRow(&rec, site.PrivateNets(), nil)
	if len(rows) != 2 || rows[0].Path != "conn" || rows[1].Path != "tunnel" || !sameValues(connlog.ConnFields, rows[0].Values, want) ||
		!sameValues(connlog.TunnelFields, rows[1].Values, connlog.TunnelRow(&ev, nil)) {
		t.Errorf("rows %+v", rows)
	}
	// The same connection always lands on the same manager partition.
	again := flow.Record{UID: rec.UID}
	w.(traffic.RemovedHook).Removed(context.Background(), &again)
	if p := s.Take()[0].Part; p != sent[0].Part {
		t.Errorf("uid hashed to partition %d, then %d", sent[0].Part, p)
	}
	if err := m.Rows("w", 99, nil, time.Now(), &rows); !errors.Is(err, analysis.ErrUnknownEvent) {
		t.Errorf("unknown type: %v", err)
	}
	if err := m.Rows("w", connlog.TypeConn, []byte{1, 2, 3}, time.Now(), &rows); !errors.Is(err, connlog.ErrBadRecord) {
		t.Errorf("garbage: %v", err)
	}
}

// sameValues reports whether two rows of a log with the given columns
// render the same TSV line.
func sameValues(fields []zeeklog.Field, a, b []zeeklog.Value) bool {
	render := func(vals []zeeklog.Value) string {
		var out []byte
		w, err := zeeklog.New(writer{&out}, "t", fields, zeeklog.FormatTSV, time.Unix(0, 0))
		if err != nil || w.Write(vals...) != nil || w.Flush() != nil {
			return "error"
		}
		return string(out)
	}
	return render(a) == render(b)
}

type writer struct{ b *[]byte }

func (w writer) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

// TestModuleOff: --conn-log=off and --tunnel-log=off stop the worker
// from sending; a failed send is counted.
func TestModuleOff(t *testing.T) {
	s := &analysistest.Sender{}
	w := attach(t, connlog.Config{ConnOff: true, TunnelOff: true}, analysis.RoleWorker, s).Worker
	rec := flow.Record{UID: flow.UID{Lo: 1}}
	w.(traffic.RemovedHook).Removed(context.Background(), &rec)
	w.(traffic.TunnelHook).Tunnel(context.Background(), &flow.TunnelEvent{})
	if n := len(s.Take()); n != 0 {
		t.Errorf("%d events sent with both logs off", n)
	}
	s.Fail = errors.New("queue full")
	w = attach(t, connlog.Config{}, analysis.RoleWorker, s).Worker
	w.(traffic.RemovedHook).Removed(context.Background(), &rec)
	for _, c := range w.Counters() {
		if c.Name == "conn_rows_unsent" && c.Value != 1 {
			t.Errorf("unsent %d", c.Value)
		}
	}
	for _, v := range []string{"on", "off"} {
		if _, err := connlog.ParseSwitch("--conn-log", v); err != nil {
			t.Error(err)
		}
	}
	if _, err := connlog.ParseSwitch("--conn-log", "yes"); err == nil {
		t.Error("--conn-log=yes accepted")
	}
}
