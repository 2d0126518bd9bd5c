package testcluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"shoal/gossip"
	"shoal/ingest"
	"shoal/node"
	"shoal/pki"
)

// securityTotals sums the gossip rejections and HTTP refusals of procs.
func securityTotals(t *testing.T, ctx context.Context, procs []*Proc) (key, label, denied uint64) {
	t.Helper()
	for _, p := range procs {
		st, err := p.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Security == nil {
			t.Fatalf("%s: status has no security section", p.Name)
		}
		key += st.Security.Gossip.RejectedKey
		label += st.Security.Gossip.RejectedLabel
		denied += st.Security.HTTPDenied
	}
	return key, label, denied
}

// TestGossipIntruders: on a secured cluster, a datanode without the gossip
// key, with another key, or with the key but another cluster name never
// becomes a member (no partition moves to it) and is counted by the
// cluster; HTTP writes without the token are refused and counted; then the
// cluster's known_hosts.log for wikipedia.pcap is exactly Zeek's.
func TestGossipIntruders(t *testing.T) {
	ctx := testCtx(t, 150*time.Second)
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 3, Secure: true,
		Args: settings("--local-nets=141.142.0.0/16", "--known-hosts-tracking=all")})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	sec := c.Security()
	legit := c.Running()
	realKeys, err := sec.Keys()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeKeys := func(name string, keys ...[]byte) string {
		f := filepath.Join(dir, name)
		if err := gossip.WriteKeyFile(f, keys); err != nil {
			t.Fatal(err)
		}
		return f
	}
	intruders := map[string]struct {
		args      []string
		wantKey   bool
		wantLabel bool
	}{
		"no-key":     {[]string{"--cluster-name", sec.ClusterName}, true, false},
		"wrong-key":  {[]string{"--cluster-name", sec.ClusterName, "--gossip-key-file", writeKeys("other.keys", gossip.GenerateKey())}, true, false},
		"wrong-name": {[]string{"--cluster-name", "other", "--gossip-key-file", writeKeys("real.keys", realKeys...)}, false, true},
	}
	for name, tc := range intruders {
		t.Run(name, func(t *testing.T) {
			key0, label0, _ := securityTotals(t, ctx, legit)
			p, err := c.Launch(ctx, Spec{Role: RoleDatanode, Name: "rogue-" + name, Plain: true, Args: tc.args})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if p.Running() {
					p.Kill()
				}
			}()
			// Let it retry its join a few times (every 200 ms with the fast profile).
			time.Sleep(3 * time.Second)
			key1, label1, _ := securityTotals(t, ctx, legit)
			t.Logf("%s: rejected_key %d -> %d, rejected_label %d -> %d", p.Name, key0, key1, label0, label1)
			if (key1 > key0) != tc.wantKey || (label1 > label0) != tc.wantLabel {
				t.Errorf("counted key %v label %v, want key %v label %v", key1 > key0, label1 > label0, tc.wantKey, tc.wantLabel)
			}
			for _, q := range legit {
				st, err := q.Status(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range st.Members {
					if m.Name == p.Name {
						t.Errorf("%s lists the intruder as a member (%s)", q.Name, m.State)
					}
				}
				if owned := st.Rings[RoleDatanode].Owned[p.Name]; owned != 0 {
					t.Errorf("%s: the intruder owns %d partitions", q.Name, owned)
				}
			}
			st, err := p.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Members) != 1 {
				t.Errorf("the intruder sees %d members, want only itself", len(st.Members))
			}
			if err := p.Kill(); err != nil {
				t.Fatal(err)
			}
			waitExit(t, ctx, p, 10*time.Second)
		})
	}

	t.Run("http writes without credentials", func(t *testing.T) {
		m := c.ByRole(RoleManager)[0]
		tc, err := sec.ClientTLS() // trusts the CA, presents no certificate and no token
		if err != nil {
			t.Fatal(err)
		}
		anon := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		_, _, denied0 := securityTotals(t, ctx, []*Proc{m})
		for _, tc := range []struct{ method, path, auth string }{
			{http.MethodPost, "/v1/sumstats/next-epoch?name=x", ""},
			{http.MethodPost, "/v1/sumstats/next-epoch?name=x", "Bearer wrong-token-0123456789"},
			{http.MethodPost, "/v1/keys/install", ""},
			{http.MethodGet, "/v1/keys", ""},
		} {
			req, _ := http.NewRequestWithContext(ctx, tc.method, m.URL(m.HTTP, tc.path), strings.NewReader(`{"key":"`+gossip.EncodeKey(gossip.GenerateKey())+`"}`))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := anon.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s (auth %q): %s, want 401", tc.method, tc.path, tc.auth, resp.Status)
			}
		}
		if _, _, denied := securityTotals(t, ctx, []*Proc{m}); denied != denied0+4 {
			t.Errorf("http_denied %d -> %d, want +4", denied0, denied)
		}
		keys, err := c.Security().Keys()
		if err != nil || len(keys) != 1 {
			t.Fatalf("cluster keys %d, %v", len(keys), err)
		}
		for _, p := range legit {
			st, _ := p.Status(ctx)
			if got := st.Security.Gossip.Keys; len(got) != 1 || got[0] != gossip.KeyFingerprint(keys[0]) {
				t.Errorf("%s keys %v: an unauthenticated install got through", p.Name, got)
			}
		}
	})

	// The legitimate cluster is unaffected: Zeek's rows exactly, and no
	// failover happened.
	runTrace(t, ctx, c)
	waitHostRows(t, ctx, c, c.ByRole(RoleManager)[0], expectedHosts(t, "known_hosts-all.v3.log"))
	for _, p := range legit {
		st, err := p.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range st.Failovers {
			if !strings.HasPrefix(f.Peer, RoleWorker) { // the worker that read the trace left
				t.Errorf("%s: failover %+v", p.Name, f)
			}
		}
	}
}

