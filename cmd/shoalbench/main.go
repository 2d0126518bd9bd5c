// Command shoalbench runs shoal's whole-process benchmarks: real node
// processes on 127.0.0.1, figures measured side by side in one run.
//
//	go run ./cmd/shoalbench rss --duration 10m        # generator at full rate: worker RSS per minute
//	go run ./cmd/shoalbench pcap --out gen.pcap --count 250000  # a generated capture file (and its ground truth)
//
// Every subcommand prints what it ran (cluster size, R, TLS) and its
// figures. Exit status 0 when the run worked and met its bound, 1 when it
// did not, 2 for bad flags.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: shoalbench rss|pcap [flags]")
		return 2
	}
	switch args[0] {
	case "rss":
		return rss(args[1:], stdout, stderr)
	case "pcap":
		return writePcap(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "shoalbench: unknown subcommand %q (rss, pcap)\n", args[0])
	return 2
}
