package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInvalidFlagsExit2(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"no role":                 {[]string{}, "--role"},
		"bad role":                {[]string{"--role", "proxy"}, "--role"},
		"bad tracking":            {[]string{"--role", "worker", "--known-hosts-tracking", "some"}, "--known-hosts-tracking"},
		"bad software tracking":   {[]string{"--role", "worker", "--software-tracking", "most"}, "--software-tracking"},
		"bad local nets":          {[]string{"--role", "worker", "--local-nets", "10.0.0.0/33"}, "--local-nets"},
		"bad profile":             {[]string{"--role", "worker", "--gossip-profile", "wan2"}, "--gossip-profile"},
		"bad log format":          {[]string{"--role", "manager", "--log-dir", "x", "--log-format", "xml"}, "--log-format"},
		"manager without dir":     {[]string{"--role", "manager"}, "--log-dir"},
		"read on datanode":        {[]string{"--role", "datanode", "--read", "x.pcap"}, "--read"},
		"read and generate":       {[]string{"--role", "worker", "--read", "x.pcap", "--generate"}, "exclusive"},
		"zero partitions":         {[]string{"--role", "worker", "--partitions", "0"}, "--partitions"},
		"negative expiry":         {[]string{"--role", "worker", "--known-hosts-expire", "-1h"}, "--known-hosts-expire"},
		"unknown flag":            {[]string{"--role", "worker", "--frobnicate"}, "frobnicate"},
		"stray argument":          {[]string{"--role", "worker", "extra"}, "extra"},
		"bad generator":           {[]string{"--role", "worker", "--generate", "--gen-hosts", "0"}, "--gen"},
		"bad log level":           {[]string{"--role", "worker", "--log-level", "loud"}, "--log-level"},
		"zero scan threshold":     {[]string{"--role", "datanode", "--scan-threshold", "0"}, "--scan-threshold"},
		"bad darknets":            {[]string{"--role", "datanode", "--darknets", "10.0.0.0/8,nope"}, "--darknets"},
		"bad scan timeout":        {[]string{"--role", "datanode", "--scan-timeout", "0s"}, "--scan-timeout"},
		"interface on manager":    {[]string{"--role", "manager", "--log-dir", "x", "--interface", "eth0"}, "--interface"},
		"zero max connections":    {[]string{"--role", "worker", "--max-connections", "0"}, "--max-connections"},
		"truth without generator": {[]string{"--role", "worker", "--gen-truth", "t.json"}, "--gen-truth"},
		"truth unwritable": {[]string{"--role", "worker", "--generate", "--gen-truth", "/nonexistent/dir/t.json"},
			"--gen-truth"},
		"failures over 100%": {[]string{"--role", "worker", "--generate", "--gen-unanswered-percent", "70",
			"--gen-rejected-percent", "40"}, "exceed 100"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr %q does not mention %q", stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("stdout not empty: %q", stdout.String())
			}
		})
	}
}

func TestFlagsBuildConfig(t *testing.T) {
	o, err := parse([]string{"--role", "worker", "--join", "127.0.0.1:1,127.0.0.1:2", "--join", "127.0.0.1:3",
		"--read", "a,b.pcap", "--read", "c.pcap", "--local-nets", "141.142.0.0/16", "--known-hosts-tracking", "all",
		"--gossip-profile", "fast", "--partitions", "101", "--software-tracking", "remote",
		"--software-version-changes", "OpenSSH, Apache,"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if got := strings.Join(c.Join, " "); got != "127.0.0.1:1 127.0.0.1:2 127.0.0.1:3" {
		t.Errorf("join = %q", got)
	}
	if got := strings.Join(c.Read, " "); got != "a,b.pcap c.pcap" {
		t.Errorf("read = %q (file names keep their commas)", got)
	}
	if c.Ring.Partitions != 101 || o.an.Hosts.Tracking.String() != "all" || o.an.Hosts.LocalNets.String() != "141.142.0.0/16" {
		t.Errorf("config = %+v, analyses %+v", c, o.an)
	}
	sw := o.an.Software
	if sw.Tracking.String() != "remote" || strings.Join(sw.Interesting, " ") != "OpenSSH Apache" || sw.LocalNets.String() != "141.142.0.0/16" {
		t.Errorf("software config %+v", sw)
	}
}

func TestSumStatsConfigErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "defs.yaml")
	if err := os.WriteFile(bad, []byte("sumstats:\n  - name: t\n    epoch: 3s\n    reducers:\n      - stream: s\n        apply: [sum, medain]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct{ file, want string }{
		"unknown reducer": {bad, bad + ":6:"},
		"missing file":    {filepath.Join(dir, "nope.yaml"), "nope.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run([]string{"--role", "datanode", "--sumstats", tt.file}, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr %q does not name %q", stderr.String(), tt.want)
			}
			t.Logf("%s", strings.TrimSpace(stderr.String()))
		})
	}
}
