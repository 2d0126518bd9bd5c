package service

// TCP proto number as found in packet.Packet.Proto (kept local so the package
// depends on nothing but the standard library).
const (
	protoTCP uint8 = 6
	protoUDP uint8 = 17
)

// stream states.
const (
	streamNew    uint8 = iota // no payload seen yet in this direction
	streamOK                  // in order so far
	streamBroken              // a gap or reordering was seen: analysis of this direction stopped
)

// stream follows one direction of a TCP connection by sequence number so an
// analyzer sees every payload byte once and in order, without buffering:
// retransmitted bytes are trimmed, and a segment that starts beyond the next
// expected byte (a gap, or a segment that overtook an earlier one) breaks the
// stream for good. The first payload seen defines where the stream starts.
type stream struct {
	next  uint32 // sequence number of the next expected payload byte
	state uint8
}

// feed returns the part of payload that is new, in-order data (possibly
// empty: a pure retransmission). ok is false when the stream is, or just
// became, broken. The returned slice aliases payload.
func (s *stream) feed(seq uint32, payload []byte) (data []byte, ok bool) {
	switch s.state {
	case streamBroken:
		return nil, false
	case streamNew:
		if len(payload) == 0 {
			return nil, true
		}
		s.state = streamOK
		s.next = seq + uint32(len(payload))
		return payload, true
	}
	if len(payload) == 0 {
		return nil, true
	}
	ahead := int32(seq - s.next)
	if ahead > 0 {
		s.state = streamBroken
		return nil, false
	}
	end := seq + uint32(len(payload))
	if int32(end-s.next) <= 0 {
		return nil, true // everything was seen before
	}
	data = payload[uint32(-ahead):]
	s.next = end
	return data, true
}

// broken reports whether the stream stopped at a gap or reordering.
func (s *stream) broken() bool { return s.state == streamBroken }
