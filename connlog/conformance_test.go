package connlog_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shoal/connlog"
	"shoal/flow"
	"shoal/ingest"
	"shoal/internal/logcmp"
	"shoal/internal/zeekdata"
	"shoal/packet"
	"shoal/service"
	"shoal/site"
	"shoal/zeeklog"
)

// serviceAnalyzer identifies services on a connection as the worker does:
// the payload Detector, restricted to the loaded analyzers, names the
// connection's service; DNS over UDP shortens the inactivity timeout.
type serviceAnalyzer struct {
	det     service.Detector
	ftp     *service.FTPControl
	tr      *flow.Tracker
	started bool
}

func (a *serviceAnalyzer) Packet(c *flow.Conn, fromOrig bool, p *packet.Packet) {
	if !a.started {
		a.started = true
		a.det.SetPartial(c.Proto() == packet.ProtoTCP && !p.Has(packet.FlagSYN))
	}
	seq := p.Seq
	if p.Has(packet.FlagSYN) {
		seq++
	}
	if p.Has(packet.FlagRST) || len(p.Payload) == 0 {
		return
	}
	if conf, ok := a.det.PacketLen(c.Proto(), fromOrig, seq, p.Payload, p.PayloadLen); ok {
		c.AddService(strings.ToLower(conf.Service.String()))
		if conf.Service == service.DNS && c.Proto() == packet.ProtoUDP {
			c.SetInactivityTimeout(10 * time.Second)
		}
		if conf.Service == service.FTP {
			a.ftp = &service.FTPControl{}
		}
	}
	if a.ftp != nil {
		client, _ := c.Orig()
		server, _ := c.Resp()
		a.ftp.Packet(fromOrig, seq, p.Payload, client, server, func(d service.FTPData) {
			a.tr.Expect(flow.Expectation{Orig: d.Orig, Resp: d.Resp, RespPort: d.RespPort, Proto: packet.ProtoTCP,
				Service: service.FTPDataService, TTL: 5 * time.Minute})
		})
	}
}

func (a *serviceAnalyzer) Done(*flow.Conn) {}

// runCase runs a trace through a tracker configured as Zeek was, and
// returns conn.log and tunnel.log as rendered by connlog.
func runCase(t *testing.T, tracePath string, run logcmp.Run) (conn, tunnel *logcmp.Table) {
	t.Helper()
	ac := service.AnalyzerConfig{Loaded: run.Analyzers}
	tcp, udp := ac.ServerPorts()
	services := ac.Services()
	var connBuf, tunBuf bytes.Buffer
	cw, err := zeeklog.New(&connBuf, connlog.ConnPath, connlog.ConnFields, zeeklog.FormatTSV, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	tw, err := zeeklog.New(&tunBuf, connlog.TunnelPath, connlog.TunnelFields, zeeklog.FormatTSV, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var vals []zeeklog.Value
	var tr *flow.Tracker
	tr = flow.NewTracker(flow.Config{
		ServerPorts: tcp, UDPServerPorts: udp, Checksums: run.Checksums,
		Tunnel: flow.TunnelConfig{MaxDepth: run.MaxDepth},
		Handler: flow.Handler{
			NewConn: func(c *flow.Conn) {
				a := &serviceAnalyzer{tr: tr}
				a.det.Restrict(services)
				c.Analyzer = a
			},
			Removed: func(r *flow.Record) {
				vals = connlog.ConnRow(r, site.PrivateNets(), vals[:0])
				if err := cw.Write(vals...); err != nil {
					t.Fatal(err)
				}
			},
			Tunnel: func(ev *flow.TunnelEvent) {
				vals = connlog.TunnelRow(ev, vals[:0])
				if err := tw.Write(vals...); err != nil {
					t.Fatal(err)
				}
			},
		},
	})
	f, err := ingest.OpenFile(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Run(context.Background(), func(p *packet.Packet) { tr.Packet(p) }); err != nil {
		t.Fatalf("%s: %v", tracePath, err)
	}
	tr.Finish()
	if err := cw.Close(time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	return parse(t, connBuf.Bytes()), parse(t, tunBuf.Bytes())
}

func parse(t *testing.T, b []byte) *logcmp.Table {
	t.Helper()
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := logcmp.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func readBaseline(t *testing.T, path string) *logcmp.Table {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	tab, err := logcmp.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// TestTunnelCases runs every case of ../shared/zeek/tunnels with the
// options its test script used and compares conn.log and tunnel.log with
// Zeek's.
func TestTunnelCases(t *testing.T) {
	root := zeekdata.Path(t, "tunnels")
	dirs, err := filepath.Glob(filepath.Join(root, "expected", "*"))
	if err != nil || len(dirs) != 30 {
		t.Fatalf("want 30 cases, found %d (%v)", len(dirs), err)
	}
	passed := 0
	for _, dir := range dirs {
		name := filepath.Base(dir)
		run, err := logcmp.ReadRun(dir)
		if err != nil {
			t.Fatal(err)
		}
		wantConn := readBaseline(t, filepath.Join(dir, "conn.log"))
		wantTunnel := readBaseline(t, filepath.Join(dir, "tunnel.log"))
		equal := false
		t.Run(name, func(t *testing.T) {
			conn, tunnel := runCase(t, filepath.Join(root, "traces", run.Trace), run)
			if run.NoTunnel && len(tunnel.Rows) > 0 {
				t.Errorf("tunnel.log has %d rows; Zeek wrote none", len(tunnel.Rows))
			}
			diffs := logcmp.Compare(conn, wantConn, tunnel, wantTunnel)
			for _, d := range diffs {
				t.Error(d)
			}
			equal = !t.Failed()
		})
		if equal {
			passed++
		}
	}
	t.Logf("%d of %d tunnel cases equal to Zeek's conn.log and tunnel.log", passed, len(dirs))
}

// TestConnLogCases compares conn.log with Zeek's for the conn-tracking
// cases of ../shared/zeek (full default scripts, checksums validated).
func TestConnLogCases(t *testing.T) {
	root := zeekdata.Path(t)
	for _, tc := range []struct{ trace, log string }{
		{"wikipedia.pcap", "conn-wikipedia/conn.log"},
		{"http-get.pcap", "conn-http-get/conn.log"},
		{"ftp-ipv4.pcap", "conn-ftp-ipv4/conn.log"},
	} {
		t.Run(tc.trace, func(t *testing.T) {
			conn, _ := runCase(t, filepath.Join(root, "traces", tc.trace), logcmp.Run{Checksums: true})
			want := readBaseline(t, filepath.Join(root, "expected", tc.log))
			for _, d := range logcmp.Compare(conn, want, nil, nil) {
				t.Error(d)
			}
		})
	}
}
