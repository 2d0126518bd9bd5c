//go:build !linux

package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/gopacket/layers"

	"shoal/packet"
)

// Interface is a live capture on one network interface. Live capture uses
// Linux's AF_PACKET; on other systems OpenInterface fails.
type Interface struct{ name string }

var _ Source = (*Interface)(nil)

// OpenInterface fails on systems other than Linux with an error wrapping
// ErrCapture and errors.ErrUnsupported.
func OpenInterface(name string, cfg InterfaceConfig) (*Interface, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w (interface %q)", err, name)
	}
	return nil, fmt.Errorf("%w: interface %s: live capture needs Linux: %w", ErrCapture, name, errors.ErrUnsupported)
}

// Name returns the interface name.
func (i *Interface) Name() string { return i.name }

// LinkType returns the link type packets are decoded as.
func (i *Interface) LinkType() layers.LinkType { return layers.LinkTypeEthernet }

// Dropped returns how many packets the kernel dropped.
func (i *Interface) Dropped() uint64 { return 0 }

// Close does nothing.
func (i *Interface) Close() error { return nil }

// Run fails: an Interface cannot be opened on this system.
func (i *Interface) Run(ctx context.Context, fn func(*packet.Packet)) (Stats, error) {
	return Stats{}, fmt.Errorf("%w: interface %s: live capture needs Linux: %w", ErrCapture, i.name, errors.ErrUnsupported)
}
