//go:build linux

package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"shoal/flow"
	"shoal/packet"
)

// The live-capture tests build a private link: a network namespace holding
// one end of a veth pair (or a tun device), addresses from the benchmark
// range 198.18.0.0/15 on that link only, IPv6 and forwarding off so the
// kernel adds no traffic of its own. Frames are replayed into one end and
// captured on the other end, inside the namespace, so nothing replayed ever
// reaches the host's own stack.

// netnsRefused skips the test when the kernel refuses network namespaces
// (an unprivileged container), probing with unshare(CLONE_NEWNET) on a
// throw-away thread.
func netnsRefused(t *testing.T) {
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
}

// onThread runs f on a locked OS thread that is discarded afterwards, so
// namespace and capability changes made by f never leak to other goroutines.
func onThread(f func() error) error {
	errCh := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		errCh <- f()
	}()
	return <-errCh
}

// inNetns runs f on a discarded thread inside the named namespace ("" for
// the test's own).
func inNetns(ns string, f func() error) error {
	return onThread(func() error {
		if ns != "" {
			fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open namespace %s: %w", ns, err)
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("enter namespace %s: %w", ns, err)
			}
		}
		return f()
	})
}

// ipCmd runs ip(8) and returns its combined output.
func ipCmd(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// mustIP runs ip(8) or fails the test.
func mustIP(t *testing.T, args ...string) {
	t.Helper()
	if _, err := ipCmd(args...); err != nil {
		t.Fatal(err)
	}
}

// newNetns creates an empty namespace with its loopback up, forwarding and
// IPv6 off, removed when the test ends.
func newNetns(t *testing.T) string {
	t.Helper()
	netnsRefused(t)
	ns := fmt.Sprintf("shoaltest-%d", os.Getpid())
	if out, err := ipCmd("netns", "add", ns); err != nil {
		if strings.Contains(out, "Operation not permitted") {
			t.Skipf("the kernel refuses to create network namespace %s: %v", ns, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := ipCmd("netns", "del", ns); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	mustIP(t, "netns", "exec", ns, "sh", "-c",
		"echo 0 > /proc/sys/net/ipv4/ip_forward && "+
			"if [ -d /proc/sys/net/ipv6 ]; then echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; fi")
	mustIP(t, "-n", ns, "link", "set", "lo", "up")
	return ns
}

// disableIPv6 turns IPv6 off on one interface of namespace ns ("" for the
// test's own), so the kernel sends no router or neighbour solicitations.
func disableIPv6(t *testing.T, ns, name string) {
	t.Helper()
	cmd := "if [ -d /proc/sys/net/ipv6 ]; then echo 1 > /proc/sys/net/ipv6/conf/" + name + "/disable_ipv6; fi"
	if ns == "" {
		out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("disable ipv6 on %s: %v: %s", name, err, out)
		}
		return
	}
	mustIP(t, "netns", "exec", ns, "sh", "-c", cmd)
}

// vethEnv is a veth pair: a in the test's namespace, b in namespace ns.
type vethEnv struct {
	ns, a, b string
	aIndex   int
	aIP, bIP netip.Addr
}

// newVeth creates the pair, addressed from 198.18.0.0/15 and up; it is
// removed when the test ends, even on failure.
func newVeth(t *testing.T) *vethEnv {
	t.Helper()
	ns := newNetns(t)
	pid := os.Getpid()
	e := &vethEnv{ns: ns, a: fmt.Sprintf("shoal%da", pid), b: fmt.Sprintf("shoal%db", pid)}
	base := [4]byte{198, 18, byte(pid >> 6), byte(pid&63) * 4} // a /30 of its own
	e.aIP = netip.AddrFrom4([4]byte{base[0], base[1], base[2], base[3] + 1})
	e.bIP = netip.AddrFrom4([4]byte{base[0], base[1], base[2], base[3] + 2})
	if out, err := ipCmd("link", "add", e.a, "type", "veth", "peer", "name", e.b); err != nil {
		for _, refusal := range []string{"Operation not permitted", "Unknown device type", "not supported"} {
			if strings.Contains(out, refusal) {
				t.Skipf("the kernel refuses veth interfaces: %v", err)
			}
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := ipCmd("link", "del", e.a); err != nil && !strings.Contains(out, "Cannot find device") {
			t.Errorf("cleanup: %v", err)
		}
	})
	mustIP(t, "link", "set", e.b, "netns", ns)
	disableIPv6(t, "", e.a)
	disableIPv6(t, ns, e.b)
	mustIP(t, "addr", "add", e.aIP.String()+"/30", "dev", e.a)
	mustIP(t, "-n", ns, "addr", "add", e.bIP.String()+"/30", "dev", e.b)
	mustIP(t, "link", "set", e.a, "up")
	mustIP(t, "-n", ns, "link", "set", e.b, "up")
	ifc, err := net.InterfaceByName(e.a)
	if err != nil {
		t.Fatal(err)
	}
	e.aIndex = ifc.Index
	e.waitCarrier(t)
	return e
}

// waitCarrier waits until a has carrier, that is until both ends are up.
func (e *vethEnv) waitCarrier(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile("/sys/class/net/" + e.a + "/carrier")
		if err == nil && strings.TrimSpace(string(b)) == "1" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no carrier after 5s (%v)", e.a, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// injector writes raw frames out of one interface through an AF_PACKET
// socket.
type injector struct{ fd int }

// newInjector opens an injector on the interface with the given index, in
// namespace ns ("" for the test's own). With bypass the frames skip the
// queueing discipline, so a frame the kernel cannot send is an error rather
// than a silent drop; but then captures on the sending interface do not see
// them.
func newInjector(t *testing.T, ns string, index int, bypass bool) *injector {
	t.Helper()
	j := &injector{fd: -1}
	err := inNetns(ns, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) // protocol 0: send only
		if err != nil {
			return err
		}
		j.fd = fd
		if bypass {
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
				return err
			}
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: index})
	})
	if j.fd >= 0 {
		t.Cleanup(func() { unix.Close(j.fd) })
	}
	if err != nil {
		t.Fatalf("injector: %v", err)
	}
	return j
}

