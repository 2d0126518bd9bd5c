package testcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// ErrNoModule is returned when no go.mod is found above the working directory.
var ErrNoModule = errors.New("testcluster: go.mod not found above the working directory")

var (
	buildMu sync.Mutex
	built   = map[string]string{} // absolute output dir -> binary path
)

// Build compiles ./cmd/node of the module that contains the working directory
// into dir/node and returns the binary's path. A successful build is done once
// per dir and process; later calls return the same path. Safe for concurrent
// use (concurrent calls are serialized).
func Build(ctx context.Context, dir string) (bin string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("testcluster: build: %w", err)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[abs]; ok {
		return bin, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("testcluster: build: %w", err)
	}
	bin = filepath.Join(abs, "node")
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "./cmd/node")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("testcluster: go build ./cmd/node in %s: %w\n%s", root, err, strings.TrimSpace(string(out)))
	}
	built[abs] = bin
	return bin, nil
}

// ModuleRoot returns the directory holding go.mod, found by walking up from
// the working directory. Safe for concurrent use.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testcluster: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoModule
		}
		dir = parent
	}
}

// goTool finds the go command: $GOROOT/bin/go when GOROOT is set (go test and
// go run set it for their children), else go on PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}
