package chaos

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"shoal/ingest"
	"shoal/testcluster/check"
)

// TruthSettings are the cluster-wide analysis settings that decide which
// of the generators' ground truth each log must hold. Give every node the
// matching flags (see Flags).
type TruthSettings struct {
	// LocalNets are --local-nets; the known_* logs hold local hosts
	// (tracking local, the default).
	LocalNets []netip.Prefix
	// ScanThreshold and LocalScanThreshold are the scan thresholds; 0:
	// the defaults 25 and 250.
	ScanThreshold, LocalScanThreshold int
	// SumStats are definitions over the built-in streams whose results
	// sumstats.log must hold.
	SumStats []SumStat
}

// SumStat is one SumStats definition over a built-in stream
// (conn.established or conn.attempt) with a fixed epoch, reducing with num
// and unique.
type SumStat struct {
	Name   string
	Stream string
	Epoch  time.Duration
}

// Flags are the node flags of s (every role): --local-nets, the scan
// thresholds, and --sumstats with a definitions file written to dir.
func (s TruthSettings) Flags(dir string) ([]string, error) {
	var nets []string
	for _, p := range s.LocalNets {
		nets = append(nets, p.String())
	}
	flags := []string{"--local-nets=" + strings.Join(nets, ","), "--known-hosts-tracking=local"}
	if s.ScanThreshold > 0 {
		flags = append(flags, "--scan-threshold="+strconv.Itoa(s.ScanThreshold))
	}
	if s.LocalScanThreshold > 0 {
		flags = append(flags, "--local-scan-threshold="+strconv.Itoa(s.LocalScanThreshold))
	}
	if len(s.SumStats) == 0 {
		return flags, nil
	}
	var b strings.Builder
	b.WriteString("sumstats:\n")
	for _, d := range s.SumStats {
		fmt.Fprintf(&b, "  - name: %s\n    epoch: %s\n    reducers:\n      - stream: %s\n        apply: [sum, unique]\n",
			d.Name, d.Epoch, d.Stream)
	}
	file := dir + "/sumstats.yaml"
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return append(flags, "--sumstats="+file), nil
}

