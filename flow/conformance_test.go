package flow_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"shoal/flow"
	"shoal/ingest"
	"shoal/packet"
)

// zeekConn is one row of a Zeek conn.log, by column name.
type zeekConn map[string]string

// readConnLog parses a Zeek TSV conn.log (the btest header line and the
// # lines are skipped; columns come from #fields).
func readConnLog(t *testing.T, path string) []zeekConn {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fields []string
	var rows []zeekConn
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "#fields\t"); ok {
			fields = strings.Split(rest, "\t")
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		vals := strings.Split(line, "\t")
		if len(vals) != len(fields) {
			t.Fatalf("%s: %d columns, #fields has %d: %q", path, len(vals), len(fields), line)
		}
		row := zeekConn{}
		for i, v := range vals {
			row[fields[i]] = v
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// trackRecords runs a trace through a Tracker with the default
// configuration (Zeek's default scripts) and returns every conn.log record,
// the connections still open at the end included.
func trackRecords(t *testing.T, trace string) []flow.Record {
	t.Helper()
	f, err := ingest.OpenFile(filepath.Join(zeekDir(t), "traces", trace))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []flow.Record
	tr := flow.NewTracker(flow.Config{Handler: flow.Handler{Removed: func(r *flow.Record) { recs = append(recs, *r) }}})
	if _, err := f.Run(context.Background(), func(p *packet.Packet) { tr.Packet(p) }); err != nil {
		t.Fatalf("%s: %v", trace, err)
	}
	tr.Finish()
	return recs
}

// fmtInterval formats a duration as Zeek's ASCII writer prints an interval
// of a conn.log record: unset when not positive.
func zeekDuration(r *flow.Record) string {
	if r.Duration <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.6f", r.Duration.Seconds())
}

// tally counts agreement for one trace.
type tally struct {
	name                 string
	rows, rowsOK         int
	cols, colsOK         int
	missing, extra       int
	disagreements        []string
	perColumnDisagreeing map[string]int
}

func (ta *tally) check(t *testing.T, row, col, got, want string, ok bool) {
	ta.cols++
	if ok {
		ta.colsOK++
		return
	}
	ta.perColumnDisagreeing[col]++
	msg := fmt.Sprintf("%s row %s: %s = %q, Zeek %q", ta.name, row, col, got, want)
	ta.disagreements = append(ta.disagreements, msg)
	t.Log(msg)
}

func near(got float64, want string, tol float64) bool {
	w, err := strconv.ParseFloat(want, 64)
	return err == nil && math.Abs(got-w) <= tol
}

// compareConnLog matches the tracker's records with a baseline's rows by
// the unordered endpoint pair and proto, then compares the columns.
func compareConnLog(t *testing.T, name string, recs []flow.Record, rows []zeekConn, v3 bool) *tally {
	ta := &tally{name: name, rows: len(rows), perColumnDisagreeing: map[string]int{}}
	type pairKey struct {
		a, b  netip.AddrPort
		proto string
	}
	pk := func(a, b netip.AddrPort, proto string) pairKey {
		if b.Addr().Less(a.Addr()) || (a.Addr() == b.Addr() && b.Port() < a.Port()) {
			a, b = b, a
		}
		return pairKey{a, b, proto}
	}
	byKey := map[pairKey][]int{}
	for i := range recs {
		r := &recs[i]
		k := pk(netip.AddrPortFrom(r.Orig, r.OrigPort), netip.AddrPortFrom(r.Resp, r.RespPort), r.ProtoName())
		byKey[k] = append(byKey[k], i)
	}
	used := map[int]bool{}
	for _, row := range rows {
		op, _ := strconv.ParseUint(row["id.orig_p"], 10, 16)
		rp, _ := strconv.ParseUint(row["id.resp_p"], 10, 16)
		o := netip.AddrPortFrom(netip.MustParseAddr(row["id.orig_h"]), uint16(op))
		d := netip.AddrPortFrom(netip.MustParseAddr(row["id.resp_h"]), uint16(rp))
		id := fmt.Sprintf("%s %s -> %s", row["proto"], o, d)
		var r *flow.Record
		for _, i := range byKey[pk(o, d, row["proto"])] {
			if !used[i] {
				used[i], r = true, &recs[i]
				break
			}
		}
		if r == nil {
			ta.missing++
			ta.disagreements = append(ta.disagreements, fmt.Sprintf("%s row %s: no record", name, id))
			t.Logf("%s row %s: no record", name, id)
			continue
		}
		before := ta.cols - ta.colsOK
		ro := netip.AddrPortFrom(r.Orig, r.OrigPort)
		rr := netip.AddrPortFrom(r.Resp, r.RespPort)
		ta.check(t, id, "id", ro.String()+" -> "+rr.String(), o.String()+" -> "+d.String(), ro == o && rr == d)
		ta.check(t, id, "proto", r.ProtoName(), row["proto"], r.ProtoName() == row["proto"])
		ta.check(t, id, "conn_state", r.State.String(), row["conn_state"], r.State.String() == row["conn_state"])
		h := r.History.String()
		if h == "" {
			h = "-"
		}
		ta.check(t, id, "history", h, row["history"], h == row["history"])
		gotDur := zeekDuration(r)
		durOK := gotDur == row["duration"] || (gotDur != "-" && near(r.Duration.Seconds(), row["duration"], 1.5e-6))
		ta.check(t, id, "duration", gotDur, row["duration"], durOK)
		counts := []struct {
			col string
			v   uint64
			set bool // unset ("-") when the duration is not positive
		}{
			{"orig_bytes", r.OrigBytes, r.Duration > 0}, {"resp_bytes", r.RespBytes, r.Duration > 0},
			{"missed_bytes", r.MissedBytes, true},
			{"orig_pkts", r.OrigPkts, true}, {"orig_ip_bytes", r.OrigIPBytes, true},
			{"resp_pkts", r.RespPkts, true}, {"resp_ip_bytes", r.RespIPBytes, true},
		}
		for _, c := range counts {
			want, ok := row[c.col]
			if !ok {
				continue
			}
			got := "-"
			if c.set {
				got = strconv.FormatUint(c.v, 10)
			}
			ta.check(t, id, c.col, got, want, got == want)
		}
		if v3 {
			got := fmt.Sprintf("%.6f", float64(r.TS.UnixNano())/1e9)
			ta.check(t, id, "ts", got, row["ts"], near(float64(r.TS.UnixMicro())/1e6, row["ts"], 1.5e-6))
		}
		if ta.cols-ta.colsOK == before {
			ta.rowsOK++
		}
	}
	for i := range recs {
		if !used[i] {
			ta.extra++
			r := &recs[i]
			msg := fmt.Sprintf("%s: record not in the baseline: %s %v:%d -> %v:%d %s %s", name, r.ProtoName(),
				r.Orig, r.OrigPort, r.Resp, r.RespPort, r.State, r.History)
			ta.disagreements = append(ta.disagreements, msg)
			t.Log(msg)
		}
	}
	return ta
}

func (ta *tally) summary() string {
	return fmt.Sprintf("%-34s rows %3d/%-3d columns %4d/%-4d missing %d extra %d", ta.name, ta.rowsOK, ta.rows,
		ta.colsOK, ta.cols, ta.missing, ta.extra)
}

// TestConformance compares the tracker's conn.log records with Zeek's
// baselines row by row (README.md, conn-tracking cases).
func TestConformance(t *testing.T) {
	exp := filepath.Join(zeekDir(t), "expected")
	var tallies []*tally
	for _, tc := range []struct{ trace, log string }{
		{"wikipedia.pcap", "conn-wikipedia/conn.log"},
		{"wikipedia.pcap", "conn-wikipedia/conn.v3.log"},
		{"http-get.pcap", "conn-http-get/conn.log"},
		{"ftp-ipv4.pcap", "conn-ftp-ipv4/conn.log"},
		{"ftp-ipv4.pcap", "conn-ftp-ipv4/conn.v3.log"},
	} {
		recs := trackRecords(t, tc.trace)
		rows := readConnLog(t, filepath.Join(exp, tc.log))
		tallies = append(tallies, compareConnLog(t, tc.log, recs, rows, strings.Contains(tc.log, ".v3.")))
	}
	// The four RST traces: one connection each; the baseline lists
	// "history, conn_state" per trace, in this order.
	for _, out := range []string{"conn-tcp-rst/history-conn_state.out", "conn-tcp-rst/history-conn_state.v3.out"} {
		data, err := os.ReadFile(filepath.Join(exp, out))
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(string(data), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		ta := &tally{name: out, perColumnDisagreeing: map[string]int{}}
		for i, trace := range []string{"single-rst.pcap", "syn-then-rst.pcap", "syn-then-ack-then-rst.pcap",
			"syn-then-stuff-then-rst.pcap"} {
			ta.rows++
			recs := trackRecords(t, trace)
			if len(recs) != 1 || i >= len(lines) {
				ta.missing++
				t.Logf("%s: %d records, want 1", trace, len(recs))
				continue
			}
			hist, state, _ := strings.Cut(lines[i], ", ")
			before := ta.cols - ta.colsOK
			ta.check(t, trace, "history", recs[0].History.String(), hist, recs[0].History.String() == hist)
			ta.check(t, trace, "conn_state", recs[0].State.String(), state, recs[0].State.String() == state)
			if ta.cols-ta.colsOK == before {
				ta.rowsOK++
			}
		}
		tallies = append(tallies, ta)
	}
	total := &tally{name: "total"}
	for _, ta := range tallies {
		t.Log(ta.summary())
		total.rows += ta.rows
		total.rowsOK += ta.rowsOK
		total.cols += ta.cols
		total.colsOK += ta.colsOK
		total.missing += ta.missing
		total.extra += ta.extra
		if len(ta.disagreements) > 0 {
			t.Errorf("%s: %d disagreements", ta.name, len(ta.disagreements))
		}
	}
	t.Log(total.summary())
}

// TestConformanceDetectsDisagreements makes sure the comparison can fail:
// a record with a wrong history, byte count and direction is reported.
func TestConformanceDetectsDisagreements(t *testing.T) {
	recs := trackRecords(t, "http-get.pcap")
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	rows := readConnLog(t, filepath.Join(zeekDir(t), "expected", "conn-http-get", "conn.log"))
	bad := recs[0]
	bad.History = flow.History{}
	bad.OrigBytes++
	bad.Orig, bad.Resp, bad.OrigPort, bad.RespPort = bad.Resp, bad.Orig, bad.RespPort, bad.OrigPort
	quiet := &testing.T{}
	ta := compareConnLog(quiet, "mutated", []flow.Record{bad}, rows, false)
	if ta.rowsOK != 0 || ta.perColumnDisagreeing["history"] != 1 || ta.perColumnDisagreeing["orig_bytes"] != 1 ||
		ta.perColumnDisagreeing["id"] != 1 {
		t.Errorf("disagreements not detected: %s %v", ta.summary(), ta.perColumnDisagreeing)
	}
	ta = compareConnLog(quiet, "missing", nil, rows, false)
	if ta.missing != 1 {
		t.Errorf("missing row not detected: %s", ta.summary())
	}
}

// TestScanTraceAttempts checks the connection_attempt and
// connection_rejected events the scan cases depend on (SEMANTICS.md §5):
// unanswered SYNs become attempts when their timer fires, at the end of
// input at the latest, with history exactly "S" or "SW".
func TestScanTraceAttempts(t *testing.T) {
	cases := map[string]struct {
		unanswered int
		history    string
	}{
		"port_scan.pcap":              {10, "S"},
		"scan_with_zero_windows.pcap": {10, "SW"},
		// SYN-ACKs from port 80 to ports 143 and 636: both ports are likely
		// server ports, so the SYN-ACK's sender stays the originator and the
		// attempt timer reports it, with history "H" (not a scan attempt).
		"backscatter.trace": {26, "H"},
	}
	for trace, tc := range cases {
		t.Run(trace, func(t *testing.T) {
			f, err := ingest.OpenFile(filepath.Join(zeekDir(t), "traces", trace))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var atts []flow.Attempt
			tr := flow.NewTracker(flow.Config{Handler: flow.Handler{Attempt: func(a *flow.Attempt) { atts = append(atts, *a) }}})
			if _, err := f.Run(context.Background(), func(p *packet.Packet) { tr.Packet(p) }); err != nil {
				t.Fatal(err)
			}
			end := tr.Now()
			tr.Finish()
			unanswered, scanLike := 0, 0
			for _, a := range atts {
				if a.Kind == flow.AttemptUnanswered {
					unanswered++
					if a.History.String() != tc.history {
						t.Errorf("attempt history %q, want %q", a.History, tc.history)
					}
					if a.TS.After(end) {
						t.Errorf("attempt dated %v after the last packet %v", a.TS, end)
					}
				}
				for _, h := range []string{"S", "SW", "Sr", "SWr"} {
					if a.History.Is(h) {
						scanLike++
					}
				}
			}
			if unanswered != tc.unanswered || (tc.history == "H" && scanLike != 0) {
				t.Errorf("%d unanswered attempts (%d scan-like of %d events), want %d", unanswered, scanLike, len(atts),
					tc.unanswered)
			}
		})
	}
}
