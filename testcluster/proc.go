package testcluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"shoal/node"
)

// Errors returned by Proc methods and by Launch.
var (
	// ErrNotRunning: the process has exited (or was never started).
	ErrNotRunning = errors.New("testcluster: process not running")
	// ErrRunning: Restart was called on a process that was not signalled to end.
	ErrRunning = errors.New("testcluster: process still running")
	// ErrExited: the process exited before printing its ready line.
	ErrExited = errors.New("testcluster: process exited before ready")
	// ErrNotReady: the process printed no ready line within Options.ReadyTimeout.
	ErrNotReady = errors.New("testcluster: no ready line")
	// ErrStatus: GET /status failed or returned something that is not a status.
	ErrStatus = errors.New("testcluster: status")
)

// Proc is one node process started by a Cluster. Its exported fields are set
// before Start, Add, Launch or Restart returns, and change only during Restart
// (addresses, Pid, BootID); read them from the goroutine that restarts the
// process, or after Restart returns. Its methods are safe for concurrent use.
type Proc struct {
	Name   string
	Role   string
	Gossip string // gossip host:port, from the ready line
	Data   string // event transport host:port, from the ready line
	HTTP   string // status host:port, from the ready line
	BootID string // changes on every start
	Pid    int
	LogDir string // <Options.Dir>/<Name>; a manager's --log-dir
	// KeyFile is the node's gossip keyring file with Options.Secure
	// (<Dir>/<Name>.keys), which the node rewrites on key changes.
	KeyFile string

	// Stdout and Stderr are the files the process's output is appended to.
	Stdout, Stderr string

	c     *Cluster
	extra []string // role args + per-node args, kept for Restart
	seeds []string // explicit seeds from Spec.Seeds (nil: the cluster's)
	own   bool     // seeds were given explicitly
	plain bool     // started without the cluster's credentials (Spec.Plain)

	// Set by Cluster.place before the first start, constant afterwards.
	suffix         string   // "~N" for a second process under a taken name
	host, httpHost string   // addresses to bind (127.0.0.1, or the namespace's)
	ns             string   // network namespace, "" for the harness's own
	disk           *tmpDisk // a manager's small disk, or nil

	mu          sync.Mutex
	inc         *incarnation
	stopped     bool
	signalled   bool
	stderrStart int64
	doneLine    string
	args        []string
}

// incarnation is one run of the process; a Restart makes a new one.
type incarnation struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process exited and stdout is drained
	code int           // exit code, -1 when killed by a signal; valid after done
	err  error         // cmd.Wait's error; valid after done
}

