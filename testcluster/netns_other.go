//go:build !linux

package testcluster

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrNetns wraps errors of the namespace network.
var ErrNetns = errors.New("testcluster: netns")

// ErrDisk wraps errors of the managers' small disks.
var ErrDisk = errors.New("testcluster: disk")

var errUnsupported = errors.New("only on Linux")

type netnet struct{}

type nsNode struct {
	ns         string
	ip, mgmtIP netip.Addr
}

func newNetnet() (*netnet, error) { return nil, fmt.Errorf("%w: %w", ErrNetns, errUnsupported) }

func (nn *netnet) node(string) (*nsNode, error) { return nil, errUnsupported }
func (nn *netnet) setCut(string, bool) error    { return errUnsupported }
func (nn *netnet) moveSplit(string, bool) error { return errUnsupported }
func (nn *netnet) heal() error                  { return errUnsupported }
func (nn *netnet) close() error                 { return nil }
func (nn *netnet) clusterAddr(int) netip.Addr   { return netip.Addr{} }

type tmpDisk struct{}

func mountDisk(string, int64) (*tmpDisk, error) {
	return nil, fmt.Errorf("%w: %w", ErrDisk, errUnsupported)
}

func (d *tmpDisk) logDir() string       { return "" }
func (d *tmpDisk) fill() (int64, error) { return 0, errUnsupported }
func (d *tmpDisk) free() error          { return errUnsupported }
func (d *tmpDisk) unmount(string) error { return nil }
