// Package ingest owns the traffic sources that feed a worker: capture files
// (pcap and pcapng), live capture on a network interface and a synthetic
// traffic generator. Every source decodes or builds packet.Packet values and
// hands them, one at a time, to the same callback, so the connection tracking
// behind it does not care where the traffic came from:
//
//	f, err := ingest.OpenFile("trace.pcap")
//	if err != nil { ... }          // names the file; wraps ErrNotCapture
//	defer f.Close()
//	st, err := f.Run(ctx, func(p *packet.Packet) { tracker.Packet(p) })
//	// err wraps ErrTruncated for a cut-off file, after every complete packet
//	// was delivered; st counts packets, malformed and skipped frames.
//
// Live capture (Linux) reads an interface through an AF_PACKET socket and a
// TPACKET_V3 ring the kernel shares with the process, with no cgo and no
// libpcap; packets are decoded in place, timestamped by the kernel:
//
//	iface, err := ingest.OpenInterface("eth0", ingest.InterfaceConfig{Promiscuous: true})
//	if err != nil { ... }          // ErrNoInterface; ErrCapture (+ os.ErrPermission without root/CAP_NET_RAW)
//	defer iface.Close()            // after Run returned
//	st, err := iface.Run(ctx, func(p *packet.Packet) { tracker.Packet(p) })
//	// err is ctx.Err() once ctx ends (seen within PollTimeout, 100 ms by
//	// default), or wraps ErrNoInterface if the interface was removed;
//	// st.Dropped counts packets the kernel dropped because the ring was full.
//
// OpenInterface opens the interface of the calling thread's network
// namespace. Ethernet and loopback interfaces are decoded as Ethernet
// (loopback frames have zero MAC addresses; their outgoing copies are
// skipped, as libpcap does); other interfaces (tun, wireguard) in cooked
// mode as raw IP. An interface that goes down is waited for. The NIC's
// receive offloads (GRO/LRO) merge segments before any capture sees them:
// disable them on a monitoring interface, as for Zeek.
//
// Bad input never stops a source early: malformed frames are counted and
// skipped. This is an I/O package; Run blocks the calling goroutine and
// starts no goroutines of its own.
package ingest
