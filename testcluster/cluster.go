package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"shoal/zeeklog"
)

// Roles, in the order Start starts them.
const (
	RoleManager  = "manager"
	RoleDatanode = "datanode"
	RoleWorker   = "worker"
)

// ErrClosed is returned by Launch and Add after Close.
var ErrClosed = errors.New("testcluster: cluster closed")

// ErrOptions wraps every Options validation error.
var ErrOptions = errors.New("testcluster: invalid options")

// Options configures Start.
type Options struct {
	// Binary is the node binary (see Build). Required.
	Binary string
	// Dir holds each node's log directory (<Dir>/<name>/) and its stdout and
	// stderr files (<Dir>/<name>.stdout, .stderr). Required; created if missing.
	Dir string
	// Managers, Datanodes and Workers are how many nodes of each role Start
	// starts, in that order.
	Managers, Datanodes, Workers int
	// Profile is the --gossip-profile of every node; default "fast".
	Profile string
	// Args are extra arguments per role ("manager", "datanode", "worker"),
	// given to every node of that role, including ones added later.
	Args map[string][]string
	// WorkerArgs, if set, gives extra arguments to the i-th worker Start
	// starts (i from 0), after Args["worker"].
	WorkerArgs func(i int) []string
	// Logger receives the harness's own events (node ready, signalled,
	// exited). Default: zerolog.Nop().
	Logger zerolog.Logger
	// Env is appended to the harness's environment for every node.
	Env []string
	// ReadyTimeout bounds the wait for a node's ready line; default 20 s.
	ReadyTimeout time.Duration
	// Netns runs every node in a network namespace of its own, joined to the
	// others by veth pairs and a bridge, so that Isolate and Split can cut
	// the network (see netns_linux.go); Linux only, needs root. Nodes then
	// bind 10.213.K.n (gossip, events) and 10.214.K.n (HTTP) instead of
	// 127.0.0.1.
	Netns bool
	// Secure starts every node with throw-away credentials (see Security):
	// an encrypted gossip keyring, a cluster name and an HTTP token, which
	// the harness's own requests present.
	Secure bool
	// ManagerDisk, when > 0, gives every manager a tmpfs of that many bytes
	// for its logs, so that FillDisk can make its disk full; Linux only,
	// needs root. Its LogDir is then <Dir>/<name>.disk/logs, copied to
	// <Dir>/<name>/ by Close.
	ManagerDisk int64
}

// Spec describes one node for Launch.
type Spec struct {
	// Role is "manager", "datanode" or "worker" (passed through unchecked, so
	// tests may try invalid ones).
	Role string
	// Name is the node's --name; default <role>-<n>, n counting from 1 per role.
	Name string
	// Seeds, when non-nil, are exactly the --join addresses (empty: no
	// --join); nil means the gossip addresses of every running node.
	Seeds []string
	// Args come after Options.Args[Role].
	Args []string
	// Plain starts the node without the cluster's credentials
	// (Options.Secure): intruder tests give their own in Args.
	Plain bool
}

