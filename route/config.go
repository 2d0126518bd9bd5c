package route

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"

	"shoal/internal/wire"
)

// Transport defaults; the zero value of each Config field selects them.
const (
	DefaultQueueLimit        = 65536
	DefaultMaxBatchBytes     = 256 << 10
	DefaultFlushDelay        = 10 * time.Millisecond
	DefaultMaxFrameSize      = 4 << 20
	DefaultAckTimeout        = 5 * time.Second
	DefaultReconnectInterval = 100 * time.Millisecond
	DefaultBusyBackoff       = 10 * time.Millisecond
	// DefaultMaxHandshakesPerSource bounds the connections from one
	// source address that have not completed their handshake.
	DefaultMaxHandshakesPerSource = 32
	// DefaultMaxInbound bounds the inbound connections.
	DefaultMaxInbound     = 4096
	DefaultMaxBusyBackoff = time.Second
	// DefaultDialTimeout bounds one dial when Config.Dial is nil.
	DefaultDialTimeout = time.Second
	// maxReconnectBackoff caps the doubling backoff between dials.
	maxReconnectBackoffFactor = 16
)

// Errors. Each is returned wrapped with context; test with errors.Is.
var (
	// ErrNoMembers: the pool has no live member (counted in Stats.NoMembers).
	ErrNoMembers = errors.New("route: no live members")
	// ErrUnknownNode: Send named a node that is not in the live view.
	ErrUnknownNode = errors.New("route: unknown node")
	// ErrQueueFull: the peer's queue is at QueueLimit and Full is FullDrop
	// (counted in Stats.DroppedFull).
	ErrQueueFull = errors.New("route: queue full")
	// ErrClosed: the router is closed.
	ErrClosed = errors.New("route: router closed")
	// ErrTooLarge: one encoded event does not fit in a frame of
	// MaxFrameSize bytes.
	ErrTooLarge = errors.New("route: event too large")
	// ErrConfig is wrapped by every Config validation error.
	ErrConfig = errors.New("route: invalid config")
)

// Peer is a live member as gossip sees it. Pool is its role ("worker",
// "datanode", "manager"); DataAddr is its event listener; BootID changes on
// every restart, so a restarted process is a different peer.
type Peer struct {
	Name, Pool, DataAddr string
	BootID               uint64
}

// FullPolicy says what a send does when the target peer's queue is full.
type FullPolicy uint8

const (
	// FullDrop refuses the event with ErrQueueFull and counts it; the
	// caller never blocks. The default.
	FullDrop FullPolicy = iota
	// FullBlock makes the send wait for room, or for its ctx.
	FullBlock
)

// String names the policy.
func (f FullPolicy) String() string {
	switch f {
	case FullDrop:
		return "drop"
	case FullBlock:
		return "block"
	}
	return "unknown"
}

// Config configures a Router. The zero value of every optional field selects
// its default.
type Config struct {
	// Name, BootID and Pool identify this node. Name and Pool are required.
	Name   string
	BootID uint64
	Pool   string
	// Ring is the cluster-wide ring configuration (DefaultRingConfig() when
	// zero).
	Ring RingConfig
	// Transport carries the event connections (listen, dial a named
	// peer, verify a hello). nil means plain TCP: NewTCP(Listener, Dial).
	// The router closes it on Close.
	Transport Transport
	// Listener accepts inbound event connections when Transport is nil
	// (then required). The router closes it on Close.
	Listener net.Listener
	// Dial opens an outbound event connection when Transport is nil. nil
	// means a net.Dialer with DefaultDialTimeout.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Deliver receives every inbound event (required) and answers it: OK
	// (taken), Busy (cannot take it now: the sender backs off and sends it
	// again) or NotOwner (this node does not own its key: the sender
	// routes it again once its ring moves). It is called on the receiving
	// connection's goroutine, in arrival order per sending peer,
	// concurrently for different senders; and synchronously on the sending
	// goroutine for events addressed to this node. payload is valid only
	// during the call: copy what you keep. Deliver must not block: a batch
	// is acknowledged only after Deliver returned for all of its events,
	// and a sender that hears nothing for AckTimeout suspects this node.
	// What cannot be taken now is answered Busy.
	Deliver func(from Sender, t wire.Type, payload []byte) Outcome
	// Commit, if set, runs after Deliver answered the events of one read
	// burst (one or more batches from one sender) and before they are
	// acknowledged, whenever at least one was answered OK (a manager
	// writes its rows there). If it fails, every event of the burst that
	// was answered OK is answered Busy instead, so the sender sends it
	// again. Called like Deliver; it must return well within AckTimeout.
	Commit func(from Sender) error
	// QueueLimit bounds, per peer, the events queued plus those sent but
	// not yet acknowledged (default 65536).
	QueueLimit int
	// Full is the policy when a peer's queue is at QueueLimit.
	Full FullPolicy
	// MaxBatchBytes bounds the events of one batch frame in bytes (default
	// 256 KiB). A batch is cut when it would exceed it. Must leave room for
	// the frame headers within MaxFrameSize.
	MaxBatchBytes int
	// FlushDelay is the longest an event waits for its batch to fill
	// (default 10ms; Kafka's linger.ms is 5ms). A writer that has not written
	// for FlushDelay (idle) writes at once, and so does one whose peer's
	// event rate is too low for waiting to gather more than a few events:
	// an event after a quiet period goes out immediately. Under load the
	// writer waits until the oldest event has waited FlushDelay, or a batch
	// reached MaxBatchBytes, so a busy peer gets few large writes.
	FlushDelay time.Duration
	// MaxFrameSize is the largest inbound frame body accepted (default 4
	// MiB); a larger length prefix is a bad frame and closes the
	// connection. It also bounds the size of one outbound event.
	MaxFrameSize int
	// AckTimeout: a peer that leaves a written batch unanswered for this
	// long (counted from the write, or from its last answer if later: a
	// peer that keeps answering, if only busy, never times out), or a
	// handshake or write that takes this long, is suspected (default 5s).
	AckTimeout time.Duration
	// HandshakeTimeout bounds, on both ends, the transport's handshake
	// (TLS) and the hello exchange of a connection, and every write
	// (default AckTimeout). An inbound connection that has not completed
	// its hello by then is closed and counted (Stats.HandshakeTimeouts).
	HandshakeTimeout time.Duration
	// FrameTimeout: once the first byte of a frame has arrived, the whole
	// frame must arrive within this (default HandshakeTimeout), or the
	// connection is closed and counted (Stats.FrameTimeouts). A
	// connection may stay idle between frames.
	FrameTimeout time.Duration
	// MaxHandshakesPerSource bounds the inbound connections from one
	// source IP address that have not completed their handshake (default
	// 32); MaxInbound bounds all inbound connections (default 4096).
	// Connections beyond either are closed at once and counted
	// (Stats.InboundRefused).
	MaxHandshakesPerSource, MaxInbound int
	// ReconnectInterval is the first backoff between dials to a suspect
	// peer; it doubles on each failure up to 16x (default 100ms).
	ReconnectInterval time.Duration
	// BusyBackoff is how long a peer that answered busy is left alone
	// before the busy events are sent again (default 10ms); it doubles
	// with every further busy answer up to MaxBusyBackoff (default 1s)
	// and resets once the peer answers all OK.
	BusyBackoff, MaxBusyBackoff time.Duration
	// OnChange is called when rings change because of local suspicion or
	// recovery (not on SetMembers). It must not block.
	OnChange func()
	// Logger receives the router's logs (default zerolog.Nop()).
	Logger zerolog.Logger
}

