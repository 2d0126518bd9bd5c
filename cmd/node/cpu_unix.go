//go:build unix

package main

import "syscall"

// cpuSeconds is the CPU time (user and system) the process used so far, for
// the done line: a measure of a worker's cost that other load on the
// machine does not distort the way wall time is.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
