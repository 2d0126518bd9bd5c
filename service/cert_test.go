package service

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // test of the SHA-1 fingerprint
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// tlv encodes one DER element.
func tlv(tag byte, content []byte) []byte {
	out := []byte{tag}
	switch l := len(content); {
	case l < 0x80:
		out = append(out, byte(l))
	case l < 0x100:
		out = append(out, 0x81, byte(l))
	default:
		out = append(out, 0x82, byte(l>>8), byte(l))
	}
	return append(out, content...)
}

func oidBytes(t testing.TB, oid string) []byte {
	t.Helper()
	var id asn1.ObjectIdentifier
	for _, part := range strings.Split(oid, ".") {
		n, ok := new(big.Int).SetString(part, 10)
		if !ok {
			t.Fatalf("bad oid %s", oid)
		}
		id = append(id, int(n.Int64()))
	}
	b, err := asn1.Marshal(id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ava is one attribute: OID, value tag and value bytes.
type ava struct {
	oid string
	tag byte
	val string
}

// nameDER builds a Name from RDNs, each a list of attributes.
func nameDER(t testing.TB, rdns ...[]ava) []byte {
	var seq []byte
	for _, rdn := range rdns {
		var set []byte
		for _, a := range rdn {
			set = append(set, tlv(0x30, append(oidBytes(t, a.oid), tlv(a.tag, []byte(a.val))...))...)
		}
		seq = append(seq, tlv(0x31, set)...)
	}
	return tlv(0x30, seq)
}

const (
	oidCN = "2.5.4.3"
	oidO  = "2.5.4.10"
	oidC  = "2.5.4.6"
	utf8  = 12 // tags of the string types
	prnt  = 19
	t61   = 20
	ia5   = 22
	univ  = 28
	bmp   = 30
)

func one(oid string, tag byte, val string) []ava { return []ava{{oid, tag, val}} }

func TestFormatName(t *testing.T) {
	tests := map[string]struct {
		rdns [][]ava
		want string
	}{
		"google leaf order": {
			[][]ava{one(oidC, prnt, "US"), one("2.5.4.8", prnt, "California"), one("2.5.4.7", prnt, "Mountain View"),
				one(oidO, prnt, "Google Inc"), one(oidCN, utf8, "*.google.com")},
			"CN=*.google.com,O=Google Inc,L=Mountain View,ST=California,C=US",
		},
		"specials":         {[][]ava{one(oidCN, utf8, `a,b+c"d\e<f>g;h=i`)}, `CN=a\,b\+c\"d\\e\<f\>g\;h=i`},
		"leading space":    {[][]ava{one(oidCN, utf8, " x")}, `CN=\ x`},
		"trailing space":   {[][]ava{one(oidCN, utf8, "x ")}, `CN=x\ `},
		"inner space":      {[][]ava{one(oidCN, utf8, "a b")}, `CN=a b`},
		"single space":     {[][]ava{one(oidCN, utf8, " ")}, `CN=\ `},
		"leading hash":     {[][]ava{one(oidCN, utf8, "#x")}, `CN=\#x`},
		"trailing hash":    {[][]ava{one(oidCN, utf8, "x#")}, `CN=x#`},
		"single hash":      {[][]ava{one(oidCN, utf8, "#")}, `CN=#`},
		"control bytes":    {[][]ava{one(oidCN, utf8, "a\tb\nc\x00\x7f")}, `CN=a\09b\0Ac\00\7F`},
		"utf8 string":      {[][]ava{one(oidCN, utf8, "café")}, `CN=caf\C3\A9`},
		"t61 latin-1":      {[][]ava{one(oidO, t61, "caf\xe9")}, `O=caf\C3\A9`},
		"bmp string":       {[][]ava{one(oidO, bmp, "\x00c\x00\xe9")}, `O=c\C3\A9`},
		"bmp surrogate":    {[][]ava{one(oidO, bmp, "\x00a\xd8\x3d\x00b")}, `O=ab`},
		"universal string": {[][]ava{one(oidO, univ, "\x00\x01\xf6\x00")}, `O=\F0\9F\98\80`},
		"ia5 email":        {[][]ava{one("1.2.840.113549.1.9.1", ia5, "a@b.example")}, `emailAddress=a@b.example`},
		"multi-valued rdn": {[][]ava{one(oidC, prnt, "US"), {{oidCN, utf8, "a"}, {oidO, utf8, "b"}}}, `O=b+CN=a,C=US`},
		"unknown oid":      {[][]ava{one("1.2.3.4", utf8, "x")}, `1.2.3.4=#0C0178`},
		"non-string value": {[][]ava{one(oidCN, 2, "\x05")}, `CN=#020105`},
		"ev attributes": {
			[][]ava{one("1.3.6.1.4.1.311.60.2.1.3", prnt, "US"), one("2.5.4.15", utf8, "Private Organization"),
				one("2.5.4.5", prnt, "C0806592"), one("0.9.2342.19200300.100.1.25", ia5, "com")},
			`DC=com,serialNumber=C0806592,businessCategory=Private Organization,jurisdictionC=US`,
		},
		"odd bmp ends the output": {
			[][]ava{one(oidCN, bmp, "\x00a\x00"), one(oidO, utf8, "Org"), one(oidC, prnt, "US")},
			`C=US,O=Org,CN=`,
		},
		"empty name": {nil, ``},
		"too long": {
			[][]ava{one(oidCN, utf8, strings.Repeat("x", 3000))},
			"CN=" + strings.Repeat("x", maxNameOutput-3),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := formatName(nameDER(t, tc.rdns...))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	for name, der := range map[string][]byte{
		"not a sequence":      {0x31, 0x00},
		"truncated":           {0x30, 0x05, 0x31},
		"rdn is not a set":    tlv(0x30, tlv(0x30, nil)),
		"atv without oid":     tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x0c, []byte("x"))))),
		"oid with bad ending": tlv(0x30, tlv(0x31, tlv(0x30, append(tlv(0x06, []byte{0x55, 0x84}), tlv(0x0c, nil)...)))),
	} {
		if _, err := formatName(der); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFormatSerial(t *testing.T) {
	long := append([]byte{0x01}, bytes.Repeat([]byte{0xab}, 35)...)
	tests := map[string]struct {
		in   []byte
		want string
		err  bool
	}{
		"google leaf":           {in: []byte{0x4a, 0x2c, 0x86, 0x28, 0xc1, 0x01, 0x06, 0x33}, want: "4A2C8628C1010633"},
		"leading zero nibble":   {in: []byte{0x02, 0x3a, 0x69}, want: "023A69"},
		"zero":                  {in: []byte{0x00}, want: "00"},
		"positive with padding": {in: []byte{0x00, 0x80}, want: "80"},
		"minus one":             {in: []byte{0xff}, want: "-01"},
		"minus 128":             {in: []byte{0x80}, want: "-80"},
		"minus 129":             {in: []byte{0xff, 0x7f}, want: "-81"},
		"minus 256":             {in: []byte{0xff, 0x00}, want: "-0100"},
		"minus 32768":           {in: []byte{0x80, 0x00}, want: "-8000"},
		"36 bytes":              {in: long, want: "01" + strings.Repeat("AB", 34) + "\\\nAB"},
		"empty":                 {in: nil, err: true},
		"illegal zero padding":  {in: []byte{0x00, 0x7f}, err: true},
		"illegal ff padding":    {in: []byte{0xff, 0x80}, err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := formatSerial(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("got %q, %v; want %q (error %v)", got, err, tc.want, tc.err)
			}
			if err != nil && !errors.Is(err, ErrCert) {
				t.Errorf("error %v does not wrap ErrCert", err)
			}
		})
	}
}

// makeCert returns a self-signed certificate's DER.
func makeCert(t testing.TB, serial *big.Int, subject pkix.Name) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    time.Unix(1393341558, 0).UTC(),
		NotAfter:     time.Unix(1401062400, 0).UTC(),
		DNSNames:     []string{"example.com"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParseCert(t *testing.T) {
	subj := pkix.Name{Country: []string{"US"}, Organization: []string{"Example, Inc."}, CommonName: "www.example.com"}
	der := makeCert(t, big.NewInt(0x023a69), subj)
	c, err := ParseCert(der)
	if err != nil {
		t.Fatal(err)
	}
	want := Cert{
		Subject: `CN=www.example.com,O=Example\, Inc.,C=US`, Issuer: `CN=www.example.com,O=Example\, Inc.,C=US`,
		Serial: "023A69", SHA1: sha1.Sum(der), Strict: true, //nolint:gosec // fingerprint
		NotBefore: time.Unix(1393341558, 0).UTC(), NotAfter: time.Unix(1401062400, 0).UTC(),
	}
	if !c.NotBefore.Equal(want.NotBefore) || !c.NotAfter.Equal(want.NotAfter) {
		t.Errorf("validity %v - %v", c.NotBefore, c.NotAfter)
	}
	c.NotBefore, c.NotAfter = want.NotBefore, want.NotAfter
	if *c != want {
		t.Errorf("got  %+v\nwant %+v", *c, want)
	}
	if c.SHA1Hex() != strings.ToLower(c.SHA1Hex()) || len(c.SHA1Hex()) != 40 {
		t.Errorf("SHA1Hex %q", c.SHA1Hex())
	}

	// A negative serial: Go rejects the certificate, OpenSSL (and so Zeek)
	// does not. Flip the serial's sign bit in place.
	i := bytes.Index(der, []byte{0x02, 0x03, 0x02, 0x3a, 0x69})
	if i < 0 {
		t.Fatal("serial not found")
	}
	neg := bytes.Clone(der)
	neg[i+2] = 0x82
	c, err = ParseCert(neg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Strict || c.Serial != "-7DC597" || c.Subject != want.Subject || !c.NotAfter.Equal(want.NotAfter) {
		t.Errorf("negative serial: %+v", *c)
	}

	for name, bad := range map[string][]byte{
		"empty":      nil,
		"truncated":  der[:len(der)/2],
		"not a cert": tlv(0x30, tlv(0x30, tlv(0x02, []byte{1}))),
	} {
		if _, err := ParseCert(bad); !errors.Is(err, ErrCert) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

func TestCertCache(t *testing.T) {
	ders := [][]byte{
		makeCert(t, big.NewInt(1), pkix.Name{CommonName: "a"}),
		makeCert(t, big.NewInt(2), pkix.Name{CommonName: "b"}),
		makeCert(t, big.NewInt(3), pkix.Name{CommonName: "c"}),
	}
	c := NewCertCache(2)
	first, err := c.parse(ders[0])
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.parse(ders[0])
	if again != first || c.Hits != 1 || c.Parse != 1 {
		t.Fatalf("hits %d parsed %d", c.Hits, c.Parse)
	}
	c.parse(ders[1])
	c.parse(ders[2]) // evicts ders[0]
	if len(c.m) != 2 {
		t.Fatalf("%d cached", len(c.m))
	}
	if third, _ := c.parse(ders[0]); third == first || c.Parse != 4 {
		t.Errorf("evicted certificate served from the cache (parsed %d)", c.Parse)
	}
	if _, err := c.parse([]byte("junk")); err == nil || len(c.m) != 2 {
		t.Error("junk accepted or cached")
	}
	var none *CertCache
	if cert, err := none.parse(ders[1]); err != nil || cert.Subject != "CN=b" {
		t.Errorf("nil cache: %v %v", cert, err)
	}
}