// send writes the frames in order.
func (j *injector) send(t *testing.T, frames ...[]byte) {
	t.Helper()
	if err := writeAll(j.fd, frames); err != nil {
		t.Fatal(err)
	}
}

// writeAll writes each frame with one write(2), from a thread pinned to one
// CPU: the kernel queues received frames per CPU, so a sender that moved
// between CPUs could see its frames reordered.
func writeAll(fd int, frames [][]byte) error {
	return onThread(func() error {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return err
		}
		for cpu := 0; cpu < 1024; cpu++ {
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
			n, err := unix.Write(fd, f)
			if err != nil || n != len(f) {
				return fmt.Errorf("write frame %d (%d bytes): wrote %d: %v", k, len(f), n, err)
			}
		}
		return nil
	})
}

// openIn opens a capture in namespace ns, closed when the test ends.
func openIn(t *testing.T, ns, name string, cfg InterfaceConfig) *Interface {
	t.Helper()
	var iface *Interface
	err := inNetns(ns, func() (err error) {
		iface, err = OpenInterface(name, cfg)
		return err
	})
	if err != nil {
		t.Fatalf("OpenInterface(%s) in %s: %v", name, ns, err)
	}
	t.Cleanup(func() {
		if err := iface.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return iface
}

// capRun is a capture running in its own goroutine. Its fields are written
// by that goroutine and may be read once done is closed.
type capRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	pkts   []packet.Packet
	st     Stats
	err    error
}

// startRun runs iface until stop returns true for a packet (then cancels
// the run) or 5 seconds pass.
func startRun(t *testing.T, iface *Interface, stop func(*packet.Packet) bool) *capRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	r := &capRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.st, r.err = iface.Run(ctx, func(p *packet.Packet) {
			r.pkts = append(r.pkts, keep(p))
			if stop != nil && stop(p) {
				cancel()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// wait waits for the run to end and checks that stop ended it.
func (r *capRun) wait(t *testing.T) {
	t.Helper()
	<-r.done
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Run = %v after %d packets, want context.Canceled from the stop packet", r.err, len(r.pkts))
	}
}

// sentinelPort marks the UDP frames that end a replay.
const sentinelPort = 47474

// udpFrame builds an Ethernet/IPv4/UDP frame between locally administered
// MAC addresses that no interface here owns, so the receiving stack drops
// it after the capture saw it.
func udpFrame(t testing.TB, src, dst netip.Addr, sport, dport uint16, payload string) []byte {
	t.Helper()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{0x02, 0x53, 0x48, 0x4f, 0x41, 0x01},
		DstMAC:       net.HardwareAddr{0x02, 0x53, 0x48, 0x4f, 0x41, 0x02},
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func isSentinel(p *packet.Packet) bool {
	return p.Proto == packet.ProtoUDP && p.DstPort == sentinelPort
}

// traceFrames returns the frames of wikipedia.pcap, the packets and counters
// File delivers for it, and the Established events of a tracker fed by File.
func traceFrames(t *testing.T) ([][]byte, []packet.Packet, Stats, []flow.Established) {
	t.Helper()
	link, recs := readRecords(t, wikipedia(t))
	if link != layers.LinkTypeEthernet {
		t.Fatalf("trace link type %v, want Ethernet", link)
	}
	frames := make([][]byte, len(recs))
	for k, r := range recs {
		if r.ci.CaptureLength != r.ci.Length {
			t.Fatalf("record %d is cut by the snap length: cannot replay it", k)
		}
		frames[k] = r.data
	}
	want, wantSt, err := collect(t, wikipedia(t))
	if err != nil {
		t.Fatal(err)
	}
	return frames, want, wantSt, established(want)
}

// established feeds packets to a fresh tracker and returns its events.
func established(pkts []packet.Packet) []flow.Established {
	tr := flow.NewTracker(flow.DefaultConfig())
	var evs []flow.Established
	for k := range pkts {
		if ev, ok := tr.Packet(&pkts[k]); ok {
			evs = append(evs, ev)
		}
	}
	return evs
}

// samePackets checks got against want, ignoring timestamps; wireDelta is
// added to want's WireLen (for link headers the capture does not see).
func samePackets(t *testing.T, got, want []packet.Packet, wireDelta int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("captured %d packets, want %d", len(got), len(want))
	}
	for k := range got {
		g, w := got[k], want[k]
		g.TS = w.TS
		w.WireLen += wireDelta
		if !g.Equal(&w) {
			t.Fatalf("packet %d:\n got %+v\nwant %+v", k, got[k], w)
		}
	}
}

// sameHandshakes checks that two event lists name the same connections in
// the same order.
func sameHandshakes(t *testing.T, got, want []flow.Established) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d handshakes from the capture, %d from the file", len(got), len(want))
	}
	for k := range got {
		g, w := got[k], want[k]
		if g.Orig != w.Orig || g.OrigPort != w.OrigPort || g.Resp != w.Resp || g.RespPort != w.RespPort {
			t.Errorf("handshake %d: %s:%d -> %s:%d, want %s:%d -> %s:%d", k,
				g.Orig, g.OrigPort, g.Resp, g.RespPort, w.Orig, w.OrigPort, w.Resp, w.RespPort)
		}
	}
}

// syncBuffer is a log sink the test reads while a capture writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}

// waitFor polls cond every 10 ms for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 5s waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInterfaceVeth replays wikipedia.pcap through a veth pair and captures
// it on the far end.
func TestInterfaceVeth(t *testing.T) {
	e := newVeth(t)
	frames, want, wantSt, wantEvs := traceFrames(t)
	fromA := newInjector(t, "", e.aIndex, true)
	sentinel := udpFrame(t, e.aIP, e.bIP, 40000, sentinelPort, "end of replay")
	fast := InterfaceConfig{PollTimeout: 20 * time.Millisecond}

	t.Run("replay", func(t *testing.T) {
		iface := openIn(t, e.ns, e.b, fast)
		if iface.LinkType() != layers.LinkTypeEthernet || iface.Name() != e.b {
			t.Fatalf("link type %v, name %q", iface.LinkType(), iface.Name())
		}
		before := time.Now()
		r := startRun(t, iface, isSentinel)
		fromA.send(t, append(frames, sentinel)...)
		r.wait(t)
		after := time.Now()

		got := r.pkts
		if len(got) == 0 || !isSentinel(&got[len(got)-1]) {
			t.Fatalf("capture did not end with the sentinel: %d packets", len(got))
		}
		got = got[:len(got)-1]
		samePackets(t, got, want, 0)
		for k, p := range got {
			if p.TS.Before(before.Add(-time.Second)) || p.TS.After(after.Add(time.Second)) ||
				(k > 0 && p.TS.Before(got[k-1].TS)) {
				t.Fatalf("packet %d: timestamp %v is not the kernel's receive time (capture ran %v to %v)",
					k, p.TS, before, after)
			}
		}
		st := r.st
		st.Packets--
		st.Delivered--
		st.Bytes -= uint64(len(sentinel))
		if st != wantSt {
			t.Errorf("stats %+v, want the file's %+v", st, wantSt)
		}
		if st.Packets != 136 {
			t.Errorf("%d frames captured, want the trace's 136", st.Packets)
		}
		evs := established(got)
		sameHandshakes(t, evs, wantEvs)
		if len(evs) != 8 {
			t.Errorf("%d handshakes, want the trace's 8", len(evs))
		}
	})

	t.Run("queued before run, no allocation per packet", func(t *testing.T) {
		iface := openIn(t, e.ns, e.b, InterfaceConfig{RingSize: 4 << 20, PollTimeout: 20 * time.Millisecond})
		fromA.send(t, append(frames, sentinel)...)
		sent := time.Now() // every frame is in the ring, timestamped by the kernel
		type tuple struct {
			src, dst netip.Addr
			sport    uint16
			dport    uint16
			flags    uint8
		}
		got := make([]tuple, 0, 2*len(frames))
		late := 0 // packets stamped after they were sent: not the kernel's time
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		st, err := iface.Run(ctx, func(p *packet.Packet) {
			got = append(got, tuple{p.Src, p.Dst, p.SrcPort, p.DstPort, p.Flags})
			if p.TS.After(sent) {
				late++
			}
			if isSentinel(p) {
				cancel()
			}
		})
		runtime.ReadMemStats(&m1)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v after %d packets", err, len(got))
		}
		if len(got) != len(want)+1 {
			t.Fatalf("captured %d packets, want %d and the sentinel", len(got), len(want))
		}
		for k, w := range want {
			if g := got[k]; g != (tuple{w.Src, w.Dst, w.SrcPort, w.DstPort, w.Flags}) {
				t.Fatalf("packet %d: %+v, want %+v", k, g, w)
			}
		}
		if late > 0 {
			t.Errorf("%d packets have timestamps after they were sent", late)
		}
		allocs := m1.Mallocs - m0.Mallocs
		t.Logf("%d allocations while capturing %d frames", allocs, st.Packets)
		if allocs > 20 {
			t.Errorf("%d allocations for %d frames: want none per packet", allocs, st.Packets)
		}
	})

	t.Run("ring full drops", func(t *testing.T) {
		page := os.Getpagesize()
		iface := openIn(t, e.ns, e.b, InterfaceConfig{BlockSize: page, RingSize: 2 * page, PollTimeout: 20 * time.Millisecond})
		fromA.send(t, frames...) // nobody reads: the ring fills
		dropped := iface.Dropped()
		if dropped == 0 || dropped >= uint64(len(frames)) {
			t.Fatalf("the kernel dropped %d of %d frames into a %d-byte ring", dropped, len(frames), 2*page)
		}
		// The ring holds the first frames; the rest were dropped.
		kept := len(frames) - int(dropped)
		dec, err := packet.NewDecoder(layers.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		var p packet.Packet
		delivered := 0
		for _, f := range frames[:kept] {
			if dec.Decode(f, time.Time{}, &p) == nil {
				delivered++
			}
		}
		if delivered == 0 {
			t.Fatalf("none of the %d kept frames is IP", kept)
		}
		n := 0
		r := startRun(t, iface, func(*packet.Packet) bool { n++; return n == delivered })
		r.wait(t)
		samePackets(t, r.pkts, want[:delivered], 0)
		if r.st.Dropped != dropped || r.st.Packets > uint64(kept) {
			t.Errorf("stats %+v: want %d dropped, at most %d frames", r.st, dropped, kept)
		}
		t.Logf("ring of %d bytes kept %d frames, the kernel dropped %d", 2*page, kept, dropped)
	})

	t.Run("ignore outgoing", func(t *testing.T) {
		all := openIn(t, e.ns, e.b, fast)
		in := openIn(t, e.ns, e.b, InterfaceConfig{IgnoreOutgoing: true, PollTimeout: 20 * time.Millisecond})
		bIndex := 0
		if err := inNetns(e.ns, func() error {
			ifc, err := net.InterfaceByName(e.b)
			if err == nil {
				bIndex = ifc.Index
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		fromB := newInjector(t, e.ns, bIndex, false) // seen leaving b
		rAll := startRun(t, all, isSentinel)
		rIn := startRun(t, in, isSentinel)
		fromB.send(t, udpFrame(t, e.bIP, e.aIP, 41000, 9, "outgoing"))
		fromA.send(t, sentinel)
		rAll.wait(t)
		rIn.wait(t)
		if len(rAll.pkts) != 2 || rAll.pkts[0].SrcPort != 41000 || rAll.pkts[0].Src != e.bIP {
			t.Errorf("capture of both directions saw %+v, want the outgoing frame then the sentinel", rAll.pkts)
		}
		if len(rIn.pkts) != 1 || rIn.pkts[0].SrcPort != 40000 {
			t.Errorf("capture ignoring outgoing frames saw %+v, want only the sentinel", rIn.pkts)
		}
	})

	t.Run("loopback", func(t *testing.T) {
		lo := openIn(t, e.ns, "lo", fast)
		if lo.LinkType() != layers.LinkTypeEthernet {
			t.Fatalf("loopback link type %v, want Ethernet", lo.LinkType())
		}
		// Three datagrams of 1, 2 and 3 bytes to a bound socket on
		// 127.0.0.1 inside the namespace (no ICMP reply). The capture must
		// see each once: the outgoing copy on loopback is skipped.
		loop := [4]byte{127, 0, 0, 1}
		var to *unix.SockaddrInet4
		err := inNetns(e.ns, func() error {
			recv, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			t.Cleanup(func() { unix.Close(recv) })
			if err := unix.Bind(recv, &unix.SockaddrInet4{Addr: loop}); err != nil {
				return err
			}
			sa, err := unix.Getsockname(recv)
			if err == nil {
				to = sa.(*unix.SockaddrInet4)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		port := uint16(to.Port)
		seen := 0
		r := startRun(t, lo, func(p *packet.Packet) bool {
			if p.Proto == packet.ProtoUDP && p.DstPort == port {
				seen++
			}
			return seen == 3
		})
		err = inNetns(e.ns, func() error {
			send, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(send)
			for _, msg := range []string{"a", "bb", "ccc"} {
				if err := unix.Sendto(send, []byte(msg), 0, to); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r.wait(t)
		if len(r.pkts) != 3 {
			t.Fatalf("captured %d packets on loopback, want 3: %+v", len(r.pkts), r.pkts)
		}
		for k, p := range r.pkts {
			if p.Src != netip.AddrFrom4(loop) || p.Dst != netip.AddrFrom4(loop) || p.DstPort != port || p.PayloadLen != k+1 || p.WireLen != 14+20+8+k+1 {
				t.Errorf("datagram %d: %+v", k, p)
			}
		}
	})

	t.Run("cancel", func(t *testing.T) {
		iface := openIn(t, e.ns, "lo", InterfaceConfig{PollTimeout: 50 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := iface.Run(ctx, func(*packet.Packet) {})
			done <- err
		}()
		waitFor(t, "Run to start", iface.running.Load)
		if err := iface.Close(); err == nil || !strings.Contains(err.Error(), "close while running") {
			t.Errorf("Close while running = %v, want an error", err)
		}
		start := time.Now()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("Run returned %v after cancel, want about the 50ms poll timeout", took)
		}
		if _, err := iface.Run(context.Background(), func(*packet.Packet) {}); !errors.Is(err, ErrUsed) {
			t.Errorf("second Run = %v, want ErrUsed", err)
		}
		if err := iface.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}

		// A context that is already done stops Run at once.
		early := openIn(t, e.ns, "lo", fast)
		st, err := early.Run(ctx, func(*packet.Packet) { t.Error("packet delivered after cancel") })
		if !errors.Is(err, context.Canceled) || st.Packets != 0 {
			t.Errorf("Run with a done context = %+v, %v", st, err)
		}

		// A closed Interface cannot run.
		closed := openIn(t, e.ns, "lo", fast)
		if err := closed.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := closed.Run(context.Background(), func(*packet.Packet) {}); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Run after Close = %v, want os.ErrClosed", err)
		}
	})

	t.Run("down, renamed and up", func(t *testing.T) {
		var logs syncBuffer
		log := zerolog.New(zerolog.MultiLevelWriter(&logs, zerolog.NewTestWriter(t)))
		iface := openIn(t, e.ns, e.b, InterfaceConfig{PollTimeout: 20 * time.Millisecond, Logger: log})
		r := startRun(t, iface, isSentinel)
		mustIP(t, "-n", e.ns, "link", "set", e.b, "down")
		waitFor(t, "the capture to see the interface down", func() bool { return logs.contains("capture interface down") })
		// Renamed while down: the capture follows the interface's index.
		renamed := e.b + "r"
		mustIP(t, "-n", e.ns, "link", "set", e.b, "name", renamed)
		mustIP(t, "-n", e.ns, "link", "set", renamed, "up")
		e.waitCarrier(t)
		fromA.send(t, sentinel)
		r.wait(t)
		mustIP(t, "-n", e.ns, "link", "set", renamed, "down")
		mustIP(t, "-n", e.ns, "link", "set", renamed, "name", e.b)
		mustIP(t, "-n", e.ns, "link", "set", e.b, "up")
		e.waitCarrier(t)
		if len(r.pkts) != 1 {
			t.Errorf("captured %+v, want the sentinel only", r.pkts)
		}
		if !logs.contains("capture interface up") {
			t.Error("no log line says the interface came back up")
		}
	})

	t.Run("removed", func(t *testing.T) {
		iface := openIn(t, e.ns, e.b, InterfaceConfig{PollTimeout: 20 * time.Millisecond})
		r := startRun(t, iface, nil)
		mustIP(t, "link", "del", e.a) // takes its peer with it
		<-r.done
		if !errors.Is(r.err, ErrNoInterface) || !strings.Contains(r.err.Error(), e.b) {
			t.Fatalf("Run = %v, want ErrNoInterface naming %s", r.err, e.b)
		}
	})
}

// TestInterfaceTun captures a tun device, which has no link header: the
// capture runs in cooked mode and decodes raw IP. The trace's IP packets are
// written into the device and must come out as the file's packets.
func TestInterfaceTun(t *testing.T) {
	ns := newNetns(t)
	name := fmt.Sprintf("shoal%dt", os.Getpid())
	tun := -1
	err := inNetns(ns, func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		tun = fd
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		return unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	})
	if tun >= 0 {
		t.Cleanup(func() { unix.Close(tun) }) // removes the device
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
		t.Skipf("the kernel refuses tun devices: %v", err)
	}
	if err != nil {
		t.Fatalf("create tun %s: %v", name, err)
	}
	disableIPv6(t, ns, name)
	mustIP(t, "-n", ns, "link", "set", name, "up")

	frames, want, wantSt, wantEvs := traceFrames(t)
	var ipPkts [][]byte
	for _, f := range frames {
		switch layers.EthernetType(uint16(f[12])<<8 | uint16(f[13])) {
		case layers.EthernetTypeIPv4, layers.EthernetTypeIPv6:
			ipPkts = append(ipPkts, f[14:])
		}
	}
	if uint64(len(ipPkts)) != wantSt.Delivered {
		t.Fatalf("%d IP frames, the file delivers %d packets", len(ipPkts), wantSt.Delivered)
	}
	src, dst := netip.MustParseAddr("198.18.255.1"), netip.MustParseAddr("198.18.255.2")
	sentinel := udpFrame(t, src, dst, 40000, sentinelPort, "end of replay")[14:]

	iface := openIn(t, ns, name, InterfaceConfig{PollTimeout: 20 * time.Millisecond})
	if iface.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("tun link type %v, want raw IP", iface.LinkType())
	}
	r := startRun(t, iface, isSentinel)
	if err := writeAll(tun, append(ipPkts, sentinel)); err != nil {
		t.Fatal(err)
	}
	r.wait(t)
	got := r.pkts[:len(r.pkts)-1]
	samePackets(t, got, want, -14)
	sameHandshakes(t, established(got), wantEvs)
}

// TestOpenInterfaceErrors checks the errors of OpenInterface that need no
// namespace.
func TestOpenInterfaceErrors(t *testing.T) {
	cases := map[string]struct {
		name string
		cfg  InterfaceConfig
		want error
		text string
	}{
		"unknown interface": {name: "shoal-nosuch0", want: ErrNoInterface, text: "shoal-nosuch0"},
		"empty name":        {name: "", want: ErrNoInterface, text: `""`},
		"name too long":     {name: "an-interface-name-too-long", want: ErrNoInterface, text: "an-interface-name-too-long"},
		"negative snaplen":  {name: "lo", cfg: InterfaceConfig{Snaplen: -1}, want: ErrBadConfig, text: "Snaplen"},
		"odd block size":    {name: "lo", cfg: InterfaceConfig{BlockSize: 1000}, want: ErrBadConfig, text: "BlockSize"},
		"too many blocks": {name: "lo", cfg: InterfaceConfig{BlockSize: os.Getpagesize(), RingSize: 1 << 30},
			want: ErrBadConfig, text: "blocks"},
		"long block timeout": {name: "lo", cfg: InterfaceConfig{BlockTimeout: time.Hour}, want: ErrBadConfig, text: "BlockTimeout"},
		"negative poll":      {name: "lo", cfg: InterfaceConfig{PollTimeout: -1}, want: ErrBadConfig, text: "PollTimeout"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			iface, err := OpenInterface(tc.name, tc.cfg)
			if err == nil {
				iface.Close()
				t.Fatalf("OpenInterface(%q) succeeded", tc.name)
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("OpenInterface(%q) = %v, want %v mentioning %s", tc.name, err, tc.want, tc.text)
			}
			t.Log(err)
		})
	}
}

// TestOpenInterfacePermission opens a capture from a thread without
// CAP_NET_RAW (capabilities are per thread on Linux).
func TestOpenInterfacePermission(t *testing.T) {
	err := onThread(func() error {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return fmt.Errorf("capget: %w", err)
		}
		data[unix.CAP_NET_RAW/32].Effective &^= 1 << (unix.CAP_NET_RAW % 32)
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return fmt.Errorf("capset: %w", err)
		}
		iface, err := OpenInterface("lo", InterfaceConfig{})
		if err == nil {
			iface.Close()
			return errors.New("OpenInterface succeeded without CAP_NET_RAW")
		}
		t.Log(err)
		if !errors.Is(err, ErrCapture) || !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_RAW") {
			return fmt.Errorf("OpenInterface without CAP_NET_RAW = %w, want ErrCapture and os.ErrPermission", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
