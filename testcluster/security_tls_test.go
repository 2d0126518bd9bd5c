package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shoal/gossip"
	"shoal/internal/wire"
	"shoal/node"
	"shoal/pki"
	"shoal/route"
)

// securityOf returns p's security status.
func securityOf(t *testing.T, ctx context.Context, p *Proc) *node.SecurityStatus {
	t.Helper()
	st, err := p.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Security == nil || st.Security.Transport == nil {
		t.Fatalf("%s: no TLS security status", p.Name)
	}
	return st.Security
}

// sumTransport sums a transport counter over procs.
func sumTransport(t *testing.T, ctx context.Context, procs []*Proc, f func(*node.SecurityStatus) uint64) uint64 {
	t.Helper()
	var n uint64
	for _, p := range procs {
		n += f(securityOf(t, ctx, p))
	}
	return n
}

// inRing reports whether any of procs has name in a ring.
func inRing(t *testing.T, ctx context.Context, procs []*Proc, name string) string {
	t.Helper()
	for _, p := range procs {
		st, err := p.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for pool, r := range st.Rings {
			for _, m := range r.Members {
				if m == name {
					return p.Name + "'s " + pool + " ring"
				}
			}
		}
	}
	return ""
}

// TestTLSIntruders: on a cluster with mutual TLS, each of these fails to get
// in and is counted in /status, and afterwards the cluster's known_hosts.log
// for wikipedia.pcap is exactly Zeek's:
//   - a datanode holding the gossip key whose certificate comes from another
//     CA: a gossip member, but no mTLS hello confirms it, so it enters no ring;
//   - a worker certificate sending known_hosts records to a manager: refused
//     by the authorization table;
//   - a datanode certificate presenting another node's name in the hello;
//   - raw TCP without a certificate on every node's data port.
func TestTLSIntruders(t *testing.T) {
	ctx := testCtx(t, 180*time.Second)
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 3, Secure: true,
		Args: settings("--local-nets=141.142.0.0/16", "--known-hosts-tracking=all")})
	if err := c.WaitConverged(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	sec := c.Security()
	legit := c.Running()
	m := c.ByRole(RoleManager)[0]
	dir := t.TempDir()

	t.Run("certificate from another CA", func(t *testing.T) {
		other, err := pki.NewCA(pki.CARequest{Name: "another CA"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ca, cert, key := filepath.Join(dir, "other-ca.pem"), filepath.Join(dir, "rogue-dn.pem"), filepath.Join(dir, "rogue-dn-key.pem")
		cb, kb, err := other.Issue(pki.Request{Role: RoleDatanode, Name: "rogue-dn"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for path, b := range map[string][]byte{ca: other.CertPEM(), cert: cb, key: kb} {
			if err := pki.WriteFile(path, b, 0o600, true); err != nil {
				t.Fatal(err)
			}
		}
		keys, err := sec.Keys()
		if err != nil {
			t.Fatal(err)
		}
		keyFile := filepath.Join(dir, "rogue.keys")
		if err := gossip.WriteKeyFile(keyFile, keys); err != nil {
			t.Fatal(err)
		}
		confirm0 := sumTransport(t, ctx, legit, func(s *node.SecurityStatus) uint64 { return s.ConfirmFailures })
		p, err := c.Launch(ctx, Spec{Role: RoleDatanode, Name: "rogue-dn", Plain: true, Args: []string{
			"--gossip-key-file", keyFile, "--cluster-name", sec.ClusterName,
			"--tls-ca", ca, "--tls-cert", cert, "--tls-key", key}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Kill()
		err = waitFor(ctx, 15*time.Second, 200*time.Millisecond, func() error {
			for _, q := range legit {
				s := securityOf(t, ctx, q)
				if _, ok := s.Unconfirmed["rogue-dn"]; !ok {
					return fmt.Errorf("%s does not list rogue-dn as unconfirmed yet", q.Name)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // confirmation retries keep failing
		if where := inRing(t, ctx, legit, "rogue-dn"); where != "" {
			t.Fatalf("rogue-dn is in %s", where)
		}
		confirm1 := sumTransport(t, ctx, legit, func(s *node.SecurityStatus) uint64 { return s.ConfirmFailures })
		t.Logf("confirm_failures %d -> %d; %s says %q", confirm0, confirm1, m.Name, securityOf(t, ctx, m).Unconfirmed["rogue-dn"])
		if confirm1 <= confirm0 {
			t.Fatal("failed confirmations not counted")
		}
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		waitExit(t, ctx, p, 10*time.Second)
	})

	t.Run("worker certificate sending records to a manager", func(t *testing.T) {
		refused0 := securityOf(t, ctx, m).EventsRefused
		cert, key := filepath.Join(dir, "rogue-w.pem"), filepath.Join(dir, "rogue-w-key.pem")
		if err := sec.Issue(RoleWorker, "rogue-w", cert, key); err != nil {
			t.Fatal(err)
		}
		keys, err := sec.Keys()
		if err != nil {
			t.Fatal(err)
		}
		seeds := []string{m.Gossip}
		n, err := node.New(node.Config{Name: "rogue-w", Role: node.RoleWorker, Bind: "127.0.0.1:0",
			DataBind: "127.0.0.1:0", Join: seeds, Profile: "fast",
			Security: node.Security{GossipKeys: keys, ClusterName: sec.ClusterName,
				TLS: pki.Paths{CA: sec.CAFile, Cert: cert, Key: key}},
			Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := n.WaitPools(ctx, "manager"); err != nil {
			t.Fatal(err)
		}
		forged := netip.MustParseAddr("141.142.99.99")
		for i := range 10 {
			if err := n.Send(ctx, m.Name, wire.KnownHost{TS: int64(i + 1), Host: forged}); err != nil {
				t.Fatal(err)
			}
		}
		err = waitFor(ctx, 10*time.Second, 100*time.Millisecond, func() error {
			if got := securityOf(t, ctx, m).EventsRefused; got < refused0+10 {
				return fmt.Errorf("events_refused %d, want %d", got, refused0+10)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if l, err := c.ReadLog(m, "known_hosts"); err == nil {
			for _, r := range l.Rows {
				if r[l.Index("host")] == forged.String() {
					t.Fatalf("forged record logged: %v", r)
				}
			}
		}
	})

	t.Run("datanode certificate presenting another node's name", func(t *testing.T) {
		cert, key := filepath.Join(dir, "dn-9.pem"), filepath.Join(dir, "dn-9-key.pem")
		if err := sec.Issue(RoleDatanode, "datanode-9", cert, key); err != nil {
			t.Fatal(err)
		}
		f, err := pki.Load(pki.Paths{CA: sec.CAFile, Cert: cert, Key: key}, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tr, err := pki.NewTransport(pki.TransportConfig{Files: f, Listener: ln})
		if err != nil {
			t.Fatal(err)
		}
		victim := c.ByRole(RoleDatanode)[0]
		st, err := victim.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var boot uint64
		fmt.Sscanf(st.BootID, "%x", &boot)
		r, err := route.New(route.Config{Name: victim.Name, BootID: boot, Pool: RoleDatanode, Transport: tr,
			Deliver:    func(route.Sender, wire.Type, []byte) route.Outcome { return route.OK },
			AckTimeout: 2 * time.Second, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)})
		if err != nil {
			t.Fatal(err)
		}
		r.Start(ctx)
		defer r.Close()
		mst, err := m.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var mboot uint64
		fmt.Sscanf(mst.BootID, "%x", &mboot)
		r.SetMembers([]route.Peer{{Name: victim.Name, Pool: RoleDatanode, DataAddr: r.Addr(), BootID: boot},
			{Name: m.Name, Pool: RoleManager, DataAddr: m.Data, BootID: mboot}})
		id0 := securityOf(t, ctx, m).Transport.Identity
		if err := r.Send(ctx, m.Name, wire.KnownHost{TS: 1, Host: netip.MustParseAddr("141.142.88.88")}); err != nil {
			t.Fatal(err)
		}
		err = waitFor(ctx, 10*time.Second, 100*time.Millisecond, func() error {
			if got := securityOf(t, ctx, m).Transport.Identity; got == id0 {
				return errors.New("identity mismatch not counted yet")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s refused the hello of %q with %s's certificate", m.Name, victim.Name, "datanode-9")
	})

	t.Run("raw TCP without a certificate", func(t *testing.T) {
		hs0 := sumTransport(t, ctx, legit, func(s *node.SecurityStatus) uint64 { return s.Transport.Handshakes })
		for _, p := range legit {
			conn, err := net.Dial("tcp", p.Data)
			if err != nil {
				t.Fatal(err)
			}
			conn.Write(wire.AppendHello(nil, wire.Hello{Name: "nobody-at-all", Pool: RoleDatanode, BootID: 1, Proto: wire.Proto}))
			conn.Write(wire.AppendBatchHeader(nil, 1, 1, 4<<20))
			start := time.Now()
			conn.SetReadDeadline(time.Now().Add(15 * time.Second))
			k, err := conn.Read(make([]byte, 1024))
			conn.Close()
			if k > 0 && !strings.Contains(fmt.Sprint(err), "reset") {
				// a TLS alert is all a stranger may get back
				t.Logf("%s answered %d bytes (a TLS alert) in %v", p.Name, k, time.Since(start).Round(time.Millisecond))
			}
		}
		err := waitFor(ctx, 10*time.Second, 100*time.Millisecond, func() error {
			if got := sumTransport(t, ctx, legit, func(s *node.SecurityStatus) uint64 { return s.Transport.Handshakes }); got < hs0+uint64(len(legit)) {
				return fmt.Errorf("handshake failures %d, want %d", got, hs0+uint64(len(legit)))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	runTrace(t, ctx, c)
	waitHostRows(t, ctx, c, m, expectedHosts(t, "known_hosts-all.v3.log"))
}
