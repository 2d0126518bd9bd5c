package service

import (
	"crypto/sha1" //nolint:gosec // Zeek keys known certificates by the SHA-1 of the leaf.
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ErrCert is wrapped by ParseCert for bytes that are not a DER certificate.
var ErrCert = errors.New("service: invalid certificate")

// Cert is the part of a certificate that Zeek's known_certs.log and
// x509.log show, formatted as Zeek formats it. It is a plain value; the
// strings are immutable.
type Cert struct {
	Subject   string   // subject in OpenSSL's RFC 2253 one-line form, e.g. CN=*.google.com,O=Google Inc,C=US
	Issuer    string   // issuer, same form
	Serial    string   // serial number as OpenSSL's i2a_ASN1_INTEGER prints it: upper-case hex, two digits per byte
	SHA1      [20]byte // SHA-1 of the DER encoding: Zeek's key for known certificates
	NotBefore time.Time
	NotAfter  time.Time
	// Strict reports whether crypto/x509 accepted the certificate too. Zeek
	// uses OpenSSL, which accepts some certificates Go rejects (negative
	// serial numbers, for one); those are parsed here anyway, as Zeek does.
	Strict bool
}

// SHA1Hex returns the SHA-1 fingerprint in lower-case hex.
func (c *Cert) SHA1Hex() string { return hex.EncodeToString(c.SHA1[:]) }

// maxNameOutput is the longest subject or issuer Zeek keeps: it reads the
// printed name with BIO_gets into a 2048-byte buffer.
const maxNameOutput = 2047

// ParseCert parses a DER certificate, as Zeek's X509 file analyzer does with
// OpenSSL (zeek: src/file_analysis/analyzer/x509/X509.cc ParseCertificate):
// the subject and issuer are printed with X509_NAME_print_ex(...,
// XN_FLAG_RFC2253) and the serial with i2a_ASN1_INTEGER. der is not retained.
// The certificate is also parsed with crypto/x509, which supplies the
// validity times; when Go rejects it, the structure is walked directly
// (Cert.Strict is false). Errors wrap ErrCert. It is safe for concurrent use.
func ParseCert(der []byte) (*Cert, error) {
	tbs, err := walkTBS(der)
	if err != nil {
		return nil, err
	}
	c := &Cert{SHA1: sha1.Sum(der)} //nolint:gosec // fingerprint, not a signature
	if c.Serial, err = formatSerial(tbs.serial); err != nil {
		return nil, err
	}
	if c.Subject, err = formatName(tbs.subject); err != nil {
		return nil, fmt.Errorf("%w: subject: %w", ErrCert, err)
	}
	if c.Issuer, err = formatName(tbs.issuer); err != nil {
		return nil, fmt.Errorf("%w: issuer: %w", ErrCert, err)
	}
	if xc, err := x509.ParseCertificate(der); err == nil {
		c.NotBefore, c.NotAfter, c.Strict = xc.NotBefore, xc.NotAfter, true
	} else {
		c.NotBefore, c.NotAfter = parseTime(tbs.notBefore), parseTime(tbs.notAfter)
	}
	return c, nil
}

// tbsFields are the raw parts of a TBSCertificate that ParseCert prints.
type tbsFields struct {
	serial              []byte // INTEGER content
	issuer, subject     []byte // complete Name elements
	notBefore, notAfter []byte // complete time elements
}

// DER tags used here.
const (
	tagInteger   = 0x02
	tagOID       = 0x06
	tagSequence  = 0x30
	tagSet       = 0x31
	tagVersion   = 0xa0
	tagUTCTime   = 0x17
	tagGenTime   = 0x18
	maxNameParts = 256
)

// readTLV reads one element: its tag byte, content, complete encoding and
// what follows it. High tag numbers and the indefinite length form are
// rejected; non-minimal lengths are accepted, as OpenSSL does.
func readTLV(b []byte) (tag byte, content, full, rest []byte, ok bool) {
	if len(b) < 2 || b[0]&0x1f == 0x1f {
		return 0, nil, nil, nil, false
	}
	l, hdr := int(b[1]), 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 4 || len(b) < 2+n {
			return 0, nil, nil, nil, false
		}
		l = 0
		for i := range n {
			l = l<<8 | int(b[2+i])
		}
		hdr += n
	}
	if l < 0 || l > len(b)-hdr {
		return 0, nil, nil, nil, false
	}
	return b[0], b[hdr : hdr+l], b[:hdr+l], b[hdr+l:], true
}

// expect reads one element with the given tag.
func expect(b []byte, tag byte, what string) (content, full, rest []byte, err error) {
	t, content, full, rest, ok := readTLV(b)
	if !ok || t != tag {
		return nil, nil, nil, fmt.Errorf("%w: %s", ErrCert, what)
	}
	return content, full, rest, nil
}

