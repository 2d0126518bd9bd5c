package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"regexp"
	"time"
)

// Scheme is the URI scheme of node identities: shoal://<role>/<name>.
const Scheme = "shoal"

// Default validities.
const (
	DefaultCAValidity   = 5 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
	// backdate is subtracted from NotBefore so that a peer whose clock is
	// slightly behind accepts a certificate issued just now.
	backdate = 5 * time.Minute
)

// Errors.
var (
	// ErrIdentity is wrapped when a certificate carries no valid
	// shoal://<role>/<name> URI, or more than one.
	ErrIdentity = errors.New("pki: no node identity in certificate")
	// ErrRequest is wrapped by invalid issuing requests.
	ErrRequest = errors.New("pki: invalid request")
)

// Identity is the node a certificate names.
type Identity struct {
	Role string
	Name string
}

// String returns the identity's URI, shoal://<role>/<name>.
func (id Identity) String() string { return id.URI().String() }

// URI returns shoal://<role>/<name> (the name path-escaped).
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: Scheme, Host: id.Role, Path: "/" + id.Name}
}

var roleRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Validate checks that role is a lowercase word and name is 1..255
// printable bytes without '/'.
func (id Identity) Validate() error {
	if !roleRE.MatchString(id.Role) {
		return fmt.Errorf("%w: role %q (want a lowercase word)", ErrRequest, id.Role)
	}
	if id.Name == "" || len(id.Name) > 255 {
		return fmt.Errorf("%w: name must be 1..255 bytes", ErrRequest)
	}
	for _, r := range id.Name {
		if r == '/' || r < 0x21 || r == 0x7f {
			return fmt.Errorf("%w: name %q has a space, a control character or '/'", ErrRequest, id.Name)
		}
	}
	return nil
}

// IdentityOf returns the identity in cert's URI SAN. A certificate with
// none, or with two, is refused (ErrIdentity).
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	var found []Identity
	for _, u := range cert.URIs {
		if u.Scheme != Scheme {
			continue
		}
		id := Identity{Role: u.Host, Name: u.Path}
		if len(id.Name) > 0 && id.Name[0] == '/' {
			id.Name = id.Name[1:]
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" || id.Validate() != nil {
			return Identity{}, fmt.Errorf("%w: malformed URI %q", ErrIdentity, u.String())
		}
		found = append(found, id)
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Identity{}, fmt.Errorf("%w: no %s:// URI SAN (subject %q)", ErrIdentity, Scheme, cert.Subject.CommonName)
	}
	return Identity{}, fmt.Errorf("%w: %d %s:// URI SANs", ErrIdentity, len(found), Scheme)
}

// CARequest describes a cluster CA.
type CARequest struct {
	Name     string        // common name; default "shoal cluster CA"
	Validity time.Duration // default DefaultCAValidity
	Rand     io.Reader     // default crypto/rand
}

// CA is a certificate authority able to issue node certificates.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA creates a self-signed CA valid from now.
func NewCA(req CARequest, now time.Time) (*CA, error) {
	if req.Name == "" {
		req.Name = "shoal cluster CA"
	}
	if req.Validity == 0 {
		req.Validity = DefaultCAValidity
	}
	if req.Validity < 0 {
		return nil, fmt.Errorf("%w: negative validity", ErrRequest)
	}
	rnd := req.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := serialNumber(rnd)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.Name, Organization: []string{"shoal"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(req.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Request describes a node certificate.
type Request struct {
	Role string // worker, datanode, manager (any lowercase word)
	Name string // the node's --name
	// DNS names and IP addresses, optional: for HTTP clients that check the
	// server by host name. Nodes check each other by identity, not host.
	DNS      []string
	IPs      []net.IP
	Validity time.Duration // default DefaultCertValidity
	Rand     io.Reader     // default crypto/rand
}

// Issue creates a key and a certificate for a node, valid from now for
// both server and client authentication, and returns them as PEM. The
// certificate does not outlive the CA.
func (ca *CA) Issue(req Request, now time.Time) (certPEM, keyPEM []byte, err error) {
	id := Identity{Role: req.Role, Name: req.Name}
	if err := id.Validate(); err != nil {
		return nil, nil, err
	}
	if req.Validity == 0 {
		req.Validity = DefaultCertValidity
	}
	if req.Validity < 0 {
		return nil, nil, fmt.Errorf("%w: negative validity", ErrRequest)
	}
	rnd := req.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate key: %w", err)
	}
	serial, err := serialNumber(rnd)
	if err != nil {
		return nil, nil, err
	}
	ski, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(req.Validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.Name, OrganizationalUnit: []string{req.Role}, Organization: []string{"shoal"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{id.URI()},
		DNSNames:              req.DNS,
		IPAddresses:           req.IPs,
		SubjectKeyId:          ski,
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create certificate: %w", err)
	}
	keyPEM, err = EncodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return EncodeCert(der), keyPEM, nil
}

func serialNumber(rnd io.Reader) (*big.Int, error) {
	s, err := rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("pki: marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}
