package testcluster

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"shoal/gossip"
)

// Security is the throw-away credentials of a cluster started with
// Options.Secure: a gossip key, a cluster name and an HTTP bearer token,
// kept under <Dir>/secure/. Each node gets its own copy of the keyring file
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

	mu sync.Mutex
}

func newSecurity(dir string) (*Security, error) {
	s := &Security{Dir: filepath.Join(dir, "secure"), ClusterName: "testcluster"}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("testcluster: secure: %w", err)
	}
	s.KeyFile = filepath.Join(s.Dir, "gossip.keys")
	if err := gossip.WriteKeyFile(s.KeyFile, [][]byte{gossip.GenerateKey()}); err != nil {
		return nil, fmt.Errorf("testcluster: secure: %w", err)
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
	return []string{"--gossip-key-file", p.KeyFile, "--cluster-name", s.ClusterName, "--http-token-file", s.TokenFile}, nil
}

// securityArgs returns the flags spawn adds for p: the cluster's
// credentials with Options.Secure, and --insecure for listeners off
// loopback that nothing protects (network namespaces; the event transport
// has no authentication yet).
func (c *Cluster) securityArgs(p *Proc) ([]string, error) {
	var args []string
	if c.sec != nil && !p.plain {
		a, err := c.sec.nodeArgs(p)
		if err != nil {
			return nil, fmt.Errorf("testcluster: %s: %w", p.Name, err)
		}
		args = a
	}
	if ip := net.ParseIP(p.host); ip != nil && !ip.IsLoopback() {
		args = append(args, "--insecure")
	}
	return args, nil
}

// Security returns the cluster's credentials (nil without Options.Secure).
func (c *Cluster) Security() *Security { return c.sec }

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
