package testcluster

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// A cluster started with Options.Netns runs every node in a network
// namespace of its own, wired to two bridges in the harness's namespace:
//
//	cluster network 10.213.K.0/24  bridge shnKKc (10.213.K.1)  gossip and events
//	management      10.214.K.0/24  bridge shnKKm (10.214.K.1)  HTTP (/status) only
//
// Node n (from 2) has 10.213.K.n on eth0 and 10.214.K.n on mgmt0; the host
// ends of its veth pairs are shvKKcN and shvKKmN. No namespace has a default
// route and the harness's namespace does not forward, so nothing leaves these
// networks. Faults act on the cluster network only (the harness keeps reading
// every node's status through the management network, as an operator's
// out-of-band network would let it): Isolate sets a node's cluster link down
// (its packets are dropped silently, as in a real cut); Split moves a set of
// nodes onto a third bridge, shnKKs, so that each side still reaches its own
// members; Heal undoes both.
//
// K (0..255) is allocated under an flock on /run/shoalnet/K.lock, held while
// the cluster lives, so concurrent test processes never share names or
// subnets; a K whose lock is free has its leftovers (from a process that died
// without cleaning up) removed before it is reused.

const (
	netLockDir     = "/run/shoalnet"
	netMaxClusters = 256
	netMaxNodes    = 250 // node addresses .2 ... .251
)

// ErrNetns wraps errors of the namespace network.
var ErrNetns = errors.New("testcluster: netns")

// netnet is the namespace network of one cluster. Safe for concurrent use.
type netnet struct {
	k    int
	lock *os.File

	mu    sync.Mutex
	nodes map[string]*nsNode // by node name
	next  int                // next node number
	split bool               // the split bridge exists
}

// nsNode is one node's namespace and links; kept across restarts.
type nsNode struct {
	ns              string
	n               int
	ip, mgmtIP      netip.Addr
	clusterV, mgmtV string // host ends of the veth pairs
	cut, onSplit    bool
}

func (nn *netnet) clusterBridge() string { return fmt.Sprintf("shn%02xc", nn.k) }
func (nn *netnet) mgmtBridge() string    { return fmt.Sprintf("shn%02xm", nn.k) }
func (nn *netnet) splitBridge() string   { return fmt.Sprintf("shn%02xs", nn.k) }

func (nn *netnet) clusterAddr(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 213, byte(nn.k), byte(n)})
}

func (nn *netnet) mgmtAddr(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 214, byte(nn.k), byte(n)})
}

// newNetnet allocates a free K, removes what a dead owner of it left behind,
// and creates the two bridges.
func newNetnet() (*netnet, error) {
	if err := os.MkdirAll(netLockDir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNetns, err)
	}
	for k := range netMaxClusters {
		f, err := os.OpenFile(filepath.Join(netLockDir, strconv.Itoa(k)+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNetns, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		nn := &netnet{k: k, lock: f, nodes: map[string]*nsNode{}, next: 2}
		if err := nn.sweep(); err != nil {
			nn.release()
			return nil, err
		}
		if err := nn.setup(); err != nil {
			nn.teardown()
			nn.release()
			return nil, err
		}
		return nn, nil
	}
	return nil, fmt.Errorf("%w: all %d cluster networks are in use", ErrNetns, netMaxClusters)
}

func (nn *netnet) release() {
	syscall.Flock(int(nn.lock.Fd()), syscall.LOCK_UN)
	nn.lock.Close()
}

// setup creates the cluster and management bridges with the harness's
// addresses.
func (nn *netnet) setup() error {
	for _, br := range []struct {
		name string
		addr netip.Addr
	}{{nn.clusterBridge(), nn.clusterAddr(1)}, {nn.mgmtBridge(), nn.mgmtAddr(1)}} {
		if err := runIP("link", "add", br.name, "type", "bridge", "forward_delay", "0"); err != nil {
			return err
		}
		if err := quiet(br.name); err != nil {
			return err
		}
		if err := runIP("addr", "add", br.addr.String()+"/24", "dev", br.name); err != nil {
			return err
		}
		if err := runIP("link", "set", br.name, "up"); err != nil {
			return err
		}
	}
	return nil
}

// sweep removes the namespaces and links of K that a dead process left.
func (nn *netnet) sweep() error {
	nsPrefix := fmt.Sprintf("shoalnet-%02x-", nn.k)
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("%w: ip netns list: %w", ErrNetns, err)
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], nsPrefix) {
			errs = append(errs, runIP("netns", "del", f[0]))
		}
	}
	out, err = exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return fmt.Errorf("%w: ip link show: %w", ErrNetns, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if strings.HasPrefix(name, fmt.Sprintf("shn%02x", nn.k)) || strings.HasPrefix(name, fmt.Sprintf("shv%02x", nn.k)) {
			if err := runIP("link", "del", name); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// node returns name's namespace, creating it with its links the first time.
func (nn *netnet) node(name string) (*nsNode, error) {
	nn.mu.Lock()
	defer nn.mu.Unlock()
	if nd, ok := nn.nodes[name]; ok {
		return nd, nil
	}
	if nn.next-2 >= netMaxNodes {
		return nil, fmt.Errorf("%w: more than %d nodes", ErrNetns, netMaxNodes)
	}
	n := nn.next
	nn.next++
	nd := &nsNode{
		ns: fmt.Sprintf("shoalnet-%02x-%d", nn.k, n), n: n,
		ip: nn.clusterAddr(n), mgmtIP: nn.mgmtAddr(n),
		clusterV: fmt.Sprintf("shv%02xc%d", nn.k, n), mgmtV: fmt.Sprintf("shv%02xm%d", nn.k, n),
	}
	nn.nodes[name] = nd
	if err := runIP("netns", "add", nd.ns); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"-n", nd.ns, "link", "set", "lo", "up"},
		{"link", "add", nd.clusterV, "type", "veth", "peer", "name", "eth0", "netns", nd.ns},
		{"link", "add", nd.mgmtV, "type", "veth", "peer", "name", "mgmt0", "netns", nd.ns},
	}
	for _, s := range steps {
		if err := runIP(s...); err != nil {
			return nil, err
		}
	}
	// No IPv6 anywhere: no router or neighbour solicitations.
	if err := runIP("netns", "exec", nd.ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"); err != nil {
		return nil, err
	}
	for _, v := range []string{nd.clusterV, nd.mgmtV} {
		if err := quiet(v); err != nil {
			return nil, err
		}
	}
	steps = [][]string{
		{"-n", nd.ns, "addr", "add", nd.ip.String() + "/24", "dev", "eth0"},
		{"-n", nd.ns, "addr", "add", nd.mgmtIP.String() + "/24", "dev", "mgmt0"},
		{"-n", nd.ns, "link", "set", "eth0", "up"},
		{"-n", nd.ns, "link", "set", "mgmt0", "up"},
		{"link", "set", nd.clusterV, "master", nn.clusterBridge(), "up"},
		{"link", "set", nd.mgmtV, "master", nn.mgmtBridge(), "up"},
	}
	for _, s := range steps {
		if err := runIP(s...); err != nil {
			return nil, err
		}
	}
	return nd, nil
}

