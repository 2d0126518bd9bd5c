//go:build linux

package testcluster

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needRoot skips a test that mounts file systems or creates network
// namespaces when the process is not root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, tmpfs mounts)")
	}
}

// TestNetnsCutAndSplit: nodes in their own namespaces form one cluster; a
// node whose link is cut drops out of the others' rings while the harness
// still reads its status over the management network; reconnected, it
// rejoins; a split leaves two clusters that each converge on their side, and
// a heal reunites them. Afterwards no namespace or link of the cluster is
// left.
func TestNetnsCutAndSplit(t *testing.T) {
	needRoot(t)
	ctx := testCtx(t, 120*time.Second)
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 2, Netns: true, Secure: true})
	if err := c.WaitConverged(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	m, d1, d2 := c.Node("manager-1"), c.Node("datanode-1"), c.Node("datanode-2")
	if !strings.HasPrefix(d2.Gossip, "10.213.") || !strings.HasPrefix(d2.HTTP, "10.214.") {
		t.Fatalf("datanode-2 binds gossip %s, http %s; want the namespace's 10.213/10.214 addresses", d2.Gossip, d2.HTTP)
	}
	ns := d2.ns

	if err := c.Isolate(d2); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConvergedAmong(ctx, 20*time.Second, m, d1); err != nil {
		t.Fatalf("after cutting %s: %v", d2.Name, err)
	}
	// The cut node is still observable, and it lost the others.
	if err := c.WaitConvergedAmong(ctx, 20*time.Second, d2); err != nil {
		t.Fatalf("the cut %s: %v", d2.Name, err)
	}
	if err := c.Reconnect(d2); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConverged(ctx, 30*time.Second); err != nil {
		t.Fatalf("after reconnecting %s: %v", d2.Name, err)
	}

	if err := c.Split(d1, d2); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConvergedAmong(ctx, 20*time.Second, d1, d2); err != nil {
		t.Fatalf("datanode side of the split: %v", err)
	}
	if err := c.WaitConvergedAmong(ctx, 20*time.Second, m); err != nil {
		t.Fatalf("manager side of the split: %v", err)
	}
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConverged(ctx, 30*time.Second); err != nil {
		t.Fatalf("after the heal: %v", err)
	}

	k := c.net.k
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), ns) {
		t.Errorf("namespace %s left after Close:\n%s", ns, out)
	}
	out, err = exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		for _, prefix := range []string{linkPrefix("shn", k), linkPrefix("shv", k)} {
			if strings.Contains(line, ": "+prefix) {
				t.Errorf("link left after Close: %s", line)
			}
		}
	}
	for _, p := range []*Proc{m, d1, d2} {
		if err := c.Isolate(p); err == nil {
			t.Errorf("Isolate(%s) after Close succeeded", p.Name)
		}
	}
}

func linkPrefix(kind string, k int) string {
	const hex = "0123456789abcdef"
	return kind + string(hex[k>>4]) + string(hex[k&15])
}

// TestManagerDiskFull: a manager's small disk fills up (a write into its
// log directory fails with ENOSPC), is freed (the write succeeds), and at
// Close its logs are copied out and the tmpfs is unmounted.
func TestManagerDiskFull(t *testing.T) {
	needRoot(t)
	ctx := testCtx(t, 90*time.Second)
	dir := t.TempDir()
	c := startCluster(t, ctx, Options{
		Dir: dir, Managers: 1, Datanodes: 1, ManagerDisk: 4 << 20,
		Args: settings("--local-nets=141.142.0.0/16", "--known-hosts-tracking=all"),
	})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	m := c.Node("manager-1")
	if !strings.HasPrefix(m.LogDir, filepath.Join(dir, "manager-1.disk")) {
		t.Fatalf("manager LogDir %s is not on its disk", m.LogDir)
	}
	runTrace(t, ctx, c)
	waitHostRows(t, ctx, c, m, expectedHosts(t, "known_hosts-all.v3.log"))

	n, err := c.FillDisk(m)
	if err != nil {
		t.Fatal(err)
	}
	if n < 3<<20 {
		t.Errorf("filled %d bytes of a 4 MiB disk", n)
	}
	probe := filepath.Join(m.LogDir, "probe")
	if err := os.WriteFile(probe, make([]byte, 8192), 0o644); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write to the full disk: %v, want ENOSPC", err)
	}
	if err := c.FreeDisk(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(probe, make([]byte, 8192), 0o644); err != nil {
		t.Fatalf("write after FreeDisk: %v", err)
	}
	os.Remove(probe)
	if _, err := c.FillDisk(c.Node("datanode-1")); !errors.Is(err, ErrNoDisk) {
		t.Errorf("FillDisk of a datanode = %v, want ErrNoDisk", err)
	}

	mnt := filepath.Join(dir, "manager-1.disk")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), " "+mnt+" ") {
		t.Errorf("%s still mounted after Close", mnt)
	}
	if _, err := os.Stat(filepath.Join(dir, "manager-1", "known_hosts.log")); err != nil {
		t.Errorf("logs not copied out of the disk at Close: %v", err)
	}
}

// TestPause: a datanode paused for a duration drops out of the rings, is
// continued by Pause itself and rejoins.
func TestPause(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 2})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	d := c.Node("datanode-2")
	done := make(chan error, 1)
	go func() { done <- d.Pause(ctx, 5*time.Second) }()
	m, d1 := c.Node("manager-1"), c.Node("datanode-1")
	if err := c.WaitConvergedAmong(ctx, 10*time.Second, m, d1); err != nil {
		t.Fatalf("while %s is paused: %v", d.Name, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d.Stopped() {
		t.Fatal("still stopped after Pause returned")
	}
	if err := c.WaitConverged(ctx, 20*time.Second); err != nil {
		t.Fatalf("after the pause: %v", err)
	}
}
