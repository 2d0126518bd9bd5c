package flow

import (
	"testing"

	"shoal/packet"
)

// handshake is SYN (seq 100), SYN-ACK (seq 500) and ACK.
var handshake = []pkt{
	{at: 0, src: cli, dst: srv, flags: packet.FlagSYN, seq: 100},
	{at: 0.1, src: srv, dst: cli, flags: packet.FlagSYN | packet.FlagACK, seq: 500, ack: 101},
	{at: 0.2, src: cli, dst: srv, flags: packet.FlagACK, seq: 101, ack: 501},
}

// TestContentGaps checks Zeek's content gap accounting: data the peer
// acknowledged but that was never seen is missed (missed_bytes, 'G'/'g'),
// but only while both sides are established or cleanly closing.
func TestContentGaps(t *testing.T) {
	const ackPsh = packet.FlagACK | packet.FlagPSH
	cases := map[string]struct {
		pkts    []pkt
		missed  uint64
		history string
	}{
		"no gap": {pkts: append(handshake[:3:3],
			pkt{at: 1, src: srv, dst: cli, flags: ackPsh, seq: 501, ack: 101, n: 100},
			pkt{at: 1.1, src: cli, dst: srv, flags: packet.FlagACK, seq: 101, ack: 601}),
			history: "ShAd"},
		"responder segment lost": {pkts: append(handshake[:3:3],
			pkt{at: 1, src: srv, dst: cli, flags: ackPsh, seq: 501, ack: 101, n: 100},
			pkt{at: 1.1, src: srv, dst: cli, flags: ackPsh, seq: 701, ack: 101, n: 100}, // 601-700 lost
			pkt{at: 1.2, src: cli, dst: srv, flags: packet.FlagACK, seq: 101, ack: 801}),
			missed: 100, history: "ShAdg"},
		"reordered, not lost": {pkts: append(handshake[:3:3],
			pkt{at: 1, src: srv, dst: cli, flags: ackPsh, seq: 601, ack: 101, n: 100},
			pkt{at: 1.1, src: srv, dst: cli, flags: ackPsh, seq: 501, ack: 101, n: 100},
			pkt{at: 1.2, src: cli, dst: srv, flags: packet.FlagACK, seq: 101, ack: 701}),
			history: "ShAdt"}, // the lower segment came second: a retransmission to Zeek
		"originator data lost": {pkts: append(handshake[:3:3],
			pkt{at: 1, src: srv, dst: cli, flags: packet.FlagACK, seq: 501, ack: 1101}),
			missed: 1000, history: "ShAaG"},
		"ack of the fin is no gap": {pkts: append(handshake[:3:3],
			pkt{at: 1, src: cli, dst: srv, flags: packet.FlagFIN | packet.FlagACK, seq: 101, ack: 501},
			pkt{at: 1.1, src: srv, dst: cli, flags: packet.FlagFIN | packet.FlagACK, seq: 501, ack: 102},
			pkt{at: 1.2, src: cli, dst: srv, flags: packet.FlagACK, seq: 102, ack: 502}),
			history: "ShAFf"},
		"gap outside an established connection is not counted": {pkts: []pkt{
			{at: 0, src: cli, dst: srv, flags: packet.FlagSYN, seq: 100},
			{at: 0.1, src: srv, dst: cli, flags: packet.FlagRST | packet.FlagACK, seq: 0, ack: 1101}},
			history: "Sr"},
		"partial connection's first ack": {pkts: []pkt{
			{at: 0, src: cli, dst: srv, flags: packet.FlagACK, seq: 5000, ack: 9000, n: 10},
			{at: 0.1, src: srv, dst: cli, flags: packet.FlagACK, seq: 9000, ack: 5010}},
			history: "Da"},
	}
	for name, tc := range cases {
		ev, _ := runPkts(Config{}, tc.pkts)
		if len(ev.recs) != 1 {
			t.Fatalf("%s: %d records", name, len(ev.recs))
		}
		r := ev.recs[0]
		if r.MissedBytes != tc.missed || r.History.String() != tc.history {
			t.Errorf("%s: missed %d history %q, want %d %q", name, r.MissedBytes, r.History, tc.missed, tc.history)
		}
	}
}

// TestCutSegmentIsAGap: a segment the capture cut short never reaches the
// reassembler, so its acknowledgement reveals a gap (Zeek needs caplen >= len).
func TestCutSegmentIsAGap(t *testing.T) {
	ev := &events{}
	tr := NewTracker(Config{Handler: ev.handler()})
	for _, p := range handshake {
		tr.Packet(p.packet())
	}
	data := pkt{at: 1, src: srv, dst: cli, flags: packet.FlagACK, seq: 501, ack: 101, n: 100}.packet()
	data.Payload, data.Raw = make([]byte, 40), make([]byte, 40+40) // captured: 40 of 100 bytes
	tr.Packet(data)
	tr.Packet(pkt{at: 1.1, src: cli, dst: srv, flags: packet.FlagACK, seq: 101, ack: 601}.packet())
	tr.Finish()
	if r := ev.recs[0]; r.MissedBytes != 100 || r.History.String() != "ShAdg" {
		t.Errorf("missed %d history %q", r.MissedBytes, r.History)
	}
}