// lookup returns name's namespace node, or an error when it has none.
func (nn *netnet) lookup(name string) (*nsNode, error) {
	nn.mu.Lock()
	defer nn.mu.Unlock()
	nd, ok := nn.nodes[name]
	if !ok {
		return nil, fmt.Errorf("%w: node %s has no namespace", ErrNetns, name)
	}
	return nd, nil
}

// setCut sets name's cluster link down (cut) or up.
func (nn *netnet) setCut(name string, cut bool) error {
	nd, err := nn.lookup(name)
	if err != nil {
		return err
	}
	state := "up"
	if cut {
		state = "down"
	}
	if err := runIP("link", "set", nd.clusterV, state); err != nil {
		return err
	}
	nn.mu.Lock()
	nd.cut = cut
	nn.mu.Unlock()
	return nil
}

// moveSplit moves name's cluster link to the split bridge or back.
func (nn *netnet) moveSplit(name string, toSplit bool) error {
	nd, err := nn.lookup(name)
	if err != nil {
		return err
	}
	nn.mu.Lock()
	need := toSplit && !nn.split
	nn.mu.Unlock()
	if need {
		if err := runIP("link", "add", nn.splitBridge(), "type", "bridge", "forward_delay", "0"); err != nil {
			return err
		}
		if err := quiet(nn.splitBridge()); err != nil {
			return err
		}
		if err := runIP("link", "set", nn.splitBridge(), "up"); err != nil {
			return err
		}
		nn.mu.Lock()
		nn.split = true
		nn.mu.Unlock()
	}
	br := nn.clusterBridge()
	if toSplit {
		br = nn.splitBridge()
	}
	if err := runIP("link", "set", nd.clusterV, "master", br); err != nil {
		return err
	}
	nn.mu.Lock()
	nd.onSplit = toSplit
	nn.mu.Unlock()
	return nil
}

// heal brings every cut link up and every split node back.
func (nn *netnet) heal() error {
	nn.mu.Lock()
	var cut, split []string
	for name, nd := range nn.nodes {
		if nd.cut {
			cut = append(cut, name)
		}
		if nd.onSplit {
			split = append(split, name)
		}
	}
	nn.mu.Unlock()
	var errs []error
	for _, name := range split {
		errs = append(errs, nn.moveSplit(name, false))
	}
	for _, name := range cut {
		errs = append(errs, nn.setCut(name, false))
	}
	return errors.Join(errs...)
}

// teardown deletes every namespace and link of the network; the processes
// in the namespaces must have exited.
func (nn *netnet) teardown() error {
	nn.mu.Lock()
	nodes := make([]*nsNode, 0, len(nn.nodes))
	for _, nd := range nn.nodes {
		nodes = append(nodes, nd)
	}
	nn.mu.Unlock()
	var errs []error
	for _, nd := range nodes {
		// Deleting the namespace deletes its veth pairs with it.
		if err := runIP("netns", "del", nd.ns); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
	}
	errs = append(errs, nn.sweep())
	return errors.Join(errs...)
}

// close tears the network down and releases K.
func (nn *netnet) close() error {
	err := nn.teardown()
	nn.release()
	return err
}

// quiet disables IPv6 on a link of the harness's namespace before it comes
// up, so that it sends no solicitations.
func quiet(link string) error {
	p := filepath.Join("/proc/sys/net/ipv6/conf", link, "disable_ipv6")
	if _, err := os.Stat(p); err != nil {
		return nil // no IPv6 in this kernel
	}
	if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("%w: disable IPv6 on %s: %w", ErrNetns, link, err)
	}
	return nil
}

// runIP runs ip(8) with args.
func runIP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: ip %s: %w: %s", ErrNetns, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
