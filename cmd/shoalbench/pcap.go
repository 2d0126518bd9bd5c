package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"shoal/ingest"
	"shoal/packet"
)

// writePcap writes a generated capture file, and optionally its ground
// truth.
func writePcap(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shoalbench pcap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "capture `file` to write (required)")
	truth := fs.String("truth", "", "also write the ground truth to `file`")
	cfg := ingest.GeneratorConfig{Start: time.Unix(1700000000, 0).UTC()}
	fs.Int64Var(&cfg.Seed, "seed", 1, "generator seed")
	fs.IntVar(&cfg.Count, "count", 250000, "connections")
	fs.IntVar(&cfg.Hosts, "hosts", 10000, "client hosts")
	fs.IntVar(&cfg.Servers, "servers", 1000, "remote servers")
	fs.IntVar(&cfg.LocalServers, "local-servers", 100, "local servers")
	fs.IntVar(&cfg.Scanners, "scanners", 3, "remote scanners")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "shoalbench pcap: --out is required; no arguments")
		return 2
	}
	var tf *os.File
	if *truth != "" {
		var err error
		if tf, err = os.Create(*truth); err != nil {
			fmt.Fprintf(stderr, "shoalbench pcap: %v\n", err)
			return 1
		}
		defer tf.Close()
		cfg.Truth = tf
	}
	g, err := ingest.NewGenerator(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "shoalbench pcap: %v\n", err)
		return 2
	}
	n, err := generatePcap(g, *out)
	if err != nil {
		fmt.Fprintf(stderr, "shoalbench pcap: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %d connections, %d packets (seed %d, %d hosts, %d+%d servers, %d scanners)\n",
		*out, cfg.Count, n, cfg.Seed, cfg.Hosts, cfg.Servers, cfg.LocalServers, cfg.Scanners)
	return 0
}

// generatePcap runs g into a new capture file at path and returns the
// packet count.
func generatePcap(g *ingest.Generator, path string) (uint64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w, err := ingest.NewPcapWriter(f)
	if err != nil {
		f.Close()
		return 0, err
	}
	var werr error
	_, err = g.Run(context.Background(), func(p *packet.Packet) {
		if werr == nil {
			werr = w.Write(p)
		}
	})
	err = errors.Join(err, werr, w.Flush(), f.Close())
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return w.Packets(), nil
}