func (c Config) withDefaults() Config {
	if c.Ring == (RingConfig{}) {
		c.Ring = DefaultRingConfig()
	}
	if c.QueueLimit == 0 {
		c.QueueLimit = DefaultQueueLimit
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.FlushDelay == 0 {
		c.FlushDelay = DefaultFlushDelay
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = c.AckTimeout
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = c.HandshakeTimeout
	}
	if c.MaxHandshakesPerSource == 0 {
		c.MaxHandshakesPerSource = DefaultMaxHandshakesPerSource
	}
	if c.MaxInbound == 0 {
		c.MaxInbound = DefaultMaxInbound
	}
	if c.ReconnectInterval == 0 {
		c.ReconnectInterval = DefaultReconnectInterval
	}
	if c.BusyBackoff == 0 {
		c.BusyBackoff = DefaultBusyBackoff
	}
	if c.MaxBusyBackoff == 0 {
		c.MaxBusyBackoff = DefaultMaxBusyBackoff
	}
	if c.Transport == nil && c.Listener != nil {
		c.Transport = NewTCP(c.Listener, c.Dial)
	}
	return c
}

// Validate reports whether c (with defaults applied to zero fields) can run
// a router.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.Name == "" {
		bad("empty name")
	}
	if len(c.Name) > wire.MaxNameLen {
		bad("name longer than %d bytes", wire.MaxNameLen)
	}
	if c.Pool == "" {
		bad("empty pool")
	}
	if c.Transport == nil {
		bad("nil transport and nil listener")
	}
	if c.Deliver == nil {
		bad("nil deliver")
	}
	if err := c.Ring.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.QueueLimit < 1 {
		bad("queue limit %d < 1", c.QueueLimit)
	}
	if c.Full != FullDrop && c.Full != FullBlock {
		bad("unknown full policy %d", c.Full)
	}
	if c.MaxFrameSize < 1024 || c.MaxFrameSize > 1<<30 {
		bad("max frame size %d out of range [1024, %d]", c.MaxFrameSize, 1<<30)
	}
	if c.MaxBatchBytes < 1 || c.MaxBatchBytes > c.MaxFrameSize-wire.BatchHeaderRoom {
		bad("max batch bytes %d out of range [1, max frame size - %d]", c.MaxBatchBytes, wire.BatchHeaderRoom)
	}
	if c.FlushDelay < 0 {
		bad("negative flush delay")
	}
	if c.AckTimeout < 0 {
		bad("negative ack timeout")
	}
	if c.ReconnectInterval < 0 {
		bad("negative reconnect interval")
	}
	if c.HandshakeTimeout < 0 || c.FrameTimeout < 0 {
		bad("negative handshake or frame timeout")
	}
	if c.MaxHandshakesPerSource < 0 || c.MaxInbound < 0 {
		bad("negative connection limit")
	}
	if c.BusyBackoff < 0 || c.MaxBusyBackoff < c.BusyBackoff {
		bad("busy backoff %v, max %v: want 0 <= backoff <= max", c.BusyBackoff, c.MaxBusyBackoff)
	}
	return errors.Join(errs...)
}
