package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"shoal/testcluster"
	"shoal/zeeklog"
)

// demoSumStats is the SumStats definitions file every node of the demo
// loads (--sumstats). Both sumstats use the streams a worker observes from
// its traffic by itself: conn.established (key: originator, value: the
// responder) and conn.attempt (key: scanner, value: victim:port).
const demoSumStats = `# SumStats of the shoal demo (go run ./cmd/testcluster); every node loads it.
sumstats:
  - name: conns-per-host          # completed handshakes per client, per 2 s
    epoch: 2s
    reducers:
      - stream: conn.established
        apply: [sum, unique, topk]
        topk_size: 10
  - name: attempts-per-scanner    # scan attempts per scanner, per 2 s
    epoch: 2s
    reducers:
      - stream: conn.attempt
        apply: [sum, unique]
    threshold: 20
    threshold_val: {stream: conn.attempt, calc: unique}
    notice: Demo::Many_Attempts
`

// demoEpoch is the epoch of the sumstats in demoSumStats.
const demoEpoch = 2 * time.Second

// demoScanners is the number of remote scanners each worker's generator
// adds (from 203.0.113.1).
const demoScanners = 3

// waitAnalyses lets the datanodes end the SumStats window the workers
// stopped in, when the traffic was too short for a whole window to end
// during it: epochs are windows aligned on multiples of demoEpoch, and a
// datanode ends one within a tick of its end.
func (d *demo) waitAnalyses(ctx context.Context, trafficTime time.Duration) {
	if trafficTime >= 2*demoEpoch {
		return
	}
	end := time.Now().Truncate(demoEpoch).Add(demoEpoch + 500*time.Millisecond)
	d.say("waiting %s for the datanodes to end the current SumStats epoch", fmtDur(time.Until(end)))
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(end)):
	}
}

// noticeRow is one notice.log record, as far as the summary shows it.
type noticeRow struct{ note, src, msg string }

// keyResult is one key's epoch_result row of a sumstat.
type keyResult struct {
	key, stream, unique string
	sum                 float64
}

// sumstatSummary is what the summary shows of one sumstat.
type sumstatSummary struct {
	name      string
	rows      int
	results   int             // epoch_result rows
	finished  map[string]bool // epoch_start of epoch_finished rows
	crossings map[string]bool // epoch_start/key/threshold of threshold_crossed rows
	byEpoch   map[string][]keyResult
	last      string // epoch_start of the last complete epoch with results
	top       []keyResult
}

// analysis is what the managers wrote to notice.log and sumstats.log.
type analysis struct {
	notices  []noticeRow
	byNote   map[string]int
	sumstats map[string]*sumstatSummary
}

// readAnalysis reads notice.log and sumstats.log of every manager. A
// manager without the log wrote no record of that kind.
func readAnalysis(c *testcluster.Cluster) (*analysis, []error) {
	a := &analysis{byNote: map[string]int{}, sumstats: map[string]*sumstatSummary{}}
	var problems []error
	for _, m := range c.ByRole(testcluster.RoleManager) {
		if l, err := c.ReadLog(m, "notice"); err == nil {
			a.addNotices(l)
		} else if !errors.Is(err, os.ErrNotExist) {
			problems = append(problems, err)
		}
		if l, err := c.ReadLog(m, "sumstats"); err == nil {
			if err := a.addSumStats(l); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", m.Name, err))
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			problems = append(problems, err)
		}
	}
	for _, s := range a.sumstats {
		s.pickTop(3)
	}
	return a, problems
}

func (a *analysis) addNotices(l *zeeklog.Log) {
	note, src, msg := l.Index("note"), l.Index("src"), l.Index("msg")
	for _, r := range l.Rows {
		nr := noticeRow{note: field(r, note), src: field(r, src), msg: field(r, msg)}
		a.byNote[nr.note]++
		a.notices = append(a.notices, nr)
	}
}

func (a *analysis) addSumStats(l *zeeklog.Log) error {
	idx := map[string]int{}
	for _, f := range []string{"name", "event", "epoch_start", "key_host", "key_str", "stream", "sum", "unique", "threshold"} {
		if idx[f] = l.Index(f); idx[f] < 0 {
			return fmt.Errorf("sumstats.log has no %s column", f)
		}
	}
	for _, r := range l.Rows {
		name := field(r, idx["name"])
		s := a.sumstats[name]
		if s == nil {
			s = &sumstatSummary{name: name, finished: map[string]bool{}, crossings: map[string]bool{},
				byEpoch: map[string][]keyResult{}}
			a.sumstats[name] = s
		}
		s.rows++
		start := field(r, idx["epoch_start"])
		key := keyText(field(r, idx["key_host"]), field(r, idx["key_str"]))
		switch field(r, idx["event"]) {
		case "epoch_finished":
			s.finished[start] = true
		case "threshold_crossed":
			s.crossings[start+"/"+key+"/"+field(r, idx["threshold"])] = true
		case "epoch_result":
			s.results++
			sum, _ := strconv.ParseFloat(field(r, idx["sum"]), 64)
			s.byEpoch[start] = append(s.byEpoch[start], keyResult{key: key, stream: field(r, idx["stream"]),
				unique: field(r, idx["unique"]), sum: sum})
		}
	}
	return nil
}

