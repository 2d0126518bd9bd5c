package notice

import "time"

// suppressKey identifies what one suppression covers: Zeek suppresses a
// notice whose $note and $identifier equal those of one logged less than
// $suppress_for ago.
type suppressKey struct {
	note       Note
	identifier string
}

// Suppressor is Zeek's notice suppression ($identifier, $suppress_for):
// once a notice with an identifier is let through at time t, later notices
// with the same note and identifier are suppressed until t+SuppressFor. A
// notice without identifier, or with SuppressFor <= 0, is never
// suppressed and suppresses nothing. Time is the notices' own ts (network
// time), so the decision is deterministic. The zero value is ready. Not
// safe for concurrent use.
type Suppressor struct {
	until map[suppressKey]time.Time
	sweep int // size of until that triggers the next sweep of ended entries
}

// Suppressed reports whether n is suppressed; when it is not and it has an
// identifier, it starts n's suppression.
func (s *Suppressor) Suppressed(n *Notice) bool {
	if n.Identifier == "" || n.SuppressFor <= 0 {
		return false
	}
	k := suppressKey{n.Note, n.Identifier}
	if u, ok := s.until[k]; ok && n.TS.Before(u) {
		return true
	}
	if s.until == nil {
		s.until = make(map[suppressKey]time.Time)
	}
	s.until[k] = n.TS.Add(n.SuppressFor)
	if len(s.until) > s.sweep {
		s.expire(n.TS)
		s.sweep = 2*len(s.until) + 1024
	}
	return false
}

// expire forgets suppressions ended by now.
func (s *Suppressor) expire(now time.Time) {
	for k, u := range s.until {
		if !now.Before(u) {
			delete(s.until, k)
		}
	}
}

// Len returns the suppressions remembered (some may have ended).
func (s *Suppressor) Len() int { return len(s.until) }
