package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Paths names a node's PEM files: the cluster CA certificate(s), the
// node's certificate (it may be followed by intermediates) and its key.
type Paths struct {
	CA, Cert, Key string
}

// minCheckInterval bounds how often Files stats its files.
const minCheckInterval = time.Second

// snapshot is one consistent load of the files. Immutable.
type snapshot struct {
	pool  *x509.CertPool
	cert  tls.Certificate // Leaf set
	id    Identity
	stamp [3]fileStamp
}

type fileStamp struct {
	mtime time.Time
	size  int64
	ino   uint64
}

// Files is a node's CA, certificate and key as loaded from Paths, reloaded
// when any of the files changes (checked at most once a second, when a
// configuration or the status is asked for): certificate rotation is
// replacing the files. A reload that fails (unreadable, a certificate that
// does not match its key or chain to the CA, another identity) keeps the
// previous files in use and is counted. Safe for concurrent use.
type Files struct {
	paths Paths
	now   func() time.Time

	cur       atomic.Pointer[snapshot]
	mu        sync.Mutex // serialises checks
	lastCheck time.Time

	reloads      atomic.Uint64
	reloadErrors atomic.Uint64
	lastErr      atomic.Pointer[string]
}

// Load reads the files; any problem is an error. now is the clock used to
// check validity (time.Now in production).
func Load(p Paths, now func() time.Time) (*Files, error) {
	if p.CA == "" || p.Cert == "" || p.Key == "" {
		return nil, fmt.Errorf("%w: the CA, certificate and key files are all needed", ErrRequest)
	}
	if now == nil {
		now = time.Now
	}
	f := &Files{paths: p, now: now}
	s, err := load(p, now())
	if err != nil {
		return nil, err
	}
	f.cur.Store(s)
	f.lastCheck = now()
	return f, nil
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	st := fileStamp{mtime: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = uint64(sys.Ino)
	}
	return st, nil
}

// load reads and checks the three files.
func load(p Paths, now time.Time) (*snapshot, error) {
	s := &snapshot{}
	for i, path := range []string{p.CA, p.Cert, p.Key} {
		st, err := stampOf(path)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		s.stamp[i] = st
	}
	cab, err := os.ReadFile(p.CA)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	cas, err := ParseCerts(cab)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", p.CA, err)
	}
	s.pool = x509.NewCertPool()
	for _, c := range cas {
		s.pool.AddCert(c)
	}
	cb, err := os.ReadFile(p.Cert)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	kb, err := os.ReadFile(p.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	s.cert, err = tls.X509KeyPair(cb, kb)
	if err != nil {
		return nil, fmt.Errorf("pki: %s and %s: %w", p.Cert, p.Key, err)
	}
	leaf := s.cert.Leaf
	if s.id, err = IdentityOf(leaf); err != nil {
		return nil, fmt.Errorf("pki: %s: %w", p.Cert, err)
	}
	if _, err := verify(s.pool, s.cert.Certificate, now, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, fmt.Errorf("pki: %s does not verify against %s: %w", p.Cert, p.CA, err)
	}
	return s, nil
}

// verify checks a chain (leaf first, DER) against pool for usage at now and
// returns the leaf's identity.
func verify(pool *x509.CertPool, chain [][]byte, now time.Time, usage x509.ExtKeyUsage) (Identity, error) {
	if len(chain) == 0 {
		return Identity{}, errors.New("no certificate")
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return Identity{}, err
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return Identity{}, err
	}
	return IdentityOf(certs[0])
}

// Check reloads the files if any changed since the last load (at most once
// per second unless force). It reports whether a new load took effect; a
// failed reload returns its error and keeps the previous files.
func (f *Files) Check(force bool) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if !force && now.Sub(f.lastCheck) < minCheckInterval && now.After(f.lastCheck) {
		return false, nil
	}
	f.lastCheck = now
	old := f.cur.Load()
	same := true
	for i, path := range []string{f.paths.CA, f.paths.Cert, f.paths.Key} {
		st, err := stampOf(path)
		if err != nil || st != old.stamp[i] {
			same = false
			break
		}
	}
	if same {
		return false, nil
	}
	s, err := load(f.paths, now)
	if err == nil && s.id != old.id {
		err = fmt.Errorf("pki: %s now names %s, this node is %s", f.paths.Cert, s.id, old.id)
	}
	if err != nil {
		f.reloadErrors.Add(1)
		msg := err.Error()
		f.lastErr.Store(&msg)
		return false, err
	}
	f.cur.Store(s)
	f.reloads.Add(1)
	f.lastErr.Store(nil)
	return true, nil
}

