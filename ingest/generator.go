package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"shoal/packet"
)

// Generator connection outcomes, in percent of connections.
const (
	genUnansweredPct = 10 // a SYN that nobody answers
	genRejectedPct   = 10 // a SYN answered by RST-ACK
	// the rest complete the three-way handshake
)

// genSpacing is the network-time gap between connections when Start is set
// and Rate is 0.
const genSpacing = 100 * time.Microsecond

// genFrameLen is the wire length of every generated segment: a minimal
// Ethernet frame.
const genFrameLen = 60

// genServerPorts are the destination ports of generated connections.
var genServerPorts = [...]uint16{80, 443, 22, 25, 8080, 3389}

// GeneratorConfig configures a Generator.
type GeneratorConfig struct {
	// Seed makes the packet sequence reproducible: the same seed and
	// configuration give the same packets (and, with Start set, the same
	// timestamps).
	Seed int64
	// Rate is connections per second of wall time; 0 means as fast as
	// possible. Bursts are bounded to a tenth of a second's worth (at least
	// one connection).
	Rate int
	// Hosts is the number of distinct client addresses, taken in order from
	// LocalNet (skipping its first address). Must be at least 1.
	Hosts int
	// Servers is the number of distinct server addresses, outside LocalNet
	// (from 11.0.0.1 for IPv4, 2600::1 for IPv6). Must be at least 1.
	Servers int
	// Count stops after that many connections; 0 runs until ctx is done.
	Count int
	// LocalNet holds the clients. Default 10.0.0.0/8.
	LocalNet netip.Prefix
	// Scanners is the number of remote scanners (from 203.0.113.1, a
	// documentation range; the packets exist only in memory). When set,
	// ScanPercent of the connections are a scanner's SYN to a random
	// client and port that nobody answers.
	Scanners    int
	ScanPercent int
	// Start is the network time of the first packet. Timestamps then advance
	// deterministically (by 1/Rate per connection, or 100µs if Rate is 0).
	// Zero means timestamps are the wall clock at emission.
	Start time.Time
}

// Generator synthesises TCP connection starts between local clients and
// remote servers: most complete a three-way handshake (SYN, SYN-ACK, ACK),
// some SYNs go unanswered and some are rejected with a RST-ACK. It is not safe
// for concurrent use and runs once.
type Generator struct {
	cfg      GeneratorConfig
	clients  []netip.Addr
	servers  []netip.Addr
	scanners []netip.Addr
	used     bool
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
}

