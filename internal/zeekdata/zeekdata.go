// Package zeekdata locates Zeek's traces and baselines, which tests read in
// place at ../shared/zeek beside the repository root (CI has ../shared
// beside the clone too). It is for tests only.
package zeekdata

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns ../shared/zeek relative to the module root, found by walking
// up from the working directory to go.mod.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "zeek"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("zeekdata: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Path joins rel onto Dir, failing tb when Dir or the path does not exist.
func Path(tb testing.TB, rel ...string) string {
	tb.Helper()
	dir, err := Dir()
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(append([]string{dir}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("zeekdata: %v (the tests read ../shared/zeek beside the repository)", err)
	}
	return p
}
