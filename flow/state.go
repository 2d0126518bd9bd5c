package flow

import "fmt"

// State is the TCP endpoint state of Zeek's analyzer (TCP_INACTIVE, ...).
type State uint8

// The endpoint states, as Zeek numbers them.
const (
	StateInactive    State = iota // TCP_INACTIVE: nothing seen from the endpoint
	StateSynSent                  // TCP_SYN_SENT
	StateSynAckSent               // TCP_SYN_ACK_SENT
	StatePartial                  // TCP_PARTIAL: picked up mid-stream
	StateEstablished              // TCP_ESTABLISHED
	StateClosed                   // TCP_CLOSED: sent a FIN
	StateReset                    // TCP_RESET: sent a RST
)

var stateNames = [...]string{
	StateInactive: "TCP_INACTIVE", StateSynSent: "TCP_SYN_SENT", StateSynAckSent: "TCP_SYN_ACK_SENT",
	StatePartial: "TCP_PARTIAL", StateEstablished: "TCP_ESTABLISHED", StateClosed: "TCP_CLOSED",
	StateReset: "TCP_RESET",
}

// String returns Zeek's name of the state, e.g. "TCP_ESTABLISHED".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// isHandshake reports whether s is one of the handshake states (Zeek's
// is_handshake in TCP_Endpoint.cc).
func isHandshake(s State) bool {
	return s == StateInactive || s == StateSynSent || s == StateSynAckSent
}

// ConnState is the conn_state column of Zeek's conn.log.
type ConnState uint8

// The conn_state values (zeek: scripts/base/protocols/conn/main.zeek).
const (
	ConnOTH    ConnState = iota // no SYN seen, or not TCP/UDP, or nothing else applies
	ConnS0                      // attempt seen, no reply
	ConnS1                      // established, not terminated
	ConnSF                      // normal establishment and termination
	ConnREJ                     // attempt rejected
	ConnS2                      // established, originator closed, no reply from the responder
	ConnS3                      // established, responder closed, no reply from the originator
	ConnRSTO                    // established, originator aborted (RST)
	ConnRSTR                    // responder sent a RST
	ConnRSTOS0                  // originator sent a SYN then a RST, no SYN-ACK seen
	ConnRSTRH                   // responder sent a SYN-ACK then a RST, no SYN seen
	ConnSH                      // originator sent a SYN then a FIN, no SYN-ACK seen
	ConnSHR                     // responder sent a SYN-ACK then a FIN, no SYN seen
)

var connStateNames = [...]string{
	ConnOTH: "OTH", ConnS0: "S0", ConnS1: "S1", ConnSF: "SF", ConnREJ: "REJ", ConnS2: "S2", ConnS3: "S3",
	ConnRSTO: "RSTO", ConnRSTR: "RSTR", ConnRSTOS0: "RSTOS0", ConnRSTRH: "RSTRH", ConnSH: "SH", ConnSHR: "SHR",
}

// String returns the conn.log spelling, e.g. "SF".
func (s ConnState) String() string {
	if int(s) < len(connStateNames) {
		return connStateNames[s]
	}
	return fmt.Sprintf("ConnState(%d)", uint8(s))
}