func (s TruthSettings) local(a netip.Addr) bool {
	for _, p := range s.LocalNets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// logKeys are the columns that identify a row of each log a manager
// writes: one row per key (per expiry or suppression window, longer than
// any run).
var logKeys = []struct {
	path string
	key  []string
}{
	{"known_hosts", []string{"host"}},
	{"known_services", []string{"host", "port_num", "port_proto", "service"}},
	{"known_certs", []string{"host", "port_num", "subject", "issuer_subject", "serial"}},
	{"notice", []string{"note", "src"}},
	{"sumstats", []string{"name", "event", "epoch_start", "key_host", "key_str", "stream", "threshold"}},
	{"software", []string{"host", "software_type", "name", "unparsed_version"}},
	{"conn", []string{"uid"}},
}

// openSpecs check every log for repeated rows only.
func openSpecs() []check.Spec {
	var specs []check.Spec
	for _, l := range logKeys {
		specs = append(specs, check.Spec{Path: l.path, Key: l.key, Open: true})
	}
	return specs
}

// WorkerTruth is one worker's ground truth file.
type WorkerTruth struct {
	Worker, File string
}

// Split is a network split that happened during the run: Side are the
// workers that were on the cut-off datanode's side from Start to End.
type Split struct {
	Start, End time.Time
	Side       []string
}

// splitGrace is how long after a heal a sighting still counts as made
// during the split (the cut-off side's records arrive at the heal).
const splitGrace = 3 * time.Second

// Specs turns the workers' ground truth into one check.Spec per log (or
// part of a log), and says what ground truth it used. With no files every
// log is checked for repeated rows and intact files only. During a split
// both sides keep deciding: a key first seen on both sides during it may
// be logged once per side.
func Specs(files []WorkerTruth, set TruthSettings, splits []Split) ([]check.Spec, string, error) {
	if len(files) == 0 {
		return openSpecs(), "none: the node binary has no --gen-truth; only repeated rows and file integrity are checked", nil
	}
	ts := &truths{splits: splits}
	var errs []error
	for _, f := range files {
		fd, err := os.Open(f.File)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t, err := ingest.ReadTruth(fd)
		fd.Close()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", f.File, err))
		case !t.Complete:
			errs = append(errs, fmt.Errorf("%s: incomplete (no summary line: the worker did not end its generator)", f.File))
		default:
			ts.all = append(ts.all, t)
			ts.workers = append(ts.workers, f.Worker)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return openSpecs(), "unreadable", fmt.Errorf("chaos: ground truth: %w", err)
	}
	specs := []check.Spec{ts.hostSpec(set), ts.serviceSpec(set), ts.certSpec(set), ts.scanSpec(set)}
	for _, d := range set.SumStats {
		specs = append(specs, ts.sumstatSpec(d))
	}
	// The rest: repeated rows only.
	specs = append(specs,
		check.Spec{Name: "notice/other", Path: "notice", Key: []string{"ts", "note", "src", "msg"}, Open: true, Extra: []string{"note"},
			Select: func(get func(string) string) bool { return !strings.HasPrefix(get("note"), "Scan::") }},
		check.Spec{Name: "sumstats/other", Path: "sumstats", Key: logKeys[4].key, Open: true,
			Select: func(get func(string) string) bool {
				return get("event") != "epoch_result" || !set.hasSumStat(get("name"))
			}},
		check.Spec{Path: "software", Key: logKeys[5].key, Open: true},
		check.Spec{Path: "conn", Key: logKeys[6].key, Open: true})
	var n uint64
	for _, t := range ts.all {
		n += t.Summary.Connections
	}
	note := fmt.Sprintf("%d generators, %d connections", len(ts.all), n)
	if len(splits) > 0 {
		note += fmt.Sprintf(", %d splits", len(splits))
	}
	return specs, note, nil
}

// truths are the workers' ground truths and the run's splits.
type truths struct {
	all     []*ingest.Truth
	workers []string // all[i] is workers[i]'s
	splits  []Split
}

func (s TruthSettings) hasSumStat(name string) bool {
	for _, d := range s.SumStats {
		if d.Name == name {
			return true
		}
	}
	return false
}

// sightings are, per key, each worker's first time.
type sightings map[string]map[string]time.Time

func (s sightings) add(key, worker string, ts time.Time) {
	if s[key] == nil {
		s[key] = map[string]time.Time{}
	}
	if cur, ok := s[key][worker]; !ok || ts.Before(cur) {
		s[key][worker] = ts
	}
}

// expects turns sightings into expectations: any worker's first time is
// acceptable (the owner logs whichever arrives first), once, or twice for
// a key first seen on both sides of a split.
func (s sightings) expects(splits []Split) map[string]check.Expect {
	want := make(map[string]check.Expect, len(s))
	for key, first := range s {
		e := check.Expect{}
		for _, ts := range first {
			e.TS = append(e.TS, ts.UnixNano())
		}
		slices.Sort(e.TS)
		if bothSides(first, splits) {
			e.Max = 2
		}
		want[key] = e
	}
	return want
}

// bothSides reports whether a key was first seen during a split, on both
// of its sides.
func bothSides(first map[string]time.Time, splits []Split) bool {
	var earliest time.Time
	for _, ts := range first {
		if earliest.IsZero() || ts.Before(earliest) {
			earliest = ts
		}
	}
	for _, sp := range splits {
		if earliest.Before(sp.Start) {
			continue
		}
		in, out := false, false
		for w, ts := range first {
			if ts.After(sp.End.Add(splitGrace)) {
				continue
			}
			if slices.Contains(sp.Side, w) {
				in = true
			} else {
				out = true
			}
		}
		if in && out {
			return true
		}
	}
	return false
}

// hostSpec: every local host that completed a handshake, at a generator's
// first handshake of it.
func (ts *truths) hostSpec(set TruthSettings) check.Spec {
	seen := sightings{}
	for i, t := range ts.all {
		for h, at := range t.Hosts {
			if set.local(h) {
				seen.add(check.Key(h.String()), ts.workers[i], at)
			}
		}
	}
	return check.Spec{Path: "known_hosts", Key: logKeys[0].key, Want: seen.expects(ts.splits)}
}

// serviceSpec: every service of a local responder.
func (ts *truths) serviceSpec(set TruthSettings) check.Spec {
	seen := sightings{}
	for i, t := range ts.all {
		for k, at := range t.Services {
			if set.local(k.Host) {
				seen.add(check.Key(k.Host.String(), strconv.Itoa(int(k.Port)), k.Proto, k.Service), ts.workers[i], at)
			}
		}
	}
	return check.Spec{Path: "known_services", Key: logKeys[1].key, Want: seen.expects(ts.splits)}
}

// certSpec: every certificate of a local TLS server. The log has no hash,
// so certificates that differ only in it (two generators' keys for the
// same server) share a key that may have one row per certificate.
func (ts *truths) certSpec(set TruthSettings) check.Spec {
	seen := sightings{}
	hashes := map[string]map[string]bool{}
	for i, t := range ts.all {
		for k, c := range t.Certs {
			if !set.local(k.Host) {
				continue
			}
			key := check.Key(k.Host.String(), strconv.Itoa(int(k.Port)), tsvString(c.Subject), tsvString(c.Issuer), tsvString(c.Serial))
			seen.add(key, ts.workers[i]+"/"+k.SHA1, c.TS)
			if hashes[key] == nil {
				hashes[key] = map[string]bool{}
			}
			hashes[key][k.SHA1] = true
		}
	}
	want := seen.expects(nil)
	for key, h := range hashes {
		e := want[key]
		e.Max = len(h)
		if bothSides(workersOf(seen[key]), ts.splits) {
			e.Max *= 2
		}
		want[key] = e
	}
	return check.Spec{Path: "known_certs", Key: logKeys[2].key, Want: want}
}

// workersOf maps "worker/hash" sightings to each worker's first time.
func workersOf(first map[string]time.Time) map[string]time.Time {
	out := map[string]time.Time{}
	for k, ts := range first {
		w, _, _ := strings.Cut(k, "/")
		if cur, ok := out[w]; !ok || ts.Before(cur) {
			out[w] = ts
		}
	}
	return out
}

// tsvString renders a string as a TSV log does when it needs no escaping.
func tsvString(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}

var scanNotes = map[string]string{"address": "Scan::Address_Scan", "port": "Scan::Port_Scan", "random": "Scan::Random_Scan"}

// scanSpec: one scan notice per originator whose unique (victim, port)
// attempts reach its threshold (remote or local), of its sweep's kind for
// the generators' scanners. When two generators share an originator the
// merged count is only bounded: a notice is required when one generator
// alone reached the threshold and allowed when their sum does.
func (ts *truths) scanSpec(set TruthSettings) check.Spec {
	remote, local := 25, 250
	if set.ScanThreshold > 0 {
		remote = set.ScanThreshold
	}
	if set.LocalScanThreshold > 0 {
		local = set.LocalScanThreshold
	}
	type agg struct {
		maxU, sumU uint64
		kind       string
		scanner    bool
	}
	all := map[netip.Addr]*agg{}
	for _, t := range ts.all {
		for h, o := range t.Originators {
			a := all[h]
			if a == nil {
				a = &agg{}
				all[h] = a
			}
			a.maxU, a.sumU = max(a.maxU, o.Unique), a.sumU+o.Unique
			a.kind, a.scanner = o.Kind, a.scanner || o.Scanner
		}
	}
	s := check.Spec{Name: "notice/scan", Path: "notice", Key: []string{"src"}, Want: map[string]check.Expect{},
		Extra:  []string{"note"},
		Select: func(get func(string) string) bool { return strings.HasPrefix(get("note"), "Scan::") }}
	hosts := make([]netip.Addr, 0, len(all))
	for h := range all {
		hosts = append(hosts, h)
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Less(hosts[j]) })
	for _, h := range hosts {
		a := all[h]
		th := uint64(remote)
		if set.local(h) {
			th = uint64(local)
		}
		if a.sumU < th {
			continue
		}
		e := check.Expect{Optional: a.maxU < th}
		if len(ts.splits) > 0 {
			e.Max = 2 // each side of a split may see the threshold crossed
		}
		if note, ok := scanNotes[a.kind]; ok && a.scanner {
			e.Fields = map[string]string{"note": note}
		}
		s.Want[check.Key(h.String())] = e
	}
	return s
}

