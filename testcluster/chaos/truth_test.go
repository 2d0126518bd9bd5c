package chaos

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shoal/testcluster/check"
)

// Two generators' ground truth, as --gen-truth writes it.
const (
	truthA = `{"type":"host","host":"10.0.0.1","ns":1700000001000000000}
{"type":"host","host":"10.0.0.2","ns":1700000002000000000}
{"type":"host","host":"11.0.0.1","ns":1700000002000000000}
{"type":"service","host":"10.0.0.2","port":80,"proto":"tcp","service":"HTTP","ns":1700000002500000000}
{"type":"cert","host":"10.0.0.2","port":443,"ns":1700000003000000000,"sha1":"aa","subject":"CN=a","issuer":"CN=ca","serial":"01"}
{"type":"originator","host":"203.0.113.1","scanner":true,"kind":"port","unique":30,"unique_hosts":1,"unique_ports":30}
{"type":"originator","host":"203.0.113.2","scanner":true,"kind":"address","unique":20,"unique_hosts":20,"unique_ports":1}
{"type":"sumstats","host":"10.0.0.1","stream":"conn.established","epoch_ns":10000000000,"start_ns":1700000000000000000,"num":2,"unique":1,"values":["11.0.0.1"]}
{"type":"sumstats","host":"203.0.113.1","stream":"conn.attempt","epoch_ns":10000000000,"start_ns":1700000000000000000,"num":30,"unique":30}
{"type":"summary","seed":1,"connections":10}
`
	truthB = `{"type":"host","host":"10.0.0.1","ns":1700000001500000000}
{"type":"cert","host":"10.0.0.2","port":443,"ns":1700000004000000000,"sha1":"bb","subject":"CN=a","issuer":"CN=ca","serial":"01"}
{"type":"originator","host":"203.0.113.2","scanner":true,"kind":"address","unique":20,"unique_hosts":20,"unique_ports":1}
{"type":"sumstats","host":"10.0.0.1","stream":"conn.established","epoch_ns":10000000000,"start_ns":1700000000000000000,"num":1,"unique":1,"values":["11.0.0.2"]}
{"type":"sumstats","host":"203.0.113.1","stream":"conn.attempt","epoch_ns":10000000000,"start_ns":1700000000000000000,"num":5,"unique":5}
{"type":"summary","seed":2,"connections":5}
`
)

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const tsvHeader = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t%s\n#open\t2023-11-14-22-13-20\n#fields\t%s\n#types\t%s\n"

func tsv(path, fields, types string, rows ...string) string {
	h := strings.Replace(strings.Replace(strings.Replace(tsvHeader, "%s", path, 1), "%s", fields, 1), "%s", types, 1)
	return h + strings.Join(rows, "\n") + "\n"
}

