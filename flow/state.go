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