// Cluster is a set of node processes started on 127.0.0.1. Safe for
// concurrent use.
type Cluster struct {
	opts   Options
	log    zerolog.Logger
	client *http.Client

	net *netnet   // nil unless Options.Netns
	sec *Security // nil unless Options.Secure

	mu     sync.Mutex
	procs  []*Proc
	counts map[string]int
	closed bool

	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start starts opts.Managers managers, then opts.Datanodes datanodes, then
// opts.Workers workers, one at a time. The first node is the seed; each later
// node joins every node started before it. Each node binds gossip, data and
// HTTP to 127.0.0.1:0 and Start reads the chosen addresses from its ready
// line. On error every node already started is stopped.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Binary == "" {
		return nil, fmt.Errorf("%w: Binary is empty", ErrOptions)
	}
	if _, err := os.Stat(opts.Binary); err != nil {
		return nil, fmt.Errorf("%w: Binary: %w", ErrOptions, err)
	}
	if opts.Dir == "" {
		return nil, fmt.Errorf("%w: Dir is empty", ErrOptions)
	}
	if opts.Managers < 0 || opts.Datanodes < 0 || opts.Workers < 0 {
		return nil, fmt.Errorf("%w: negative node count", ErrOptions)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: Dir: %w", ErrOptions, err)
	}
	opts.Dir = dir
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: Dir: %w", ErrOptions, err)
	}
	if opts.Profile == "" {
		opts.Profile = "fast"
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 20 * time.Second
	}
	c := &Cluster{
		opts:   opts,
		log:    opts.Logger.With().Str("component", "testcluster").Logger(),
		client: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}},
		counts: map[string]int{},
	}
	if opts.Secure {
		if c.sec, err = newSecurity(opts.Dir); err != nil {
			return nil, err
		}
		tc, err := c.sec.ClientTLS()
		if err != nil {
			return nil, err
		}
		c.client.Transport = &tokenTransport{token: c.sec.Token,
			next: &http.Transport{MaxIdleConnsPerHost: 2, TLSClientConfig: tc}}
	}
	if opts.Netns {
		if c.net, err = newNetnet(); err != nil {
			return nil, err
		}
	}
	for _, r := range []struct {
		role string
		n    int
	}{{RoleManager, opts.Managers}, {RoleDatanode, opts.Datanodes}, {RoleWorker, opts.Workers}} {
		for i := 0; i < r.n; i++ {
			var extra []string
			if r.role == RoleWorker && opts.WorkerArgs != nil {
				extra = opts.WorkerArgs(i)
			}
			if _, err := c.Launch(ctx, Spec{Role: r.role, Args: extra}); err != nil {
				c.Close()
				return nil, err
			}
		}
	}
	return c, nil
}

// Dir returns the cluster's directory (Options.Dir, absolute).
func (c *Cluster) Dir() string { return c.opts.Dir }

// Add starts one more node of role joined to every running node, with
// Options.Args[role] and then args.
func (c *Cluster) Add(ctx context.Context, role string, args ...string) (*Proc, error) {
	return c.Launch(ctx, Spec{Role: role, Args: args})
}

// Launch starts one node as spec says and waits for its ready line. When the
// process was started but failed (it exited before ready, or printed none in
// time), Launch returns the Proc together with the error, so that the caller
// can inspect its exit code and stderr.
func (c *Cluster) Launch(ctx context.Context, spec Spec) (*Proc, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	name := spec.Name
	if name == "" {
		c.counts[spec.Role]++
		name = spec.Role + "-" + strconv.Itoa(c.counts[spec.Role])
	}
	seeds, own := spec.Seeds, spec.Seeds != nil
	if !own {
		seeds = c.seedAddrsLocked(nil)
	}
	extra := append(append([]string(nil), c.opts.Args[spec.Role]...), spec.Args...)
	p := c.newProc(spec.Role, name, extra, seeds, own)
	p.plain = spec.Plain
	if n := c.sameNameLocked(name); n > 0 {
		// A second process with a name in use (a duplicate-name test) gets
		// its own files.
		suffix := "~" + strconv.Itoa(n+1)
		p.suffix = suffix
		p.LogDir += suffix
		p.KeyFile = filepath.Join(c.opts.Dir, name+suffix+".keys")
		p.Stdout = filepath.Join(c.opts.Dir, name+suffix+".stdout")
		p.Stderr = filepath.Join(c.opts.Dir, name+suffix+".stderr")
	}
	c.procs = append(c.procs, p)
	c.mu.Unlock()

	if err := c.place(p); err != nil {
		return nil, err
	}
	if err := c.spawn(ctx, p, p.host+":0", p.host+":0", p.httpHost+":0", seeds); err != nil {
		if p.current() == nil {
			return nil, err
		}
		return p, err
	}
	return p, nil
}

