package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shoal/gossip"
	"shoal/pki"
)

func TestSecurityFlags(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "gossip.keys")
	if err := gossip.WriteKeyFile(keyFile, [][]byte{gossip.GenerateKey()}); err != nil {
		t.Fatal(err)
	}
	badKeys := filepath.Join(dir, "bad.keys")
	os.WriteFile(badKeys, []byte("not a key\n"), 0o600)
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("0123456789abcdef0123\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	mgr := []string{"--role", "manager", "--log-dir", dir}
	if code := tlsCommand([]string{"ca", "--dir", dir}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatal("tls ca failed")
	}
	if code := tlsCommand([]string{"cert", "--dir", dir, "--role", "manager", "--name", "mgr-1"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatal("tls cert failed")
	}
	tlsArgs := []string{"--tls-ca", filepath.Join(dir, "ca.pem"), "--tls-cert", filepath.Join(dir, "mgr-1.pem"),
		"--tls-key", filepath.Join(dir, "mgr-1-key.pem")}
	with := func(a ...[]string) []string {
		var out []string
		for _, x := range a {
			out = append(out, x...)
		}
		return out
	}
	tests := map[string]struct {
		args []string
		want string // "" = accepted
	}{
		"gossip on all interfaces": {[]string{"--bind", "0.0.0.0:0"}, "--insecure"},
		"gossip with a key, data open": {[]string{"--bind", "0.0.0.0:0", "--gossip-key-file", keyFile},
			"event transport would listen on 0.0.0.0:0"},
		"http off loopback":  {[]string{"--http", ":0"}, "--http-token-file"},
		"http with a token":  {[]string{"--http", ":0", "--http-token-file", token}, ""},
		"insecure":           {[]string{"--bind", "0.0.0.0:0", "--http", ":0", "--insecure"}, ""},
		"loopback":           {[]string{"--bind", "127.0.0.1:0", "--http", "127.0.0.1:0"}, ""},
		"bad key file":       {[]string{"--gossip-key-file", badKeys}, "bad.keys:1:"},
		"missing key file":   {[]string{"--gossip-key-file", filepath.Join(dir, "nope")}, "--gossip-key-file"},
		"short token":        {[]string{"--http-token-file", short}, "at least 16"},
		"long cluster name":  {[]string{"--cluster-name", strings.Repeat("c", 256)}, "--cluster-name"},
		"key file and name":  {[]string{"--gossip-key-file", keyFile, "--cluster-name", "prod"}, ""},
		"tls without a name": {tlsArgs, "--name is required"},
		"tls, another name":  {with([]string{"--name", "mgr-2"}, tlsArgs), "names shoal://manager/mgr-1"},
		"tls, one file":      {[]string{"--name", "mgr-1", "--tls-ca", filepath.Join(dir, "ca.pem")}, "go together"},
		"tls on all interfaces, no gossip key": {with([]string{"--name", "mgr-1", "--bind", "0.0.0.0:0", "--http", ":0"}, tlsArgs),
			"gossip would listen"},
		"tls and a gossip key on all interfaces": {with([]string{"--name", "mgr-1", "--bind", "0.0.0.0:0", "--http", ":0",
			"--gossip-key-file", keyFile}, tlsArgs), ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parse(append(append([]string{}, mgr...), tc.args...), &stderr)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if strings.Contains(name, "key") && (len(o.cfg.Security.GossipKeys) != 1 || o.cfg.Security.GossipKeyFile != keyFile) {
					t.Fatalf("security = %+v", o.cfg.Security)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			var out, errOut bytes.Buffer
			if code := run(append(append([]string{}, mgr...), tc.args...), &out, &errOut); code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
		})
	}
}

func TestKeysCommandUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := keys([]string{"generate"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("generate: exit %d", code)
	}
	if k, err := gossip.DecodeKey(out.String()); err != nil || len(k) != 32 ||
		!strings.Contains(errOut.String(), gossip.KeyFingerprint(k)) {
		t.Fatalf("generate printed %q / %q: %v", out.String(), errOut.String(), err)
	}
	for name, args := range map[string][]string{
		"nothing":         {},
		"unknown":         {"rotate"},
		"no http":         {"list"},
		"install no key":  {"install", "--http", "127.0.0.1:1"},
		"list with a key": {"list", "AAAA", "--http", "127.0.0.1:1"},
		"bad key":         {"install", "short", "--http", "127.0.0.1:1"},
		"two keys":        {"use", gossip.EncodeKey(gossip.GenerateKey()), "x", "--http", "127.0.0.1:1"},
	} {
		var out, errOut bytes.Buffer
		if code := keys(args, strings.NewReader(""), &out, &errOut); code != 2 {
			t.Errorf("%s: exit %d, want 2 (%s)", name, code, errOut.String())
		}
	}
}

func TestTLSCommands(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if code := tlsCommand([]string{"ca", "--dir", dir}, &out, &errOut); code != 0 {
		t.Fatalf("tls ca: exit %d: %s", code, errOut.String())
	}
	if code := tlsCommand([]string{"ca", "--dir", dir}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "exists") {
		t.Fatalf("tls ca over an existing CA: exit %d: %s", code, errOut.String())
	}
	if code := tlsCommand([]string{"cert", "--dir", dir, "--role", "datanode", "--name", "dn-1", "--ip", "10.0.0.5"}, &out, &errOut); code != 0 {
		t.Fatalf("tls cert: exit %d: %s", code, errOut.String())
	}
	for file, mode := range map[string]os.FileMode{"ca-key.pem": 0o600, "dn-1-key.pem": 0o600, "dn-1.pem": 0o644, "ca.pem": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, file))
		if err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v, mode %v want %v", file, err, fi.Mode().Perm(), mode)
		}
	}
	f, err := pki.Load(pki.Paths{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "dn-1.pem"),
		Key: filepath.Join(dir, "dn-1-key.pem")}, nil)
	if err != nil || f.Identity() != (pki.Identity{Role: "datanode", Name: "dn-1"}) {
		t.Fatalf("issued certificate: %v, identity %v", err, f)
	}
	for name, args := range map[string][]string{
		"no role":   {"cert", "--dir", dir, "--name", "x"},
		"bad role":  {"cert", "--dir", dir, "--role", "proxy", "--name", "x"},
		"no name":   {"cert", "--dir", dir, "--role", "worker"},
		"bad ip":    {"cert", "--dir", dir, "--role", "worker", "--name", "x", "--ip", "host"},
		"zero days": {"cert", "--dir", dir, "--role", "worker", "--name", "x", "--days", "0"},
		"unknown":   {"csr"},
	} {
		if code := tlsCommand(args, &out, &errOut); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
	}
	if code := tlsCommand([]string{"cert", "--dir", t.TempDir(), "--role", "worker", "--name", "w"}, &out, &errOut); code != 1 {
		t.Fatalf("cert without a CA: exit %d", code)
	}
}
