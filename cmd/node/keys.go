package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"shoal/gossip"
)

const keysUsage = `usage:
  node keys generate                                  print a new random AES-256 gossip key (base64)
  node keys list   --http host:port --token-file F    the keys of every member
  node keys install KEY --http host:port --token-file F
  node keys use     KEY --http host:port --token-file F
  node keys remove  KEY --http host:port --token-file F
KEY is the base64 key, or - to read it from standard input. Rotation without
downtime: install the new key, use it, remove the old one, checking that every
member answered each step.`

// keys runs `node keys ...`: exit 0 when every member applied the change,
// 1 when one did not (or was not reachable), 2 on usage errors.
func keys(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, keysUsage)
		return 2
	}
	if args[0] == "generate" {
		if len(args) > 1 {
			fmt.Fprintln(stderr, keysUsage)
			return 2
		}
		k := gossip.GenerateKey()
		fmt.Fprintln(stdout, gossip.EncodeKey(k))
		fmt.Fprintf(stderr, "fingerprint %s\n", gossip.KeyFingerprint(k))
		return 0
	}
	op, err := gossip.ParseKeyOp(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "node keys: unknown command %q\n%s\n", args[0], keysUsage)
		return 2
	}
	fs := flag.NewFlagSet("node keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("http", "", "HTTP `host:port` of any node (required)")
	var creds clientFlags
	creds.register(fs)
	timeout := fs.Duration("timeout", 15*time.Second, "how long to wait for every member's answer")
	var keyArg string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if err == flag.ErrHelp {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		if keyArg != "" {
			fmt.Fprintf(stderr, "node keys: unexpected argument %q\n", fs.Arg(0))
			return 2
		}
		keyArg, rest = fs.Arg(0), fs.Args()[1:]
	}
	if *addr == "" || (op == gossip.KeyList) != (keyArg == "") {
		fmt.Fprintln(stderr, keysUsage)
		return 2
	}
	var body any
	if op != gossip.KeyList {
		if keyArg == "-" {
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && line == "" {
				fmt.Fprintf(stderr, "node keys: reading the key from standard input: %v\n", err)
				return 2
			}
			keyArg = line
		}
		if _, err := gossip.DecodeKey(keyArg); err != nil {
			fmt.Fprintf(stderr, "node keys: %v\n", err)
			return 2
		}
		body = map[string]string{"key": strings.TrimSpace(keyArg)}
	}
	c, err := newAPIClient(*addr, creds, *timeout+5*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "node keys: %v\n", err)
		return 2
	}
	path := "/v1/keys?timeout=" + timeout.String()
	method := http.MethodGet
	if op != gossip.KeyList {
		path, method = "/v1/keys/"+op.String()+"?timeout="+timeout.String(), http.MethodPost
	}
	var res gossip.KeyResult
	if err := c.do(method, path, body, &res); err != nil {
		fmt.Fprintf(stderr, "node keys: %v\n", err)
		return 1
	}
	return printKeyResult(stdout, stderr, op, &res)
}

func printKeyResult(stdout, stderr io.Writer, op gossip.KeyOp, res *gossip.KeyResult) int {
	names := make([]string, 0, len(res.Nodes))
	for n := range res.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	holders, primaries := map[string]int{}, map[string]int{}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRESULT\tKEYS (primary first)")
	for _, name := range names {
		n := res.Nodes[name]
		result := "ok"
		switch {
		case !n.Answered && n.Err == "":
			result = "no answer"
		case n.Err != "":
			result = "error: " + n.Err
		}
		for i, k := range n.Keys {
			holders[k]++
			if i == 0 {
				primaries[k]++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, result, strings.Join(n.Keys, " "))
	}
	tw.Flush()
	fps := make([]string, 0, len(holders))
	for k := range holders {
		fps = append(fps, k)
	}
	sort.Strings(fps)
	for _, k := range fps {
		fmt.Fprintf(stdout, "key %s: installed on %d/%d, primary on %d\n", k, holders[k], len(names), primaries[k])
	}
	code := 0
	if failed := res.Failed(); len(failed) > 0 {
		fmt.Fprintf(stderr, "node keys: %s failed on %s\n", op, strings.Join(failed, ", "))
		code = 1
	}
	if len(res.NotAsked) > 0 {
		fmt.Fprintf(stderr, "node keys: not alive, not asked (give them the keyring file before they return): %s\n",
			strings.Join(res.NotAsked, ", "))
		if op != gossip.KeyList {
			code = 1
		}
	}
	return code
}
