package node

import (
	"sync"
	"sync/atomic"
	"time"

	"shoal/internal/wire"
	"shoal/notice"
	"shoal/scan"
)

// scanOwner runs simple-scan for the scanners this datanode owns: workers
// send every attempt hashed by scanner, so one detector sees all of a
// scanner's attempts.
type scanOwner struct {
	n *Node

	mu  sync.Mutex
	det *scan.Detector

	attempts, notices atomic.Uint64
	scanners          atomic.Int64
}

func newScanOwner(n *Node) (*scanOwner, error) {
	det, err := scan.NewDetector(n.cfg.Settings.Scan)
	if err != nil {
		return nil, err
	}
	s := &scanOwner{n: n, det: det}
	Handle(n, s.attempt)
	return s, nil
}

func (s *scanOwner) attempt(from string, ev wire.ScanAttempt) {
	s.attempts.Add(1)
	ts := time.Unix(0, ev.TS)
	a := scan.Attempt{TS: ts, Scanner: ev.Scanner, Victim: ev.Victim, Port: ev.Port, Proto: ev.Proto}
	s.mu.Lock()
	nt, ok := s.det.Observe(a, ts)
	s.scanners.Store(int64(s.det.Len()))
	s.mu.Unlock()
	if !ok {
		return
	}
	s.notices.Add(1)
	ctx := s.n.ctx
	nt.PeerDescr = s.n.Name()
	if err := s.n.toManager(notice.Key(&nt), notice.Record{Notice: nt}); err != nil {
		s.n.log.Error().Err(err).Str("scanner", ev.Scanner.String()).Msg("scan notice not sent to a manager")
	}
	until := nt.TS.Add(s.n.cfg.Settings.Scan.Suppression)
	if err := s.n.Broadcast(ctx, string(RoleWorker), wire.ScannerReported{TS: nt.TS.UnixNano(), Scanner: ev.Scanner, Until: until.UnixNano()}); err != nil {
		s.n.log.Debug().Err(err).Msg("scanner report not broadcast to workers")
	}
}
