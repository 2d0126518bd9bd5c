package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"shoal/gossip"
	"shoal/node"
	"shoal/pki"
)

// parseSecurity reads the security flags' files into c and refuses an
// unprotected non-loopback listener (node.CheckExposure).
func parseSecurity(c *node.Config, keyFile, clusterName, tokenFile string, insecure bool) error {
	s := &c.Security
	s.ClusterName, s.Insecure = clusterName, insecure
	if keyFile != "" {
		keys, err := gossip.ReadKeyFile(keyFile)
		if err != nil {
			return fmt.Errorf("--gossip-key-file: %w", err)
		}
		s.GossipKeys, s.GossipKeyFile = keys, keyFile
	}
	if len(clusterName) > 255 {
		return fmt.Errorf("--cluster-name: %d bytes, at most 255", len(clusterName))
	}
	if tokenFile != "" {
		tok, err := readToken(tokenFile)
		if err != nil {
			return fmt.Errorf("--http-token-file: %w", err)
		}
		s.HTTPToken = tok
	}
	if err := node.CheckExposure(*c); err != nil {
		return err
	}
	return nil
}

// parseTLS sets the mutual TLS files: all three or none, and with TLS the
// node must be named (its certificate binds the name).
func parseTLS(c *node.Config, name, ca, cert, key string) error {
	if ca == "" && cert == "" && key == "" {
		return nil
	}
	if ca == "" || cert == "" || key == "" {
		return errors.New("--tls-ca, --tls-cert and --tls-key go together")
	}
	if name == "" {
		return errors.New("--name is required with --tls-*: the certificate binds the node's name")
	}
	f, err := pki.Load(pki.Paths{CA: ca, Cert: cert, Key: key}, time.Now)
	if err != nil {
		return fmt.Errorf("--tls-*: %w", err)
	}
	if id := f.Identity(); id.Name != name || id.Role != string(c.Role) {
		return fmt.Errorf("--tls-cert: %s names %s, this node is --role %s --name %s", cert, id, c.Role, name)
	}
	c.Security.TLS = pki.Paths{CA: ca, Cert: cert, Key: key}
	return nil
}

// readToken reads a bearer token: the file's content without surrounding
// white space.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("%s: the token must be one word", path)
	}
	return tok, nil
}
