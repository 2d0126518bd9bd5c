package testcluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shoal/internal/wire"
)

// TestBadInput: bad pcaps, bad frames on the event port, a dead seed and a
// duplicate name each get a clear error or a counted drop, and the cluster
// keeps running.
func TestBadInput(t *testing.T) {
	ctx := testCtx(t, 100*time.Second)
	c := startCluster(t, ctx, Options{
		Managers: 1, Datanodes: 2,
		Args: settings("--local-nets=141.142.0.0/16", "--known-hosts-tracking=all"),
	})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	m := c.ByRole(RoleManager)[0]
	trace, err := os.ReadFile(filepath.Join(zeekDir, "traces", "wikipedia.pcap"))
	if err != nil {
		t.Fatal(err)
	}

	// badRead runs a worker on file and requires a non-zero exit with an
	// error naming the file.
	badRead := func(t *testing.T, file string) {
		t.Helper()
		w, err := c.Add(ctx, RoleWorker, "--read", file)
		if err != nil && (w == nil || !errors.Is(err, ErrExited)) {
			t.Fatal(err)
		}
		code := waitExit(t, ctx, w, 30*time.Second)
		t.Logf("%s --read %s: exit %d; stderr lines naming the file:\n%s", w.Name, file, code, strings.Join(w.StderrLines(file), "\n"))
		if code == 0 || code == -1 {
			t.Errorf("exit code %d, want a non-zero exit", code)
		}
		if !w.StderrContains(file) {
			t.Errorf("stderr does not name %s", file)
		}
	}

	t.Run("garbage pcap", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "garbage.pcap")
		garbage := make([]byte, 4096)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range garbage {
			garbage[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(file, garbage, 0o644); err != nil {
			t.Fatal(err)
		}
		badRead(t, file)
	})

	t.Run("truncated pcap", func(t *testing.T) {
		// 20000 bytes end inside packet 93 of 136, after the handshakes of
		// all four hosts that tracking "all" logs.
		file := filepath.Join(t.TempDir(), "wikipedia-truncated.pcap")
		if err := os.WriteFile(file, trace[:20000], 0o644); err != nil {
			t.Fatal(err)
		}
		badRead(t, file)
		// The complete packets were processed: all four hosts are logged.
		waitHostRows(t, ctx, c, m, expectedHosts(t, "known_hosts-all.v3.log"))
	})

	d := c.ByRole(RoleDatanode)[0]
	badFrames := func() (uint64, error) {
		st, err := d.Status(ctx)
		if err != nil {
			return 0, fmt.Errorf("%s stopped answering: %w", d.Name, err)
		}
		return st.Counters.BadFrames, nil
	}
	// sendRaw writes b to the datanode's event port and waits until its
	// bad_frames counter passes base.
	sendRaw := func(t *testing.T, b []byte) {
		t.Helper()
		base, err := badFrames()
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.DialTimeout("tcp", d.Data, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		var n uint64
		err = waitFor(ctx, 5*time.Second, 50*time.Millisecond, func() error {
			n, err = badFrames()
			if err != nil {
				return err
			}
			if n <= base {
				return fmt.Errorf("%s counters.bad_frames = %d, want > %d", d.Name, n, base)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s counters.bad_frames %d -> %d", d.Name, base, n)
		if err := c.WaitConverged(ctx, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("garbage frame", func(t *testing.T) {
		// A small length prefix, then a version byte that does not exist.
		b := binary.BigEndian.AppendUint32(nil, 8)
		b = append(b, 0xee, 0xee, 'g', 'a', 'r', 'b', 'a', 'g', 'e', '!')
		sendRaw(t, b)
	})

	t.Run("oversize frame", func(t *testing.T) {
		// A well-formed header announcing a 1 GiB batch.
		b := binary.BigEndian.AppendUint32(nil, 1<<30)
		b = append(b, wire.Version, byte(wire.KindBatch), 0, 0, 0, 0)
		sendRaw(t, b)
	})

	t.Run("dead seed", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := ln.Addr().String()
		ln.Close()
		p, err := c.Launch(ctx, Spec{Role: RoleDatanode, Name: "lonely-1", Seeds: []string{dead}})
		if err != nil {
			t.Fatalf("node joining dead seed %s: %v", dead, err)
		}
		err = waitFor(ctx, 10*time.Second, 100*time.Millisecond, func() error {
			if !p.Running() {
				return errors.New("exited")
			}
			if joinErrors(p, dead) == nil {
				return fmt.Errorf("no join error naming %s in stderr", dead)
			}
			_, err := p.Status(ctx)
			return err
		})
		if err != nil {
			t.Fatalf("node joining dead seed %s: %v\nstderr tail:\n%s", dead, err, p.StderrTail(2000))
		}
		t.Logf("join errors in stderr:\n%s", strings.Join(joinErrors(p, dead), "\n"))
		if err := p.Terminate(); err != nil {
			t.Fatal(err)
		}
		if code := waitExit(t, ctx, p, 10*time.Second); code != 0 {
			t.Errorf("lonely node exited %d after SIGTERM, want 0", code)
		}
		if err := c.WaitConverged(ctx, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("duplicate name", func(t *testing.T) {
		orig := c.Node("datanode-1")
		origStatus, err := orig.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Launch(ctx, Spec{Role: RoleDatanode, Name: orig.Name})
		if err != nil && (p == nil || !errors.Is(err, ErrExited)) {
			t.Fatal(err)
		}
		code := waitExit(t, ctx, p, 15*time.Second)
		t.Logf("duplicate %s: exit %d; stderr lines about it:\n%s", p.Name, code, strings.Join(p.StderrLines("duplicate"), "\n"))
		if code == 0 || code == -1 {
			t.Errorf("duplicate node exit code %d, want a non-zero exit", code)
		}
		if !p.StderrContains("duplicate") {
			t.Errorf(`duplicate node's stderr lacks "duplicate"`)
		}
		if !orig.Running() {
			t.Fatalf("the original %s exited", orig.Name)
		}
		if err := c.WaitConverged(ctx, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		st, err := orig.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.BootID != origStatus.BootID {
			t.Errorf("%s boot id changed from %s to %s", orig.Name, origStatus.BootID, st.BootID)
		}
		for _, q := range c.Running() {
			qs, err := q.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, mem := range qs.Members {
				if mem.Name == orig.Name && mem.BootID != origStatus.BootID {
					t.Errorf("%s sees %s with boot id %s, want the original's %s", q.Name, orig.Name, mem.BootID, origStatus.BootID)
				}
			}
		}
	})
}

// joinErrors returns p's stderr lines that report an error joining seed.
func joinErrors(p *Proc, seed string) []string {
	var out []string
	for _, line := range p.StderrLines(seed) {
		l := strings.ToLower(line)
		if strings.Contains(l, "join") && strings.Contains(l, "error") {
			out = append(out, line)
		}
	}
	return out
}