// NewGenerator validates cfg and returns a Generator. Errors wrap
// ErrBadConfig and name the field.
func NewGenerator(cfg GeneratorConfig) (*Generator, error) {
	if !cfg.LocalNet.IsValid() {
		cfg.LocalNet = netip.MustParsePrefix("10.0.0.0/8")
	}
	cfg.LocalNet = cfg.LocalNet.Masked()
	var errs []error
	if cfg.Rate < 0 {
		errs = append(errs, fmt.Errorf("%w: Rate %d is negative", ErrBadConfig, cfg.Rate))
	}
	if cfg.Count < 0 {
		errs = append(errs, fmt.Errorf("%w: Count %d is negative", ErrBadConfig, cfg.Count))
	}
	if cfg.Hosts < 1 {
		errs = append(errs, fmt.Errorf("%w: Hosts %d must be at least 1", ErrBadConfig, cfg.Hosts))
	}
	if cfg.Servers < 1 {
		errs = append(errs, fmt.Errorf("%w: Servers %d must be at least 1", ErrBadConfig, cfg.Servers))
	}
	if cfg.Servers > 1<<22 {
		errs = append(errs, fmt.Errorf("%w: Servers %d exceeds %d", ErrBadConfig, cfg.Servers, 1<<22))
	}
	if hostBits := cfg.LocalNet.Addr().BitLen() - cfg.LocalNet.Bits(); hostBits < 62 && cfg.Hosts >= 1<<hostBits-1 {
		errs = append(errs, fmt.Errorf("%w: Hosts %d do not fit in LocalNet %s", ErrBadConfig, cfg.Hosts, cfg.LocalNet))
	}
	if cfg.Scanners < 0 || cfg.Scanners > 1<<16 {
		errs = append(errs, fmt.Errorf("%w: Scanners %d out of range [0, %d]", ErrBadConfig, cfg.Scanners, 1<<16))
	}
	if cfg.ScanPercent < 0 || cfg.ScanPercent > 100 {
		errs = append(errs, fmt.Errorf("%w: ScanPercent %d out of range [0, 100]", ErrBadConfig, cfg.ScanPercent))
	}
	if cfg.Scanners > 0 && cfg.ScanPercent == 0 {
		cfg.ScanPercent = 5
	}
	if cfg.Hosts > 1<<24 {
		errs = append(errs, fmt.Errorf("%w: Hosts %d exceeds %d", ErrBadConfig, cfg.Hosts, 1<<24))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, now: time.Now, sleep: sleepCtx}
	g.clients = make([]netip.Addr, cfg.Hosts)
	a := cfg.LocalNet.Addr()
	for i := range g.clients {
		a = a.Next()
		g.clients[i] = a
	}
	s := netip.MustParseAddr("11.0.0.0")
	if cfg.LocalNet.Addr().Is6() {
		s = netip.MustParseAddr("2600::")
	}
	for len(g.servers) < cfg.Servers {
		s = s.Next()
		if !cfg.LocalNet.Contains(s) {
			g.servers = append(g.servers, s)
		}
	}
	sc := netip.MustParseAddr("203.0.113.0")
	for range cfg.Scanners {
		sc = sc.Next()
		g.scanners = append(g.scanners, sc)
	}
	return g, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run emits the connections' packets to fn until Count connections have
// been started or ctx is done (then the error is ctx.Err()). The packet
// sequence depends only on the seed and configuration; with Rate > 0 Run
// paces itself in wall time.
func (g *Generator) Run(ctx context.Context, fn func(*packet.Packet)) (Stats, error) {
	var st Stats
	if g.used {
		return st, ErrUsed
	}
	g.used = true
	rng := rand.New(rand.NewPCG(uint64(g.cfg.Seed), 0x5ea1))
	spacing := genSpacing
	if g.cfg.Rate > 0 {
		spacing = time.Second / time.Duration(g.cfg.Rate)
	}
	burst := max(1, g.cfg.Rate/10)
	wallStart := g.now()
	done := ctx.Done()
	var p packet.Packet
	emit := func(ts time.Time) {
		p.TS = ts
		p.WireLen = genFrameLen
		st.Packets++
		st.Bytes += genFrameLen
		st.Delivered++
		fn(&p)
	}
	for i := 0; g.cfg.Count == 0 || i < g.cfg.Count; i++ {
		select {
		case <-done:
			return st, ctx.Err()
		default:
		}
		if g.cfg.Rate > 0 {
			// Token bucket: connection i may start once i-burst+1 tokens
			// have accrued since the start.
			if ahead := time.Duration(i-burst+1)*spacing - g.now().Sub(wallStart); ahead > 0 {
				if err := g.sleep(ctx, ahead); err != nil {
					return st, err
				}
			}
		}
		client := g.clients[rng.IntN(len(g.clients))]
		server := g.servers[rng.IntN(len(g.servers))]
		sport := uint16(1024 + rng.IntN(65536-1024))
		dport := genServerPorts[rng.IntN(len(genServerPorts))]
		isn, rsn := rng.Uint32(), rng.Uint32()
		outcome := rng.IntN(100)

		// Timestamps of this connection's packets: SYN, reply, ACK.
		var ts [3]time.Time
		if !g.cfg.Start.IsZero() {
			base := g.cfg.Start.Add(time.Duration(i) * spacing)
			for k := range ts {
				ts[k] = base.Add(time.Duration(k) * spacing / 3)
			}
		}
		stamp := func(k int) time.Time {
			if g.cfg.Start.IsZero() {
				return g.now()
			}
			return ts[k]
		}

		st.Connections++
		if len(g.scanners) > 0 && rng.IntN(100) < g.cfg.ScanPercent {
			// A scanner probes a local host; nobody answers.
			p = packet.Packet{Src: g.scanners[rng.IntN(len(g.scanners))], Dst: client, SrcPort: sport,
				DstPort: uint16(1 + rng.IntN(1024)), Proto: packet.ProtoTCP, Flags: packet.FlagSYN, Seq: isn, Window: 1024}
			emit(stamp(0))
			continue
		}
		p = packet.Packet{Src: client, Dst: server, SrcPort: sport, DstPort: dport, Proto: packet.ProtoTCP,
			Flags: packet.FlagSYN, Seq: isn, Window: 64240}
		emit(stamp(0))
		switch {
		case outcome < genUnansweredPct:
			// nobody answers
		case outcome < genUnansweredPct+genRejectedPct:
			p = packet.Packet{Src: server, Dst: client, SrcPort: dport, DstPort: sport, Proto: packet.ProtoTCP,
				Flags: packet.FlagRST | packet.FlagACK, Ack: isn + 1}
			emit(stamp(1))
		default:
			p = packet.Packet{Src: server, Dst: client, SrcPort: dport, DstPort: sport, Proto: packet.ProtoTCP,
				Flags: packet.FlagSYN | packet.FlagACK, Seq: rsn, Ack: isn + 1, Window: 65160}
			emit(stamp(1))
			p = packet.Packet{Src: client, Dst: server, SrcPort: sport, DstPort: dport, Proto: packet.ProtoTCP,
				Flags: packet.FlagACK, Seq: isn + 1, Ack: rsn + 1, Window: 502}
			emit(stamp(2))
		}
	}
	return st, nil
}
