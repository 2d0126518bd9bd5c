package node

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"shoal/zeeklog"
)

// flushInterval bounds how long a record waits in a buffer before it
// reaches its log file.
const flushInterval = 200 * time.Millisecond

// manager writes the records datanodes send into Zeek-format logs. A log
// file is created with its first record, so a log nobody writes to does not
// exist, as in Zeek.
type manager struct {
	n *Node

	mu      sync.Mutex
	writers map[string]*zeeklog.Writer
	records map[string]uint64
	dirty   bool
	closed  bool
	ss      sumstatsLog
}

func newManager(n *Node) *manager {
	m := &manager{n: n, writers: make(map[string]*zeeklog.Writer), records: make(map[string]uint64),
		ss: sumstatsLog{finished: map[string]int{}, notices: map[string]string{}}}
	for _, d := range n.cfg.SumStats {
		m.ss.notices[d.Def.Name] = d.Notice
	}
	Handle(n, m.sumstatsOutput)
	return m
}

func (m *manager) write(path string, fields []zeeklog.Field, vals ...zeeklog.Value) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	w, ok := m.writers[path]
	if !ok {
		if err := os.MkdirAll(m.n.cfg.LogDir, 0o755); err != nil {
			m.n.log.Error().Err(err).Str("dir", m.n.cfg.LogDir).Msg("cannot create log directory")
			return
		}
		var err error
		w, err = zeeklog.Create(m.n.cfg.LogDir, path, fields, m.n.cfg.LogFormat, time.Now())
		if err != nil {
			m.n.log.Error().Err(err).Str("path", path).Msg("cannot create log")
			return
		}
		m.writers[path] = w
	}
	if err := w.Write(vals...); err != nil {
		m.n.log.Error().Err(err).Str("path", path).Msg("cannot write log record")
		return
	}
	m.records[path]++
	m.dirty = true
}

func (m *manager) flushLoop(ctx context.Context) {
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.flush()
		}
	}
}

func (m *manager) flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirty {
		return
	}
	m.dirty = false
	for path, w := range m.writers {
		if err := w.Flush(); err != nil {
			m.n.log.Error().Err(err).Str("path", path).Msg("cannot flush log")
		}
	}
}

func (m *manager) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	var errs []error
	for _, w := range m.writers {
		errs = append(errs, w.Close(time.Now()))
	}
	return errors.Join(errs...)
}

func (m *manager) status() *ManagerStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := make(map[string]uint64, len(m.records))
	for k, v := range m.records {
		rec[k] = v
	}
	return &ManagerStatus{Records: rec, LogDir: m.n.cfg.LogDir, Counters: m.n.moduleCounters()}
}
