package known

import (
	"testing"
	"time"
)

func TestDelete(t *testing.T) {
	t0 := time.Unix(1300475168, 0)
	s := NewSet[int](time.Hour)
	for i := range 5 {
		s.Observe(i, t0.Add(time.Duration(i%2)*time.Minute)) // equal times too
	}
	if s.Delete(9) {
		t.Fatal("deleted an absent key")
	}
	if !s.Delete(2) || s.Contains(2, t0) || s.Len() != 4 {
		t.Fatalf("after delete: len %d, contains %v", s.Len(), s.Contains(2, t0))
	}
	if len(s.Entries()) != 4 {
		t.Fatalf("queue holds %d entries, want 4 (one per key)", len(s.Entries()))
	}
	for _, e := range s.Entries() {
		if e.Key == 2 {
			t.Fatal("deleted key still queued")
		}
	}
	if !s.Observe(2, t0.Add(2*time.Minute)) {
		t.Fatal("a deleted key is not new again")
	}
	if n := s.Expire(t0.Add(time.Hour + time.Minute)); n != 4 {
		t.Fatalf("expired %d, want the 4 older keys", n)
	}
	if !s.Contains(2, t0.Add(time.Hour+time.Minute)) || s.Len() != 1 {
		t.Fatal("re-inserted key expired with the old ones")
	}
}
