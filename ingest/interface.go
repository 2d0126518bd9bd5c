package ingest

import (
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// Live capture defaults, taken by the zero fields of an InterfaceConfig.
const (
	DefaultSnaplen      = maxSnaplen            // whole frames (libpcap's maximum)
	DefaultRingSize     = 32 << 20              // bytes of kernel ring buffer
	DefaultBlockSize    = 1 << 20               // bytes per ring block
	DefaultBlockTimeout = 10 * time.Millisecond // latency bound for a quiet link
	DefaultPollTimeout  = 100 * time.Millisecond

	maxRingBlocks   = 1 << 16
	maxBlockSize    = 1 << 30
	maxBlockTimeout = 65535 * time.Millisecond // the kernel keeps milliseconds in 16 bits
)

var (
	// ErrNoInterface is wrapped by OpenInterface for an interface that does
	// not exist, and by Interface.Run when the interface is removed during
	// the capture.
	ErrNoInterface = errors.New("ingest: no such network interface")
	// ErrCapture is wrapped when the kernel refuses a live capture: no
	// permission (the error also wraps the system's EPERM, so
	// errors.Is(err, os.ErrPermission) holds), no memory for the ring, or a
	// socket error during the capture.
	ErrCapture = errors.New("ingest: live capture failed")
)

// InterfaceConfig configures a live capture. The zero value captures whole
// frames, in both directions, without promiscuous mode, through a 32 MiB
// ring. Zero fields take the Default* constants.
type InterfaceConfig struct {
	// Promiscuous puts the interface in promiscuous mode while the capture is
	// open; the kernel undoes it when the capture is closed.
	Promiscuous bool
	// IgnoreOutgoing drops the packets the host itself sends on the interface
	// and keeps the ones it receives. Loopback interfaces always ignore
	// outgoing packets, since every packet on them is also received (as
	// libpcap does).
	IgnoreOutgoing bool
	// Snaplen is the most bytes of each frame decoded, like tcpdump's -s.
	// The kernel still copies whole frames into the ring, as libpcap does in
	// TPACKET_V3 mode; a frame longer than a ring block (BlockSize less about
	// 116 header bytes) is truncated to the block. Default DefaultSnaplen.
	Snaplen int
	// RingSize is the size in bytes of the ring the kernel fills and Run
	// reads, rounded up to whole blocks. Packets that arrive while it is full
	// are dropped and counted in Stats.Dropped. Default 32 MiB.
	RingSize int
	// BlockSize is the size in bytes of one ring block: the unit the kernel
	// hands over. A multiple of the page size, at most 1 GiB. Default 1 MiB.
	BlockSize int
	// BlockTimeout is how long the kernel keeps a partly filled block before
	// handing it over: the delay a packet may wait on a quiet link.
	// Millisecond resolution, at most 65.535 s. Default 10 ms.
	BlockTimeout time.Duration
	// PollTimeout is how long Run waits for a block before it looks at its
	// context again: the bound on how late it sees a cancellation and notices
	// a removed interface. Millisecond resolution. Default 100 ms.
	PollTimeout time.Duration
	// Logger receives warnings when the interface goes down or comes back.
	// The zero value logs nothing.
	Logger zerolog.Logger
}

// Validate reports every invalid field, each in an error wrapping
// ErrBadConfig.
func (c InterfaceConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...))
	}
	if c.Snaplen < 0 || c.Snaplen > maxSnaplen {
		bad("Snaplen %d is outside [0, %d]", c.Snaplen, maxSnaplen)
	}
	if c.RingSize < 0 {
		bad("RingSize %d is negative", c.RingSize)
	}
	page := os.Getpagesize()
	switch {
	case c.BlockSize < 0 || c.BlockSize%page != 0:
		bad("BlockSize %d is not a multiple of the page size %d", c.BlockSize, page)
	case c.BlockSize > maxBlockSize:
		bad("BlockSize %d exceeds %d", c.BlockSize, maxBlockSize)
	}
	if d := c.withDefaults(); c.RingSize >= 0 && c.BlockSize >= 0 && d.BlockSize > 0 {
		switch blocks := (int64(d.RingSize) + int64(d.BlockSize) - 1) / int64(d.BlockSize); {
		case blocks > maxRingBlocks:
			bad("RingSize %d needs more than %d blocks of %d bytes", d.RingSize, maxRingBlocks, d.BlockSize)
		case blocks*int64(d.BlockSize) > math.MaxInt:
			bad("RingSize %d rounded up to whole blocks of %d bytes overflows int", d.RingSize, d.BlockSize)
		}
	}
	if c.BlockTimeout < 0 || c.BlockTimeout > maxBlockTimeout {
		bad("BlockTimeout %v is outside [0, %v]", c.BlockTimeout, maxBlockTimeout)
	}
	if c.PollTimeout < 0 {
		bad("PollTimeout %v is negative", c.PollTimeout)
	}
	return errors.Join(errs...)
}

// withDefaults fills the zero fields.
func (c InterfaceConfig) withDefaults() InterfaceConfig {
	if c.Snaplen == 0 {
		c.Snaplen = DefaultSnaplen
	}
	if c.RingSize == 0 {
		c.RingSize = DefaultRingSize
	}
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.BlockTimeout == 0 {
		c.BlockTimeout = DefaultBlockTimeout
	}
	if c.PollTimeout == 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	return c
}

// millis rounds d up to whole milliseconds.
func millis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
