package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestTrafficFlags(t *testing.T) {
	o, err := parse([]string{"--role", "worker", "--analyzers", "dns,ssl", "--disable-analyzers", "SSL",
		"--analyzer-ports", "DNS=5300/udp", "--analyzer-ports", "SSL=8443", "--validate-checksums",
		"--tunnel-max-depth", "2"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	a := o.cfg.Settings.Analyzers
	tcp, udp := a.ServerPorts()
	if !slices.Equal(a.Loaded, []string{"DNS", "SSL"}) || slices.Contains(tcp, 80) || !slices.Contains(tcp, 8443) ||
		!slices.Contains(udp, 5300) || slices.Contains(tcp, 5300) {
		t.Errorf("analyzers %+v: tcp %v udp %v", a, tcp, udp)
	}
	if !o.cfg.Checksums || o.cfg.Tunnels.MaxDepth != 2 || o.cfg.Tunnels.Disabled {
		t.Errorf("checksums %v tunnels %+v", o.cfg.Checksums, o.cfg.Tunnels)
	}
	o, _ = parse([]string{"--role", "worker", "--tunnel-max-depth", "0"}, &bytes.Buffer{})
	if !o.cfg.Tunnels.Disabled || o.cfg.Settings.Analyzers.Loaded != nil {
		t.Errorf("defaults: %+v %+v", o.cfg.Tunnels, o.cfg.Settings.Analyzers)
	}
	for args, want := range map[string]string{
		"--analyzers HTTP,GOPHER":       "--analyzers",
		"--disable-analyzers x":         "--disable-analyzers",
		"--analyzer-ports HTTP":         "--analyzer-ports",
		"--analyzer-ports HTTP=0":       "--analyzer-ports",
		"--tunnel-max-depth 9":          "--tunnel-max-depth",
		"--analyzer-ports NOPE=80/tcp":  "--analyzer-ports",
		"--tunnel-max-depth -1":         "--tunnel-max-depth",
		"--analyzer-ports HTTP=80/sctp": "--analyzer-ports",
	} {
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"--role", "worker"}, strings.Fields(args)...), &stdout, &stderr); code != 2 ||
			!strings.Contains(stderr.String(), want) {
			t.Errorf("%s: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}
