package ingest

import (
	"crypto/ed25519"
	"crypto/sha1" //nolint:gosec // Zeek keys known certificates by the SHA-1 of the leaf.
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"time"
)

// Certificates of the generated TLS 1.2 servers: issued by one generator CA,
// valid from genCertStart for ten years, serial genSerialBase + server index.
const (
	genOrg        = "shoal generator"
	genCAName     = "shoal generator CA"
	genSerialBase = 0x50000000
)

var genCertStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// genCA is the generator's certificate authority.
type genCA struct {
	key  ed25519.PrivateKey
	cert *x509.Certificate
	der  []byte
}

// newCA makes the CA certificate; everything derives from seed, and
// Ed25519 signatures are deterministic, so the bytes are too.
func newCA(seed uint64) *genCA {
	key := ed25519.NewKeyFromSeed(seedBytes(seed, "ca"))
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: genCAName, Organization: []string{genOrg}},
		NotBefore:             genCertStart,
		NotAfter:              genCertStart.AddDate(20, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(detRand(seed, "ca"), tmpl, tmpl, key.Public(), key)
	if err != nil {
		panic("ingest: generator CA: " + err.Error()) // fixed inputs: a bug, not bad input
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic("ingest: generator CA: " + err.Error())
	}
	return &genCA{key: key, cert: cert, der: der}
}

func seedBytes(seed uint64, what string) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "shoal-gen %s %d", what, seed))
	return h[:]
}

func detRand(seed uint64, what string) *rand.ChaCha8 {
	return rand.NewChaCha8([32]byte(seedBytes(seed, what+" rand")))
}

// tlsServer holds one TLS server's handshake messages.
type tlsServer struct {
	hello  []byte // the client's ClientHello (with the server's name)
	flight []byte // the server's first flight
	cert   *Cert  // TLS 1.2: the leaf as known_certs.log shows it (Host, Port, TS unset)
}

// certName returns the DNS name of a generated server.
func certName(host string) string {
	return "h" + strings.NewReplacer(".", "-", ":", "-").Replace(host) + ".gen.example"
}

// newTLSServer builds the handshake of server i: for TLS 1.2, a
// ServerHello, the certificate chain (leaf, CA) and ServerHelloDone; for
// TLS 1.3, a ServerHello, a ChangeCipherSpec and the encrypted rest.
func (g *Generator) newTLSServer(i int) *tlsServer {
	seed := uint64(g.cfg.Seed)
	rng := rand.New(rand.NewPCG(seed, uint64(i)<<8|0x71))
	name := certName(g.servers[i].String())
	s := &tlsServer{hello: clientHello(rng, name)}
	sid := random(rng, 32)
	if g.srv[i].tls13 {
		ext := []byte{0x00, 0x2b, 0, 2, 3, 4, 0x00, 0x33, 0, 36, 0, 0x1d, 0, 32}
		ext = append(ext, random(rng, 32)...)
		sh := serverHello(rng, sid, []byte{0x13, 0x01}, ext)
		s.flight = concat(tlsRecord(0x16, hsMsg(2, sh)), tlsRecord(0x14, []byte{1}),
			tlsRecord(0x17, random(rng, 900+rng.IntN(1200))))
		return s
	}
	ca := g.tpl.ca
	key := ed25519.NewKeyFromSeed(seedBytes(seed^uint64(i), "leaf"))
	serial := uint64(genSerialBase + i)
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetUint64(serial),
		Subject:      pkix.Name{CommonName: name, Organization: []string{genOrg}},
		NotBefore:    genCertStart,
		NotAfter:     genCertStart.AddDate(10, 0, 0),
		DNSNames:     []string{name},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(detRand(seed^uint64(i), "leaf"), tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		panic("ingest: generator certificate: " + err.Error()) // fixed inputs: a bug, not bad input
	}
	sum := sha1.Sum(der) //nolint:gosec // fingerprint, not a signature
	s.cert = &Cert{Subject: "CN=" + name + ",O=" + genOrg, Issuer: "CN=" + genCAName + ",O=" + genOrg,
		Serial: fmt.Sprintf("%08X", serial), SHA1: hex.EncodeToString(sum[:])}
	var chain []byte
	for _, c := range [][]byte{der, ca.der} {
		chain = appendUint24(chain, len(c))
		chain = append(chain, c...)
	}
	certMsg := hsMsg(0x0b, appendUint24(nil, len(chain)), chain)
	sh := serverHello(rng, sid, []byte{0xc0, 0x2f}, nil)
	s.flight = tlsRecord(0x16, concat(hsMsg(2, sh), certMsg, hsMsg(0x0e, nil)))
	return s
}

// clientHello builds a TLS ClientHello offering TLS 1.3 and 1.2, with the
// server name.
func clientHello(rng *rand.Rand, name string) []byte {
	body := []byte{3, 3}
	body = append(body, random(rng, 32)...)
	body = append(body, 32)
	body = append(body, random(rng, 32)...)
	body = append(body, 0, 8, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2b, 0xc0, 0x2f) // cipher suites
	body = append(body, 1, 0)                                                 // null compression
	sni := binary.BigEndian.AppendUint16(nil, uint16(len(name)+3))
	sni = append(sni, 0)
	sni = binary.BigEndian.AppendUint16(sni, uint16(len(name)))
	sni = append(sni, name...)
	var ext []byte
	ext = tlsExt(ext, 0x0000, sni)
	ext = tlsExt(ext, 0x002b, []byte{4, 3, 4, 3, 3})
	ext = tlsExt(ext, 0x000a, []byte{0, 2, 0, 0x1d})
	body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
	body = append(body, ext...)
	rec := tlsRecord(0x16, hsMsg(1, body))
	rec[2] = 1 // record version TLS 1.0, as clients send it
	return rec
}

func serverHello(rng *rand.Rand, sid, suite, ext []byte) []byte {
	b := []byte{3, 3}
	b = append(b, random(rng, 32)...)
	b = append(b, byte(len(sid)))
	b = append(b, sid...)
	b = append(b, suite...)
	b = append(b, 0)
	if ext != nil {
		b = binary.BigEndian.AppendUint16(b, uint16(len(ext)))
		b = append(b, ext...)
	}
	return b
}

func tlsExt(b []byte, typ uint16, data []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// tlsRecord frames body as one TLS 1.2 record of the given content type.
func tlsRecord(ctype byte, body []byte) []byte {
	b := []byte{ctype, 3, 3}
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// hsMsg frames a handshake message.
func hsMsg(typ byte, parts ...[]byte) []byte {
	body := concat(parts...)
	b := appendUint24([]byte{typ}, len(body))
	return append(b, body...)
}

func appendUint24(b []byte, n int) []byte { return append(b, byte(n>>16), byte(n>>8), byte(n)) }
