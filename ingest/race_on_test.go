//go:build race

package ingest

// raceScale divides the heaviest single-goroutine workloads of the tests
// under the race detector, which slows them 30-50 times and finds nothing
// in code that runs on one goroutine.
const raceScale = 5
