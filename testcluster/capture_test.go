//go:build linux

package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"shoal/ingest"
	"shoal/packet"
)

// The live-capture test builds a private link: a veth pair whose capture end
// stays in the test's network namespace (where the worker process runs) and
// whose other end lives in a namespace of its own. The frames of
// wikipedia.pcap are written into the far end with an AF_PACKET socket and
// arrive as received on the capture end. That end has no address, no IPv6,
// no ARP and no forwarding: the kernel sends nothing on it, and the replayed
// frames (addressed to foreign or broadcast MACs) go nowhere after the
// capture saw them.

// TestCaptureInterface: a worker started with --interface captures the
// replayed trace through AF_PACKET, and the manager logs the trace's 4 hosts
// (tracking all), stamped with the kernel's receive times.
func TestCaptureInterface(t *testing.T) {
	link := newCaptureLink(t)
	pcap := filepath.Join(zeekDir, "traces", "wikipedia.pcap")
	frames := pcapFrames(t, pcap)
	delivered := fileDelivered(t, pcap)

	ctx := testCtx(t, 90*time.Second)
	c := startCluster(t, ctx, Options{
		Managers: 1, Datanodes: 3,
		Args: settings("--local-nets=141.142.0.0/16", "--known-hosts-tracking=all"),
	})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	m := c.ByRole(RoleManager)[0]
	w, err := c.Add(ctx, RoleWorker, "--interface", link.capture)
	if err != nil {
		t.Fatal(err)
	}
	// The ring buffers packets from the moment the capture is open, which
	// the worker logs.
	err = waitFor(ctx, 10*time.Second, 20*time.Millisecond, func() error {
		if !w.Running() {
			return fmt.Errorf("%s exited before capturing", w.Name)
		}
		if !w.StderrContains(`"message":"capturing"`) {
			return errors.New("the worker has not logged that it is capturing")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", w.Name, err)
	}

	before := time.Now()
	link.replay(t, frames)
	t.Logf("replayed %d frames of %s into %s (namespace %s), captured on %s",
		len(frames), filepath.Base(pcap), link.far, link.ns, link.capture)

	// Every IP packet of the trace is captured, and nothing else: the kernel
	// sends nothing of its own on the link.
	err = waitFor(ctx, 10*time.Second, 50*time.Millisecond, func() error {
		st, err := w.Status(ctx)
		if err != nil {
			return err
		}
		if st.Worker == nil {
			return errors.New("status has no worker section")
		}
		if st.Worker.Packets != delivered || st.Worker.KernelDrops != 0 {
			return fmt.Errorf("worker captured %d packets (%d kernel drops), want the trace's %d",
				st.Worker.Packets, st.Worker.KernelDrops, delivered)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	want := expectedHosts(t, "known_hosts-all.v3.log")
	var wantHosts []string
	for r := range want {
		wantHosts = append(wantHosts, strings.Fields(r)[1])
	}
	slices.Sort(wantHosts)
	check := func(after time.Time) error {
		l, err := c.ReadLog(m, "known_hosts")
		if err != nil {
			return err
		}
		rows := hostRows(t, l)
		var hosts []string
		for r, n := range rows {
			f := strings.Fields(r)
			for range n {
				hosts = append(hosts, f[1])
			}
			sec, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return fmt.Errorf("row %q: bad ts: %w", r, err)
			}
			ts := time.Unix(0, int64(sec*1e9))
			// The ts has microsecond precision.
			if ts.Before(before.Add(-time.Millisecond)) || ts.After(after) {
				return fmt.Errorf("row %q: ts %v is not a receive time of the replay (%v to %v)",
					r, ts.Format(time.RFC3339Nano), before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano))
			}
		}
		slices.Sort(hosts)
		if !slices.Equal(hosts, wantHosts) {
			return fmt.Errorf("known_hosts hosts %v (rows %s), want %v", hosts, formatRows(rows), wantHosts)
		}
		return nil
	}
	err = waitFor(ctx, 20*time.Second, 100*time.Millisecond, func() error { return check(time.Now()) })
	if err != nil {
		t.Fatalf("manager %s: %v", m.Name, err)
	}
	end := time.Now()

	// Live input never ends: SIGTERM stops the worker, which must exit 0.
	shutdown(t, ctx, c)
	if err := check(end); err != nil {
		t.Fatalf("after shutdown: %v", err)
	}
	l, err := c.ReadLog(m, "known_hosts")
	if err != nil {
		t.Fatal(err)
	}
	if !l.Closed {
		t.Errorf("known_hosts.log has no #close line after the manager's graceful exit")
	}
	t.Logf("known_hosts rows: %s", formatRows(hostRows(t, l)))
}

// captureLink is a veth pair: capture in the test's namespace, far in ns.
type captureLink struct {
	ns, capture, far string
}

// newCaptureLink creates the namespace and the pair, both ends up and
// silent; everything is removed when the test ends, even on failure. The
// test is skipped only when the kernel refuses namespaces or veth links.
func newCaptureLink(t *testing.T) *captureLink {
	t.Helper()
	err := onThread(func() error { return unix.Unshare(unix.CLONE_NEWNET) })
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		t.Skipf("the kernel refuses network namespaces here: unshare(CLONE_NEWNET): %v", err)
	case errors.Is(err, unix.EINVAL):
		t.Skipf("the kernel has no network namespaces: unshare(CLONE_NEWNET): %v", err)
	case err != nil:
		t.Fatalf("unshare(CLONE_NEWNET): %v", err)
	}
	pid := os.Getpid()
	l := &captureLink{
		ns:      fmt.Sprintf("shoaltest-%d", pid),
		capture: fmt.Sprintf("shoal%dc", pid),
		far:     fmt.Sprintf("shoal%df", pid),
	}
	if out, err := ipCmd("netns", "add", l.ns); err != nil {
		if strings.Contains(out, "Operation not permitted") || strings.Contains(out, "Permission denied") {
			t.Skipf("the kernel refuses to create network namespace %s: %v", l.ns, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := ipCmd("netns", "del", l.ns); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if out, err := ipCmd("link", "add", l.capture, "type", "veth", "peer", "name", l.far, "netns", l.ns); err != nil {
		for _, refusal := range []string{"Operation not permitted", "Permission denied", "Unknown device type", "not supported"} {
			if strings.Contains(out, refusal) {
				t.Skipf("the kernel refuses veth interfaces: %v", err)
			}
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Deleting the namespace takes the pair with it; this covers a
		// failure in between.
		if out, err := ipCmd("link", "del", l.capture); err != nil && !strings.Contains(out, "Cannot find device") {
			t.Errorf("cleanup: %v", err)
		}
	})
	// Silence both ends before they come up: no IPv6 (no router or
	// neighbour solicitations), no ARP, no forwarding, no address.
	sysctls := func(dev string) string {
		return "set -e; if [ -d /proc/sys/net/ipv6/conf/" + dev + " ]; then echo 1 > /proc/sys/net/ipv6/conf/" + dev + "/disable_ipv6; fi; " +
			"echo 0 > /proc/sys/net/ipv4/conf/" + dev + "/forwarding; echo 1 > /proc/sys/net/ipv4/conf/" + dev + "/rp_filter"
	}
	if out, err := exec.Command("sh", "-c", sysctls(l.capture)).CombinedOutput(); err != nil {
		t.Fatalf("sysctl %s: %v: %s", l.capture, err, bytes.TrimSpace(out))
	}
	mustIPCmd(t, "netns", "exec", l.ns, "sh", "-c", sysctls(l.far))
	// Locally administered MACs that no frame of the trace is sent to.
	mustIPCmd(t, "link", "set", l.capture, "address", "02:53:48:4f:41:c1", "arp", "off")
	mustIPCmd(t, "-n", l.ns, "link", "set", l.far, "address", "02:53:48:4f:41:c2", "arp", "off")
	mustIPCmd(t, "-n", l.ns, "link", "set", l.far, "up")
	mustIPCmd(t, "link", "set", l.capture, "up")
	// veth drops what it sends until both ends have carrier.
	carrier := filepath.Join("/sys/class/net", l.capture, "carrier")
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(carrier)
		if err == nil && strings.TrimSpace(string(b)) == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no carrier after 5s: %q, %v", l.capture, b, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return l
}

// replay writes the frames in order into the far end, from a thread inside
// its namespace pinned to one CPU: the kernel queues received frames per
// CPU, so a sender moving between CPUs could see its frames reordered.
func (l *captureLink) replay(t *testing.T, frames [][]byte) {
	t.Helper()
	err := onThread(func() error {
		fd, err := unix.Open("/run/netns/"+l.ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open namespace %s: %w", l.ns, err)
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("enter namespace %s: %w", l.ns, err)
		}
		ifc, err := net.InterfaceByName(l.far)
		if err != nil {
			return err
		}
		sock, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) // protocol 0: send only
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		defer unix.Close(sock)
		if err := unix.Bind(sock, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
			return fmt.Errorf("bind to %s: %w", l.far, err)
		}
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return err
		}
		for cpu := range 1024 {
			if set.IsSet(cpu) {
				set.Zero()
				set.Set(cpu)
				break
			}
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return err
		}
		for k, f := range frames {
			n, err := unix.Write(sock, f)
			if err != nil || n != len(f) {
				return fmt.Errorf("write frame %d (%d bytes): wrote %d: %v", k, len(f), n, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("replay into %s: %v", l.far, err)
	}
}

// pcapFrames returns the frames of an Ethernet pcap file, none cut short.
func pcapFrames(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var frames [][]byte
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: record %d: %v", path, len(frames), err)
		}
		if ci.CaptureLength != ci.Length {
			t.Fatalf("%s: record %d is cut by the snap length: cannot replay it", path, len(frames))
		}
		frames = append(frames, data)
	}
	if len(frames) == 0 {
		t.Fatalf("%s has no frames", path)
	}
	return frames
}

// fileDelivered is the number of packets the file source delivers for path,
// which a capture of its frames must deliver too.
func fileDelivered(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := ingest.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Run(context.Background(), func(*packet.Packet) {})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return st.Delivered
}

// onThread runs f on a locked OS thread, then puts the thread's network
// namespace and CPU affinity back and releases it. The thread must survive:
// the harness starts nodes with Pdeathsig, which the kernel sends when the
// forking thread exits, and a goroutine that ends locked takes its thread
// with it. Only when restoring fails is the thread left locked, so that it
// is discarded rather than reused in the wrong namespace.
func onThread(f func() error) error {
	errCh := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errCh <- fmt.Errorf("open own namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		var cpus unix.CPUSet
		if err := unix.SchedGetaffinity(0, &cpus); err != nil {
			runtime.UnlockOSThread()
			errCh <- fmt.Errorf("sched_getaffinity: %w", err)
			return
		}
		err = f()
		rerr := errors.Join(unix.Setns(orig, unix.CLONE_NEWNET), unix.SchedSetaffinity(0, &cpus))
		if rerr == nil {
			runtime.UnlockOSThread()
		}
		if rerr != nil {
			rerr = fmt.Errorf("restore thread (now discarded): %w", rerr)
		}
		errCh <- errors.Join(err, rerr)
	}()
	return <-errCh
}

// ipCmd runs ip(8) and returns its combined output.
func ipCmd(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// mustIPCmd runs ip(8) or fails the test.
func mustIPCmd(t *testing.T, args ...string) {
	t.Helper()
	if _, err := ipCmd(args...); err != nil {
		t.Fatal(err)
	}
}
