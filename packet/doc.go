// Package packet owns decoding one captured frame into a small, fixed
// Packet: addresses, ports, IP protocol, TCP flags, sequence numbers, window
// and payload length, the IP length, and the payload bytes themselves (a
// slice of the frame, for payload analyzers).
//
// Decoding uses gopacket's layers with a DecodingLayerParser, so a Decoder
// reuses its layer structs and decodes without allocating:
//
//	d, err := packet.NewDecoder(layers.LinkTypeEthernet)
//	if err != nil { ... }
//	var p packet.Packet
//	switch err := d.Decode(frame, ts, &p); {
//	case err == nil:             // use p
//	case errors.Is(err, packet.ErrNotIP), errors.Is(err, packet.ErrFragment):
//		// skipped, not an error in the input
//	default:                     // errors.Is(err, packet.ErrMalformed)
//	}
//
// Supported link types: Ethernet (with 802.1Q and QinQ tags), raw IP
// (LINKTYPE_RAW and the 12/14/228/229 variants, chosen by the IP version
// nibble) and Linux cooked capture (SLL). Checksums are never validated, as
// with Zeek's -C.
//
// The package is pure: decoding bytes does no I/O and starts no goroutines.
package packet
