package zeeklog

import "time"

// NextRotation returns the first rotation time after now for rotations
// every interval aligned to the clock as Zeek aligns them: at multiples of
// interval counted from midnight (local midnight, UTC midnight with utc),
// and at midnight itself when interval does not divide the day. With an
// interval of 1h files rotate on the hour; with 2s at every even second.
// interval must be positive. Pure.
func NextRotation(now time.Time, interval time.Duration, utc bool) time.Time {
	loc := time.Local
	if utc {
		loc = time.UTC
	}
	t := now.In(loc)
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	next := midnight.Add((t.Sub(midnight)/interval + 1) * interval)
	if tomorrow := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc); next.After(tomorrow) {
		next = tomorrow
	}
	return next
}