// TestSpecs: the ground truth of two generators becomes specs that pass
// logs holding exactly what it implies (either generator's first time, one
// row per certificate, a required and an allowed scan notice, SumStats
// counts merged) and catch what differs.
func TestSpecs(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	writeFile(t, a, truthA)
	writeFile(t, b, truthB)
	set := TruthSettings{LocalNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		SumStats: []SumStat{{Name: "conns", Stream: "conn.established", Epoch: 10 * time.Second},
			{Name: "scans", Stream: "conn.attempt", Epoch: 10 * time.Second}}}
	specs, note, err := Specs([]WorkerTruth{{"worker-1", a}, {"worker-2", b}}, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	if note != "2 generators, 15 connections" {
		t.Errorf("note %q", note)
	}
	logs := t.TempDir()
	writeFile(t, filepath.Join(logs, "known_hosts.log"), tsv("known_hosts", "ts\thost", "time\taddr",
		"1700000001.500000\t10.0.0.1", // the second generator's first time: fine
		"1700000002.000000\t10.0.0.2"))
	writeFile(t, filepath.Join(logs, "known_services.log"), tsv("known_services",
		"ts\thost\tport_num\tport_proto\tservice", "time\taddr\tport\tenum\tset[string]",
		"1700000002.500000\t10.0.0.2\t80\ttcp\tHTTP"))
	writeFile(t, filepath.Join(logs, "known_certs.log"), tsv("known_certs",
		"ts\thost\tport_num\tsubject\tissuer_subject\tserial", "time\taddr\tport\tstring\tstring\tstring",
		"1700000003.000000\t10.0.0.2\t443\tCN=a\tCN=ca\t01",
		"1700000004.000000\t10.0.0.2\t443\tCN=a\tCN=ca\t01",  // the other generator's certificate
		"1700000005.000000\t10.0.0.2\t443\tCN=a\tCN=ca\t01")) // one too many
	writeFile(t, filepath.Join(logs, "notice.log"), tsv("notice", "ts\tnote\tsrc\tmsg", "time\tenum\taddr\tstring",
		"1700000009.000000\tScan::Port_Scan\t203.0.113.1\tx",
		"1700000009.000000\tScan::Address_Scan\t203.0.113.2\tx")) // allowed: 20+20 attempts may reach 25
	writeFile(t, filepath.Join(logs, "sumstats.log"), tsv("sumstats",
		"ts\tname\tevent\tepoch_start\tkey_host\tkey_str\tstream\tnum\tunique\tthreshold",
		"time\tstring\tenum\ttime\taddr\tstring\tstring\tcount\tcount\tdouble",
		"1700000010.000000\tconns\tepoch_result\t1700000000.000000\t10.0.0.1\t-\tconn.established\t3\t2\t-",
		"1700000010.000000\tscans\tepoch_result\t1700000000.000000\t203.0.113.1\t-\tconn.attempt\t35\t33\t-", // 30..35
		"1700000010.000000\tconns\tepoch_finished\t1700000000.000000\t-\t-\t-\t-\t-\t-"))
	rep, err := check.Check([]string{logs}, specs, 3)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.Write(&out)
	t.Logf("\n%s", out.String())
	want := map[string][5]int{ // rows, expected, missing, duplicate, wrong
		"known_hosts":    {2, 2, 0, 0, 0},
		"known_services": {1, 1, 0, 0, 0},
		"known_certs":    {3, 1, 0, 1, 0},
		"notice/scan":    {2, 1, 0, 0, 0},
		"sumstats/conns": {1, 1, 0, 0, 0},
		"sumstats/scans": {1, 1, 0, 0, 0},
		"sumstats/other": {1, 0, 0, 0, 0},
	}
	for name, w := range want {
		l := rep.Log(name)
		if l == nil {
			t.Errorf("no report for %s", name)
			continue
		}
		if got := [5]int{l.Rows, l.Expected, l.Missing, l.Duplicate, l.Wrong}; got != w {
			t.Errorf("%s: rows, expected, missing, duplicate, wrong = %v, want %v", name, got, w)
		}
	}
	if _, _, err := Specs([]WorkerTruth{{"worker-1", a}, {"worker-2", filepath.Join(dir, "missing.json")}}, set, nil); err == nil {
		t.Error("Specs with a missing truth file succeeded")
	}
	writeFile(t, b, strings.SplitAfter(truthB, "\n")[0]) // no summary: the worker never ended its generator
	if _, _, err := Specs([]WorkerTruth{{"worker-1", a}, {"worker-2", b}}, set, nil); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("Specs with an incomplete truth = %v", err)
	}
}

// TestBothSides: a key may be logged once per side only when it was first
// seen during a split, on both of its sides.
func TestBothSides(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	splits := []Split{{Start: at(10), End: at(30), Side: []string{"worker-2"}}}
	tests := map[string]struct {
		first map[string]time.Time
		want  bool
	}{
		"both sides during the split":       {map[string]time.Time{"worker-1": at(12), "worker-2": at(20)}, true},
		"one side only":                     {map[string]time.Time{"worker-1": at(12)}, false},
		"seen before the split":             {map[string]time.Time{"worker-1": at(5), "worker-2": at(20)}, false},
		"other side only after the heal":    {map[string]time.Time{"worker-1": at(40), "worker-2": at(20)}, false},
		"other side just after the heal":    {map[string]time.Time{"worker-1": at(32), "worker-2": at(20)}, true},
		"both on the cut-off side's worker": {map[string]time.Time{"worker-2": at(15)}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := bothSides(tc.first, splits); got != tc.want {
				t.Fatalf("bothSides = %v, want %v", got, tc.want)
			}
		})
	}
	if bothSides(map[string]time.Time{"worker-1": at(12), "worker-2": at(20)}, nil) {
		t.Error("bothSides without splits")
	}
}