// probeTLS returns a function that opens a TLS connection to a data
// address with a certificate of the cluster CA and returns the serial of
// the certificate the node presented.
func probeTLS(t *testing.T, c *Cluster) func(addr string) string {
	t.Helper()
	sec := c.Security()
	cert, key := filepath.Join(t.TempDir(), "probe.pem"), filepath.Join(t.TempDir(), "probe-key.pem")
	if err := sec.Issue(RoleWorker, "probe", cert, key); err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientTLS(sec.CAFile, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return func(addr string) string {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return "dial: " + err.Error()
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
	}
}

// runKeys runs `node keys args...` against p with the cluster's token and
// returns its exit code and output.
func runKeys(ctx context.Context, c *Cluster, p *Proc, args ...string) (int, string) {
	args = append([]string{"keys"}, args...)
	args = append(args, "--http", p.HTTP, "--token-file", c.Security().TokenFile, "--tls-ca", c.Security().CAFile)
	cmd := exec.CommandContext(ctx, nodeBin, args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return code, string(out)
}

// TestKeyRotationUnderLoad: a 1+3+2 cluster with encrypted gossip and
// mutual TLS rotates its gossip key (install, use, remove, each through
// `node keys` on a different node), then every node's certificate (new
// files replace the old), while both workers generate traffic: no member is
// ever seen other than alive, no failover happens, every event is
// acknowledged, every node rewrote its keyring file and serves its new
// certificate, and known_hosts.log holds exactly the local
// hosts of the generator's ground truth, each once. A datanode restarted afterwards comes back with the new key
// from its file.
func TestKeyRotationUnderLoad(t *testing.T) {
	const hosts, count = 500, 30000
	ctx := testCtx(t, 180*time.Second)
	gen := []string{"--generate", "--gen-rate", "2000", "--gen-count", fmt.Sprint(count), "--gen-hosts", fmt.Sprint(hosts),
		"--gen-servers", "50"}
	// memberlist's local timings (200 ms probe timeout), not the fast
	// profile's 50 ms: a member wrongly declared dead on a loaded machine
	// would move partitions, which this test is not about.
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 3, Secure: true, Profile: "local"})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	truthDir := t.TempDir()
	truthFile := func(i int) string { return filepath.Join(truthDir, fmt.Sprintf("worker-%d.json", i+1)) }
	workers := make([]*Proc, 2)
	for i := range workers {
		w, err := c.Add(ctx, RoleWorker, append(gen, "--gen-seed", fmt.Sprint(i+1), "--gen-truth", truthFile(i))...)
		if err != nil {
			t.Fatal(err)
		}
		workers[i] = w
	}
	all := c.Running()
	if len(all) != 6 {
		t.Fatalf("%d nodes running, want 6", len(all))
	}

	// Watch every node's view of every member until the rotation is over.
	var (
		watchMu sync.Mutex
		bad     []string
	)
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for watchCtx.Err() == nil {
			for _, p := range all {
				if !p.Running() {
					continue
				}
				st, err := p.Status(watchCtx)
				if err != nil {
					continue // a worker that just finished
				}
				for _, m := range st.Members {
					if m.State != "alive" && m.State != "left" { // a worker done with its input leaves
						watchMu.Lock()
						bad = append(bad, fmt.Sprintf("%s saw %s %s", p.Name, m.Name, m.State))
						watchMu.Unlock()
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	oldKeys, _ := c.Security().Keys()
	newKey := gossip.GenerateKey()
	dns := c.ByRole(RoleDatanode)
	m := c.ByRole(RoleManager)[0]
	for _, step := range []struct {
		via  *Proc
		args []string
	}{
		{m, []string{"install", gossip.EncodeKey(newKey)}},
		{dns[0], []string{"use", gossip.EncodeKey(newKey)}},
		{dns[1], []string{"remove", gossip.EncodeKey(oldKeys[0])}},
		{workers[0], []string{"list"}},
	} {
		time.Sleep(time.Second) // under load, between steps
		code, out := runKeys(ctx, c, step.via, step.args...)
		t.Logf("node keys %s via %s: exit %d\n%s", step.args[0], step.via.Name, code, out)
		if code != 0 {
			t.Fatalf("node keys %s: exit %d", step.args[0], code)
		}
	}
	want := gossip.KeyFingerprint(newKey)
	for _, p := range all {
		keys, err := gossip.ReadKeyFile(p.KeyFile)
		if err != nil || len(keys) != 1 || gossip.KeyFingerprint(keys[0]) != want {
			t.Errorf("%s: keyring file holds %d keys (%v), want only the new one", p.Name, len(keys), err)
		}
	}
	if err := c.Security().SetKeys([][]byte{newKey}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // gossip on the new key alone, still under load

	// Certificate rotation: new certificates replace every node's files;
	// each node reloads them and serves the new one on new connections.
	serials := map[string]string{}
	for _, p := range all {
		serials[p.Name] = securityOf(t, ctx, p).TLS.Serial
		cert, key := c.Security().CertFiles(p.Name)
		if err := c.Security().Issue(p.Role, p.Name, cert, key); err != nil {
			t.Fatal(err)
		}
	}
	probe := probeTLS(t, c)
	for _, p := range all {
		err := waitFor(ctx, 10*time.Second, 200*time.Millisecond, func() error {
			s := securityOf(t, ctx, p).TLS
			if s.Serial == serials[p.Name] || s.Reloads == 0 {
				return fmt.Errorf("%s still serves serial %s (reloads %d, last error %q)", p.Name, s.Serial, s.Reloads, s.LastError)
			}
			if got := probe(p.Data); got != s.Serial {
				return fmt.Errorf("%s: a new connection got serial %s, status says %s", p.Name, got, s.Serial)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("every node reloaded its certificate and serves it to new connections")
	time.Sleep(time.Second) // still under load
	for _, w := range workers {
		if !w.Running() {
			t.Errorf("%s finished before the rotation did: not under load", w.Name)
		}
	}
	stopWatch()
	<-watchDone
	for _, w := range workers {
		checkTraceExit(t, ctx, w)
	}
	if len(bad) > 0 {
		t.Errorf("members seen not alive during the rotation: %s", strings.Join(bad[:min(len(bad), 10)], "; "))
	}
	for _, w := range workers {
		var done struct {
			Counters node.Counters     `json:"counters"`
			Worker   node.WorkerStatus `json:"worker"`
		}
		if err := json.Unmarshal([]byte(w.DoneLine()), &done); err != nil {
			t.Fatalf("%s done line %q: %v", w.Name, w.DoneLine(), err)
		}
		k := done.Counters
		t.Logf("%s: sent %d acknowledged %d dropped %d rerouted %d", w.Name, k.Sent, k.Acknowledged, k.Dropped, k.Rerouted)
		if k.Sent == 0 || k.Acknowledged != k.Sent || k.Dropped != 0 || k.DroppedFull != 0 {
			t.Errorf("%s: events lost: %+v", w.Name, k)
		}
	}
	for _, p := range c.Running() {
		st, err := p.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range st.Failovers {
			if !strings.HasPrefix(f.Peer, RoleWorker) { // a worker that finished closes its connections
				t.Errorf("%s: failover %+v", p.Name, f)
			}
		}
	}
	// Ground truth: every local host of either worker's generated traffic,
	// logged exactly once, dated by the first handshake of one of the two
	// workers (whichever reached its owner first).
	firsts := map[string]map[string]bool{} // host -> acceptable ts
	for i := range workers {
		f, err := os.Open(truthFile(i))
		if err != nil {
			t.Fatal(err)
		}
		truth, err := ingest.ReadTruth(f)
		f.Close()
		if err != nil || !truth.Complete {
			t.Fatalf("%s truth: %v (complete %v)", workers[i].Name, err, truth != nil && truth.Complete)
		}
		for h, ts := range truth.Hosts {
			if strings.HasPrefix(h.String(), "10.") {
				if firsts[h.String()] == nil {
					firsts[h.String()] = map[string]bool{}
				}
				firsts[h.String()][zeekTime(ts)] = true
			}
		}
	}
	if len(firsts) < hosts {
		t.Fatalf("truth: %d local hosts, want at least %d", len(firsts), hosts)
	}
	err := waitFor(ctx, 15*time.Second, 200*time.Millisecond, func() error {
		l, err := c.ReadLog(m, "known_hosts")
		if err != nil {
			return err
		}
		seen := map[string]int{}
		for _, r := range l.Rows {
			h, ts := r[l.Index("host")], r[l.Index("ts")]
			if seen[h]++; !firsts[h][ts] {
				return fmt.Errorf("row %s %s: not a first time of this host in the truth", ts, h)
			}
		}
		for h := range firsts {
			if seen[h] != 1 {
				return fmt.Errorf("host %s logged %d times (%d rows, %d hosts in the truth)", h, seen[h], len(l.Rows), len(firsts))
			}
		}
		if len(seen) != len(firsts) {
			return fmt.Errorf("%d hosts logged, %d in the truth", len(seen), len(firsts))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The keyring file is what a restarted node uses.
	dn := dns[2]
	if err := dn.Terminate(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, ctx, dn, 10*time.Second)
	if err := dn.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConverged(ctx, 20*time.Second); err != nil {
		t.Fatalf("restarted %s with its rewritten keyring: %v", dn.Name, err)
	}
	if b, _ := os.ReadFile(dn.KeyFile); !strings.Contains(string(b), gossip.EncodeKey(newKey)) {
		t.Fatalf("%s's keyring file lost the new key", dn.Name)
	}
}
