package flow

import (
	"net/netip"
	"testing"
	"time"

	"shoal/packet"
)

// mixedWorkload repeats rounds of traffic over fixed 5-tuples: TCP
// connections with payload that close with FINs, UDP request/reply pairs
// and ICMP echoes. Time advances 1 ms per packet and 2 min between rounds,
// so closed and idle flows are removed by their timers and the 5-tuples come back as new flows.
type mixedWorkload struct {
	pkts    []packet.Packet
	payload []byte
	i       int
	now     time.Time
}

func newMixedWorkload(conns int) *mixedWorkload {
	w := &mixedWorkload{now: base, payload: []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")}
	srv := netip.MustParseAddr("208.80.152.3")
	dns := netip.MustParseAddr("141.142.2.2")
	for c := range conns {
		cl := netip.AddrFrom4([4]byte{10, 1, byte(c >> 8), byte(c)})
		sport := uint16(20000 + c%40000)
		isn, rsn := uint32(c*7919), uint32(c*104729)
		out := packet.Packet{Src: cl, Dst: srv, SrcPort: sport, DstPort: 80, Proto: packet.ProtoTCP, Window: 1000, IPLen: 40}
		in := packet.Packet{Src: srv, Dst: cl, SrcPort: 80, DstPort: sport, Proto: packet.ProtoTCP, Window: 1000, IPLen: 40}
		syn, synack, ack, data, reply, fin1, fin2 := out, in, out, out, in, out, in
		syn.Flags, syn.Seq = S, isn
		synack.Flags, synack.Seq, synack.Ack = S|A, rsn, isn+1
		ack.Flags, ack.Seq, ack.Ack = A, isn+1, rsn+1
		n := len(w.payload)
		data.Flags, data.Seq, data.Ack, data.PayloadLen, data.IPLen = A|P, isn+1, rsn+1, n, 40+n
		reply.Flags, reply.Seq, reply.Ack, reply.PayloadLen, reply.IPLen = A|P, rsn+1, isn+1+uint32(n), 500, 540
		fin1.Flags, fin1.Seq, fin1.Ack = F|A, isn+1+uint32(n), rsn+501
		fin2.Flags, fin2.Seq, fin2.Ack = F|A, rsn+501, isn+2+uint32(n)
		q := packet.Packet{Src: cl, Dst: dns, SrcPort: sport, DstPort: 53, Proto: packet.ProtoUDP, PayloadLen: 38, IPLen: 66}
		r := packet.Packet{Src: dns, Dst: cl, SrcPort: 53, DstPort: sport, Proto: packet.ProtoUDP, PayloadLen: 89, IPLen: 117}
		echo := packet.Packet{Src: cl, Dst: srv, SrcPort: 8, Proto: packet.ProtoICMP, PayloadLen: 56, IPLen: 84}
		pong := packet.Packet{Src: srv, Dst: cl, DstPort: 0, Proto: packet.ProtoICMP, PayloadLen: 56, IPLen: 84}
		w.pkts = append(w.pkts, q, r, syn, synack, ack, data, reply, fin1, fin2, echo, pong)
	}
	return w
}

func (w *mixedWorkload) next() *packet.Packet {
	p := &w.pkts[w.i]
	w.i++
	if w.i == len(w.pkts) {
		w.i = 0
		w.now = w.now.Add(2 * time.Minute) // idle UDP and ICMP flows expire between rounds
		for k := range w.pkts {
			if w.pkts[k].Proto == packet.ProtoTCP {
				w.pkts[k].Seq += 1 << 20
				if w.pkts[k].Ack != 0 {
					w.pkts[k].Ack += 1 << 20
				}
			}
		}
	}
	if p.PayloadLen > 0 && p.Proto == packet.ProtoTCP {
		p.Payload = w.payload[:min(len(w.payload), p.PayloadLen)]
	}
	w.now = w.now.Add(time.Millisecond)
	p.TS = w.now
	return p
}

// countingAnalyzer is a stateless Analyzer shared by every connection.
type countingAnalyzer struct{ packets, done *int }

func (a countingAnalyzer) Packet(c *Conn, fromOrig bool, p *packet.Packet) {
	*a.packets++
	if len(p.Payload) >= 4 && string(p.Payload[:4]) == "GET " {
		c.AddService("http")
	}
}

func (a countingAnalyzer) Done(*Conn) { *a.done++ }

// TestMixedTrafficDoesNotAllocate runs TCP, UDP and ICMP through a Tracker
// with every handler set and an analyzer on each connection: in steady
// state nothing allocates per packet.
func TestMixedTrafficDoesNotAllocate(t *testing.T) {
	w := newMixedWorkload(512)
	var removed, attempts, established, newConns, analyzed, done, http int
	an := countingAnalyzer{&analyzed, &done}
	tr := NewTracker(Config{Handler: Handler{
		NewConn:     func(c *Conn) { newConns++; c.Analyzer = an },
		Established: func(*Established) { established++ },
		Attempt:     func(*Attempt) { attempts++ },
		Removed: func(r *Record) {
			removed++
			if r.Service.Has("http") {
				http++
			}
		},
	}})
	for range 3 * len(w.pkts) {
		tr.Packet(w.next())
	}
	before := tr.Stats()
	removed0 := removed
	allocs := testing.AllocsPerRun(5*len(w.pkts), func() { tr.Packet(w.next()) })
	after := tr.Stats()
	if allocs != 0 {
		t.Errorf("Packet allocates %.3f times per packet in steady state", allocs)
	}
	if after.Closed == before.Closed || after.UDP.Expired == before.UDP.Expired || after.ICMP.Expired == before.ICMP.Expired ||
		removed == removed0 || established == 0 || http == 0 || done == 0 || analyzed == 0 {
		t.Errorf("workload did not exercise closing, expiry and the handlers: %+v -> %+v (removed %d http %d)",
			before, after, removed-removed0, http)
	}
}

func BenchmarkMixedTraffic(b *testing.B) {
	w := newMixedWorkload(4096)
	var analyzed, done, removed int
	an := countingAnalyzer{&analyzed, &done}
	tr := NewTracker(Config{Handler: Handler{
		NewConn: func(c *Conn) { c.Analyzer = an },
		Removed: func(*Record) { removed++ },
	}})
	for range 3 * len(w.pkts) {
		tr.Packet(w.next())
	}
	b.ReportAllocs()
	for b.Loop() {
		tr.Packet(w.next())
	}
	st := tr.Stats()
	b.ReportMetric(float64(st.Flows+st.UDP.Flows+st.ICMP.Flows), "flows")
	if removed == 0 || analyzed == 0 {
		b.Fatal("no connection removed or analyzed")
	}
}

func TestConfigValidateNewFields(t *testing.T) {
	for name, cfg := range map[string]Config{
		"udp":     {UDPInactivity: -1},
		"icmp":    {ICMPInactivity: -time.Second},
		"initial": {TCPInitialInactivity: -1},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: negative timeout accepted", name)
		}
	}
	d := Config{UDPInactivity: 30 * time.Second}.withDefaults()
	if d.TCPInitialInactivity != 30*time.Second || d.ICMPInactivity != DefaultICMPInactivity || len(d.ServerPorts) == 0 {
		t.Errorf("withDefaults = %+v", d)
	}
	if d := (Config{ServerPorts: []uint16{}, UDPServerPorts: []uint16{}}).withDefaults(); len(d.ServerPorts) != 0 || len(d.UDPServerPorts) != 0 {
		t.Error("empty server port lists were replaced by the defaults")
	}
}
