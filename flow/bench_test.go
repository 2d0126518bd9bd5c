package flow

import (
	"net/netip"
	"testing"
	"time"

	"shoal/packet"
)

// workload is a repeating stream of short connections over a fixed set of
// 5-tuples: SYN, SYN-ACK, ACK, data, RST. Timestamps advance 1 ms per packet,
// so closed connections are removed by their timers and 5-tuples come back
// as new connections: the steady state of a busy link.
type workload struct {
	pkts []packet.Packet
	i    int
	now  time.Time
}

func newWorkload(conns int) *workload {
	w := &workload{now: base}
	srv := netip.MustParseAddr("208.80.152.3")
	for c := range conns {
		cl := netip.AddrFrom4([4]byte{10, 0, byte(c >> 8), byte(c)})
		sport := uint16(20000 + c%40000)
		isn, rsn := uint32(c*7919), uint32(c*104729)
		out := packet.Packet{Src: cl, Dst: srv, SrcPort: sport, DstPort: 80, Proto: packet.ProtoTCP}
		in := packet.Packet{Src: srv, Dst: cl, SrcPort: 80, DstPort: sport, Proto: packet.ProtoTCP}
		syn, synack, ack, data, rst := out, in, out, out, out
		syn.Flags, syn.Seq = S, isn
		synack.Flags, synack.Seq, synack.Ack = S|A, rsn, isn+1
		ack.Flags, ack.Seq, ack.Ack = A, isn+1, rsn+1
		data.Flags, data.Seq, data.Ack, data.PayloadLen = A|P, isn+1, rsn+1, 100
		rst.Flags, rst.Seq = R|A, isn+101
		w.pkts = append(w.pkts, syn, synack, ack, data, rst)
	}
	return w
}

// next returns the next packet, with a fresh timestamp and, on every new
// round, fresh sequence numbers so each round is a new connection.
func (w *workload) next() *packet.Packet {
	p := &w.pkts[w.i]
	w.i++
	if w.i == len(w.pkts) {
		w.i = 0
		for k := range w.pkts {
			w.pkts[k].Seq += 1 << 20
			if w.pkts[k].Ack != 0 {
				w.pkts[k].Ack += 1 << 20
			}
		}
	}
	w.now = w.now.Add(time.Millisecond)
	p.TS = w.now
	return p
}

func BenchmarkTrackerPacket(b *testing.B) {
	w := newWorkload(4096)
	tr := NewTracker(Config{})
	for range 3 * len(w.pkts) { // warm up: reach the steady state
		tr.Packet(w.next())
	}
	b.ReportAllocs()
	b.ResetTimer()
	established := 0
	for b.Loop() {
		if _, ok := tr.Packet(w.next()); ok {
			established++
		}
	}
	b.ReportMetric(float64(tr.Stats().Flows), "flows")
	if established == 0 {
		b.Fatal("no handshakes completed")
	}
}

func TestTrackerDoesNotAllocate(t *testing.T) {
	w := newWorkload(1024)
	tr := NewTracker(Config{})
	for range 3 * len(w.pkts) {
		tr.Packet(w.next())
	}
	before := tr.Stats()
	allocs := testing.AllocsPerRun(5*len(w.pkts), func() { tr.Packet(w.next()) })
	after := tr.Stats()
	if allocs != 0 {
		t.Errorf("Packet allocates %.2f times per packet in steady state", allocs)
	}
	if after.Created-before.Created == 0 || after.Closed-before.Closed == 0 || after.Established-before.Established == 0 {
		t.Errorf("workload did not exercise creation, closing and handshakes: %+v -> %+v", before, after)
	}
}
