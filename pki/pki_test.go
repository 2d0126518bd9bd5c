package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func mustCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA(CARequest{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// writeNode issues a certificate for role/name and writes ca.pem, name.pem
// and name-key.pem under dir.
func writeNode(t *testing.T, ca *CA, dir, role, name string) Paths {
	t.Helper()
	c, k, err := ca.Issue(Request{Role: role, Name: name}, t0)
	if err != nil {
		t.Fatal(err)
	}
	p := Paths{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
	for path, b := range map[string][]byte{p.CA: ca.CertPEM(), p.Cert: c, p.Key: k} {
		if err := WriteFile(path, b, 0o600, true); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func clock(at time.Time) func() time.Time { return func() time.Time { return at } }

func TestIssueBindsIdentity(t *testing.T) {
	ca := mustCA(t)
	if !ca.Cert.IsCA || ca.Cert.NotAfter.Sub(t0) != DefaultCAValidity {
		t.Fatalf("CA: IsCA %v, validity %v", ca.Cert.IsCA, ca.Cert.NotAfter.Sub(t0))
	}
	cb, kb, err := ca.Issue(Request{Role: "datanode", Name: "dn-1", IPs: []net.IP{net.ParseIP("10.0.0.5")}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ParseCerts(cb)
	if err != nil {
		t.Fatal(err)
	}
	c := certs[0]
	id, err := IdentityOf(c)
	if err != nil || id != (Identity{Role: "datanode", Name: "dn-1"}) || c.URIs[0].String() != "shoal://datanode/dn-1" {
		t.Fatalf("identity %v (%v), URI %v", id, err, c.URIs)
	}
	if _, err := ParseKey(kb); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			t.Fatalf("verify for %v: %v", u, err)
		}
	}
	if len(c.IPAddresses) != 1 || c.NotAfter.Sub(t0) != DefaultCertValidity {
		t.Fatalf("IPs %v, validity %v", c.IPAddresses, c.NotAfter.Sub(t0))
	}
	long, _, err := ca.Issue(Request{Role: "worker", Name: "w", Validity: 2 * DefaultCAValidity}, t0)
	if err != nil {
		t.Fatal(err)
	}
	lc, _ := ParseCerts(long)
	if lc[0].NotAfter.After(ca.Cert.NotAfter) {
		t.Fatal("certificate outlives its CA")
	}
}

func TestIdentityValidation(t *testing.T) {
	ca := mustCA(t)
	for name, req := range map[string]Request{
		"no role":      {Name: "x"},
		"upper role":   {Role: "Worker", Name: "x"},
		"no name":      {Role: "worker"},
		"slash name":   {Role: "worker", Name: "a/b"},
		"space name":   {Role: "worker", Name: "a b"},
		"long name":    {Role: "worker", Name: strings.Repeat("n", 256)},
		"negative ttl": {Role: "worker", Name: "w", Validity: -time.Hour},
	} {
		if _, _, err := ca.Issue(req, t0); !errors.Is(err, ErrRequest) {
			t.Errorf("%s: err = %v, want ErrRequest", name, err)
		}
	}
	two := &x509.Certificate{URIs: []*url.URL{
		Identity{Role: "worker", Name: "a"}.URI(), Identity{Role: "manager", Name: "b"}.URI()}}
	if _, err := IdentityOf(two); !errors.Is(err, ErrIdentity) {
		t.Fatalf("two identities: err = %v", err)
	}
	if _, err := IdentityOf(&x509.Certificate{}); !errors.Is(err, ErrIdentity) {
		t.Fatalf("no identity: err = %v", err)
	}
	odd, _ := url.Parse("shoal://worker/a/b")
	if _, err := IdentityOf(&x509.Certificate{URIs: []*url.URL{odd}}); !errors.Is(err, ErrIdentity) {
		t.Fatalf("name with a slash: err = %v", err)
	}
}

// handshake runs a TLS handshake over a pipe and returns both errors and the
// identity the server saw.
func handshake(srv, cli *tls.Config) (client Identity, serr, cerr error) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	var seen Identity
	go func() {
		s := tls.Server(a, srv)
		err := s.Handshake()
		if err == nil {
			seen, err = PeerIdentity(s.ConnectionState())
		}
		a.Close()
		done <- err
	}()
	c := tls.Client(b, cli)
	cerr = c.Handshake()
	if cerr == nil {
		// TLS 1.3: the server's verdict on the client certificate arrives after
		// the client's handshake completes; a read surfaces it.
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, rerr := c.Read(make([]byte, 1))
		if rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) && !strings.Contains(rerr.Error(), "EOF") &&
			!strings.Contains(rerr.Error(), "closed pipe") {
			cerr = rerr
		}
	}
	b.Close()
	return seen, <-done, cerr
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t)
	other, _ := NewCA(CARequest{Name: "other"}, t0)
	now := clock(t0.Add(time.Hour))
	dn1, _ := Load(writeNode(t, ca, dir, "datanode", "dn-1"), now)
	w1, _ := Load(writeNode(t, ca, dir, "worker", "w-1"), now)
	rogue, err := Load(writeNode(t, other, t.TempDir(), "datanode", "dn-9"), now)
	if err != nil || dn1 == nil || w1 == nil {
		t.Fatalf("load: %v", err)
	}

	seen, serr, cerr := handshake(dn1.ServerConfig(true), w1.ClientConfig("dn-1", "datanode"))
	if serr != nil || cerr != nil || seen != (Identity{Role: "worker", Name: "w-1"}) {
		t.Fatalf("good pair: server %v, client %v, seen %v", serr, cerr, seen)
	}
	if _, _, cerr := handshake(dn1.ServerConfig(true), w1.ClientConfig("dn-2", "datanode")); !errors.Is(cerr, ErrIdentity) {
		t.Fatalf("client expecting dn-2: err = %v", cerr)
	}
	if _, _, cerr := handshake(dn1.ServerConfig(true), w1.ClientConfig("dn-1", "manager")); !errors.Is(cerr, ErrIdentity) {
		t.Fatalf("client expecting a manager: err = %v", cerr)
	}
	if _, serr, _ := handshake(dn1.ServerConfig(true), rogue.ClientConfig("", "")); serr == nil {
		t.Fatal("server accepted a client certificate from another CA")
	}
	if _, _, cerr := handshake(rogue.ServerConfig(true), w1.ClientConfig("", "")); cerr == nil {
		t.Fatal("client accepted a server certificate from another CA")
	}
	noCert := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
	if _, serr, _ := handshake(dn1.ServerConfig(true), noCert); serr == nil {
		t.Fatal("server requiring a client certificate accepted none")
	}
	if seen, serr, _ := handshake(dn1.ServerConfig(false), noCert); serr == nil || !errors.Is(serr, ErrIdentity) || seen != (Identity{}) {
		t.Fatalf("optional client certificate, none given: server err %v (want ErrIdentity from PeerIdentity), seen %v", serr, seen)
	}
	tls12 := &tls.Config{MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true, Certificates: w1.ClientConfig("", "").Certificates}
	if _, serr, _ := handshake(dn1.ServerConfig(true), tls12); serr == nil {
		t.Fatal("server accepted TLS 1.2")
	}
}

func TestReloadOnFileChange(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t)
	at := t0.Add(time.Hour)
	now := func() time.Time { return at }
	p := writeNode(t, ca, dir, "datanode", "dn-1")
	f, err := Load(p, now)
	if err != nil {
		t.Fatal(err)
	}
	serial := f.Status().Serial

	// Within a second nothing is checked; after, an unchanged set is kept.
	if changed, err := f.Check(false); changed || err != nil {
		t.Fatalf("check without change: %v %v", changed, err)
	}
	// Replace the files: the new certificate is used from the next check.
	writeNode(t, ca, dir, "datanode", "dn-1")
	at = at.Add(2 * time.Second)
	if st := f.Status(); st.Serial == serial || st.Reloads != 1 || st.ReloadErrors != 0 {
		t.Fatalf("after replacing the files: %+v (old serial %s)", st, serial)
	}
	serial = f.Status().Serial

	// Half a rotation (a new certificate, the old key): kept, counted.
	c, _, _ := ca.Issue(Request{Role: "datanode", Name: "dn-1"}, t0)
	os.WriteFile(p.Cert, c, 0o600)
	if _, err := f.Check(true); err == nil {
		t.Fatal("certificate not matching its key was loaded")
	}
	if st := f.Status(); st.Serial != serial || st.ReloadErrors == 0 || st.LastError == "" {
		t.Fatalf("after a half rotation: %+v", st)
	}
	// Another identity is refused too.
	q := writeNode(t, ca, t.TempDir(), "datanode", "dn-2")
	b, _ := os.ReadFile(q.Cert)
	k, _ := os.ReadFile(q.Key)
	os.WriteFile(p.Cert, b, 0o600)
	os.WriteFile(p.Key, k, 0o600)
	if _, err := f.Check(true); err == nil || !strings.Contains(err.Error(), "dn-2") {
		t.Fatalf("identity change: err = %v", err)
	}
	if f.Identity().Name != "dn-1" {
		t.Fatalf("identity now %v", f.Identity())
	}
	// A certificate from another CA than the CA file is refused at load.
	other, _ := NewCA(CARequest{}, t0)
	r := writeNode(t, other, t.TempDir(), "worker", "w")
	if _, err := Load(Paths{CA: p.CA, Cert: r.Cert, Key: r.Key}, now); err == nil {
		t.Fatal("loaded a certificate that does not chain to the CA file")
	}
}

func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t)
	kp, _ := ca.KeyPEM()
	cf, kf := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	WriteFile(cf, ca.CertPEM(), 0o644, false)
	WriteFile(kf, kp, 0o600, false)
	if err := WriteFile(cf, ca.CertPEM(), 0o644, false); err == nil {
		t.Fatal("WriteFile replaced an existing file without overwrite")
	}
	got, err := LoadCA(cf, kf)
	if err != nil || !got.Cert.Equal(ca.Cert) {
		t.Fatalf("LoadCA: %v", err)
	}
	other := mustCA(t)
	okp, _ := other.KeyPEM()
	WriteFile(kf, okp, 0o600, true)
	if _, err := LoadCA(cf, kf); err == nil {
		t.Fatal("LoadCA accepted a key of another CA")
	}
}
