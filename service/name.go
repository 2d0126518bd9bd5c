package service

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
)

// This file prints an X.509 Name exactly as OpenSSL's
// X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) does, which is what Zeek
// logs as subject and issuer (crypto/asn1/a_strex.c do_name_ex, do_print_ex,
// do_buf, do_esc_char):
//
//   - entries in reverse order, RDNs separated by ",", the entries of a
//     multi-valued RDN by "+", "=" between name and value, no spaces;
//   - the attribute's OpenSSL short name (CN, O, OU, L, ST, C, ...), or its
//     dotted OID when OpenSSL has no name for it, in which case the value is
//     printed as "#" and the hex of its DER encoding;
//   - values of a type that is not a character string are printed the same
//     "#hex" way;
//   - characters are converted to UTF-8; then every byte above 0x7f is
//     escaped as \XX (upper-case hex), control characters too, the
//     characters , + " \ < > ; get a backslash, and so do a leading space or
//     "#" and a trailing space.

var errName = errors.New("malformed name")

// OpenSSL's flag bits for the character table (crypto/asn1/charmap.h).
const (
	chEsc2253  = 1    // ASN1_STRFLGS_ESC_2253: escape with a backslash
	chEscCtrl  = 2    // ASN1_STRFLGS_ESC_CTRL: escape as \XX
	chFirstEsc = 0x20 // CHARTYPE_FIRST_ESC_2253: escape when first
	chLastEsc  = 0x40 // CHARTYPE_LAST_ESC_2253: escape when last
)

