package gossip

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestClassifyRejection(t *testing.T) {
	// Lines as memberlist v0.7.0 writes them, after parseMemberlistLine.
	tests := map[string]struct {
		line string
		want rejectKind
	}{
		"packet label":      {`discarding packet with unacceptable label "staging": from=10.0.0.9:7946`, rejectLabel},
		"stream label":      {`discarding stream with unacceptable label "": from=10.0.0.9:51234`, rejectLabel},
		"stream label bad":  {"failed to receive and remove the stream label header: EOF from=10.0.0.9:1", rejectLabel},
		"packet wrong key":  {"Decrypt packet failed: no installed keys could decrypt the message from=10.0.0.9:7946", rejectKey},
		"packet plaintext":  {"Decrypt packet failed: unsupported encryption version 4 from=10.0.0.9:7946", rejectKey},
		"stream wrong key":  {"failed to receive: no installed keys could decrypt the message from=10.0.0.9:5", rejectKey},
		"stream plaintext":  {"failed to receive: encryption is configured but remote state is not encrypted from=10.0.0.9:5", rejectKey},
		"stream we have no": {"failed to receive: remote state is encrypted and encryption is not configured from=x", rejectKey},
		"other receive":     {"failed to receive: EOF from=10.0.0.9:5", rejectNone},
		"unrelated":         {"Failed to send ping: write: broken pipe", rejectNone},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := classifyRejection(tc.line); got != tc.want {
				t.Fatalf("classifyRejection = %v, want %v", got, tc.want)
			}
		})
	}
}

// Intruders without the key, with another key or another cluster name cannot
// join an encrypted, labelled cluster; the seed counts each kind.
func TestIntrudersRejectedAndCounted(t *testing.T) {
	k1, k2 := testKey(1, 32), testKey(2, 32)
	tests := map[string]struct {
		keys      [][]byte
		label     string
		wantKey   bool
		wantLabel bool
	}{
		"no key":           {nil, "prod", true, false},
		"wrong key":        {[][]byte{k2}, "prod", true, false},
		"wrong label":      {[][]byte{k1}, "staging", false, true},
		"no label, no key": {nil, "", false, true},
		"control: member":  {[][]byte{k1}, "prod", false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				defer h.closeAll()
				gs := h.startCluster(2, func(_ int, c *Config) { c.Keys, c.ClusterName = [][]byte{k1}, "prod" })
				seed := gs[0]
				before := seed.Security()
				x := h.node("intruder", "10.0.0.9", nil, func(c *Config) { c.Keys, c.ClusterName = tc.keys, tc.label })
				_, err := x.Join(context.Background(), []string{addrOf("10.0.0.1")})
				time.Sleep(3 * time.Second) // let the intruder probe whatever it learnt
				after := seed.Security()
				_, known := memberOf(seed, "intruder")
				member := !tc.wantKey && !tc.wantLabel
				if member != (err == nil) || member != known {
					t.Fatalf("join err = %v, seed knows intruder = %v; want member = %v", err, known, member)
				}
				if got := after.RejectedKey > before.RejectedKey; got != tc.wantKey {
					t.Fatalf("rejected_key %d -> %d, want an increase: %v", before.RejectedKey, after.RejectedKey, tc.wantKey)
				}
				if got := after.RejectedLabel > before.RejectedLabel; got != tc.wantLabel {
					t.Fatalf("rejected_label %d -> %d, want an increase: %v", before.RejectedLabel, after.RejectedLabel, tc.wantLabel)
				}
				if !after.Encrypted || after.ClusterName != "prod" || len(after.Keys) != 1 {
					t.Fatalf("security stats %+v", after)
				}
			})
		})
	}
}

