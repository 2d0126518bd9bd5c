package gossip

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func testKey(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func TestDecodeKey(t *testing.T) {
	tests := map[string]struct {
		in      string
		wantLen int // 0 = error
	}{
		"aes128":     {EncodeKey(testKey(1, 16)), 16},
		"aes192":     {EncodeKey(testKey(1, 24)), 24},
		"aes256":     {" " + EncodeKey(testKey(1, 32)) + "\n", 32},
		"short":      {EncodeKey(testKey(1, 15)), 0},
		"not base64": {"not*base64", 0},
		"empty":      {"", 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k, err := DecodeKey(tc.in)
			if tc.wantLen == 0 {
				if !errors.Is(err, ErrBadKey) {
					t.Fatalf("err = %v, want ErrBadKey", err)
				}
				return
			}
			if err != nil || len(k) != tc.wantLen {
				t.Fatalf("got %d bytes, %v", len(k), err)
			}
		})
	}
	if k := GenerateKey(); len(k) != 32 || bytes.Equal(k, GenerateKey()) {
		t.Fatalf("GenerateKey: %d bytes or not random", len(k))
	}
}

func TestKeyFileRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gossip.keys")
	k1, k2 := testKey(1, 32), testKey(2, 16)
	if err := WriteKeyFile(path, [][]byte{k1, k2}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	keys, err := ReadKeyFile(path)
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], k1) || !bytes.Equal(keys[1], k2) {
		t.Fatalf("ReadKeyFile = %x, %v", keys, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}

	bad := filepath.Join(dir, "bad.keys")
	os.WriteFile(bad, []byte("# comment\n\n"+EncodeKey(k1)+"\n"+EncodeKey(k1)+"\nAAAA\n"), 0o600)
	if _, err := ReadKeyFile(bad); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "bad.keys:5:") {
		t.Fatalf("bad line: err = %v, want bad.keys:5 and ErrBadKey", err)
	}
	os.WriteFile(bad, []byte("# only a comment\n"), 0o600)
	if _, err := ReadKeyFile(bad); !errors.Is(err, ErrBadKey) {
		t.Fatalf("no key: err = %v", err)
	}
	os.WriteFile(bad, []byte(EncodeKey(k1)+"\n"+EncodeKey(k1)+"\n"), 0o600)
	if keys, err := ReadKeyFile(bad); err != nil || len(keys) != 1 {
		t.Fatalf("duplicate key kept: %d keys, %v", len(keys), err)
	}
	if _, err := ReadKeyFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file: no error")
	}
}

func TestKeyringApply(t *testing.T) {
	k1, k2, k3 := testKey(1, 32), testKey(2, 32), testKey(3, 16)
	fp := func(ks ...[]byte) string { return strings.Join(fingerprints(ks), ",") }
	type step struct {
		op      KeyOp
		key     []byte
		wantErr bool
		want    string // fingerprints after the step
	}
	tests := map[string][]step{
		"rotation": {
			{KeyInstall, k2, false, fp(k1, k2)},
			{KeyInstall, k2, false, fp(k1, k2)}, // no-op
			{KeyUse, k2, false, fp(k2, k1)},
			{KeyRemove, k1, false, fp(k2)},
			{KeyRemove, k1, false, fp(k2)}, // not installed: no-op
		},
		"refusals": {
			{KeyUse, k2, true, fp(k1)},
			{KeyRemove, k1, true, fp(k1)},
			{KeyInstall, testKey(9, 7), true, fp(k1)},
			{KeyList, nil, true, fp(k1)},
		},
		"remove middle keeps order": {
			{KeyInstall, k2, false, fp(k1, k2)},
			{KeyInstall, k3, false, fp(k1, k2, k3)},
			{KeyRemove, k2, false, fp(k1, k3)},
		},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys")
			if err := WriteKeyFile(path, [][]byte{k1}); err != nil {
				t.Fatal(err)
			}
			r, err := newKeyring([][]byte{k1}, path)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range steps {
				err := r.apply(s.op, s.key)
				if (err != nil) != s.wantErr {
					t.Fatalf("step %d %v: err = %v, want error %v", i, s.op, err, s.wantErr)
				}
				if got := strings.Join(fingerprints(r.keys()), ","); got != s.want {
					t.Fatalf("step %d %v: keys %s, want %s", i, s.op, got, s.want)
				}
				file, err := ReadKeyFile(path)
				if err != nil || strings.Join(fingerprints(file), ",") != s.want {
					t.Fatalf("step %d %v: file holds %s (%v), want %s", i, s.op, fp(file...), err, s.want)
				}
			}
		})
	}
}

// A keyring whose file cannot be written does not change.
func TestKeyringApplyFileFailureChangesNothing(t *testing.T) {
	k1, k2 := testKey(1, 32), testKey(2, 32)
	r, err := newKeyring([][]byte{k1}, filepath.Join(t.TempDir(), "no-such-dir", "keys"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.apply(KeyInstall, k2); err == nil {
		t.Fatal("install with an unwritable file: no error")
	}
	if keys := r.keys(); len(keys) != 1 || !bytes.Equal(keys[0], k1) {
		t.Fatalf("keys changed despite the failed write: %s", fingerprints(keys))
	}
}

// memberlist decrypts with the slice its GetKeys returns, without a copy,
// while a remove may run: under -race this fails if a removal writes into
// that slice (memberlist's RemoveKey of a key that is not the last does).
func TestKeyringRemoveDoesNotWriteReadersSlice(t *testing.T) {
	keys := [][]byte{testKey(1, 32), testKey(2, 32), testKey(3, 32), testKey(4, 32), testKey(5, 32)}
	r, err := newKeyring(keys, "")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := 0
				for _, k := range r.ring.GetKeys() { // as memberlist's decryptPayload does
					n += len(k)
				}
				if n%32 != 0 {
					panic("torn key slice")
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		k := keys[1+i%4]
		if err := r.apply(KeyRemove, k); err != nil {
			t.Fatal(err)
		}
		if err := r.apply(KeyInstall, k); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if got := r.keys(); len(got) != 5 || !bytes.Equal(got[0], keys[0]) {
		t.Fatalf("keys after churn: %s", fingerprints(got))
	}
}
