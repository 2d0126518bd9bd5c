package testcluster

import (
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"shoal/gossip"
	"shoal/pki"
)

// Security is the throw-away credentials of a cluster started with
// Options.Secure: a gossip key, a cluster name, an HTTP bearer token and a
// CA that issues each node a certificate for its name and role (mutual TLS
// for the event transport and HTTPS), kept under <Dir>/secure/. Each node gets its own copy of the keyring file
// (<Dir>/<name>.keys), which it rewrites on `node keys` changes; a node started
// later copies KeyFile, so a test that rotates keys calls SetKeys for the
// nodes it adds afterwards. Safe for concurrent use.
type Security struct {
	Dir         string
	ClusterName string
	Token       string
	TokenFile   string
	// KeyFile is the keyring copied to every node started from now on.
	KeyFile string
	// CAFile is the cluster CA certificate; CAKeyFile its key.
	CAFile, CAKeyFile string

	mu sync.Mutex
	ca *pki.CA
}

func newSecurity(dir string) (*Security, error) {
	s := &Security{Dir: filepath.Join(dir, "secure"), ClusterName: "testcluster"}
	var err error
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("testcluster: secure: %w", err)
	}
	s.KeyFile = filepath.Join(s.Dir, "gossip.keys")
	if err := gossip.WriteKeyFile(s.KeyFile, [][]byte{gossip.GenerateKey()}); err != nil {
		return nil, fmt.Errorf("testcluster: secure: %w", err)
	}
	if s.ca, err = pki.NewCA(pki.CARequest{Name: "testcluster CA"}, time.Now()); err != nil {
		return nil, fmt.Errorf("testcluster: secure: %w", err)
	}
	s.CAFile, s.CAKeyFile = filepath.Join(s.Dir, "ca.pem"), filepath.Join(s.Dir, "ca-key.pem")
	caKey, err := s.ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	if err := pki.WriteFile(s.CAFile, s.ca.CertPEM(), 0o644, true); err != nil {
		return nil, err
	}
	if err := pki.WriteFile(s.CAKeyFile, caKey, 0o600, true); err != nil {
		return nil, err
	}
	s.Token = hex.EncodeToString(gossip.GenerateKey())
	s.TokenFile = filepath.Join(s.Dir, "http.token")
	if err := os.WriteFile(s.TokenFile, []byte(s.Token+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("testcluster: secure: %w", err)
	}
	return s, nil
}

// Keys returns the keys of KeyFile, the primary first.
func (s *Security) Keys() ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return gossip.ReadKeyFile(s.KeyFile)
}

// SetKeys replaces KeyFile's keys (for nodes started from now on).
func (s *Security) SetKeys(keys [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return gossip.WriteKeyFile(s.KeyFile, keys)
}

// nodeArgs returns the security flags of node p, creating its keyring file
// from KeyFile if it has none yet (a restarted node keeps its own).
func (s *Security) nodeArgs(p *Proc) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Stat(p.KeyFile); os.IsNotExist(err) {
		keys, err := gossip.ReadKeyFile(s.KeyFile)
		if err != nil {
			return nil, err
		}
		if err := gossip.WriteKeyFile(p.KeyFile, keys); err != nil {
			return nil, err
		}
	}
	cert, key := s.CertFiles(p.Name + p.suffix)
	if _, err := os.Stat(cert); os.IsNotExist(err) {
		if err := s.issueLocked(p.Role, p.Name, cert, key); err != nil {
			return nil, err
		}
	}
	return []string{"--gossip-key-file", p.KeyFile, "--cluster-name", s.ClusterName, "--http-token-file", s.TokenFile,
		"--tls-ca", s.CAFile, "--tls-cert", cert, "--tls-key", key}, nil
}

// CertFiles returns where the certificate and key of node name are.
func (s *Security) CertFiles(name string) (cert, key string) {
	return filepath.Join(s.Dir, name+".pem"), filepath.Join(s.Dir, name+"-key.pem")
}

// Issue writes a certificate for role and name, signed by the cluster CA,
// to cert and key (replacing them: certificate rotation is replacing the
// files a node was started with).
func (s *Security) Issue(role, name, cert, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(role, name, cert, key)
}

func (s *Security) issueLocked(role, name, cert, key string) error {
	c, k, err := s.ca.Issue(pki.Request{Role: role, Name: name}, time.Now())
	if err != nil {
		return fmt.Errorf("testcluster: issue %s/%s: %w", role, name, err)
	}
	if err := pki.WriteFile(key, k, 0o600, true); err != nil {
		return err
	}
	return pki.WriteFile(cert, c, 0o644, true)
}

// ClientTLS returns a TLS configuration that trusts the cluster CA (for
// HTTPS requests to the nodes).
func (s *Security) ClientTLS() (*tls.Config, error) { return pki.ClientTLS(s.CAFile, "", "") }

// securityArgs returns the flags spawn adds for p: the cluster's
// credentials with Options.Secure, and --insecure for listeners off
// loopback that nothing protects (network namespaces without
// Options.Secure).
func (c *Cluster) securityArgs(p *Proc) ([]string, error) {
	var args []string
	if c.sec != nil && !p.plain {
		a, err := c.sec.nodeArgs(p)
		if err != nil {
			return nil, fmt.Errorf("testcluster: %s: %w", p.Name, err)
		}
		args = a
	}
	if ip := net.ParseIP(p.host); ip != nil && !ip.IsLoopback() && (c.sec == nil || p.plain) {
		args = append(args, "--insecure")
	}
	return args, nil
}

// Security returns the cluster's credentials (nil without Options.Secure).
func (c *Cluster) Security() *Security { return c.sec }

// URL returns the URL of path on the node's HTTP address addr: https with
// Options.Secure (unless the node was started Plain).
func (p *Proc) URL(addr, path string) string {
	if p.c.sec != nil && !p.plain {
		return "https://" + addr + path
	}
	return "http://" + addr + path
}

// HTTPClient returns the harness's HTTP client: it trusts the cluster CA
// and presents the token with Options.Secure.
func (c *Cluster) HTTPClient() *http.Client { return c.client }

// tokenTransport adds the bearer token to every request.
type tokenTransport struct {
	token string
	next  http.RoundTripper
}

func (t *tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.next.RoundTrip(r)
}
