package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"shoal/testcluster"
)

// rss runs a worker's generator at full rate into a cluster for a long
// time and reports the worker's resident memory per window: it must level
// off (the last window at most --bound times the second).
func rss(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shoalbench rss", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 10*time.Minute, "how long the generator runs")
	window := fs.Duration("window", time.Minute, "reporting window")
	datanodes := fs.Int("datanodes", 3, "datanodes")
	bound := fs.Float64("bound", 1.1, "largest allowed ratio of the last window's peak RSS to the second's")
	keep := fs.Bool("keep", false, "keep the directory with the binary and the node logs")
	genArgs := fs.String("gen", "--gen-hosts=10000 --gen-servers=1000 --gen-local-servers=100 --gen-scanners=3",
		"generator flags of the worker (space-separated)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *window <= 0 || *duration < 3**window || *datanodes < 1 {
		fmt.Fprintln(stderr, "shoalbench rss: --duration must be at least 3 windows, --datanodes at least 1; no arguments")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "shoalbench-rss-")
	if err != nil {
		fmt.Fprintf(stderr, "shoalbench rss: %v\n", err)
		return 1
	}
	if *keep {
		fmt.Fprintf(stdout, "directory: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	res, err := rssRun(ctx, dir, *datanodes, *duration, *window, strings.Fields(*genArgs), stdout)
	if err != nil {
		fmt.Fprintf(stderr, "shoalbench rss: %v\n", err)
		return 1
	}
	second, last := res[1].peak, res[len(res)-1].peak
	ratio := float64(last) / float64(second)
	fmt.Fprintf(stdout, "worker RSS: second window peak %.1f MB, last window peak %.1f MB: ratio %.3f (bound %.2f)\n",
		mb(second), mb(last), ratio, *bound)
	if ratio > *bound {
		fmt.Fprintln(stdout, "FAIL: the worker's memory is still growing")
		return 1
	}
	fmt.Fprintln(stdout, "OK")
	return 0
}

// rssWindow is one reporting window of the run.
type rssWindow struct {
	peak          uint64 // bytes
	packets, sent uint64 // worker counters at the end of the window
	dropped       uint64
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func rssRun(ctx context.Context, dir string, datanodes int, duration, window time.Duration, gen []string,
	out io.Writer) ([]rssWindow, error) {
	bin, err := testcluster.Build(ctx, filepath.Join(dir, "bin"))
	if err != nil {
		return nil, err
	}
	c, err := testcluster.Start(ctx, testcluster.Options{Binary: bin, Dir: dir, Managers: 1, Datanodes: datanodes,
		Profile: "local"})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.WaitConverged(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	wargs := append([]string{"--generate", "--gen-rate=0"}, gen...)
	w, err := c.Add(ctx, testcluster.RoleWorker, wargs...)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "1 manager + %d datanodes (R = 1, TLS off) + 1 worker: %s, for %v; RSS sampled every second\n",
		datanodes, strings.Join(wargs, " "), duration)
	fmt.Fprintf(out, "%8s %12s %14s %14s %12s\n", "window", "peak RSS MB", "packets/s", "events sent/s", "dropped")
	var res []rssWindow
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var cur rssWindow
	var prev rssWindow
	for time.Since(start) < duration {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		b, err := procRSS(w.Pid)
		if err != nil {
			return nil, fmt.Errorf("worker: %w", err)
		}
		cur.peak = max(cur.peak, b)
		if time.Since(start) < time.Duration(len(res)+1)*window {
			continue
		}
		st, err := w.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("worker status: %w", err)
		}
		if st.Worker != nil {
			cur.packets = st.Worker.Packets
		}
		cur.sent, cur.dropped = st.Counters.Sent, st.Counters.Dropped
		secs := window.Seconds()
		fmt.Fprintf(out, "%8d %12.1f %14.0f %14.0f %12d\n", len(res)+1, mb(cur.peak),
			float64(cur.packets-prev.packets)/secs, float64(cur.sent-prev.sent)/secs, cur.dropped-prev.dropped)
		res = append(res, cur)
		prev, cur = cur, rssWindow{}
	}
	if err := w.Terminate(); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if code, err := w.Wait(wctx); err != nil || code != 0 {
		return nil, errors.Join(fmt.Errorf("worker exit %d after SIGTERM", code), err)
	}
	if len(res) < 3 {
		return nil, fmt.Errorf("only %d windows measured", len(res))
	}
	return res, nil
}

// procRSS reads a process's resident set size from /proc.
func procRSS(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}
