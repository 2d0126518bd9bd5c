package main

import (
	"path/filepath"
	"strconv"

	"shoal/testcluster"
	"shoal/testcluster/check"
)

// logKeys are the columns that identify a row of each log the managers
// write: one row per key (per expiry or suppression window, longer than
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

// truthArgs are worker i's arguments for writing its ground truth, when
// the node binary can.
func (r *chaosRun) truthArgs(i int) []string {
	if !r.hasTruth {
		return nil
	}
	return []string{"--gen-truth=" + filepath.Join(r.dir, "truth", "worker-"+strconv.Itoa(i+1)+".json")}
}

// truthPath is the ground truth file of worker w, or "".
func (r *chaosRun) truthPath(w *testcluster.Proc) string {
	if !r.hasTruth {
		return ""
	}
	return filepath.Join(r.dir, "truth", w.Name+".json")
}

// specs turns the workers' ground truth into one check.Spec per log. With
// no ground truth (a node binary without --gen-truth) every log is checked
// for repeated rows and intact files only.
func (r *chaosRun) specs(res *result) ([]check.Spec, string, error) {
	var specs []check.Spec
	for _, l := range logKeys {
		specs = append(specs, check.Spec{Path: l.path, Key: l.key, Open: true})
	}
	return specs, "none: the node binary has no --gen-truth; only repeated rows and file integrity are checked", nil
}
