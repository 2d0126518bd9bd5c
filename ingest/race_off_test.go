//go:build !race

package ingest

// raceScale: see race_on_test.go.
const raceScale = 1
