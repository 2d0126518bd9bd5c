package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"shoal/internal/wire"
	"shoal/scan"
	"shoal/ssconf"
	"shoal/sumstats"
	"shoal/traffic"
)

// legacy is the worker side of scan detection and SumStats, not yet a
// module: it subscribes to the traffic events it needs.
type legacy struct {
	w *worker

	scanMu     sync.Mutex
	scanFilter *scan.WorkerFilter

	// streams are the SumStats streams some definition reduces; the
	// built-in ones are observed only when used.
	streams map[string]bool

	attempts, attemptsSent, observations atomic.Uint64
}

func newLegacy(w *worker) (*legacy, error) {
	l := &legacy{w: w, streams: map[string]bool{}}
	var err error
	if l.scanFilter, err = scan.NewWorkerFilter(w.n.cfg.Settings.Scan); err != nil {
		return nil, fmt.Errorf("node: scan settings: %w", err)
	}
	Handle(w.n, l.scannerReported)
	for _, d := range w.n.cfg.SumStats {
		for _, r := range d.Def.Reducers {
			l.streams[r.Stream] = true
		}
	}
	return l, nil
}

// Built-in SumStats streams a worker observes from traffic when a
// definition uses them: every completed handshake (key: originator, value:
// the responder's address) and every scan attempt (key: the scanner,
// value: victim:port).
const (
	streamEstablished = "conn.established"
	streamAttempt     = "conn.attempt"
)

// Established implements traffic.EstablishedHook.
func (l *legacy) Established(ctx context.Context, e *traffic.Established) {
	if l.streams[streamEstablished] {
		l.builtinObserve(ctx, streamEstablished, e.Orig, e.Resp.String(), e.TS)
	}
}

// Attempt implements traffic.AttemptHook.
func (l *legacy) Attempt(ctx context.Context, a *traffic.Attempt) {
	if l.streams[streamAttempt] {
		l.builtinObserve(ctx, streamAttempt, a.Orig, netip.AddrPortFrom(a.Resp, a.RespPort).String(), a.TS)
	}
	l.offerAttempt(ctx, scan.Attempt{TS: a.TS, Scanner: a.Orig, Victim: a.Resp, Port: a.RespPort, Proto: a.Proto})
}

func (l *legacy) expire(now time.Time) {
	l.scanMu.Lock()
	l.scanFilter.Expire(now)
	l.scanMu.Unlock()
}

// offerAttempt sends a scan attempt to the scanner's owner unless the
// worker sent it recently or the scanner was already reported.
func (l *legacy) offerAttempt(ctx context.Context, a scan.Attempt) {
	l.attempts.Add(1)
	l.scanMu.Lock()
	ok := l.scanFilter.Allow(a, a.TS)
	l.scanMu.Unlock()
	if !ok {
		return
	}
	key := a.Scanner.As16()
	ev := wire.ScanAttempt{TS: a.TS.UnixNano(), Scanner: a.Scanner, Victim: a.Victim, Port: a.Port, Proto: a.Proto}
	if err := l.w.n.counted(l.w.n.SendHashed(ctx, string(RoleDatanode), key[:], ev), ev); err != nil {
		return
	}
	l.attemptsSent.Add(1)
}

// scannerReported runs on a connection goroutine when a datanode reported
// a scanner: stop sending its attempts.
func (l *legacy) scannerReported(from string, ev wire.ScannerReported) {
	l.scanMu.Lock()
	l.scanFilter.Reported(ev.Scanner, time.Unix(0, ev.TS))
	l.scanMu.Unlock()
}

func (l *legacy) builtinObserve(ctx context.Context, stream string, host netip.Addr, value string, ts time.Time) {
	ev := observation(stream, sumstats.Key{Host: host}, sumstats.Str(value), ts)
	if err := l.w.n.counted(l.w.n.SendHashed(ctx, string(RoleDatanode), sumstatsKey(sumstats.Key{Host: host}), ev), ev); err != nil {
		return
	}
	l.observations.Add(1)
}

// feedObservations reads observations as JSON lines (a worker's --observe).
func (l *legacy) feedObservations(ctx context.Context, name string) error {
	r, closeFn, err := openFeed(name)
	if err != nil {
		return err
	}
	defer closeFn()
	var bad []error
	st, err := ssconf.ReadObservations(ctx, name, r, func(o *ssconf.Observation) {
		l.observe(ctx, o)
	}, func(e error) {
		l.w.malformed.Add(1)
		if len(bad) < 10 {
			bad = append(bad, e)
		}
		l.w.n.log.Warn().Err(e).Msg("skipping bad observation")
	})
	l.w.n.log.Info().Str("file", name).Uint64("observations", st.Observations).Uint64("malformed", st.Malformed).
		Msg("observations read")
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w (%d malformed lines)", errors.Join(bad...), st.Malformed)
	}
	return nil
}

// openFeed opens a file of observations; "-" is standard input.
func openFeed(name string) (io.Reader, func() error, error) {
	if name == "-" {
		return os.Stdin, func() error { return nil }, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("node: observations: %w", err)
	}
	return f, f.Close, nil
}

// observe sends one fed observation (repeated as asked); a missing
// timestamp means now.
func (l *legacy) observe(ctx context.Context, o *ssconf.Observation) {
	ts := o.TS
	if ts.IsZero() {
		ts = time.Now()
	}
	for range max(o.Repeat, 1) {
		ev := observation(o.Stream, o.Key, o.Value, ts)
		if err := l.w.n.counted(l.w.n.SendHashed(ctx, string(RoleDatanode), sumstatsKey(o.Key), ev), ev); err != nil {
			continue
		}
		l.observations.Add(1)
	}
}

func (l *legacy) counters() map[string]uint64 {
	return map[string]uint64{"scan_attempts": l.attempts.Load(), "scan_attempts_sent": l.attemptsSent.Load(),
		"observations_sent": l.observations.Load()}
}
