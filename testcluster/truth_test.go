package testcluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"shoal/ingest"
	"shoal/packet"
)

// TestGeneratedTruth: a worker generates 20000 connections (local and
// remote servers of every protocol, failed attempts, 3 scanners) into 1
// manager + 3 datanodes and writes the generator's ground truth with
// --gen-truth. The manager's known_hosts, known_services and known_certs
// logs hold exactly the truth's local hosts, services and certificates,
// first times included, and notice.log one scan notice per scanner, of its
// sweep's kind.
func TestGeneratedTruth(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 120*time.Second)
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 3})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	truthFile := filepath.Join(t.TempDir(), "truth.json")
	w, err := c.Add(ctx, RoleWorker, "--generate", "--gen-seed=5", "--gen-count=20000", "--gen-rate=20000",
		"--gen-hosts=500", "--gen-servers=100", "--gen-local-servers=100", "--gen-scanners=3", "--gen-truth="+truthFile)
	if err != nil {
		t.Fatal(err)
	}
	checkTraceExit(t, ctx, w)
	f, err := os.Open(truthFile)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := ingest.ReadTruth(f)
	f.Close()
	if err != nil || !truth.Complete {
		t.Fatalf("ReadTruth: %v (complete %v)", err, truth != nil && truth.Complete)
	}
	local := func(h fmt.Stringer) bool { return strings.HasPrefix(h.String(), "10.") }
	var hosts, services, certs []string
	for h, ts := range truth.Hosts {
		if local(h) {
			hosts = append(hosts, zeekTime(ts)+" "+h.String())
		}
	}
	for k, ts := range truth.Services {
		if local(k.Host) {
			services = append(services, fmt.Sprintf("%s %s %d %s %s", zeekTime(ts), k.Host, k.Port, k.Proto, k.Service))
		}
	}
	for k, cert := range truth.Certs {
		if local(k.Host) {
			certs = append(certs, fmt.Sprintf("%s %s %d %s %s %s", zeekTime(cert.TS), k.Host, k.Port, cert.Subject,
				cert.Issuer, cert.Serial))
		}
	}
	if len(hosts) < 500 || len(services) < 50 || len(certs) < 5 {
		t.Fatalf("truth: %d local hosts, %d services, %d certs", len(hosts), len(services), len(certs))
	}
	m := c.ByRole(RoleManager)[0]
	for path, want := range map[string][]string{"known_hosts": hosts, "known_services": services, "known_certs": certs} {
		want = sorted(want)
		var got []string
		err := waitFor(ctx, 15*time.Second, 200*time.Millisecond, func() error {
			l, err := c.ReadLog(m, path)
			if err != nil {
				return err
			}
			got = got[:0]
			for _, r := range l.Rows {
				got = append(got, strings.Join(r, " "))
			}
			got = sorted(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("%s: %d rows, want %d", path, len(got), len(want))
			}
			return nil
		})
		if err != nil {
			t.Errorf("%v\n%s", err, diffLines(got, want))
		}
	}
	notes := map[string]string{"address": "Scan::Address_Scan", "port": "Scan::Port_Scan", "random": "Scan::Random_Scan"}
	var wantNotices []string
	for h, o := range truth.Originators {
		if o.Scanner && o.Unique >= 25 {
			wantNotices = append(wantNotices, h.String()+" "+notes[o.Kind])
		}
	}
	if len(wantNotices) != 3 {
		t.Fatalf("truth has %d scanners above the threshold, want 3", len(wantNotices))
	}
	err = waitFor(ctx, 15*time.Second, 200*time.Millisecond, func() error {
		l, err := c.ReadLog(m, "notice")
		if err != nil {
			return err
		}
		var got []string
		for _, r := range l.Rows {
			got = append(got, r[l.Index("src")]+" "+r[l.Index("note")])
		}
		if !slices.Equal(sorted(got), sorted(wantNotices)) {
			return fmt.Errorf("notices %q, want %q", sorted(got), sorted(wantNotices))
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// zeekTime formats a time as the logs do: seconds with 6 decimals.
func zeekTime(ts time.Time) string {
	us := ts.Round(time.Microsecond).UnixMicro()
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

// diffLines lists up to 10 lines missing from got and 10 unexpected ones.
func diffLines(got, want []string) string {
	var b strings.Builder
	for _, pair := range []struct {
		what     string
		from, in []string
	}{{"missing", want, got}, {"unexpected", got, want}} {
		n := 0
		for _, l := range pair.from {
			if _, found := slices.BinarySearch(pair.in, l); !found {
				if n++; n <= 10 {
					fmt.Fprintf(&b, "%s: %s\n", pair.what, l)
				}
			}
		}
		if n > 10 {
			fmt.Fprintf(&b, "%s: ... %d in all\n", pair.what, n)
		}
	}
	return b.String()
}

// TestMaxConnections: a worker capped at 50 tracked connections reads a
// generated capture whose connections overlap by hundreds: it evicts the
// least recently active ones and counts them in its status. A connection
// evicted before its handshake completed is lost, as on a capture box out
// of memory, so known_hosts.log holds most of the hosts, and none that the
// traffic does not have.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 90*time.Second)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "gen.pcap")
	f, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	var truthBuf bytes.Buffer
	g, err := ingest.NewGenerator(ingest.GeneratorConfig{Seed: 3, Hosts: 300, Servers: 50, LocalServers: 50,
		Count: 5000, Start: time.Unix(1700000000, 0), Truth: &truthBuf})
	if err != nil {
		t.Fatal(err)
	}
	pw, err := ingest.NewPcapWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Run(ctx, func(p *packet.Packet) {
		if err := pw.Write(p); err != nil {
			t.Fatal(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(pw.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	truth, err := ingest.ReadTruth(&truthBuf)
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 1})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	w, err := c.Add(ctx, RoleWorker, "--read", pcap, "--max-connections=50")
	if err != nil {
		t.Fatal(err)
	}
	checkTraceExit(t, ctx, w)
	var done struct {
		Worker map[string]any `json:"worker"`
	}
	if err := json.Unmarshal([]byte(w.DoneLine()), &done); err != nil {
		t.Fatalf("done line %q: %v", w.DoneLine(), err)
	}
	evicted, _ := done.Worker["flows_evicted"].(float64)
	if flows, ok := done.Worker["flows"].(float64); evicted < 1000 || !ok || flows != 0 {
		t.Errorf("worker status %v: want evictions counted and no flow left", done.Worker)
	}
	local := map[string]bool{}
	for h := range truth.Hosts {
		if strings.HasPrefix(h.String(), "10.") {
			local[h.String()] = true
		}
	}
	shutdown(t, ctx, c)
	l, err := c.ReadLog(c.ByRole(RoleManager)[0], "known_hosts")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range l.Rows {
		if h := r[l.Index("host")]; !local[h] {
			t.Errorf("known_hosts logged %s, which completed no handshake", h)
		}
	}
	if len(l.Rows) < len(local)*8/10 || len(l.Rows) > len(local) {
		t.Errorf("known_hosts: %d rows of %d hosts", len(l.Rows), len(local))
	}
	t.Logf("%.0f connections evicted; %d of %d hosts logged", evicted, len(l.Rows), len(local))
}