// walkTBS finds serial, issuer, validity and subject in a certificate.
func walkTBS(der []byte) (tbsFields, error) {
	var f tbsFields
	cert, _, _, err := expect(der, tagSequence, "not a sequence")
	if err != nil {
		return f, err
	}
	tbs, _, _, err := expect(cert, tagSequence, "no tbsCertificate")
	if err != nil {
		return f, err
	}
	if len(tbs) > 0 && tbs[0] == tagVersion {
		if _, _, tbs, err = expect(tbs, tagVersion, "bad version"); err != nil {
			return f, err
		}
	}
	if f.serial, _, tbs, err = expect(tbs, tagInteger, "no serial number"); err != nil {
		return f, err
	}
	if _, _, tbs, err = expect(tbs, tagSequence, "no signature algorithm"); err != nil {
		return f, err
	}
	if _, f.issuer, tbs, err = expect(tbs, tagSequence, "no issuer"); err != nil {
		return f, err
	}
	var validity []byte
	if validity, _, tbs, err = expect(tbs, tagSequence, "no validity"); err != nil {
		return f, err
	}
	var ok bool
	if _, _, f.notBefore, validity, ok = readTLV(validity); !ok {
		return f, fmt.Errorf("%w: bad notBefore", ErrCert)
	}
	if _, _, f.notAfter, _, ok = readTLV(validity); !ok {
		return f, fmt.Errorf("%w: bad notAfter", ErrCert)
	}
	if _, f.subject, _, err = expect(tbs, tagSequence, "no subject"); err != nil {
		return f, err
	}
	return f, nil
}

// parseTime parses a UTCTime or GeneralizedTime element; the zero time if
// it does not parse (Zeek then reports 0 as well).
func parseTime(full []byte) time.Time {
	var t time.Time
	if len(full) == 0 || (full[0] != tagUTCTime && full[0] != tagGenTime) {
		return t
	}
	if _, err := asn1.Unmarshal(full, &t); err != nil {
		return time.Time{}
	}
	return t
}

const hexDigits = "0123456789ABCDEF"

// formatSerial prints an INTEGER's content octets the way OpenSSL stores
// (c2i_ASN1_INTEGER) and prints (i2a_ASN1_INTEGER) a serial number: the
// magnitude's bytes in upper-case hex, "-" before a negative one, and a
// backslash-newline after every 35 bytes. Zero-length content and illegal
// padding are rejected, as OpenSSL rejects them.
func formatSerial(p []byte) (string, error) {
	if len(p) == 0 {
		return "", fmt.Errorf("%w: empty serial number", ErrCert)
	}
	neg := p[0]&0x80 != 0
	mag := make([]byte, len(p))
	if len(p) == 1 {
		mag[0] = p[0]
		if neg {
			mag[0] = (p[0] ^ 0xff) + 1
		}
	} else {
		pad := 0
		switch p[0] {
		case 0:
			pad = 1
		case 0xff:
			for _, b := range p[1:] {
				if b != 0 {
					pad = 1
					break
				}
			}
		}
		if pad == 1 && neg == (p[1]&0x80 != 0) {
			return "", fmt.Errorf("%w: serial number with illegal padding", ErrCert)
		}
		mag = mag[:len(p)-pad]
		copy(mag, p[pad:])
		if neg { // two's complement: invert and add one
			carry := byte(1)
			for i := len(mag) - 1; i >= 0; i-- {
				v := uint16(mag[i]^0xff) + uint16(carry)
				mag[i], carry = byte(v), byte(v>>8)
			}
		}
	}
	out := make([]byte, 0, 1+2*len(mag)+2*(len(mag)/35))
	if neg {
		out = append(out, '-')
	}
	for i, b := range mag {
		if i != 0 && i%35 == 0 {
			out = append(out, '\\', '\n')
		}
		out = append(out, hexDigits[b>>4], hexDigits[b&0xf])
	}
	return string(out), nil
}

// CertCache remembers parsed certificates by the SHA-1 of their DER, so a
// server certificate seen on many connections is parsed once. It holds at
// most its capacity, evicting the oldest entry. The zero value caches
// nothing; make one with NewCertCache. A CertCache is not safe for
// concurrent use: share it among the TLS analyses of one goroutine.
type CertCache struct {
	m     map[[20]byte]*Cert
	ring  [][20]byte // insertion order
	next  int
	Hits  uint64 // certificates found in the cache
	Parse uint64 // certificates parsed
}

// NewCertCache returns a cache of at most n certificates (n < 1: 1).
func NewCertCache(n int) *CertCache {
	n = max(n, 1)
	return &CertCache{m: make(map[[20]byte]*Cert, n), ring: make([][20]byte, 0, n)}
}

// parse returns the cached Cert for der or parses and caches it. A nil
// cache parses every time.
func (c *CertCache) parse(der []byte) (*Cert, error) {
	if c == nil || c.m == nil {
		return ParseCert(der)
	}
	sum := sha1.Sum(der) //nolint:gosec // fingerprint, not a signature
	if cert, ok := c.m[sum]; ok {
		c.Hits++
		return cert, nil
	}
	c.Parse++
	cert, err := ParseCert(der)
	if err != nil {
		return nil, err
	}
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, sum)
	} else {
		delete(c.m, c.ring[c.next])
		c.ring[c.next] = sum
		c.next = (c.next + 1) % len(c.ring)
	}
	c.m[sum] = cert
	return cert, nil
}
