package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"shoal/node"
	"shoal/pki"
)

const tlsUsage = `usage:
  node tls ca   [--dir D] [--common-name CN] [--days 1825] [--force]
        writes D/ca.pem and D/ca-key.pem (keep ca-key.pem off the nodes)
  node tls cert --role worker|datanode|manager --name NAME [--dir D] [--ca D/ca.pem] [--ca-key D/ca-key.pem]
                [--days 365] [--ip IP]... [--dns NAME]... [--force]
        writes D/NAME.pem and D/NAME-key.pem, binding shoal://ROLE/NAME`

// tlsCommand runs `node tls ca|cert`: exit 0 on success, 1 when a file
// cannot be read or written, 2 on usage errors.
func tlsCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, tlsUsage)
		return 2
	}
	switch args[0] {
	case "ca":
		return tlsCA(args[1:], stdout, stderr)
	case "cert":
		return tlsCert(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "node tls: unknown command %q\n%s\n", args[0], tlsUsage)
	return 2
}

func tlsCA(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("node tls ca", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "output `directory`")
	cn := fs.String("common-name", "shoal cluster CA", "the CA's common `name`")
	days := fs.Int("days", 5*365, "validity in days")
	force := fs.Bool("force", false, "overwrite existing files")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *days < 1 {
		fmt.Fprintln(stderr, "node tls ca: --days must be at least 1")
		return 2
	}
	ca, err := pki.NewCA(pki.CARequest{Name: *cn, Validity: time.Duration(*days) * 24 * time.Hour}, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "node tls ca: %v\n", err)
		return 1
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		fmt.Fprintf(stderr, "node tls ca: %v\n", err)
		return 1
	}
	certPath, keyPath := filepath.Join(*dir, "ca.pem"), filepath.Join(*dir, "ca-key.pem")
	if err := writeBoth(certPath, ca.CertPEM(), keyPath, keyPEM, *force); err != nil {
		fmt.Fprintf(stderr, "node tls ca: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n%s\n", certPath, keyPath)
	return 0
}

// ipList is a repeatable --ip flag.
type ipList []net.IP

func (l *ipList) String() string { return fmt.Sprint([]net.IP(*l)) }
func (l *ipList) Set(s string) error {
	ip := net.ParseIP(s)
	if ip == nil {
		return fmt.Errorf("%q is not an IP address", s)
	}
	*l = append(*l, ip)
	return nil
}

func tlsCert(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("node tls cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "the node's role: worker, datanode or manager (required)")
	name := fs.String("name", "", "the node's --name (required)")
	dir := fs.String("dir", ".", "output `directory` (and where the CA files are by default)")
	caFile := fs.String("ca", "", "CA certificate `file` (default DIR/ca.pem)")
	caKey := fs.String("ca-key", "", "CA key `file` (default DIR/ca-key.pem)")
	days := fs.Int("days", 365, "validity in days (at most the CA's)")
	force := fs.Bool("force", false, "overwrite existing files")
	var ips ipList
	var dns fileFlag
	fs.Var(&ips, "ip", "an IP address for HTTP clients that check the host (repeatable)")
	fs.Var(&dns, "dns", "a DNS name for HTTP clients that check the host (repeatable)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if _, err := node.ParseRole(*role); err != nil {
		fmt.Fprintf(stderr, "node tls cert: --role: %v\n", err)
		return 2
	}
	if *days < 1 {
		fmt.Fprintln(stderr, "node tls cert: --days must be at least 1")
		return 2
	}
	if err := (pki.Identity{Role: *role, Name: *name}).Validate(); err != nil {
		fmt.Fprintf(stderr, "node tls cert: %v\n", err)
		return 2
	}
	if *caFile == "" {
		*caFile = filepath.Join(*dir, "ca.pem")
	}
	if *caKey == "" {
		*caKey = filepath.Join(*dir, "ca-key.pem")
	}
	ca, err := pki.LoadCA(*caFile, *caKey)
	if err != nil {
		fmt.Fprintf(stderr, "node tls cert: %v\n", err)
		return 1
	}
	certPEM, keyPEM, err := ca.Issue(pki.Request{Role: *role, Name: *name, DNS: dns, IPs: ips,
		Validity: time.Duration(*days) * 24 * time.Hour}, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "node tls cert: %v\n", err)
		return 1
	}
	certPath, keyPath := filepath.Join(*dir, *name+".pem"), filepath.Join(*dir, *name+"-key.pem")
	if err := writeBoth(certPath, certPEM, keyPath, keyPEM, *force); err != nil {
		fmt.Fprintf(stderr, "node tls cert: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n%s\n", certPath, keyPath)
	return 0
}

// parseFlags parses args; on failure it returns the exit code and false.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}

// writeBoth writes a certificate (0644) and its key (0600), refusing to
// replace either unless force; nothing is written if either exists.
func writeBoth(certPath string, cert []byte, keyPath string, key []byte, force bool) error {
	if !force {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%s exists (give --force to replace it)", p)
			}
		}
	}
	if err := pki.WriteFile(keyPath, key, 0o600, force); err != nil {
		return err
	}
	return pki.WriteFile(certPath, cert, 0o644, force)
}