// place gives p its namespace and addresses (Options.Netns) and its small
// disk (Options.ManagerDisk, managers only).
func (c *Cluster) place(p *Proc) error {
	p.host, p.httpHost = "127.0.0.1", "127.0.0.1"
	if c.net != nil {
		nd, err := c.net.node(p.Name + p.suffix)
		if err != nil {
			return err
		}
		p.ns, p.host, p.httpHost = nd.ns, nd.ip.String(), nd.mgmtIP.String()
	}
	if p.Role == RoleManager && c.opts.ManagerDisk > 0 {
		d, err := mountDisk(filepath.Join(c.opts.Dir, p.Name+p.suffix+".disk"), c.opts.ManagerDisk)
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.disk = d
		p.LogDir = d.logDir()
		p.mu.Unlock()
	}
	return nil
}

func (c *Cluster) sameNameLocked(name string) int {
	n := 0
	for _, p := range c.procs {
		if p.Name == name {
			n++
		}
	}
	return n
}

// seedAddrs returns the gossip addresses of every running, non-stopped node
// except skip.
func (c *Cluster) seedAddrs(skip *Proc) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seedAddrsLocked(skip)
}

func (c *Cluster) seedAddrsLocked(skip *Proc) []string {
	var seeds []string
	for _, p := range c.procs {
		if p == skip || !p.Running() || p.Stopped() {
			continue
		}
		p.mu.Lock()
		g := p.Gossip
		p.mu.Unlock()
		if g != "" {
			seeds = append(seeds, g)
		}
	}
	return seeds
}

// goroutine runs f on a goroutine that Close waits for.
func (c *Cluster) goroutine(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// Nodes returns every process the cluster started, running or not, in start
// order (a fresh slice).
func (c *Cluster) Nodes() []*Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Proc(nil), c.procs...)
}

// Running returns the processes that are running and not stopped.
func (c *Cluster) Running() []*Proc {
	var out []*Proc
	for _, p := range c.Nodes() {
		if p.Running() && !p.Stopped() {
			out = append(out, p)
		}
	}
	return out
}

// ByRole returns every process of role, in start order (a fresh slice).
func (c *Cluster) ByRole(role string) []*Proc {
	var out []*Proc
	for _, p := range c.Nodes() {
		if p.Role == role {
			out = append(out, p)
		}
	}
	return out
}

// Node returns the first process started under name, or nil.
func (c *Cluster) Node(name string) *Proc {
	for _, p := range c.Nodes() {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// ReadLog reads the Zeek TSV log <p.LogDir>/<path>.log (path without
// ".log", e.g. "known_hosts").
func (c *Cluster) ReadLog(p *Proc, path string) (*zeeklog.Log, error) {
	l, err := zeeklog.ReadTSVFile(filepath.Join(p.LogDir, path+".log"))
	if err != nil {
		return nil, fmt.Errorf("testcluster: read %s log of %s: %w", path, p.Name, err)
	}
	return l, nil
}

// Close stops every process the cluster started: SIGTERM (and SIGCONT for
// stopped ones), up to 5 s for them to leave, then SIGKILL for the rest. It
// waits for every process to be reaped. Idempotent; later calls return the
// first call's result.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		procs := append([]*Proc(nil), c.procs...)
		c.mu.Unlock()
		for _, p := range procs {
			if p.Running() {
				p.Terminate()
			}
		}
		deadline := time.NewTimer(5 * time.Second)
		defer deadline.Stop()
	wait:
		for _, p := range procs {
			inc := p.current()
			if inc == nil {
				continue
			}
			select {
			case <-inc.done:
			case <-deadline.C:
				break wait
			}
		}
		var errs []error
		for _, p := range procs {
			if p.Running() {
				c.log.Warn().Str("node", p.Name).Msg("node ignored sigterm, killing")
				p.signal(syscall.SIGKILL)
			}
		}
		reaped := make(chan struct{})
		go func() { c.wg.Wait(); close(reaped) }()
		select {
		case <-reaped:
		case <-time.After(10 * time.Second):
			errs = append(errs, errors.New("testcluster: close: processes not reaped within 10s"))
		}
		c.client.CloseIdleConnections()
		for _, p := range procs {
			if p.disk != nil {
				errs = append(errs, p.disk.unmount(filepath.Join(c.opts.Dir, p.Name+p.suffix)))
			}
		}
		if c.net != nil {
			errs = append(errs, c.net.close())
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