// sumstatSpec: one epoch_result row per key and epoch window of d, with
// the window's observation count (num) and distinct values (unique).
func (ts *truths) sumstatSpec(d SumStat) check.Spec {
	s := check.Spec{Name: "sumstats/" + d.Name, Path: "sumstats", Key: []string{"epoch_start", "key_host"},
		Want: map[string]check.Expect{}, Extra: []string{"name", "event", "stream"},
		Select: func(get func(string) string) bool {
			return get("name") == d.Name && get("event") == "epoch_result" && get("stream") == d.Stream
		}}
	merged := ingest.NewTruth()
	for _, t := range ts.all {
		part := ingest.NewTruth()
		for k, v := range t.SumStats {
			if k.Stream == d.Stream && k.Epoch == d.Epoch {
				part.SumStats[k] = v
			}
		}
		merged.Merge(part)
	}
	for k, v := range merged.SumStats {
		start := fmt.Sprintf("%d.%06d", k.Start/1e9, k.Start%1e9/1e3)
		e := check.Expect{Nums: map[string]float64{"num": float64(v.Num)}}
		if v.Approx {
			// Merged from generators whose distinct values are not listed:
			// at least the larger count, at most the sum.
			var sum uint64
			for _, t := range ts.all {
				sum += t.SumStats[k].Unique
			}
			e.Ranges = map[string][2]float64{"unique": {float64(v.Unique), float64(sum)}}
		} else {
			e.Nums["unique"] = float64(v.Unique)
		}
		if ts.overlapsSplit(k.Start, d.Epoch) {
			// Both sides of a split count their own observations: up to
			// one result per side, whose counts ground truth cannot split.
			e = check.Expect{Max: 2}
		}
		s.Want[check.Key(start, k.Key.String())] = e
	}
	return s
}

// overlapsSplit reports whether the window [start, start+epoch) overlaps a
// split (with its grace).
func (ts *truths) overlapsSplit(start int64, epoch time.Duration) bool {
	ws, we := time.Unix(0, start), time.Unix(0, start).Add(epoch)
	for _, sp := range ts.splits {
		if ws.Before(sp.End.Add(splitGrace)) && we.After(sp.Start) {
			return true
		}
	}
	return false
}

// supports reports whether the node binary bin has the flag name.
func supports(bin, name string) bool {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return strings.Contains(string(out), "-"+name+" ") || strings.Contains(string(out), "-"+name+"\n")
}
