package ingest

import (
	"context"
	"errors"

	"shoal/packet"
)

var (
	// ErrNotCapture is wrapped when a file is missing, unreadable or not a
	// pcap/pcapng capture.
	ErrNotCapture = errors.New("ingest: not a readable capture file")
	// ErrTruncated is wrapped when a capture file ends inside a record.
	// Every complete packet before the cut has been delivered.
	ErrTruncated = errors.New("ingest: capture file truncated")
	// ErrCorrupt is wrapped when a capture file has an impossible record
	// (for example a packet longer than any snap length) and cannot be read
	// further. Every packet before it has been delivered.
	ErrCorrupt = errors.New("ingest: capture file corrupt")
	// ErrUsed is returned by Run on a source that has already run.
	ErrUsed = errors.New("ingest: source already used")
	// ErrBadConfig is wrapped by NewGenerator for an invalid GeneratorConfig
	// and by OpenInterface for an invalid InterfaceConfig.
	ErrBadConfig = errors.New("ingest: bad config")
)

// Stats counts what a source produced.
type Stats struct {
	Packets     uint64 // frames read or generated
	Bytes       uint64 // their length on the wire
	Delivered   uint64 // packets passed to the callback
	Malformed   uint64 // frames that failed to decode (packet.ErrMalformed)
	NotIP       uint64 // frames without IP (ARP, LLC, ...)
	Skipped     uint64 // IP frames not decoded: fragments
	Connections uint64 // connections the generator started
	Dropped     uint64 // packets the kernel dropped because the capture ring was full (live capture)
}

// Source is a stream of packets. Run calls fn once per packet, in order, from
// the calling goroutine, until the source ends, fails or ctx is done; then it
// returns its counters. fn's *Packet is only valid during the call: copy the
// value to keep it. A Source runs once. If ctx ends the run, the error is
// ctx.Err().
type Source interface {
	Run(ctx context.Context, fn func(*packet.Packet)) (Stats, error)
}

var (
	_ Source = (*File)(nil)
	_ Source = (*Generator)(nil)
)

// count classifies a Decode result into st and reports whether the packet
// should be delivered.
func (st *Stats) count(err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, packet.ErrNotIP):
		st.NotIP++
	case errors.Is(err, packet.ErrFragment):
		st.Skipped++
	default:
		st.Malformed++
	}
	return false
}
