package gossip

import (
	"sync"
	"time"
)

// rateLimiter allows one event per key per interval and counts what it
// suppressed. It takes the time as an argument. Safe for concurrent use.
type rateLimiter struct {
	mu       sync.Mutex
	interval time.Duration
	maxKeys  int
	keys     map[string]*limitState
}

type limitState struct {
	last       time.Time
	suppressed int
}

func newRateLimiter(interval time.Duration, maxKeys int) *rateLimiter {
	return &rateLimiter{interval: interval, maxKeys: maxKeys, keys: make(map[string]*limitState)}
}

// allow reports whether an event for key may be emitted at now and, if so,
// how many events for key were suppressed since the last allowed one.
func (r *rateLimiter) allow(key string, now time.Time) (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.keys[key]
	if st == nil {
		if len(r.keys) >= r.maxKeys {
			r.pruneLocked(now)
		}
		r.keys[key] = &limitState{last: now}
		return true, 0
	}
	if now.Sub(st.last) < r.interval {
		st.suppressed++
		return false, 0
	}
	suppressed = st.suppressed
	st.last, st.suppressed = now, 0
	return true, suppressed
}

// pruneLocked forgets keys idle for an interval, or all keys if none is.
func (r *rateLimiter) pruneLocked(now time.Time) {
	for k, st := range r.keys {
		if now.Sub(st.last) >= r.interval {
			delete(r.keys, k)
		}
	}
	if len(r.keys) >= r.maxKeys {
		clear(r.keys)
	}
}