// readyLine is the JSON line a node prints on stdout once it serves.
type readyLine struct {
	Event  string `json:"event"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Gossip string `json:"gossip"`
	Data   string `json:"data"`
	HTTP   string `json:"http"`
	BootID string `json:"boot_id"`
}

// parseEvent decodes one stdout line. ok is false for lines that are not a
// JSON object with an "event" field.
func parseEvent(line []byte) (ev readyLine, ok bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return readyLine{}, false
	}
	if err := json.Unmarshal(line, &ev); err != nil || ev.Event == "" {
		return readyLine{}, false
	}
	return ev, true
}

// checkReady reports what is missing from a ready line.
func checkReady(r readyLine, name, role string) error {
	var missing []string
	if r.Gossip == "" {
		missing = append(missing, "gossip")
	}
	if r.Data == "" {
		missing = append(missing, "data")
	}
	if r.HTTP == "" {
		missing = append(missing, "http")
	}
	if len(missing) > 0 {
		return fmt.Errorf("testcluster: %s: ready line lacks %s", name, strings.Join(missing, ", "))
	}
	if r.Name != "" && r.Name != name {
		return fmt.Errorf("testcluster: %s: ready line names %q", name, r.Name)
	}
	if r.Role != "" && r.Role != role {
		return fmt.Errorf("testcluster: %s: ready line has role %q, want %q", name, r.Role, role)
	}
	return nil
}

// spawn starts one incarnation of p bound to the given addresses and waits
// for its ready line.
func (c *Cluster) spawn(ctx context.Context, p *Proc, gossip, data, httpAddr string, seeds []string) error {
	args := []string{
		"--role", p.Role, "--name", p.Name,
		"--bind", gossip, "--data-bind", data, "--http", httpAddr,
		"--gossip-profile", c.opts.Profile,
	}
	if p.Role == "manager" {
		args = append(args, "--log-dir", p.LogDir)
	}
	if len(seeds) > 0 {
		args = append(args, "--join", strings.Join(seeds, ","))
	}
	sec, err := c.securityArgs(p)
	if err != nil {
		return err
	}
	args = append(append(args, sec...), p.extra...)

	if err := os.MkdirAll(p.LogDir, 0o755); err != nil {
		return fmt.Errorf("testcluster: %s: %w", p.Name, err)
	}
	stdoutF, err := os.OpenFile(p.Stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testcluster: %s: %w", p.Name, err)
	}
	stderrF, err := os.OpenFile(p.Stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		stdoutF.Close()
		return fmt.Errorf("testcluster: %s: %w", p.Name, err)
	}
	var stderrStart int64
	if st, err := stderrF.Stat(); err == nil {
		stderrStart = st.Size()
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		stdoutF.Close()
		stderrF.Close()
		return fmt.Errorf("testcluster: %s: %w", p.Name, err)
	}
	cmd := exec.Command(c.opts.Binary, args...)
	if p.ns != "" {
		// ip netns exec switches namespaces and execs the binary in the
		// same process, so the pid is the node's.
		cmd = exec.Command("ip", append([]string{"netns", "exec", p.ns, c.opts.Binary}, args...)...)
	}
	cmd.Stdout = pw
	cmd.Stderr = stderrF
	cmd.Env = append(os.Environ(), c.opts.Env...)
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	pw.Close() // the child holds its own copies
	stderrF.Close()
	if err != nil {
		pr.Close()
		stdoutF.Close()
		return fmt.Errorf("testcluster: start %s: %w", p.Name, err)
	}

	inc := &incarnation{cmd: cmd, done: make(chan struct{})}
	readyCh := make(chan readyLine, 1)
	readerDone := make(chan struct{})
	p.mu.Lock()
	p.inc = inc
	p.Pid = cmd.Process.Pid
	p.stopped = false
	p.signalled = false
	p.stderrStart = stderrStart
	p.args = args
	p.mu.Unlock()
	c.goroutine(func() { p.readStdout(pr, stdoutF, readyCh, readerDone) })
	c.goroutine(func() { p.reap(inc, readerDone) })

	timer := time.NewTimer(c.opts.ReadyTimeout)
	defer timer.Stop()
	var ready readyLine
	select {
	case ready = <-readyCh:
	case <-inc.done:
		select {
		case ready = <-readyCh: // printed ready, then exited at once
		default:
			return fmt.Errorf("%w: %s (pid %d) exit code %d; command: %s\nstderr tail:\n%s",
				ErrExited, p.Name, cmd.Process.Pid, inc.code, p.commandLine(), p.StderrTail(2048))
		}
	case <-timer.C:
		cmd.Process.Signal(syscall.SIGKILL)
		<-inc.done
		return fmt.Errorf("%w: %s (pid %d) printed no ready line within %v; command: %s\nstderr tail:\n%s",
			ErrNotReady, p.Name, cmd.Process.Pid, c.opts.ReadyTimeout, p.commandLine(), p.StderrTail(2048))
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGKILL)
		<-inc.done
		return fmt.Errorf("testcluster: start %s: %w", p.Name, ctx.Err())
	}
	if err := checkReady(ready, p.Name, p.Role); err != nil {
		// Unusable without its addresses: do not leave it running.
		cmd.Process.Signal(syscall.SIGKILL)
		<-inc.done
		return err
	}
	p.mu.Lock()
	p.Gossip, p.Data, p.HTTP, p.BootID = ready.Gossip, ready.Data, ready.HTTP, ready.BootID
	p.mu.Unlock()
	c.log.Info().Str("node", p.Name).Str("role", p.Role).Int("pid", cmd.Process.Pid).
		Str("gossip", ready.Gossip).Str("data", ready.Data).Str("http", ready.HTTP).
		Str("boot_id", ready.BootID).Msg("node ready")
	return nil
}

// readStdout copies the process's stdout to its file and picks out the
// ready and done lines. It returns at EOF.
func (p *Proc) readStdout(r io.ReadCloser, out *os.File, readyCh chan<- readyLine, readerDone chan<- struct{}) {
	defer close(readerDone)
	defer r.Close()
	defer out.Close()
	br := bufio.NewReader(r)
	sentReady := false
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			out.Write(line)
			if ev, ok := parseEvent(line); ok {
				switch ev.Event {
				case "ready":
					if !sentReady {
						sentReady = true
						readyCh <- ev
					}
				case "done":
					p.mu.Lock()
					p.doneLine = string(bytes.TrimSpace(line))
					p.mu.Unlock()
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// reap waits for the process to exit and for its stdout to be drained.
func (p *Proc) reap(inc *incarnation, readerDone <-chan struct{}) {
	err := inc.cmd.Wait()
	t := time.NewTimer(2 * time.Second) // a grandchild could hold the pipe
	select {
	case <-readerDone:
	case <-t.C:
	}
	t.Stop()
	inc.err = err
	inc.code = inc.cmd.ProcessState.ExitCode()
	close(inc.done)
	p.c.log.Info().Str("node", p.Name).Int("pid", inc.cmd.Process.Pid).
		Str("state", inc.cmd.ProcessState.String()).Msg("node exited")
}

func (p *Proc) current() *incarnation {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inc
}

// Running reports whether the current incarnation has not exited (it may be
// stopped).
func (p *Proc) Running() bool {
	inc := p.current()
	if inc == nil {
		return false
	}
	select {
	case <-inc.done:
		return false
	default:
		return true
	}
}

// Stopped reports whether the process was stopped with Stop and not continued.
func (p *Proc) Stopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}

// Args returns the command-line arguments of the current incarnation
// (a fresh slice).
func (p *Proc) Args() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.args...)
}

// DoneLine returns the {"event":"done",...} line the process printed, or "".
func (p *Proc) DoneLine() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.doneLine
}

func (p *Proc) commandLine() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c.opts.Binary + " " + strings.Join(p.args, " ")
}

// signal sends sig to the current incarnation by pid.
func (p *Proc) signal(sig syscall.Signal) error {
	inc := p.current()
	if inc == nil {
		return fmt.Errorf("%w: %s", ErrNotRunning, p.Name)
	}
	select {
	case <-inc.done:
		return fmt.Errorf("%w: %s", ErrNotRunning, p.Name)
	default:
	}
	if err := inc.cmd.Process.Signal(sig); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("%w: %s", ErrNotRunning, p.Name)
		}
		return fmt.Errorf("testcluster: signal %v to %s: %w", sig, p.Name, err)
	}
	p.c.log.Info().Str("node", p.Name).Int("pid", inc.cmd.Process.Pid).Str("signal", sig.String()).Msg("node signalled")
	return nil
}

// Kill sends SIGKILL (the crash path).
func (p *Proc) Kill() error {
	p.mu.Lock()
	p.signalled = true
	p.mu.Unlock()
	return p.signal(syscall.SIGKILL)
}

// Terminate sends SIGTERM (graceful leave). A stopped process is continued
// so that it can handle the signal.
func (p *Proc) Terminate() error {
	p.mu.Lock()
	p.signalled = true
	stopped := p.stopped
	p.mu.Unlock()
	if err := p.signal(syscall.SIGTERM); err != nil {
		return err
	}
	if stopped {
		return p.Cont()
	}
	return nil
}

// Stop sends SIGSTOP: the process freezes without closing anything.
func (p *Proc) Stop() error {
	if err := p.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	return nil
}

// Cont sends SIGCONT to a stopped process.
func (p *Proc) Cont() error {
	if err := p.signal(syscall.SIGCONT); err != nil {
		return err
	}
	p.mu.Lock()
	p.stopped = false
	p.mu.Unlock()
	return nil
}

// Wait blocks until the current incarnation exits and returns its exit code
// (-1 when it was killed by a signal). err is non-nil only when ctx ends
// first or the process was never started.
func (p *Proc) Wait(ctx context.Context) (exitCode int, err error) {
	inc := p.current()
	if inc == nil {
		return -1, fmt.Errorf("%w: %s", ErrNotRunning, p.Name)
	}
	select {
	case <-inc.done:
		return inc.code, nil
	case <-ctx.Done():
		return -1, fmt.Errorf("testcluster: wait for %s: %w", p.Name, ctx.Err())
	}
}

// Restart starts the process again under the same name and arguments, on the
// same gossip, data and HTTP ports where they are still free (else on new
// ephemeral ports), joined to every running node of the cluster. The node
// gets a new boot id. The process must have exited or been sent Kill or
// Terminate; Restart waits for it to exit.
func (p *Proc) Restart(ctx context.Context) error {
	p.mu.Lock()
	inc, signalled := p.inc, p.signalled
	gossip, data, httpAddr := p.Gossip, p.Data, p.HTTP
	p.mu.Unlock()
	if inc != nil {
		select {
		case <-inc.done:
		default:
			if !signalled {
				return fmt.Errorf("%w: %s (Kill or Terminate it first)", ErrRunning, p.Name)
			}
			select {
			case <-inc.done:
			case <-ctx.Done():
				return fmt.Errorf("testcluster: restart %s: %w", p.Name, ctx.Err())
			}
		}
	}
	seeds := p.seeds
	if !p.own {
		seeds = p.c.seedAddrs(p)
	}
	err := p.c.spawn(ctx, p, orEphemeral(gossip, p.host), orEphemeral(data, p.host), orEphemeral(httpAddr, p.httpHost), seeds)
	if errors.Is(err, ErrExited) && (gossip != "" || data != "" || httpAddr != "") {
		p.c.log.Warn().Err(err).Str("node", p.Name).Msg("restart on the old ports failed, retrying on new ports")
		err = p.c.spawn(ctx, p, p.host+":0", p.host+":0", p.httpHost+":0", seeds)
	}
	return err
}

func orEphemeral(addr, host string) string {
	if addr == "" {
		return host + ":0"
	}
	return addr
}

// Status fetches GET /status from the node (2 s timeout).
func (p *Proc) Status(ctx context.Context) (*node.Status, error) {
	p.mu.Lock()
	addr := p.HTTP
	p.mu.Unlock()
	if addr == "" {
		return nil, fmt.Errorf("%w: %s has no http address", ErrStatus, p.Name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL(addr, "/status"), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrStatus, p.Name, err)
	}
	resp, err := p.c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrStatus, p.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrStatus, p.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: HTTP %d: %s", ErrStatus, p.Name, resp.StatusCode, bytes.TrimSpace(body))
	}
	var st node.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrStatus, p.Name, err)
	}
	return &st, nil
}

// StderrTail returns up to n bytes of what the current incarnation wrote to
// stderr, starting at a line boundary where possible.
func (p *Proc) StderrTail(n int) string {
	p.mu.Lock()
	start := p.stderrStart
	p.mu.Unlock()
	b, err := os.ReadFile(p.Stderr)
	if err != nil {
		return "(stderr unreadable: " + err.Error() + ")"
	}
	return tail(b, start, n)
}

// StderrContains reports whether the current incarnation's stderr contains s
// (case-insensitive).
func (p *Proc) StderrContains(s string) bool {
	p.mu.Lock()
	start := p.stderrStart
	p.mu.Unlock()
	b, err := os.ReadFile(p.Stderr)
	if err != nil || int64(len(b)) < start {
		return false
	}
	return bytes.Contains(bytes.ToLower(b[start:]), bytes.ToLower([]byte(s)))
}

// StderrLines returns the lines the current incarnation wrote to stderr that
// contain substr (case-insensitive).
func (p *Proc) StderrLines(substr string) []string {
	p.mu.Lock()
	start := p.stderrStart
	p.mu.Unlock()
	b, err := os.ReadFile(p.Stderr)
	if err != nil || int64(len(b)) < start {
		return nil
	}
	var out []string
	want := strings.ToLower(substr)
	for _, line := range strings.Split(string(b[start:]), "\n") {
		if strings.Contains(strings.ToLower(line), want) {
			out = append(out, line)
		}
	}
	return out
}

// tail returns the last n bytes of b[start:], cut at a line boundary if one
// is in the window.
func tail(b []byte, start int64, n int) string {
	if start < 0 || start > int64(len(b)) {
		start = 0
	}
	b = b[start:]
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return string(bytes.TrimRight(b, "\n"))
}

// newProc makes the record of a node named name; it is not started.
func (c *Cluster) newProc(role, name string, extra, seeds []string, own bool) *Proc {
	return &Proc{
		Name:    name,
		Role:    role,
		LogDir:  filepath.Join(c.opts.Dir, name),
		Stdout:  filepath.Join(c.opts.Dir, name+".stdout"),
		Stderr:  filepath.Join(c.opts.Dir, name+".stderr"),
		KeyFile: filepath.Join(c.opts.Dir, name+".keys"),
		c:       c,
		extra:   extra,
		seeds:   seeds,
		own:     own,
	}
}
