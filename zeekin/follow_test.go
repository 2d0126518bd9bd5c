package zeekin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// follower runs Follow in a goroutine and steps it one poll at a time.
type follower struct {
	t      *testing.T
	dir    string
	tick   chan time.Time
	polled chan Stats
	cancel context.CancelFunc
	done   chan struct{}

	// Written by Follow's goroutine inside handlers; read by the test only
	// after poll returns (the channel hand-off orders the accesses).
	conns []*Conn
	certs []*Cert
	errs  []error
	next  int // conns already checked by expectConns

	stats Stats
	err   error
}

func startFollow(t *testing.T, dir string) *follower {
	t.Helper()
	f := &follower{t: t, dir: dir, tick: make(chan time.Time), polled: make(chan Stats, 1), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	cfg := FollowConfig{
		Tick:      f.tick,
		AfterPoll: func(s Stats) { f.polled <- s },
		Logger:    zerolog.New(zerolog.NewTestWriter(t)),
	}
	h := Handler{
		Conn:  func(c *Conn) { f.conns = append(f.conns, c) },
		Cert:  func(c *Cert) { f.certs = append(f.certs, c) },
		Error: func(err error) { f.errs = append(f.errs, err) },
	}
	go func() {
		defer close(f.done)
		f.stats, f.err = Follow(ctx, dir, cfg, h)
	}()
	f.wait() // the first poll happens at once
	t.Cleanup(func() { f.stop() })
	return f
}

func (f *follower) wait() Stats {
	f.t.Helper()
	select {
	case s := <-f.polled:
		return s
	case <-time.After(10 * time.Second):
		f.t.Fatal("no poll within 10s")
		return Stats{}
	}
}

// poll makes Follow poll once and waits until that poll is done.
func (f *follower) poll() Stats {
	f.t.Helper()
	select {
	case f.tick <- time.Time{}:
	case <-time.After(10 * time.Second):
		f.t.Fatal("Follow did not take the tick within 10s")
	}
	return f.wait()
}

func (f *follower) stop() Stats {
	if f.cancel != nil {
		f.cancel()
		f.cancel = nil
		<-f.done
	}
	return f.stats
}

// expectConns checks the conns delivered since the last call.
func (f *follower) expectConns(step string, want ...string) {
	f.t.Helper()
	got := uids(f.conns[f.next:])
	f.next = len(f.conns)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		f.t.Errorf("%s: delivered %v, want %v", step, got, want)
	}
}

func (f *follower) write(name, content string) {
	f.t.Helper()
	writeFile(f.t, f.dir, name, content)
}

