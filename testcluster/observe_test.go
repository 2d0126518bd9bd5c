package testcluster

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestObserveBadInput: malformed observation lines, over POST /v1/observe
// and in an --observe file, are reported with their line and counted; the
// good lines around them are all delivered and counted in the sumstat.
func TestObserveBadInput(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	dir := t.TempDir()
	defs := filepath.Join(dir, "defs.yaml")
	if err := os.WriteFile(defs, []byte("sumstats:\n  - name: t\n    epoch: manual\n    reducers:\n      - stream: s\n        apply: [sum]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, ctx, Options{Managers: 1, Datanodes: 3, Workers: 1, Args: settings("--sumstats=" + defs)})
	if err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	body := strings.Join([]string{
		`{"stream":"s","key":{"host":"10.0.0.1"},"value":{"num":1}}`,
		`{"stream":"s","key":{"host":"10.0.0.1"},"value":{"num":}}`,
		`{"stream":"s","key":{},"value":{"num":1}}`,
		`{"stream":"s","key":{"str":"x"},"value":{"num":2}}`,
	}, "\n")
	resp, err := http.Post("http://"+c.ByRole(RoleWorker)[0].HTTP+"/v1/observe", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Observations, Malformed int
		Errors                  []string
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Logf("POST /v1/observe: %s %+v", resp.Status, answer)
	if resp.StatusCode != http.StatusBadRequest || answer.Observations != 2 || answer.Malformed != 2 ||
		len(answer.Errors) != 2 || !strings.HasPrefix(answer.Errors[0], "POST /v1/observe:2:") ||
		!strings.HasPrefix(answer.Errors[1], "POST /v1/observe:3:") {
		t.Fatalf("answer %s %+v", resp.Status, answer)
	}

	feed := filepath.Join(dir, "feed.jsonl")
	if err := os.WriteFile(feed, []byte("not json\n"+`{"stream":"s","key":{"host":"10.0.0.2"},"value":{"dbl":1.5}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := c.Add(ctx, RoleWorker, "--observe", feed)
	if err != nil && w == nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, w, 30*time.Second); code != 1 {
		t.Errorf("worker with a malformed feed exited %d, want 1", code)
	}
	if !w.StderrContains(feed + ":1:") {
		t.Errorf("stderr does not name %s:1:\n%s", feed, w.StderrTail(2000))
	}

	// On-demand lookups, from a node that owns none of the keys.
	lookup := func(q string) map[string]any {
		t.Helper()
		resp, err := http.Get("http://" + c.ByRole(RoleManager)[0].HTTP + "/v1/sumstats/lookup?name=t&" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		t.Logf("lookup %s: %s %v", q, resp.Status, out)
		return out
	}
	if got := lookup("host=10.0.0.2"); got["found"] != true ||
		got["streams"].(map[string]any)["s"].(map[string]any)["sum"] != 1.5 {
		t.Errorf("lookup of 10.0.0.2: %v", got)
	}
	if got := lookup("host=10.9.9.9"); got["found"] != false {
		t.Errorf("lookup of an absent key: %v", got)
	}

	resp, err = http.Post("http://"+c.ByRole(RoleManager)[0].HTTP+"/v1/sumstats/next-epoch?name=t", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("next-epoch: %s", resp.Status)
	}
	var keys []string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(keys) < 3 {
		keys = nil
		if l, err := c.ReadLog(c.ByRole(RoleManager)[0], "sumstats"); err == nil {
			for _, r := range l.Rows {
				if r[l.Index("event")] == "epoch_result" {
					keys = append(keys, r[l.Index("key_host")]+"/"+r[l.Index("key_str")]+"="+r[l.Index("sum")])
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	slices.Sort(keys)
	want := []string{"-/x=2.0", "10.0.0.1/-=1.0", "10.0.0.2/-=1.5"}
	if !slices.Equal(keys, want) {
		t.Fatalf("epoch results %q, want %q", keys, want)
	}
}
