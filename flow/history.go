package flow

// MaxHistory is the longest history a connection records; letters past it
// are dropped (Zeek's history string is unbounded, but only repeated SYNs,
// FINs or RSTs with changing sequence numbers grow it past a few letters).
const MaxHistory = 47

// History is Zeek's connection history (conn.log's history column): upper
// case letters for the originator, lower case for the responder, '^' when the
// direction was flipped. It is a fixed-size value: copying it does not
// allocate.
type History struct {
	n uint8
	b [MaxHistory]byte
}

// String returns the history as Zeek prints it ("" when empty). It allocates.
func (h History) String() string { return string(h.b[:h.n]) }

// Bytes returns the letters; the slice aliases h.
func (h *History) Bytes() []byte { return h.b[:h.n] }

// Len returns the number of letters.
func (h History) Len() int { return int(h.n) }

// Is reports whether the history is exactly s, without allocating.
func (h *History) Is(s string) bool { return string(h.b[:h.n]) == s }

// Contains reports whether letter occurs in the history.
func (h *History) Contains(letter byte) bool {
	for _, c := range h.b[:h.n] {
		if c == letter {
			return true
		}
	}
	return false
}

func (h *History) add(c byte) {
	if int(h.n) < len(h.b) {
		h.b[h.n] = c
		h.n++
	}
}

// TCP history masks (zeek: TCP_Endpoint.h HistoryMasks); the responder's are
// shifted 16 bits up.
const (
	histSYN      uint32 = 0x1
	histFIN      uint32 = 0x2
	histRST      uint32 = 0x4
	histFINRST   uint32 = 0x8
	histData     uint32 = 0x10
	histACK      uint32 = 0x20
	histMultiFlg uint32 = 0x40
)

// UDP history masks (zeek: packet_analysis/protocol/udp/UDP.cc).
const (
	histUDPOrigData uint32 = 0x1
	histUDPRespData uint32 = 0x2
)

// checkHistory is Zeek's Connection::CheckHistory: it adds code the first
// time mask is seen and reports whether mask had been seen before.
func (c *Conn) checkHistory(mask uint32, code byte) bool {
	if c.histSeen&mask == 0 {
		c.histSeen |= mask
		c.hist.add(code)
		return false
	}
	return true
}

// endpointCheckHistory is TCP_Endpoint::CheckHistory: the responder's masks
// are shifted and its letters lower-cased.
func (c *Conn) endpointCheckHistory(orig bool, mask uint32, code byte) bool {
	if !orig {
		mask <<= 16
		code = lower(code)
	}
	return c.checkHistory(mask, code)
}

func (c *Conn) endpointAddHistory(orig bool, code byte) {
	if !orig {
		code = lower(code)
	}
	c.hist.add(code)
}

// scaledHistory is Connection::ScaledHistoryEntry with base 10: the letter
// is recorded at the 1st, 10th, 100th, ... occurrence.
func (c *Conn) scaledHistory(orig bool, code byte, counter, threshold *uint32) {
	*counter++
	if *counter != *threshold {
		return
	}
	c.endpointAddHistory(orig, code)
	if next := *threshold * 10; next <= *threshold {
		*counter = 0 // wrapped: keep the threshold
	} else {
		*threshold = next
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// rstos0 reports whether h matches Zeek's /\^?S[^HAFGIQ]*R.*/ (the whole
// string), the history test for RSTOS0 in conn_state.
func rstos0(h *History) bool {
	b := h.Bytes()
	if len(b) > 0 && b[0] == '^' {
		b = b[1:]
	}
	if len(b) == 0 || b[0] != 'S' {
		return false
	}
	for _, c := range b[1:] {
		switch c {
		case 'R':
			return true
		case 'H', 'A', 'F', 'G', 'I', 'Q':
			return false
		}
	}
	return false
}
