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
// nibble) and Linux cooked capture (SLL). Decoding stops at the outermost IP
// header; IP fragments are reassembled (the Decoder holds them until their
// datagram is complete). Checksums are not validated while decoding: a
// Packet keeps its raw IP bytes, and Packet.Checksums checks them as Zeek
// does without -C, for callers that want it.
//
// # Tunnels
//
// Decapsulation is split as in Zeek: this package parses tunnel headers,
// the connection tracker (package flow) decides when to (UDP tunnels belong
// to a connection and its responder port) and keeps the tunnel state. Each
// Decap* function follows the Zeek packet analyzer of its protocol — what
// it accepts, confirms, reports as a violation or a weird — and returns the
// inner frame with its link type, which Decoder.DecodeLink decodes:
// DecapGRE (GRE, PPTP, ERSPAN types I-III, Aruba), DecapIPinIP, DecapVXLAN,
// DecapGeneve, DecapGTPv1 and DecapAYIYA; ForEachIEEE80211 walks Aruba's
// 802.11 frames and A-MSDU subframes. The headers are parsed by hand to
// reproduce Zeek's acceptance rules exactly and without allocating;
// TestDecapMatchesGopacket checks the inner offsets against gopacket's GRE,
// VXLAN, Geneve and GTPv1-U layers on Zeek's tunnel traces.
//
// The package is pure: decoding bytes does no I/O and starts no goroutines.
package packet
