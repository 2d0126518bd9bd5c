package testcluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"shoal/node"
)

func TestParseEvent(t *testing.T) {
	tests := map[string]struct {
		line string
		ok   bool
		want readyLine
	}{
		"ready": {
			line: `{"event":"ready","name":"datanode-1","role":"datanode","gossip":"127.0.0.1:4000","data":"127.0.0.1:4001","http":"127.0.0.1:4002","boot_id":"b1"}` + "\n",
			ok:   true,
			want: readyLine{Event: "ready", Name: "datanode-1", Role: "datanode", Gossip: "127.0.0.1:4000", Data: "127.0.0.1:4001", HTTP: "127.0.0.1:4002", BootID: "b1"},
		},
		"done with extra fields": {
			line: `  {"event":"done","name":"worker-1","packets":136}  `,
			ok:   true,
			want: readyLine{Event: "done", Name: "worker-1"},
		},
		"log line":      {line: `{"level":"info","message":"joined"}`},
		"not json":      {line: `listening on 127.0.0.1:4000`},
		"empty":         {line: "\n"},
		"broken json":   {line: `{"event":"ready",`},
		"event not str": {line: `{"event":3}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := parseEvent([]byte(tc.line))
			if ok != tc.ok || got != tc.want {
				t.Fatalf("parseEvent(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestCheckReady(t *testing.T) {
	full := readyLine{Event: "ready", Name: "w", Role: "worker", Gossip: "g", Data: "d", HTTP: "h"}
	tests := map[string]struct {
		mod  func(r *readyLine)
		want string // substring of the error, "" for nil
	}{
		"complete":      {mod: func(r *readyLine) {}},
		"name omitted":  {mod: func(r *readyLine) { r.Name = "" }},
		"no http":       {mod: func(r *readyLine) { r.HTTP = "" }, want: "lacks http"},
		"no addresses":  {mod: func(r *readyLine) { r.Gossip, r.Data = "", "" }, want: "lacks gossip, data"},
		"other name":    {mod: func(r *readyLine) { r.Name = "x" }, want: `names "x"`},
		"other role":    {mod: func(r *readyLine) { r.Role = "manager" }, want: `role "manager"`},
		"role omitted":  {mod: func(r *readyLine) { r.Role = "" }},
		"boot id empty": {mod: func(r *readyLine) { r.BootID = "" }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := full
			tc.mod(&r)
			err := checkReady(r, "w", "worker")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("checkReady: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("checkReady: %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestTail(t *testing.T) {
	tests := map[string]struct {
		b     string
		start int64
		n     int
		want  string
	}{
		"all fits":         {b: "a\nb\n", n: 100, want: "a\nb"},
		"from start":       {b: "old\nnew 1\nnew 2\n", start: 4, n: 100, want: "new 1\nnew 2"},
		"cut at line":      {b: "first line\nsecond\nthird\n", n: 12, want: "third"},
		"window on a line": {b: "first line\nsecond\nthird\n", n: 14, want: "second\nthird"},
		"no line in range": {b: "abcdefghij", n: 4, want: "ghij"},
		"start too large":  {b: "abc", start: 10, n: 10, want: "abc"},
		"empty":            {b: "", n: 10, want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tail([]byte(tc.b), tc.start, tc.n); got != tc.want {
				t.Fatalf("tail = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConverged(t *testing.T) {
	st := func(rings map[string]node.RingStatus) *node.Status { return &node.Status{Rings: rings} }
	ring := func(sum string, members ...string) node.RingStatus {
		return node.RingStatus{Version: 3, Checksum: sum, Members: members}
	}
	expected := map[string][]string{"manager": {"m1"}, "datanode": {"d1", "d2"}, "worker": {"w1"}}
	tests := map[string]struct {
		views []view
		want  string // substring of the error, "" for nil
	}{
		"agree": {views: []view{
			{"m1", st(map[string]node.RingStatus{"datanode": ring("aa", "d1", "d2"), "manager": ring("mm", "m1")})},
			{"d1", st(map[string]node.RingStatus{"datanode": ring("aa", "d2", "d1"), "manager": ring("mm", "m1")})},
			{"w1", st(map[string]node.RingStatus{"datanode": ring("aa", "d1", "d2")})},
		}},
		"checksum differs": {views: []view{
			{"m1", st(map[string]node.RingStatus{"datanode": ring("aa", "d1", "d2")})},
			{"d2", st(map[string]node.RingStatus{"datanode": ring("bb", "d1", "d2")})},
		}, want: `d2: ring "datanode" checksum bb (v3), but m1 has aa`},
		"dead member still in ring": {views: []view{
			{"m1", st(map[string]node.RingStatus{"datanode": ring("aa", "d1", "d2", "d3")})},
		}, want: `m1: ring "datanode" (v3 aa) has members [d1 d2 d3], want [d1 d2]`},
		"member missing": {views: []view{
			{"d1", st(map[string]node.RingStatus{"datanode": ring("aa", "d1")})},
		}, want: "has members [d1], want [d1 d2]"},
		"ring of a pool with no running node": {views: []view{
			{"d1", st(map[string]node.RingStatus{"datanode": ring("aa", "d1", "d2"), "scanner": ring("cc", "s1")})},
		}, want: `ring "scanner"`},
		"empty ring of an empty pool": {views: []view{
			{"d1", st(map[string]node.RingStatus{"datanode": ring("aa", "d1", "d2"), "scanner": ring("00")})},
		}},
		"no rings at all": {views: []view{{"d1", st(nil)}}, want: "no node reports a ring"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := converged(tc.views, expected)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("converged: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("converged: %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestWaitFor(t *testing.T) {
	t.Run("succeeds after retries", func(t *testing.T) {
		n := 0
		err := waitFor(context.Background(), 5*time.Second, time.Millisecond, func() error {
			if n++; n < 3 {
				return errors.New("not yet")
			}
			return nil
		})
		if err != nil || n != 3 {
			t.Fatalf("waitFor = %v after %d calls, want nil after 3", err, n)
		}
	})
	t.Run("times out with the last error", func(t *testing.T) {
		sentinel := errors.New("still waiting")
		err := waitFor(context.Background(), 20*time.Millisecond, 5*time.Millisecond, func() error { return sentinel })
		if !errors.Is(err, sentinel) || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("waitFor = %v, want a timeout wrapping %v", err, sentinel)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := waitFor(ctx, time.Minute, time.Second, func() error { return errors.New("x") })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("waitFor = %v, want context.Canceled", err)
		}
	})
}