// Install, use and remove across a running cluster: every node answers,
// rewrites its file, nobody is ever declared failed, and afterwards only the
// new key gets in.
func TestKeyRotationAcrossCluster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		defer h.closeAll()
		k1, k2 := testKey(1, 32), testKey(2, 24)
		dir := t.TempDir()
		file := func(i int) string { return filepath.Join(dir, fmt.Sprintf("n%d.keys", i)) }
		gs := h.startCluster(4, func(i int, c *Config) {
			if err := WriteKeyFile(file(i), [][]byte{k1}); err != nil {
				t.Fatal(err)
			}
			c.Keys, c.KeyFile, c.ClusterName = [][]byte{k1}, file(i), "prod"
		})
		// n4 stops: it is reported as not asked, never as answered.
		_ = gs[3].Close()
		waitFor(t, 5*time.Second, func() error { return seeAll(gs[:3], []string{"n4"}, StateDead) })
		failedBefore := len(h.logs.find(`"member failed"`))

		if _, err := gs[1].KeyOperation(context.Background(), KeyUse, k2); !errors.Is(err, ErrKeyOp) {
			t.Fatalf("use of a key installed nowhere: err = %v, want ErrKeyOp", err)
		}
		want := func(ks ...[]byte) string { return strings.Join(fingerprints(ks), ",") }
		for _, step := range []struct {
			from int
			op   KeyOp
			key  []byte
			want string
		}{
			{0, KeyInstall, k2, want(k1, k2)},
			{1, KeyUse, k2, want(k2, k1)},
			{2, KeyRemove, k1, want(k2)},
			{0, KeyList, nil, want(k2)},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := gs[step.from].KeyOperation(ctx, step.op, step.key)
			cancel()
			if err != nil {
				t.Fatalf("%v: %v", step.op, err)
			}
			if f := res.Failed(); len(f) > 0 || len(res.Nodes) != 3 || strings.Join(res.NotAsked, ",") != "n4" {
				t.Fatalf("%v: failed %v, result %+v", step.op, f, res)
			}
			for name, n := range res.Nodes {
				if strings.Join(n.Keys, ",") != step.want {
					t.Fatalf("%v: %s has keys %v, want %s", step.op, name, n.Keys, step.want)
				}
				if n.Persisted != (step.op != KeyList) {
					t.Fatalf("%v: %s persisted = %v", step.op, name, n.Persisted)
				}
			}
			for i := 1; i <= 3; i++ {
				keys, err := ReadKeyFile(file(i))
				if err != nil || want(keys...) != step.want {
					t.Fatalf("%v: n%d's file holds %s (%v), want %s", step.op, i, want(keys...), err, step.want)
				}
			}
			time.Sleep(time.Second) // gossip goes on with the new keys
		}
		if n := len(h.logs.find(`"member failed"`)); n != failedBefore {
			t.Fatalf("%d member failures during the rotation", n-failedBefore)
		}
		if err := seeAll(gs[:3], names(gs[:3]), StateAlive); err != nil {
			t.Fatal(err)
		}
		// The old key no longer gets in; the new one does.
		before := gs[0].Security().RejectedKey
		old := h.node("old", "10.0.0.8", nil, func(c *Config) { c.Keys, c.ClusterName = [][]byte{k1}, "prod" })
		if _, err := old.Join(context.Background(), []string{addrOf("10.0.0.1")}); err == nil {
			t.Fatal("a node with only the removed key joined")
		}
		if gs[0].Security().RejectedKey == before {
			t.Fatal("the old key's join attempt was not counted")
		}
		nw := h.node("new", "10.0.0.7", nil, func(c *Config) { c.Keys, c.ClusterName = [][]byte{k2}, "prod" })
		if _, err := nw.Join(context.Background(), []string{addrOf("10.0.0.1")}); err != nil {
			t.Fatalf("a node with the new key: %v", err)
		}
	})
}

func TestCheckKeyRequestReplayAndAge(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	seen := map[uint64]time.Time{}
	q := keyRequest{ID: 7, Issued: now.Add(-time.Minute).UnixNano(), Op: KeyList, Origin: "a"}
	if err := checkKeyRequest(q, now, seen); err != nil {
		t.Fatalf("fresh request refused: %v", err)
	}
	if err := checkKeyRequest(q, now, seen); !errors.Is(err, ErrKeyOp) {
		t.Fatalf("replayed request: err = %v", err)
	}
	for _, d := range []time.Duration{-6 * time.Minute, 6 * time.Minute} {
		q := keyRequest{ID: 8, Issued: now.Add(d).UnixNano(), Op: KeyList, Origin: "a"}
		if err := checkKeyRequest(q, now, seen); !errors.Is(err, ErrKeyOp) {
			t.Fatalf("request issued %v away: err = %v", d, err)
		}
	}
	for i := range maxSeenKeyReqs + 10 {
		q := keyRequest{ID: uint64(100 + i), Issued: now.UnixNano(), Op: KeyList, Origin: "a"}
		if err := checkKeyRequest(q, now, seen); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) > maxSeenKeyReqs {
		t.Fatalf("seen holds %d ids, bound %d", len(seen), maxSeenKeyReqs)
	}
}

func TestKeyOperationWithoutEncryption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		defer h.closeAll()
		g := h.node("n1", "10.0.0.1", nil, nil)
		if _, err := g.KeyOperation(context.Background(), KeyList, nil); !errors.Is(err, ErrNoEncryption) {
			t.Fatalf("err = %v, want ErrNoEncryption", err)
		}
		if s := g.Security(); s.Encrypted || len(s.Keys) != 0 {
			t.Fatalf("security %+v", s)
		}
	})
}