func (f *follower) appendTo(name, content string) {
	f.t.Helper()
	fh, err := os.OpenFile(filepath.Join(f.dir, name), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString(content); err != nil {
		f.t.Fatal(err)
	}
}

func (f *follower) rename(from, to string) {
	f.t.Helper()
	if err := os.Rename(filepath.Join(f.dir, from), filepath.Join(f.dir, to)); err != nil {
		f.t.Fatal(err)
	}
}

// header is a Zeek TSV header with the given #open time.
func header(path string, fields []string, open string) string {
	h := tsvLog(path, fields)
	h = strings.TrimSuffix(h, "#close\t2024-01-01-01-00-00\n")
	return strings.Replace(h, "#open\t2024-01-01-00-00-00", "#open\t"+open, 1)
}

const closeLine = "#close\t2024-01-01-01-00-00\n"

func rows(uids ...string) string {
	var b strings.Builder
	for _, u := range uids {
		b.WriteString(connRow(u) + "\n")
	}
	return b.String()
}

// TestFollowRotation walks conn.log through everything Zeek and operators
// do to a live log and checks that every row arrives exactly once, in order.
func TestFollowRotation(t *testing.T) {
	f := startFollow(t, t.TempDir())
	f.poll()
	f.expectConns("empty directory")

	f.write("conn.log", header("conn", testConnFields, "2024-01-01-00-00-00")+rows("C1", "C2"))
	f.poll()
	f.expectConns("file appears", "C1", "C2")

	partial := connRow("C4")
	f.appendTo("conn.log", rows("C3")+partial[:20])
	f.poll()
	f.expectConns("partial last line waits", "C3")
	f.poll()
	f.expectConns("still waiting")

	f.appendTo("conn.log", partial[20:]+"\n"+rows("C5"))
	f.poll()
	f.expectConns("line completed", "C4", "C5")

	// Zeek's rotation: rows, #close, rename, new file with a new header,
	// all between two polls.
	f.appendTo("conn.log", rows("C6")+closeLine)
	f.rename("conn.log", "conn.2024-01-01-01-00-00.log")
	f.write("conn.log", header("conn", testConnFields, "2024-01-01-01-00-00")+rows("C7"))
	f.poll()
	f.expectConns("rotation", "C6", "C7")

	// Rotation while the old file ends in a partial line: that line can
	// never complete, so it is reported; the new file is read.
	f.appendTo("conn.log", partial[:10])
	f.rename("conn.log", "conn.2024-01-01-02-00-00.log")
	f.write("conn.log", header("conn", testConnFields, "2024-01-01-02-00-00")+rows("C8"))
	s := f.poll()
	f.expectConns("rotation with partial line", "C8")
	if len(f.errs) != 1 || !errors.Is(f.errs[0], ErrMalformed) || !strings.Contains(f.errs[0].Error(), "conn.log:10: truncated line") {
		t.Errorf("errors %v", f.errs)
	}
	if s.Malformed != 1 || s.Rotations != 2 {
		t.Errorf("stats %+v", s)
	}

	// Truncated in place (copytruncate) and rewritten, shorter.
	if err := os.Truncate(filepath.Join(f.dir, "conn.log"), 0); err != nil {
		t.Fatal(err)
	}
	f.appendTo("conn.log", header("conn", testConnFields, "2024-01-01-03-00-00"))
	f.poll()
	f.expectConns("truncated")
	f.appendTo("conn.log", rows("C9"))
	f.poll()
	f.expectConns("after truncation", "C9")

	// Rewritten in place with more data than was read: same inode, bigger,
	// but a different header.
	fh, err := os.OpenFile(filepath.Join(f.dir, "conn.log"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString(header("conn", testConnFields, "2024-01-01-04-00-00") + rows("C10", "C11", "C12"))
	fh.Close()
	f.poll()
	f.expectConns("rewritten in place", "C10", "C11", "C12")

	// Removed, then created again later.
	if err := os.Remove(filepath.Join(f.dir, "conn.log")); err != nil {
		t.Fatal(err)
	}
	f.poll()
	f.expectConns("removed")
	f.write("conn.log", header("conn", testConnFields, "2024-01-01-05-00-00")+rows("C13"))
	s = f.poll()
	f.expectConns("recreated", "C13")

	if s.Conns != 13 || s.Rotations != 5 || s.Files != 6 || s.Malformed != 1 || len(f.errs) != 1 {
		t.Errorf("stats %+v, errors %v", s, f.errs)
	}
	final := f.stop()
	if f.err != nil || final.Conns != 13 {
		t.Errorf("Follow returned %+v, %v", final, f.err)
	}
}

// TestFollowBaselineAcrossRotation splits the wikipedia conn.v3.log over a
// rotation and a partial write and checks Follow delivers exactly what
// ReadFiles reads from the whole file.
func TestFollowBaselineAcrossRotation(t *testing.T) {
	path := expected(t, "conn-wikipedia", "conn.v3.log")
	whole := readAll(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	lines := strings.SplitAfter(text, "\n")
	hdr := strings.Join(lines[:8], "")
	first := strings.Join(lines[8:25], "")   // 17 rows
	second := strings.Join(lines[25:42], "") // 17 rows
	if strings.Count(first, "\n") != 17 || strings.Count(second, "\n") != 17 {
		t.Fatal("unexpected baseline shape")
	}

	f := startFollow(t, t.TempDir())
	f.write("conn.log", hdr+first[:len(first)/2])
	f.poll()
	f.appendTo("conn.log", first[len(first)/2:]+"#close\t2019-07-31-18-52-37\n")
	f.rename("conn.log", "conn.1.log")
	f.write("conn.log", strings.Replace(hdr, "#open\t2019-07-31-18-52-37", "#open\t2019-07-31-19-00-00", 1)+second[:7])
	f.poll()
	f.appendTo("conn.log", second[7:])
	s := f.poll()
	if len(f.conns) != 34 || s.Malformed != 0 || len(f.errs) != 0 {
		t.Fatalf("%d conns, stats %+v, errors %v", len(f.conns), s, f.errs)
	}
	for i, c := range f.conns {
		if !connEqual(c, whole.conns[i]) {
			t.Errorf("row %d = %+v, want %+v", i+1, c, whole.conns[i])
		}
	}
}

// TestFollowCerts follows ssl.log and x509.log of both layouts: the ssl
// rows come first, their certificates when x509.log appears.
func TestFollowCerts(t *testing.T) {
	for name, files := range map[string][2]string{
		"current": {"ssl.log", "x509.log"},
		"v3":      {"ssl.v3.log", "x509.v3.log"},
	} {
		t.Run(name, func(t *testing.T) {
			sslData, err := os.ReadFile(expected(t, "known-certs", files[0]))
			if err != nil {
				t.Fatal(err)
			}
			x509Data, err := os.ReadFile(expected(t, "known-certs", files[1]))
			if err != nil {
				t.Fatal(err)
			}
			f := startFollow(t, t.TempDir())
			f.write("ssl.log", string(sslData))
			s := f.poll()
			if len(f.certs) != 0 || s.Records != 2 {
				t.Fatalf("certs %d before x509.log, stats %+v", len(f.certs), s)
			}
			f.write("x509.log", string(x509Data))
			s = f.poll()
			if len(f.certs) != 2 || s.Certs != 2 || s.Unjoined != 0 {
				t.Fatalf("certs %d, stats %+v, errors %v", len(f.certs), s, f.errs)
			}
			for _, c := range f.certs {
				if c.Host.String() != "74.125.239.129" || c.Port != 443 || c.Serial != "4A2C8628C1010633" ||
					c.Subject != "CN=*.google.com,O=Google Inc,L=Mountain View,ST=California,C=US" ||
					c.Issuer != "CN=Google Internet Authority G2,O=Google Inc,C=US" {
					t.Errorf("cert %+v", c)
				}
			}
		})
	}
}

// TestFollowJSONAndLayouts: JSON lines with a partial write, and a conn.log
// of the wrong layout that is rejected until it is rotated away.
func TestFollowJSONAndLayouts(t *testing.T) {
	f := startFollow(t, t.TempDir())
	j1 := `{"ts":1.5,"uid":"J1","id.orig_h":"1.1.1.1","id.orig_p":1,"id.resp_h":"2.2.2.2","id.resp_p":2,"proto":"tcp","conn_state":"S1","history":"Sh"}`
	j2 := strings.Replace(j1, "J1", "J2", 1)
	f.write("conn.log", j1+"\n"+j2[:30])
	f.poll()
	f.expectConns("json with partial line", "J1")
	f.appendTo("conn.log", j2[30:]+"\n{broken\n")
	s := f.poll()
	f.expectConns("json line completed", "J2")
	if s.Malformed != 1 || len(f.errs) != 1 || !strings.Contains(f.errs[0].Error(), "conn.log:3: conn log: bad JSON") {
		t.Errorf("stats %+v errors %v", s, f.errs)
	}

	// Replaced by a file of the wrong layout: rejected, rows skipped.
	f.rename("conn.log", "conn.old.log")
	f.write("conn.log", header("dns", []string{"ts", "query"}, "2024-01-01-00-00-00")+"1.0\texample.com\n")
	s = f.poll()
	f.expectConns("wrong layout")
	if s.Rejected != 1 || len(f.errs) != 2 || !errors.Is(f.errs[1], ErrLayout) || !strings.Contains(f.errs[1].Error(), "conn.log:7: unknown #fields layout") {
		t.Errorf("stats %+v errors %v", s, f.errs)
	}
	f.appendTo("conn.log", "2.0\texample.org\n")
	s = f.poll()
	if s.Skipped != 2 || len(f.errs) != 2 {
		t.Errorf("stats %+v errors %v", s, f.errs)
	}
	// Rotated to a good one.
	f.rename("conn.log", "conn.dns.log")
	f.write("conn.log", header("conn", testConnFields, "2024-01-01-01-00-00")+rows("T1"))
	f.poll()
	f.expectConns("good layout again", "T1")
}

// TestFollowTicker runs Follow on its own timer and waits (polling, with a
// deadline) for rows written while it runs.
func TestFollowTicker(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Stats)
	go func() {
		st, _ := Follow(ctx, dir, FollowConfig{PollInterval: 2 * time.Millisecond}, Handler{Conn: func(c *Conn) {
			mu.Lock()
			got = append(got, c.UID)
			mu.Unlock()
		}})
		done <- st
	}()
	writeFile(t, dir, "conn.log", header("conn", testConnFields, "x")+rows("A1", "A2"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rows not delivered within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	st := <-done
	if st.Conns != 2 || strings.Join(got, ",") != "A1,A2" {
		t.Errorf("stats %+v got %v", st, got)
	}
}

func TestFollowConfig(t *testing.T) {
	cases := map[string]struct {
		cfg  FollowConfig
		want string
	}{
		"zero is valid":     {cfg: FollowConfig{}},
		"defaults":          {cfg: DefaultFollowConfig()},
		"negative interval": {cfg: FollowConfig{PollInterval: -1}, want: "PollInterval"},
		"negative bounds":   {cfg: FollowConfig{MaxPending: -1}, want: "MaxPending"},
		"path in files":     {cfg: FollowConfig{Files: []string{"a/conn.log"}}, want: `"a/conn.log"`},
		"duplicate files":   {cfg: FollowConfig{Files: []string{"conn.log", "conn.log"}}, want: `"conn.log"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want ErrConfig mentioning %s", err, tc.want)
			}
			if _, err := Follow(context.Background(), t.TempDir(), tc.cfg, Handler{}); !errors.Is(err, ErrConfig) {
				t.Errorf("Follow accepted an invalid config: %v", err)
			}
		})
	}
	if _, err := Follow(context.Background(), filepath.Join(t.TempDir(), "missing"), FollowConfig{}, Handler{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
	file := writeFile(t, t.TempDir(), "f", "")
	if _, err := Follow(context.Background(), file, FollowConfig{}, Handler{}); err == nil {
		t.Error("a file as dir was accepted")
	}
}
