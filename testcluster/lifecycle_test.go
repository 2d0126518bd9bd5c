package testcluster

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestStopContRestart exercises the harness's own verbs on real nodes:
// SIGSTOP drops a datanode from everyone's ring, SIGCONT brings it back,
// SIGKILL plus Restart brings it back under the same name and gossip port
// with a new boot id.
func TestStopContRestart(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 2})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	d := c.Node("datanode-2")

	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if !d.Stopped() || !d.Running() {
		t.Fatalf("after Stop: stopped %v running %v, want true true", d.Stopped(), d.Running())
	}
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatalf("without the stopped %s: %v", d.Name, err)
	}
	if err := d.Cont(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatalf("after SIGCONT of %s: %v", d.Name, err)
	}

	boot, gossip := d.BootID, d.Gossip
	if err := d.Kill(); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, d, 5*time.Second); code != -1 {
		t.Errorf("exit code after SIGKILL = %d, want -1", code)
	}
	if err := d.Kill(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Kill of an exited process = %v, want ErrNotRunning", err)
	}
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatalf("without the killed %s: %v", d.Name, err)
	}
	if err := d.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if d.BootID == boot || d.BootID == "" {
		t.Errorf("boot id after restart %q, was %q", d.BootID, boot)
	}
	if d.Gossip != gossip {
		t.Logf("gossip address moved from %s to %s (old port taken)", gossip, d.Gossip)
	}
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatalf("after restart of %s: %v", d.Name, err)
	}
	if err := d.Restart(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("Restart of a running process = %v, want ErrRunning", err)
	}
}

// TestStartFailures: the harness reports a process that exits before its
// ready line, or never prints one, with its exit code and stderr tail, and
// leaves no process behind. The "binaries" are shell scripts: this tests the
// harness's process handling, not node.
func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho $$ > \"$0.pid\"\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := map[string]struct {
		bin     string
		wantErr error
		want    []string // substrings of the error
	}{
		"exits before ready": {
			bin:     script("exits", `echo "listen 127.0.0.1:1: address already in use" >&2; exit 3`),
			wantErr: ErrExited,
			want:    []string{"exit code 3", "address already in use", "--role manager"},
		},
		"no ready line": {
			bin:     script("silent", `echo "still starting" >&2; echo '{"event":"other"}'; exec sleep 30`),
			wantErr: ErrNotReady,
			want:    []string{"within 300ms", "still starting"},
		},
		"ready line without addresses": {
			bin:  script("partial", `echo '{"event":"ready","gossip":"127.0.0.1:1"}'; exec sleep 30`),
			want: []string{"lacks data, http"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			_, err := Start(ctx, Options{
				Binary: tc.bin, Dir: t.TempDir(), Managers: 1, ReadyTimeout: 300 * time.Millisecond,
				Logger: zerolog.New(zerolog.NewTestWriter(t)),
			})
			if err == nil {
				t.Fatal("Start succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Start = %v, want %v", err, tc.wantErr)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Start = %v, want it to contain %q", err, s)
				}
			}
			b, rerr := os.ReadFile(tc.bin + ".pid")
			if rerr != nil {
				t.Fatal(rerr)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if pid <= 0 {
				t.Fatalf("bad pid file %q", b)
			}
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("process %d still exists after the failed Start (kill -0: %v)", pid, err)
			}
		})
	}
	t.Run("invalid options", func(t *testing.T) {
		ctx := testCtx(t, 5*time.Second)
		for _, o := range []Options{{}, {Binary: filepath.Join(dir, "missing")}, {Binary: nodeBin}, {Binary: nodeBin, Dir: dir, Workers: -1}} {
			if _, err := Start(ctx, o); !errors.Is(err, ErrOptions) {
				t.Errorf("Start(%+v) = %v, want ErrOptions", o, err)
			}
		}
	})
}
