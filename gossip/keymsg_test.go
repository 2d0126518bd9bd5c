package gossip

import (
	"bytes"
	"reflect"
	"testing"
)

func TestKeyMessagesRoundTrip(t *testing.T) {
	reqs := []keyRequest{
		{ID: 1, Issued: 1700000000123456789, Op: KeyInstall, Origin: "mgr-1", Key: testKey(7, 32)},
		{ID: ^uint64(0), Issued: -5, Op: KeyList, Origin: "n"},
		{ID: 3, Issued: 0, Op: KeyRemove, Origin: "dn-2", Key: testKey(1, 16)},
	}
	for _, q := range reqs {
		got, err := decodeKeyRequest(encodeKeyRequest(q))
		if err != nil || !reflect.DeepEqual(got, q) {
			t.Fatalf("request %+v: decoded %+v, %v", q, got, err)
		}
	}
	resps := []keyResponse{
		{ID: 1, Node: "dn-1", OK: true, Persisted: true, Keys: []string{"aa", "bb"}},
		{ID: 2, Node: "dn-2", Err: "gossip: key operation refused: x"},
	}
	for _, p := range resps {
		got, err := decodeKeyResponse(encodeKeyResponse(p))
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("response %+v: decoded %+v, %v", p, got, err)
		}
	}
}

func TestKeyRequestRefusals(t *testing.T) {
	good := encodeKeyRequest(keyRequest{ID: 1, Issued: 1, Op: KeyUse, Origin: "a", Key: testKey(1, 24)})
	bad := map[string][]byte{
		"truncated":     good[:len(good)-1],
		"trailing":      append(bytes.Clone(good), 0),
		"bad op":        encodeKeyRequest(keyRequest{ID: 1, Op: 9, Origin: "a", Key: testKey(1, 16)}),
		"no origin":     encodeKeyRequest(keyRequest{ID: 1, Op: KeyUse, Key: testKey(1, 16)}),
		"short key":     encodeKeyRequest(keyRequest{ID: 1, Op: KeyUse, Origin: "a", Key: testKey(1, 8)}),
		"list with key": encodeKeyRequest(keyRequest{ID: 1, Op: KeyList, Origin: "a", Key: testKey(1, 16)}),
		"response":      encodeKeyResponse(keyResponse{ID: 1, Node: "a"}),
		"empty":         nil,
	}
	for name, b := range bad {
		if _, err := decodeKeyRequest(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeKeyRequest(f *testing.F) {
	f.Add(encodeKeyRequest(keyRequest{ID: 1, Issued: 1, Op: KeyInstall, Origin: "mgr-1", Key: testKey(7, 32)}))
	f.Add(encodeKeyRequest(keyRequest{ID: 2, Op: KeyList, Origin: "x"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := decodeKeyRequest(b)
		if err != nil {
			return
		}
		again, err := decodeKeyRequest(encodeKeyRequest(q))
		if err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("re-decode of %+v: %+v, %v", q, again, err)
		}
	})
}

func FuzzDecodeKeyResponse(f *testing.F) {
	f.Add(encodeKeyResponse(keyResponse{ID: 1, Node: "dn-1", OK: true, Persisted: true, Keys: []string{"aa", "bb"}}))
	f.Add(encodeKeyResponse(keyResponse{ID: 2, Node: "dn-2", Err: "refused"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeKeyResponse(b)
		if err != nil {
			return
		}
		again, err := decodeKeyResponse(encodeKeyResponse(p))
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("re-decode of %+v: %+v, %v", p, again, err)
		}
	})
}
