package chaos

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
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

// Specs turns the workers' ground truth files into one check.Spec per log
// (or part of a log), and says what ground truth it used. With no files
// every log is checked for repeated rows and intact files only.
func Specs(truthFiles []string, set TruthSettings) ([]check.Spec, string, error) {
	if len(truthFiles) == 0 {
		return openSpecs(), "none: the node binary has no --gen-truth; only repeated rows and file integrity are checked", nil
	}
	var truths []*ingest.Truth
	var errs []error
	for _, f := range truthFiles {
		fd, err := os.Open(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t, err := ingest.ReadTruth(fd)
		fd.Close()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		case !t.Complete:
			errs = append(errs, fmt.Errorf("%s: incomplete (no summary line: the worker did not end its generator)", f))
		default:
			truths = append(truths, t)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return openSpecs(), "unreadable", fmt.Errorf("chaos: ground truth: %w", err)
	}
	specs := []check.Spec{hostSpec(truths, set), serviceSpec(truths, set), certSpec(truths, set), scanSpec(truths, set)}
	for _, d := range set.SumStats {
		specs = append(specs, sumstatSpec(truths, d))
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
	for _, t := range truths {
		n += t.Summary.Connections
	}
	return specs, fmt.Sprintf("%d generators, %d connections", len(truths), n), nil
}

func (s TruthSettings) hasSumStat(name string) bool {
	for _, d := range s.SumStats {
		if d.Name == name {
			return true
		}
	}
	return false
}

// firsts adds ts to the acceptable first times of key: each generator's
// own first time is one (the owner logs whichever arrives first).
func firsts(want map[string]check.Expect, key string, ts time.Time) {
	e := want[key]
	e.TS = append(e.TS, ts.UnixNano())
	want[key] = e
}

// hostSpec: every local host that completed a handshake, once, at a
// generator's first handshake of it.
func hostSpec(truths []*ingest.Truth, set TruthSettings) check.Spec {
	s := check.Spec{Path: "known_hosts", Key: logKeys[0].key, Want: map[string]check.Expect{}}
	for _, t := range truths {
		for h, ts := range t.Hosts {
			if set.local(h) {
				firsts(s.Want, check.Key(h.String()), ts)
			}
		}
	}
	return s
}

// serviceSpec: every service of a local responder, once.
func serviceSpec(truths []*ingest.Truth, set TruthSettings) check.Spec {
	s := check.Spec{Path: "known_services", Key: logKeys[1].key, Want: map[string]check.Expect{}}
	for _, t := range truths {
		for k, ts := range t.Services {
			if set.local(k.Host) {
				firsts(s.Want, check.Key(k.Host.String(), strconv.Itoa(int(k.Port)), k.Proto, k.Service), ts)
			}
		}
	}
	return s
}

// certSpec: every certificate of a local TLS server, once. The log has no
// hash, so certificates that differ only in it (two generators' keys for
// the same server) share a key that may have one row per certificate.
func certSpec(truths []*ingest.Truth, set TruthSettings) check.Spec {
	s := check.Spec{Path: "known_certs", Key: logKeys[2].key, Want: map[string]check.Expect{}}
	hashes := map[string]map[string]bool{}
	for _, t := range truths {
		for k, c := range t.Certs {
			if !set.local(k.Host) {
				continue
			}
			key := check.Key(k.Host.String(), strconv.Itoa(int(k.Port)), tsvString(c.Subject), tsvString(c.Issuer), tsvString(c.Serial))
			firsts(s.Want, key, c.TS)
			if hashes[key] == nil {
				hashes[key] = map[string]bool{}
			}
			hashes[key][k.SHA1] = true
		}
	}
	for key, h := range hashes {
		e := s.Want[key]
		e.Max = len(h)
		s.Want[key] = e
	}
	return s
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
func scanSpec(truths []*ingest.Truth, set TruthSettings) check.Spec {
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
	for _, t := range truths {
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
		if note, ok := scanNotes[a.kind]; ok && a.scanner {
			e.Fields = map[string]string{"note": note}
		}
		s.Want[check.Key(h.String())] = e
	}
	return s
}

// sumstatSpec: one epoch_result row per key and epoch window of d, with
// the window's observation count (num) and distinct values (unique).
func sumstatSpec(truths []*ingest.Truth, d SumStat) check.Spec {
	s := check.Spec{Name: "sumstats/" + d.Name, Path: "sumstats", Key: []string{"epoch_start", "key_host"},
		Want: map[string]check.Expect{}, Extra: []string{"name", "event", "stream"},
		Select: func(get func(string) string) bool {
			return get("name") == d.Name && get("event") == "epoch_result" && get("stream") == d.Stream
		}}
	merged := ingest.NewTruth()
	for _, t := range truths {
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
			for _, t := range truths {
				sum += t.SumStats[k].Unique
			}
			e.Ranges = map[string][2]float64{"unique": {float64(v.Unique), float64(sum)}}
		} else {
			e.Nums["unique"] = float64(v.Unique)
		}
		s.Want[check.Key(start, k.Key.String())] = e
	}
	return s
}

// supports reports whether the node binary bin has the flag name.
func supports(bin, name string) bool {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return strings.Contains(string(out), "-"+name+" ") || strings.Contains(string(out), "-"+name+"\n")
}
