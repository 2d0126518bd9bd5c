// Package analysistest has helpers for module tests: a Sender that records
// what a module sends instead of sending it.
package analysistest

import (
	"context"
	"sync"

	"shoal/analysis"
	"shoal/internal/wire"
)

// Sent is one recorded send.
type Sent struct {
	To    analysis.Role // pool, or "" for Direct
	Node  string        // Direct only
	Part  int           // Hashed only; -1 otherwise
	Event wire.Event
}

// Sender records every send; Fail, when set, makes sends fail with it (and
// records nothing). Safe for concurrent use.
type Sender struct {
	mu    sync.Mutex
	sent  []Sent
	Fail  error
	Pools map[analysis.Role]int // what Members reports
}

var _ analysis.Sender = (*Sender)(nil)

func (s *Sender) add(e Sent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return s.Fail
	}
	s.sent = append(s.sent, e)
	return nil
}

// Hashed implements analysis.Sender.
func (s *Sender) Hashed(_ context.Context, to analysis.Role, part int, ev wire.Event) error {
	return s.add(Sent{To: to, Part: part, Event: ev})
}

// Broadcast implements analysis.Sender.
func (s *Sender) Broadcast(_ context.Context, to analysis.Role, ev wire.Event) error {
	return s.add(Sent{To: to, Part: -1, Event: ev})
}

// Direct implements analysis.Sender.
func (s *Sender) Direct(_ context.Context, node string, ev wire.Event) error {
	return s.add(Sent{Node: node, Part: -1, Event: ev})
}

// Members implements analysis.Sender.
func (s *Sender) Members(to analysis.Role) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Pools[to]
}

// Take returns what was sent since the last call.
func (s *Sender) Take() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sent
	s.sent = nil
	return out
}