// pickTop sets the last complete epoch (the latest finished one that has
// results) and its n keys with the largest sum.
func (s *sumstatSummary) pickTop(n int) {
	var starts []string
	for st := range s.finished {
		if len(s.byEpoch[st]) > 0 {
			starts = append(starts, st)
		}
	}
	if len(starts) == 0 {
		return
	}
	sort.Slice(starts, func(i, j int) bool { return epochSecs(starts[i]) < epochSecs(starts[j]) })
	s.last = starts[len(starts)-1]
	rs := append([]keyResult(nil), s.byEpoch[s.last]...)
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].sum != rs[j].sum {
			return rs[i].sum > rs[j].sum
		}
		return rs[i].key < rs[j].key
	})
	s.top = rs[:min(n, len(rs))]
}

// render writes the notices and sumstats sections of the summary.
func (a *analysis) render(b *strings.Builder) {
	fmt.Fprintf(b, "notices (notice.log): %d\n", len(a.notices))
	tw := tabwriter.NewWriter(b, 2, 4, 2, ' ', 0)
	notes := make([]string, 0, len(a.byNote))
	for n := range a.byNote {
		notes = append(notes, n)
	}
	sort.Strings(notes)
	fmt.Fprintln(tw, "  NOTE\tCOUNT\t")
	for _, n := range notes {
		fmt.Fprintf(tw, "  %s\t%d\t\n", n, a.byNote[n])
	}
	tw.Flush()
	if len(a.notices) > 0 {
		b.WriteString("  examples:\n")
		tw = tabwriter.NewWriter(b, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    NOTE\tSRC\tMSG")
		for _, n := range a.examples(5) {
			fmt.Fprintf(tw, "    %s\t%s\t%s\n", n.note, n.src, n.msg)
		}
		tw.Flush()
	}

	names := make([]string, 0, len(a.sumstats))
	for n := range a.sumstats {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(b, "\nsumstats (sumstats.log): %d sumstats\n", len(names))
	tw = tabwriter.NewWriter(b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tEPOCHS FINISHED\tROWS\tEPOCH RESULTS\tTHRESHOLD CROSSINGS\t")
	for _, n := range names {
		s := a.sumstats[n]
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t\n", n, len(s.finished), s.rows, s.results, len(s.crossings))
	}
	tw.Flush()
	for _, n := range names {
		s := a.sumstats[n]
		if s.last == "" {
			fmt.Fprintf(b, "  %s: no complete epoch with results\n", n)
			continue
		}
		fmt.Fprintf(b, "  %s, top %d keys by sum of the last complete epoch (started %s, %d keys):\n",
			n, len(s.top), epochText(s.last), len(s.byEpoch[s.last]))
		tw = tabwriter.NewWriter(b, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    KEY\tSTREAM\tSUM\tUNIQUE\t")
		for _, r := range s.top {
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t\n", r.key, r.stream, strconv.FormatFloat(r.sum, 'f', -1, 64), r.unique)
		}
		tw.Flush()
	}
}

// examples picks up to n notices, scan notices first and the first of
// each note before a second of any, so that every kind shows.
func (a *analysis) examples(n int) []noticeRow {
	ns := append([]noticeRow(nil), a.notices...)
	sort.SliceStable(ns, func(i, j int) bool {
		return strings.HasPrefix(ns[i].note, "Scan::") && !strings.HasPrefix(ns[j].note, "Scan::")
	})
	var out []noticeRow
	used := make([]bool, len(ns))
	for round := 0; round < 2 && len(out) < n; round++ {
		seen := map[string]bool{}
		for i, r := range ns {
			if len(out) >= n {
				break
			}
			if used[i] || (round == 0 && seen[r.note]) {
				continue
			}
			seen[r.note] = true
			used[i] = true
			out = append(out, r)
		}
	}
	return out
}

// problems says what the demo expected of the analyses and did not get.
func (a *analysis) problems() []error {
	var errs []error
	scans := 0
	for n, c := range a.byNote {
		if strings.HasPrefix(n, "Scan::") {
			scans += c
		}
	}
	if scans == 0 {
		errs = append(errs, fmt.Errorf("no scan notice (Scan::*) in notice.log although each worker generated %d scanners", demoScanners))
	}
	results := 0
	for _, s := range a.sumstats {
		results += s.results
	}
	if results == 0 {
		errs = append(errs, errors.New("no SumStats epoch_result row in sumstats.log"))
	}
	return errs
}

// field is r[i], or "-" (unset) when the column is missing.
func field(r []string, i int) string {
	if i < 0 || i >= len(r) {
		return "-"
	}
	return r[i]
}

// keyText renders a SumStats key as Zeek does: host, str or both.
func keyText(host, str string) string {
	switch {
	case str == "-" || str == "":
		return host
	case host == "-" || host == "":
		return str
	default:
		return host + "/" + str
	}
}

func epochSecs(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// epochText renders a Zeek time value as local wall-clock time.
func epochText(s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return time.Unix(0, int64(f*1e9)).Format("15:04:05.000")
}
