package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"shoal/node"
)

// members prints the cluster's members as seen by the node serving addr.
func members(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("node members", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("http", "", "status `host:port` of any node (required)")
	var creds clientFlags
	creds.register(fs)
	timeout := fs.Duration("timeout", 5*time.Second, "request timeout")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *addr == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "node members: usage: node members --http host:port [--token-file file]")
		return 2
	}
	c, err := newAPIClient(*addr, creds, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "node members: %v\n", err)
		return 2
	}
	var st node.Status
	if err := c.do(http.MethodGet, "/status", nil, &st); err != nil {
		fmt.Fprintf(stderr, "node members: %v\n", err)
		return 1
	}
	owned := map[string]int{}
	for _, r := range st.Rings {
		for m, c := range r.Owned {
			owned[m] = c
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tGOSSIP\tDATA\tPARTITIONS")
	for _, m := range st.Members {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", m.Name, m.Role, m.State, m.Addr, m.DataAddr, owned[m.Name])
	}
	tw.Flush()
	return 0
}