// charType gives each ASCII byte the escape classes that apply to it under
// the RFC 2253 flags (ESC_2253 | ESC_CTRL | ESC_MSB); bytes above 0x7f are
// always escaped as \XX (ESC_MSB).
var charType = func() (t [128]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = chEscCtrl
	}
	t[0x7f] = chEscCtrl
	t[' '] = chFirstEsc | chLastEsc
	t['#'] = chFirstEsc
	for _, c := range `"+,;<>\` {
		t[c] = chEsc2253
	}
	return t
}()

// Widths of the character string types (tag2nbyte): 1, 2 or 4 bytes per
// character; -1 for types that are dumped as hex. UTF8String (width 0 in
// OpenSSL) is read one byte at a time without conversion.
func charWidth(tag byte) (width int, convert bool) {
	switch tag {
	case 12: // UTF8String
		return 1, false
	case 18, 19, 20, 22, 23, 24, 26: // Numeric, Printable, T61, IA5, UTCTime, GeneralizedTime, ISO646
		return 1, true
	case 28: // UniversalString
		return 4, true
	case 30: // BMPString
		return 2, true
	}
	return -1, false
}

// shortNames maps attribute OIDs to OpenSSL's short names (OBJ_nid2sn).
var shortNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C", "2.5.4.7": "L",
	"2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.12": "title",
	"2.5.4.13": "description", "2.5.4.14": "searchGuide", "2.5.4.15": "businessCategory",
	"2.5.4.16": "postalAddress", "2.5.4.17": "postalCode", "2.5.4.18": "postOfficeBox",
	"2.5.4.19": "physicalDeliveryOfficeName", "2.5.4.20": "telephoneNumber", "2.5.4.21": "telexNumber",
	"2.5.4.22": "teletexTerminalIdentifier", "2.5.4.23": "facsimileTelephoneNumber",
	"2.5.4.24": "x121Address", "2.5.4.25": "internationaliSDNNumber", "2.5.4.26": "registeredAddress",
	"2.5.4.27": "destinationIndicator", "2.5.4.28": "preferredDeliveryMethod",
	"2.5.4.29": "presentationAddress", "2.5.4.30": "supportedApplicationContext", "2.5.4.31": "member",
	"2.5.4.32": "owner", "2.5.4.33": "roleOccupant", "2.5.4.34": "seeAlso", "2.5.4.35": "userPassword",
	"2.5.4.36": "userCertificate", "2.5.4.37": "cACertificate", "2.5.4.38": "authorityRevocationList",
	"2.5.4.39": "certificateRevocationList", "2.5.4.40": "crossCertificatePair", "2.5.4.41": "name",
	"2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.44": "generationQualifier",
	"2.5.4.45": "x500UniqueIdentifier", "2.5.4.46": "dnQualifier", "2.5.4.47": "enhancedSearchGuide",
	"2.5.4.48": "protocolInformation", "2.5.4.49": "distinguishedName", "2.5.4.50": "uniqueMember",
	"2.5.4.51": "houseIdentifier", "2.5.4.52": "supportedAlgorithms", "2.5.4.53": "deltaRevocationList",
	"2.5.4.54": "dmdName", "2.5.4.65": "pseudonym", "2.5.4.72": "role", "2.5.4.97": "organizationIdentifier",
	"2.5.4.98": "c3", "2.5.4.99": "n3", "2.5.4.100": "dnsName",
	"1.2.840.113549.1.9.1": "emailAddress", "1.2.840.113549.1.9.2": "unstructuredName",
	"1.2.840.113549.1.9.8":      "unstructuredAddress",
	"0.9.2342.19200300.100.1.1": "UID", "0.9.2342.19200300.100.1.3": "mail",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.3.6.1.4.1.311.60.2.1.1":   "jurisdictionL", "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
	"1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}

// shortNamesDER holds shortNames keyed by the OIDs' DER content, so known
// attributes are found without printing their OID.
var shortNamesDER = func() map[string]string {
	m := make(map[string]string, len(shortNames))
	for dotted, sn := range shortNames {
		var arcs []uint64
		for _, a := range strings.Split(dotted, ".") {
			v, err := strconv.ParseUint(a, 10, 64)
			if err != nil {
				panic("service: bad OID in shortNames: " + dotted)
			}
			arcs = append(arcs, v)
		}
		enc := appendBase128(nil, arcs[0]*40+arcs[1])
		for _, a := range arcs[2:] {
			enc = appendBase128(enc, a)
		}
		m[string(enc)] = sn
	}
	return m
}()

func appendBase128(b []byte, v uint64) []byte {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7f)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7f) | 0x80
	}
	return append(b, tmp[i:]...)
}

// appendOID appends an OBJECT IDENTIFIER's content as dotted decimal, as
// OBJ_obj2txt(..., 1) prints it. Malformed encodings are rejected, as OpenSSL
// rejects them when it decodes the certificate.
func appendOID(out, b []byte) ([]byte, error) {
	if len(b) == 0 || b[len(b)-1]&0x80 != 0 {
		return out, errName
	}
	first := true
	for len(b) > 0 {
		if b[0] == 0x80 {
			return out, errName // non-minimal sub-identifier
		}
		n := 0
		for b[n]&0x80 != 0 {
			n++
		}
		sub := b[:n+1]
		b = b[n+1:]
		if !first {
			out = append(out, '.')
		}
		if n < 8 { // fits in 56 bits
			var v uint64
			for _, c := range sub {
				v = v<<7 | uint64(c&0x7f)
			}
			if first {
				switch {
				case v >= 80:
					out, v = append(out, "2."...), v-80
				case v >= 40:
					out, v = append(out, "1."...), v-40
				default:
					out = append(out, "0."...)
				}
			}
			out = strconv.AppendUint(out, v, 10)
		} else {
			v := new(big.Int)
			for _, c := range sub {
				v.Lsh(v, 7)
				v.Or(v, big.NewInt(int64(c&0x7f)))
			}
			if first {
				out, v = append(out, "2."...), v.Sub(v, big.NewInt(80))
			}
			out = v.Append(out, 10)
		}
		first = false
	}
	return out, nil
}

// nameEntry is one attribute of a Name.
type nameEntry struct {
	set   int    // index of the RDN it belongs to
	oid   []byte // OID content
	tag   byte   // value's tag
	value []byte // value's content
	full  []byte // value's complete encoding
}

// formatName prints a complete DER Name element. A value OpenSSL cannot
// print (a BMPString of odd length, a UniversalString whose length is not a
// multiple of four) ends the output after its "name=", as OpenSSL's output
// ends there.
func formatName(der []byte) (string, error) {
	rdns, _, _, err := expect(der, tagSequence, "name")
	if err != nil {
		return "", errName
	}
	ents := make([]nameEntry, 0, 8)
	for set := 0; len(rdns) > 0; set++ {
		var rdn []byte
		if rdn, _, rdns, err = expect(rdns, tagSet, "rdn"); err != nil {
			return "", errName
		}
		for len(rdn) > 0 {
			var atv []byte
			if atv, _, rdn, err = expect(rdn, tagSequence, "attribute"); err != nil {
				return "", errName
			}
			oid, _, rest, err := expect(atv, tagOID, "attribute type")
			if err != nil {
				return "", errName
			}
			tag, value, full, _, ok := readTLV(rest)
			if !ok {
				return "", errName
			}
			if len(ents) == maxNameParts {
				return "", errName
			}
			ents = append(ents, nameEntry{set: set, oid: oid, tag: tag, value: value, full: full})
		}
	}
	out := make([]byte, 0, len(der)+32)
	prev := -1
	for i := len(ents) - 1; i >= 0; i-- {
		e := ents[i]
		if prev != -1 {
			if prev == e.set {
				out = append(out, '+')
			} else {
				out = append(out, ',')
			}
		}
		prev = e.set
		sn, known := shortNamesDER[string(e.oid)]
		if known {
			out = append(out, sn...)
		} else if out, err = appendOID(out, e.oid); err != nil {
			return "", err
		}
		out = append(out, '=')
		var ok bool
		if out, ok = appendValue(out, e, !known); !ok {
			break
		}
	}
	if len(out) > maxNameOutput {
		out = out[:maxNameOutput]
	}
	return string(out), nil
}

// appendValue prints one attribute value (do_print_ex); ok is false when
// OpenSSL would fail on it.
func appendValue(out []byte, e nameEntry, dumpAll bool) ([]byte, bool) {
	width, convert := charWidth(e.tag)
	if dumpAll || width < 0 {
		out = append(out, '#')
		for _, b := range e.full {
			out = append(out, hexDigits[b>>4], hexDigits[b&0xf])
		}
		return out, true
	}
	if len(e.value)%width != 0 {
		return out, false
	}
	v := e.value
	for pos := 0; pos < len(v); pos += width {
		var c uint32
		for k := range width {
			c = c<<8 | uint32(v[pos+k])
		}
		var orflags uint8
		if pos == 0 {
			orflags = chFirstEsc
		}
		if pos+width == len(v) {
			orflags = chLastEsc // the last character's flag replaces the first's
		}
		if !convert {
			out = appendEscaped(out, byte(c), orflags)
			continue
		}
		var buf [4]byte
		n := putUTF8(buf[:], c)
		for k := range n {
			out = appendEscaped(out, buf[k], orflags)
		}
	}
	return out, true
}

// putUTF8 encodes c as OpenSSL's UTF8_putc does: surrogates and values
// beyond U+10FFFF produce nothing.
func putUTF8(b []byte, c uint32) int {
	switch {
	case c < 0x80:
		b[0] = byte(c)
		return 1
	case c < 0x800:
		b[0], b[1] = byte(0xc0|c>>6), byte(0x80|c&0x3f)
		return 2
	case c < 0x10000:
		if c >= 0xd800 && c <= 0xdfff {
			return 0
		}
		b[0], b[1], b[2] = byte(0xe0|c>>12), byte(0x80|(c>>6)&0x3f), byte(0x80|c&0x3f)
		return 3
	case c < 0x110000:
		b[0], b[1], b[2], b[3] = byte(0xf0|c>>18), byte(0x80|(c>>12)&0x3f), byte(0x80|(c>>6)&0x3f), byte(0x80|c&0x3f)
		return 4
	}
	return 0
}

// appendEscaped appends one byte with OpenSSL's RFC 2253 escaping
// (do_esc_char).
func appendEscaped(out []byte, c byte, orflags uint8) []byte {
	var fl uint8
	if c > 0x7f {
		return append(out, '\\', hexDigits[c>>4], hexDigits[c&0xf])
	}
	fl = charType[c] & (chEsc2253 | chEscCtrl | orflags)
	switch {
	case fl&(chEsc2253|chFirstEsc|chLastEsc) != 0:
		return append(out, '\\', c)
	case fl&chEscCtrl != 0:
		return append(out, '\\', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return append(out, c)
}
