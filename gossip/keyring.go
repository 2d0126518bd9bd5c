package gossip

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hashicorp/memberlist"
)

// This file holds one node's gossip keyring: the keys in memory (memberlist's
// Keyring, which encrypts and decrypts every message) and, optionally, their
// file, rewritten before every change takes effect so that a restarted node
// comes back with the keys it last used.

// KeyOp is a keyring change: install a key (decrypt with it), use it (make it
// primary: encrypt with it) or remove it.
type KeyOp byte

// Keyring operations.
const (
	KeyList    KeyOp = 1 // no change: report the keys
	KeyInstall KeyOp = 2
	KeyUse     KeyOp = 3
	KeyRemove  KeyOp = 4
)

// String returns "list", "install", "use" or "remove".
func (op KeyOp) String() string {
	switch op {
	case KeyList:
		return "list"
	case KeyInstall:
		return "install"
	case KeyUse:
		return "use"
	case KeyRemove:
		return "remove"
	}
	return fmt.Sprintf("keyop(%d)", byte(op))
}

// ParseKeyOp parses "list", "install", "use" or "remove".
func ParseKeyOp(s string) (KeyOp, error) {
	for _, op := range []KeyOp{KeyList, KeyInstall, KeyUse, KeyRemove} {
		if op.String() == s {
			return op, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown key operation %q (want list, install, use or remove)", ErrInvalidConfig, s)
}

// GenerateKey returns a new random 32-byte (AES-256) gossip key.
func GenerateKey() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic("gossip: crypto/rand failed: " + err.Error()) // cannot happen on Linux
	}
	return k
}

// EncodeKey returns the standard base64 form of a key.
func EncodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// DecodeKey decodes a standard base64 key of 16, 24 or 32 bytes (AES-128,
// AES-192 or AES-256).
func DecodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%w: key is not base64: %w", ErrBadKey, err)
	}
	if err := memberlist.ValidateKey(k); err != nil {
		return nil, fmt.Errorf("%w: %d bytes, want 16, 24 or 32", ErrBadKey, len(k))
	}
	return k, nil
}

// ReadKeyFile reads a keyring file: one base64 key per line, the first one
// primary; blank lines and lines starting with '#' are ignored. Errors name
// the file and line. A file without a key is an error.
func ReadKeyFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gossip: key file: %w", err)
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, err := DecodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if !containsKey(keys, k) {
			keys = append(keys, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: %w: no key in the file", path, ErrBadKey)
	}
	return keys, nil
}

// WriteKeyFile replaces path with keys (the first primary) atomically: a
// temporary file in the same directory, mode 0600, synced, renamed over
// path, and the directory synced.
func WriteKeyFile(path string, keys [][]byte) error {
	var b strings.Builder
	b.WriteString("# shoal gossip keyring: base64 keys, one per line; the first is primary.\n")
	b.WriteString("# Rewritten by the node on `node keys install|use|remove`.\n")
	for _, k := range keys {
		b.WriteString(EncodeKey(k) + "\n")
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("gossip: write key file: %w", err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(b.String())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("gossip: write key file %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

func containsKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if bytes.Equal(x, k) {
			return true
		}
	}
	return false
}

// keyring is this node's keys: memberlist's Keyring plus the file. Safe for
// concurrent use; changes are serialised.
type keyring struct {
	mu   sync.Mutex // serialises changes
	ring *memberlist.Keyring
	file string // "" = changes are not persisted
}

// newKeyring returns nil (no encryption) when keys is empty.
func newKeyring(keys [][]byte, file string) (*keyring, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ring, err := memberlist.NewKeyring(cloneKeys(keys[1:]), bytes.Clone(keys[0]))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	return &keyring{ring: ring, file: file}, nil
}

func cloneKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = bytes.Clone(k)
	}
	return out
}

// keys returns a copy of the keys, the primary first.
func (r *keyring) keys() [][]byte { return cloneKeys(r.ring.GetKeys()) }

// apply performs op (not KeyList) on this node: it checks the change,
// writes the file with the new keys, then changes memberlist's keyring. If
// the file cannot be written nothing changes. Installing a key already
// installed and removing one that is not are no-ops that succeed.
func (r *keyring) apply(op KeyOp, key []byte) error {
	if err := memberlist.ValidateKey(key); err != nil {
		return fmt.Errorf("%w: %d bytes, want 16, 24 or 32", ErrBadKey, len(key))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.keys()
	var next [][]byte
	switch op {
	case KeyInstall:
		if containsKey(cur, key) {
			return nil
		}
		next = append(cur, bytes.Clone(key))
	case KeyUse:
		if !containsKey(cur, key) {
			return fmt.Errorf("%w: key %s is not installed on this node", ErrKeyOp, fingerprint(key))
		}
		if bytes.Equal(cur[0], key) {
			return nil
		}
		next = [][]byte{bytes.Clone(key)}
		for _, k := range cur {
			if !bytes.Equal(k, key) {
				next = append(next, k)
			}
		}
	case KeyRemove:
		if bytes.Equal(cur[0], key) {
			return fmt.Errorf("%w: key %s is the primary key; use another key first", ErrKeyOp, fingerprint(key))
		}
		if !containsKey(cur, key) {
			return nil
		}
		for _, k := range cur {
			if !bytes.Equal(k, key) {
				next = append(next, k)
			}
		}
	default:
		return fmt.Errorf("%w: %v changes nothing", ErrKeyOp, op)
	}
	if r.file != "" {
		if err := WriteKeyFile(r.file, next); err != nil {
			return err
		}
	}
	switch op {
	case KeyInstall:
		return r.ring.AddKey(bytes.Clone(key))
	case KeyUse:
		return r.ring.UseKey(key)
	default:
		return r.removeLocked(cur, key)
	}
}

// removeLocked removes key (not the primary) from memberlist's keyring.
// memberlist's RemoveKey shifts the keys after the removed one in place,
// in the very array its GetKeys handed to decrypting goroutines without a
// copy (a data race, and a torn slice header could reach AES). Removing
// the last key writes nothing, so the keys after key are removed from the
// end, then key, then they are added back in order (AddKey appends beyond
// any reader's length). For the microseconds in between those keys cannot
// decrypt; they are never primary here, so only a peer using one as its
// primary key in the middle of a rotation is affected, and gossip retries.
func (r *keyring) removeLocked(cur [][]byte, key []byte) error {
	i := 0
	for i < len(cur) && !bytes.Equal(cur[i], key) {
		i++
	}
	after := cur[i+1:]
	for j := len(after) - 1; j >= 0; j-- {
		if err := r.ring.RemoveKey(after[j]); err != nil {
			return err
		}
	}
	if err := r.ring.RemoveKey(key); err != nil {
		return err
	}
	for _, k := range after {
		if err := r.ring.AddKey(k); err != nil {
			return err
		}
	}
	return nil
}

// KeyFingerprint names a key in logs, errors and listings without
// revealing it: the first 12 hex digits of its SHA-256.
func KeyFingerprint(k []byte) string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:6])
}

func fingerprint(k []byte) string { return KeyFingerprint(k) }