// current returns the snapshot in use after a rate-limited check.
func (f *Files) current() *snapshot {
	_, _ = f.Check(false) // a failure is counted and kept in Status
	return f.cur.Load()
}

// Identity is the identity in this node's certificate.
func (f *Files) Identity() Identity { return f.cur.Load().id }

// Status describes the certificate in use and the reloads.
type Status struct {
	Identity     string `json:"identity"`
	Serial       string `json:"serial"`
	NotAfter     string `json:"not_after"` // RFC 3339
	Reloads      uint64 `json:"reloads"`
	ReloadErrors uint64 `json:"reload_errors"`
	LastError    string `json:"last_error,omitempty"`
}

// Status checks the files (rate-limited) and describes the one in use.
func (f *Files) Status() Status {
	s := f.current()
	st := Status{Identity: s.id.String(), Serial: s.cert.Leaf.SerialNumber.Text(16),
		NotAfter: s.cert.Leaf.NotAfter.UTC().Format(time.RFC3339),
		Reloads:  f.reloads.Load(), ReloadErrors: f.reloadErrors.Load()}
	if p := f.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	return st
}

// ServerConfig returns a TLS 1.3 server configuration that presents the
// current certificate and verifies client certificates against the current
// CA; requireClient makes a client certificate mandatory (the event
// transport), otherwise one is verified if given (HTTP, where a bearer
// token is the alternative). A client certificate without a shoal identity
// is refused. Read the identity with PeerIdentity.
func (f *Files) ServerConfig(requireClient bool) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			s := f.current()
			auth := tls.VerifyClientCertIfGiven
			if requireClient {
				auth = tls.RequireAndVerifyClientCert
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{s.cert},
				ClientAuth:   auth,
				ClientCAs:    s.pool,
				VerifyConnection: func(cs tls.ConnectionState) error {
					if len(cs.PeerCertificates) == 0 {
						return nil // only when not required
					}
					_, err := IdentityOf(cs.PeerCertificates[0])
					return err
				},
			}, nil
		},
	}
}

// ClientConfig returns a TLS 1.3 client configuration for one dial: it
// presents the current certificate and accepts the server only if its
// certificate chains to the current CA and names wantName with wantRole
// ("" accepts any name or role). Server host names are not checked: nodes
// are identified by their certificate's identity, not their address.
func (f *Files) ClientConfig(wantName, wantRole string) *tls.Config {
	s := f.current()
	now := f.now
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{s.cert},
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain := make([][]byte, len(cs.PeerCertificates))
			for i, c := range cs.PeerCertificates {
				chain[i] = c.Raw
			}
			id, err := verify(s.pool, chain, now(), x509.ExtKeyUsageServerAuth)
			if err != nil {
				return fmt.Errorf("pki: server certificate: %w", err)
			}
			if (wantName != "" && id.Name != wantName) || (wantRole != "" && id.Role != wantRole) {
				return fmt.Errorf("%w: server is %s, want name %q role %q", ErrIdentity, id, wantName, wantRole)
			}
			return nil
		},
	}
}

// PeerIdentity returns the identity of the verified peer certificate of a
// completed handshake (ErrIdentity when there is none).
func PeerIdentity(cs tls.ConnectionState) (Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, fmt.Errorf("%w: the peer sent no certificate", ErrIdentity)
	}
	return IdentityOf(cs.PeerCertificates[0])
}

// ClientTLS returns a TLS 1.3 client configuration for tools (the node CLI,
// test harnesses) that talk to a node's HTTPS endpoint: the server's
// certificate must chain to the CA in caFile and carry a node identity
// (host names are not checked). certFile and keyFile, when both set, are
// presented as a client certificate.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cab, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	cas, err := ParseCerts(cab)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain := make([][]byte, len(cs.PeerCertificates))
			for i, c := range cs.PeerCertificates {
				chain[i] = c.Raw
			}
			if _, err := verify(pool, chain, time.Now(), x509.ExtKeyUsageServerAuth); err != nil {
				return fmt.Errorf("pki: server certificate: %w", err)
			}
			return nil
		},
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, fmt.Errorf("%w: a client certificate needs both the certificate and the key", ErrRequest)
		}
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}
