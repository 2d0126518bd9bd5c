package gossip

import (
	"encoding/binary"
	"fmt"
)

// Keyring messages travel as memberlist user messages sent directly (TCP)
// between two nodes, encrypted with the sender's primary key like all
// gossip; they are never re-gossiped. Wire format (integers big-endian):
//
//	request:  version 1 | kind 3 | id u64 | issued varint (Unix ns) | op byte |
//	          uvarint len, origin | uvarint len, key
//	response: version 1 | kind 4 | id u64 | uvarint len, node | ok byte |
//	          uvarint len, error | persisted byte | uvarint n | n * (uvarint len, fingerprint)
//
// A response lists the key fingerprints of the node after the operation,
// its primary first: key material only travels in requests.
const (
	msgKindKeyRequest  byte = 3
	msgKindKeyResponse byte = 4
	// maxRespKeys bounds the fingerprints one response carries.
	maxRespKeys = 64
	// maxKeyErrLen bounds the error text in a response.
	maxKeyErrLen = 512
)

// keyRequest asks a node to change or list its keyring.
type keyRequest struct {
	ID     uint64
	Issued int64 // Unix nanoseconds at the origin
	Op     KeyOp
	Origin string // node name to answer
	Key    []byte // empty for KeyList
}

// keyResponse is one node's answer.
type keyResponse struct {
	ID        uint64
	Node      string
	OK        bool
	Err       string
	Persisted bool     // the keyring file was rewritten (false: no file, or no change)
	Keys      []string // fingerprints, primary first
}

func encodeKeyRequest(q keyRequest) []byte {
	b := []byte{intentVersion, msgKindKeyRequest}
	b = binary.BigEndian.AppendUint64(b, q.ID)
	b = binary.AppendVarint(b, q.Issued)
	b = append(b, byte(q.Op))
	b = binary.AppendUvarint(b, uint64(len(q.Origin)))
	b = append(b, q.Origin...)
	b = binary.AppendUvarint(b, uint64(len(q.Key)))
	return append(b, q.Key...)
}

func encodeKeyResponse(p keyResponse) []byte {
	b := []byte{intentVersion, msgKindKeyResponse}
	b = binary.BigEndian.AppendUint64(b, p.ID)
	b = binary.AppendUvarint(b, uint64(len(p.Node)))
	b = append(b, p.Node...)
	b = append(b, boolByte(p.OK))
	e := p.Err
	if len(e) > maxKeyErrLen {
		e = e[:maxKeyErrLen]
	}
	b = binary.AppendUvarint(b, uint64(len(e)))
	b = append(b, e...)
	b = append(b, boolByte(p.Persisted))
	keys := p.Keys
	if len(keys) > maxRespKeys {
		keys = keys[:maxRespKeys]
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// msgKind returns the kind byte of a user message, or 0 if it has no
// valid header.
func msgKind(b []byte) byte {
	if len(b) < 2 || b[0] != intentVersion {
		return 0
	}
	return b[1]
}

// decodeKeyRequest decodes a request. Never panics; b is not retained.
func decodeKeyRequest(b []byte) (keyRequest, error) {
	var q keyRequest
	if msgKind(b) != msgKindKeyRequest {
		return q, fmt.Errorf("%w: not a key request", ErrBadMeta)
	}
	r := reader{b: b[2:]}
	q.ID = r.u64()
	q.Issued = r.varint()
	q.Op = KeyOp(r.byte1())
	q.Origin = r.str()
	q.Key = []byte(r.str())
	switch {
	case r.err != "":
	case q.Op < KeyList || q.Op > KeyRemove:
		r.fail(fmt.Sprintf("unknown op %d", byte(q.Op)))
	case q.Origin == "" || len(q.Origin) > maxNameLen:
		r.fail("bad origin")
	case q.Op == KeyList && len(q.Key) != 0:
		r.fail("list with a key")
	case q.Op != KeyList && len(q.Key) != 16 && len(q.Key) != 24 && len(q.Key) != 32:
		r.fail("bad key length")
	case len(r.b) != 0:
		r.fail("trailing bytes")
	}
	if r.err != "" {
		return keyRequest{}, fmt.Errorf("%w: key request: %s", ErrBadMeta, r.err)
	}
	if len(q.Key) == 0 {
		q.Key = nil
	}
	return q, nil
}

// decodeKeyResponse decodes a response. Never panics; b is not retained.
func decodeKeyResponse(b []byte) (keyResponse, error) {
	var p keyResponse
	if msgKind(b) != msgKindKeyResponse {
		return p, fmt.Errorf("%w: not a key response", ErrBadMeta)
	}
	r := reader{b: b[2:]}
	p.ID = r.u64()
	p.Node = r.str()
	p.OK = r.byte1() == 1
	p.Err = r.str()
	p.Persisted = r.byte1() == 1
	n := r.uvarint()
	if r.err == "" && n > maxRespKeys {
		r.fail("too many keys")
	}
	for i := uint64(0); i < n && r.err == ""; i++ {
		p.Keys = append(p.Keys, r.str())
	}
	switch {
	case r.err != "":
	case p.Node == "" || len(p.Node) > maxNameLen:
		r.fail("bad node name")
	case len(p.Err) > maxKeyErrLen:
		r.fail("error text too long")
	case len(r.b) != 0:
		r.fail("trailing bytes")
	}
	if r.err != "" {
		return keyResponse{}, fmt.Errorf("%w: key response: %s", ErrBadMeta, r.err)
	}
	return p, nil
}
