package node

import (
	"sync"
	"sync/atomic"
	"time"

	"shoal/internal/wire"
	"shoal/scan"
	"shoal/zeeklog"
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
	notice, ok := s.det.Observe(a, ts)
	s.scanners.Store(int64(s.det.Len()))
	s.mu.Unlock()
	if !ok {
		return
	}
	s.notices.Add(1)
	ctx := s.n.ctx
	out := wire.Notice{
		TS: notice.TS.UnixNano(), Note: string(notice.Note), Msg: notice.Msg, Sub: notice.Sub,
		Src: notice.Src, Dst: notice.Dst, Port: notice.P, Proto: notice.Proto, HasPort: notice.HasP,
		Identifier: notice.Identifier, SuppressFor: int64(notice.SuppressFor), PeerDescr: s.n.Name(),
	}
	key := ev.Scanner.As16()
	if err := s.n.toManager(key[:], out); err != nil {
		s.n.log.Error().Err(err).Str("scanner", ev.Scanner.String()).Msg("scan notice not sent to a manager")
	}
	until := notice.TS.Add(s.n.cfg.Settings.Scan.Suppression)
	if err := s.n.Broadcast(ctx, string(RoleWorker), wire.ScannerReported{TS: notice.TS.UnixNano(), Scanner: ev.Scanner, Until: until.UnixNano()}); err != nil {
		s.n.log.Debug().Err(err).Msg("scanner report not broadcast to workers")
	}
}

// noticeRecord turns a notice event back into the notice.log row.
func noticeRecord(ev wire.Notice) []zeeklog.Value {
	n := scan.Notice{
		TS: time.Unix(0, ev.TS), Note: scan.Note(ev.Note), Msg: ev.Msg, Sub: ev.Sub, Src: ev.Src, Dst: ev.Dst,
		P: ev.Port, Proto: ev.Proto, HasP: ev.HasPort, Identifier: ev.Identifier,
		SuppressFor: time.Duration(ev.SuppressFor), PeerDescr: ev.PeerDescr, Actions: []string{scan.ActionLog},
	}
	return n.Values()
}
