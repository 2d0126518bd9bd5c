// Package traffic turns what a worker sees into protocol events and hands
// each one to the analysis modules that asked for it, as Zeek's event
// engine does: a module implements the hook of each event it handles.
//
// A Pipeline owns a worker's connection tracker (flow) and the payload
// analysis of every connection (service identification and TLS, package
// service). It raises:
//
//	event        hook             Zeek                           from
//	Established  EstablishedHook  connection_established         a TCP handshake completed
//	Attempt      AttemptHook      connection_attempt/_rejected   a scan attempt (history S, SW, Sr, SWr)
//	Service      ServiceHook      known-services' check          the responder took part (once per connection)
//	Cert         CertHook         ssl_established                a TLS server certificate (leaf)
//	Fact         FactHook         http_header, ssh_*_version, …  a protocol fact (service.Fact)
//	Removed      RemovedHook      connection_state_remove        a connection's conn.log record (packets only)
//	Tunnel       TunnelHook       Tunnel::register / close       a tunnel.log row: discovered, closed, expired
//
// Zeek's own logs raise the same events (Conn: a conn.log row, in
// connection start order; ZeekCert: an ssl.log row joined with x509.log),
// so a module handles packets and logs alike.
//
// Adding a protocol fact: a new service.FactKind that service.Facts
// reports reaches every FactHook with no change here. A new kind of event
// (not a service.Fact): declare its type and hook interface beside the
// others (events.go), collect subscribers in collect and raise it where it
// appears (pipeline.go). A module then implements the hook; nothing else
// changes.
//
// Hooks run synchronously on the goroutine that feeds the Pipeline and must
// not retain the event pointer (copy what they keep). Raising an event does
// not allocate: each event value is reused.
//
// The package is pure: no I/O, no goroutines, no clock; time comes from
// the packets and log rows.
package traffic
