package logcmp

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Run is how a Zeek test ran, read from its script (test.zeek or
// test.test in a case folder of ../shared/zeek/tunnels/expected): the
// trace, whether checksums were validated (no -C), the protocol analyzers
// loaded (nil: Zeek's default scripts; empty: a bare "zeek -b"), the
// Tunnel::max_depth it set (0: the default), and whether it checked that no
// tunnel.log was written.
type Run struct {
	Trace     string
	Checksums bool
	Analyzers []string
	MaxDepth  int
	NoTunnel  bool
}

// protocolScripts maps the @load lines of the case scripts to analyzers.
var protocolScripts = map[string]string{
	"base/protocols/http": "HTTP", "base/protocols/dns": "DNS", "base/protocols/ssl": "SSL",
	"base/protocols/ssh": "SSH", "base/protocols/ntp": "NTP", "base/protocols/ftp": "FTP",
	"base/protocols/smtp": "SMTP",
}

var (
	execLine = regexp.MustCompile(`@TEST-EXEC: zeek ((?:-\S+ )*)(?:-r )?(\S+)`)
	depthRe  = regexp.MustCompile(`redef Tunnel::max_depth = (\d+)`)
)

// ReadRun reads the test script in dir.
func ReadRun(dir string) (Run, error) {
	var data []byte
	for _, name := range []string{"test.zeek", "test.test"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			data = b
			break
		}
	}
	if data == nil {
		return Run{}, fmt.Errorf("%s: no test script", dir)
	}
	run := Run{Checksums: true}
	bare := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if m := execLine.FindStringSubmatch(line); m != nil && run.Trace == "" {
			bare = strings.Contains(m[1], "b")
			run.Checksums = !strings.Contains(m[1], "C")
			run.Trace = filepath.Base(m[2])
		}
		if rest, ok := strings.CutPrefix(line, "@load "); ok {
			if a, ok := protocolScripts[strings.TrimSpace(rest)]; ok {
				run.Analyzers = append(run.Analyzers, a)
			}
		}
		if strings.Contains(line, "test ! -e tunnel.log") || strings.Contains(line, "! test -f tunnel.log") {
			run.NoTunnel = true
		}
		if m := depthRe.FindStringSubmatch(line); m != nil {
			run.MaxDepth, _ = strconv.Atoi(m[1])
		}
	}
	if run.Trace == "" {
		return Run{}, fmt.Errorf("%s: no @TEST-EXEC running zeek on a trace", dir)
	}
	if !bare {
		run.Analyzers = nil
	} else if run.Analyzers == nil {
		run.Analyzers = []string{}
	}
	return run, nil
}

// Flags returns the node flags that run a cluster as Zeek ran: cluster-wide
// ones (every role) and worker ones.
func (r Run) Flags() (cluster, worker []string) {
	switch {
	case r.Analyzers == nil:
	case len(r.Analyzers) == 0:
		cluster = append(cluster, "--analyzers", "none")
	default:
		cluster = append(cluster, "--analyzers", strings.Join(r.Analyzers, ","))
	}
	if r.Checksums {
		worker = append(worker, "--validate-checksums")
	}
	if r.MaxDepth > 0 {
		worker = append(worker, "--tunnel-max-depth", strconv.Itoa(r.MaxDepth))
	}
	return cluster, worker
}
