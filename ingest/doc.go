// Package ingest owns the traffic sources that feed a worker: capture files
// (pcap and pcapng) and a synthetic traffic generator. Every source decodes
// or builds packet.Packet values and hands them, one at a time, to the same
// callback, so the connection tracking behind it does not care where the
// traffic came from:
//
//	f, err := ingest.OpenFile("trace.pcap")
//	if err != nil { ... }          // names the file; wraps ErrNotCapture
//	defer f.Close()
//	st, err := f.Run(ctx, func(p *packet.Packet) { tracker.Packet(p) })
//	// err wraps ErrTruncated for a cut-off file, after every complete packet
//	// was delivered; st counts packets, malformed and skipped frames.
//
// Bad input never stops a source early: malformed frames are counted and
// skipped. This is an I/O package; Run blocks the calling goroutine and
// starts no goroutines of its own.
package ingest
