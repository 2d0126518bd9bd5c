package scan

import (
	"bytes"
	"cmp"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"shoal/internal/zeekdata"
	"shoal/notice"
	"slices"
	"strings"
	"testing"
	"time"

	"shoal/ingest"
	"shoal/packet"
	"shoal/site"
	"shoal/zeeklog"
)

// sharedZeek returns ../shared/zeek relative to the repository root (the
// directory holding go.mod).
func sharedZeek(t testing.TB) string {
	t.Helper()
	return zeekdata.Path(t)
}

// synKey identifies a connection attempt: originator and responder
// endpoints.
type synKey struct {
	src, dst     netip.Addr
	sport, dport uint16
}

// pendingSYN is a SYN waiting for its attempt timer.
type pendingSYN struct {
	key  synKey
	due  time.Time
	seq  int
	hist string
}

// traceAttempts is a minimal stand-in for the connection tracker's attempt
// events, enough for the scan traces: a pure SYN starts a pending attempt
// (history "S", or "SW" for a zero window); a responder RST answering it
// raises connection_rejected (history + "r") at the RST; any other answer
// or further originator packet ends it as a non-attempt; otherwise the
// attempt timer raises connection_attempt 5 s after the SYN. Network time is
// the maximum packet time; timers due at or before it fire, in due order,
// before each packet, and all remaining ones fire at the end of input.
// Events carry network time at the moment they fire, and only histories
// that IsAttempt accepts become Attempts.
func traceAttempts(t testing.TB, path string) []Attempt {
	t.Helper()
	f, err := ingest.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const attemptDelay = 5 * time.Second
	var (
		now     time.Time
		pending []*pendingSYN
		seq     int
		out     []Attempt
	)
	emit := func(k synKey, hist string, rejected bool) {
		if IsAttempt(hist, rejected) {
			out = append(out, Attempt{TS: now, Scanner: k.src, Victim: k.dst, Port: k.dport, Proto: packet.ProtoTCP})
		}
	}
	fire := func(all bool) {
		slices.SortFunc(pending, func(a, b *pendingSYN) int {
			if c := a.due.Compare(b.due); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
		i := 0
		for ; i < len(pending) && (all || !pending[i].due.After(now)); i++ {
			emit(pending[i].key, pending[i].hist, false)
		}
		pending = pending[i:]
	}
	find := func(k synKey) int {
		return slices.IndexFunc(pending, func(p *pendingSYN) bool { return p.key == k })
	}
	_, err = f.Run(context.Background(), func(p *packet.Packet) {
		if p.TS.After(now) {
			now = p.TS
		}
		fire(false)
		if !p.TCP() {
			return
		}
		fwd := synKey{p.Src, p.Dst, p.SrcPort, p.DstPort}
		rev := synKey{p.Dst, p.Src, p.DstPort, p.SrcPort}
		if i := find(rev); i >= 0 { // the responder answered
			ps := pending[i]
			pending = slices.Delete(pending, i, i+1)
			if p.Has(packet.FlagRST) {
				emit(ps.key, ps.hist+"r", true)
			}
			return
		}
		if i := find(fwd); i >= 0 {
			if !(p.Has(packet.FlagSYN) && !p.Has(packet.FlagACK)) { // more than a SYN: not an attempt
				pending[i].hist += "x"
			}
			return
		}
		if p.Has(packet.FlagSYN) && !p.Has(packet.FlagACK) && !p.Has(packet.FlagRST) {
			hist := "S"
			if p.Window == 0 {
				hist = "SW"
			}
			seq++
			pending = append(pending, &pendingSYN{key: fwd, due: p.TS.Add(attemptDelay), seq: seq, hist: hist})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	fire(true)
	return out
}

// noticeColumns renders notices through zeeklog's TSV writer with
// notice.Fields, reads the log back and projects the columns of the scan
// baselines (src, p, note, msg, sub), as zeek-cut would.
func noticeColumns(t testing.TB, notices []notice.Notice) []string {
	t.Helper()
	var buf bytes.Buffer
	w, err := zeeklog.New(&buf, notice.Path, notice.Fields, zeeklog.FormatTSV, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for i := range notices {
		if err := w.Write(notices[i].Values()...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	log, err := zeeklog.ReadTSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var idx []int
	for _, name := range []string{"src", "p", "note", "msg", "sub"} {
		i := log.Index(name)
		if i < 0 {
			t.Fatalf("notice.log has no %s column", name)
		}
		idx = append(idx, i)
	}
	var rows []string
	for _, row := range log.Rows {
		cols := make([]string, len(idx))
		for j, i := range idx {
			cols[j] = row[i]
		}
		rows = append(rows, strings.Join(cols, "\t"))
	}
	return rows
}

func TestTraces(t *testing.T) {
	zeek := sharedZeek(t)
	cases := map[string]struct {
		trace, expected string
		localNets       string
		cfg             func(*Config)
		attempts        int
	}{
		"port scan": {
			trace: "port_scan.pcap", expected: "scan-port-scan", localNets: "192.168.2.22/32",
			cfg: func(c *Config) { c.ScanThreshold = 5 }, attempts: 10,
		},
		"zero windows": {
			trace: "scan_with_zero_windows.pcap", expected: "scan-zero-windows", localNets: "10.0.0.0/24",
			cfg: func(c *Config) { c.LocalScanThreshold = 5 }, attempts: 10,
		},
		"backscatter": {
			trace: "backscatter.trace", expected: "scan-backscatter", localNets: "192.150.0.0/16",
			cfg: func(*Config) {}, attempts: 0,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			attempts := traceAttempts(t, filepath.Join(zeek, "traces", tc.trace))
			if len(attempts) != tc.attempts {
				t.Fatalf("trace gave %d attempts, want %d", len(attempts), tc.attempts)
			}
			raw, err := os.ReadFile(filepath.Join(zeek, "expected", tc.expected, "notice.log"))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, line := range strings.Split(string(raw), "\n") {
				if line != "" {
					want = append(want, line)
				}
			}
			cfg := DefaultConfig()
			cfg.LocalNets, err = site.ParseNets(tc.localNets)
			if err != nil {
				t.Fatal(err)
			}
			tc.cfg(&cfg)

			// Standalone: every attempt goes to one Detector.
			d, err := NewDetector(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var notices []notice.Notice
			for _, a := range attempts {
				if n, ok := d.Observe(a, a.TS); ok {
					notices = append(notices, n)
				}
			}
			if got := noticeColumns(t, notices); !slices.Equal(got, want) {
				t.Errorf("standalone notices:\n got %q\nwant %q", got, want)
			}
			for _, n := range notices {
				if !n.TS.Equal(attempts[len(attempts)-1].TS) || n.SuppressFor != time.Hour || n.Identifier != n.Src.String() {
					t.Errorf("notice ts %v suppress_for %v identifier %q", n.TS, n.SuppressFor, n.Identifier)
				}
			}

			// Cluster: a worker filter in front of the owning Detector, with
			// the reported scanner broadcast back to the worker.
			wf, err := NewWorkerFilter(cfg)
			if err != nil {
				t.Fatal(err)
			}
			d2, err := NewDetector(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var cluster []notice.Notice
			for _, a := range attempts {
				if !wf.Allow(a, a.TS) {
					continue
				}
				if n, ok := d2.Observe(a, a.TS); ok {
					cluster = append(cluster, n)
					wf.Reported(n.Src, n.TS)
				}
			}
			if got := noticeColumns(t, cluster); !slices.Equal(got, want) {
				t.Errorf("cluster notices:\n got %q\nwant %q", got, want)
			}
		})
	}
}
