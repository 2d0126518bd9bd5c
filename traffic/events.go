package traffic

import (
	"context"
	"net/netip"
	"time"

	"shoal/flow"
	"shoal/service"
)

// Established is a completed TCP handshake: Zeek's connection_established
// with both endpoints ESTABLISHED (the known-hosts trigger). From a
// conn.log row TS is the connection's start, the best the log offers.
type Established = flow.Established

// EstablishedHook receives Established events.
type EstablishedHook interface {
	Established(ctx context.Context, e *Established)
}

// Attempt is one scan attempt: a TCP connection attempt that was never
// answered (connection_attempt, history exactly S or SW) or was rejected
// (connection_rejected, Sr or SWr). TS is when Zeek raises the event: the
// attempt timer (5 s after the SYN) or the rejecting RST.
type Attempt struct {
	TS       time.Time
	Orig     netip.Addr // the scanner
	Resp     netip.Addr // the victim
	RespPort uint16
	Proto    uint8 // 6
	Rejected bool
}

// AttemptHook receives Attempt events.
type AttemptHook interface {
	Attempt(ctx context.Context, a *Attempt)
}

// Service is known-services' check passing for one connection: the
// responder Host:Port/Proto took part in it, and Services are the
// protocols identified on it (empty when none was). It is raised once per
// connection, at the first analyzer confirmation that finds the responder
// active or else when the connection is removed, as Zeek's
// known_services_done does. From a conn.log row it is raised with the
// row's services, only when there is one.
type Service struct {
	TS       time.Time
	Host     netip.Addr
	Port     uint16
	Proto    uint8 // 6 tcp, 17 udp
	Services service.Set
}

// ServiceHook receives Service events.
type ServiceHook interface {
	Service(ctx context.Context, s *Service)
}

// Cert is the leaf certificate a TLS server (Host:Port) presented in a
// handshake that completed at TS (ssl_established). From ssl.log and
// x509.log, Leaf.SHA1 is the SHA-1 of the joined record's key, since the
// logs carry no hash of the leaf.
type Cert struct {
	TS   time.Time
	Host netip.Addr
	Port uint16
	Leaf *service.Cert
}

// CertHook receives Cert events.
type CertHook interface {
	Cert(ctx context.Context, c *Cert)
}

// Fact is a protocol fact seen on a TCP connection (service.Fact: an HTTP
// header, an SSH version line, an FTP CLNT argument, a mail's user agent),
// at the packet where Zeek raises the event that carries it (TS), or when
// the connection ends for what its end interrupted.
type Fact struct {
	TS                 time.Time
	Orig, Resp         netip.Addr
	OrigPort, RespPort uint16
	Fact               service.Fact
}

// FactHook receives Fact events. Facts are extracted only while some
// module subscribes.
type FactHook interface {
	Fact(ctx context.Context, f *Fact)
}

// Removed is a connection's conn.log record, raised when the connection is
// removed (connection_state_remove), after its payload analysis finished:
// its services are final. Packets only; the slices it holds (its tunnel
// parents) are valid during the call.
type Removed = flow.Record

// RemovedHook receives Removed events. The tracker builds a record only
// while some module subscribes.
type RemovedHook interface {
	Removed(ctx context.Context, r *Removed)
}

// Tunnel is a tunnel.log row: a tunnel discovered, closed or expired.
type Tunnel = flow.TunnelEvent

// TunnelHook receives Tunnel events.
type TunnelHook interface {
	Tunnel(ctx context.Context, ev *Tunnel)
}

// hooks are the subscribers of each event, in registration order.
type hooks struct {
	established []EstablishedHook
	attempt     []AttemptHook
	service     []ServiceHook
	cert        []CertHook
	fact        []FactHook
	removed     []RemovedHook
	tunnel      []TunnelHook
}

// collect sorts subscribers by the hooks they implement.
func collect(subscribers []any) hooks {
	var h hooks
	for _, s := range subscribers {
		if x, ok := s.(EstablishedHook); ok {
			h.established = append(h.established, x)
		}
		if x, ok := s.(AttemptHook); ok {
			h.attempt = append(h.attempt, x)
		}
		if x, ok := s.(ServiceHook); ok {
			h.service = append(h.service, x)
		}
		if x, ok := s.(CertHook); ok {
			h.cert = append(h.cert, x)
		}
		if x, ok := s.(FactHook); ok {
			h.fact = append(h.fact, x)
		}
		if x, ok := s.(RemovedHook); ok {
			h.removed = append(h.removed, x)
		}
		if x, ok := s.(TunnelHook); ok {
			h.tunnel = append(h.tunnel, x)
		}
	}
	return h
}

// IsAttempt reports whether a TCP connection with Zeek history history is a
// scan attempt (simple-scan's rule). rejected selects the event: false for
// connection_attempt (history exactly "S" or "SW"), true for
// connection_rejected (exactly "Sr" or "SWr"). Every other history,
// including backscatter ("^h", "h", "Hr") and a handshake later reset, does
// not count. Pure; safe for concurrent use.
func IsAttempt(history string, rejected bool) bool {
	if rejected {
		return history == "Sr" || history == "SWr"
	}
	return history == "S" || history == "SW"
}
