package flow

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"shoal/packet"
)

// TestTimerHeapReference drives the timer queues with random schedules,
// reschedules, cancellations and firings, many of them cancelled so that
// compactions happen, and checks every firing against a plain reference:
// the pending timers in (due, seq) order.
func TestTimerHeapReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var th timerHeap
	conns := make([]*Conn, 300)
	for i := range conns {
		conns[i] = &Conn{}
	}
	type ref struct {
		due int64
		seq uint64
		c   *Conn
		k   timerKind
	}
	pending := map[[2]int]ref{} // (conn, kind) -> timer
	now := int64(0)
	fired := 0
	for step := range 200000 {
		i, k := rng.IntN(len(conns)), timerKind(rng.IntN(int(numTimers)))
		c := conns[i]
		switch op := rng.IntN(10); {
		case op < 6: // schedule: short timers that fire, long ones that go stale
			due := now + int64(k+1)*500 + rng.Int64N(50)
			switch rng.IntN(4) {
			case 0:
				due = now + rng.Int64N(2000) // out of order: the heap
			case 1:
				due = now + 5_000_000 + rng.Int64N(50)
			}
			th.schedule(c, k, due)
			pending[[2]int{i, int(k)}] = ref{due, th.seq, c, k}
			// Entries only grow here, and never beyond the bound.
			if th.entries > 2*th.live+compactSlack {
				t.Fatalf("step %d: %d entries for %d pending timers", step, th.entries, th.live)
			}
		case op < 9: // cancel
			th.cancel(c, k)
			delete(pending, [2]int{i, int(k)})
		default: // time passes: fire what is due, in order
			now += rng.Int64N(800)
			var want []ref
			for _, r := range pending {
				if r.due <= now {
					want = append(want, r)
				}
			}
			slices.SortFunc(want, func(a, b ref) int {
				return cmp.Or(cmp.Compare(a.due, b.due), cmp.Compare(a.seq, b.seq))
			})
			for _, w := range want {
				e := th.next(now)
				if e == nil || e.seq != w.seq || e.due != w.due {
					t.Fatalf("step %d: next = %+v, want %+v", step, e, w)
				}
				gc, gk := th.pop(e)
				if gc != w.c || gk != w.k {
					t.Fatalf("step %d: popped the wrong timer", step)
				}
				delete(pending, [2]int{slices.Index(conns, gc), int(gk)})
				fired++
			}
			if e := th.next(now); e != nil {
				t.Fatalf("step %d: %+v due after all due timers fired", step, e)
			}
		}
		if th.live != len(pending) {
			t.Fatalf("step %d: %d live timers counted, %d pending", step, th.live, len(pending))
		}
	}
	if th.compactions == 0 || fired < 10000 {
		t.Fatalf("%d compactions, %d timers fired: the test did not exercise them", th.compactions, fired)
	}
}

// TestSYNFloodBounded: a SYN flood from random ports at a tracker capped at
// 1000 connections keeps at most 1000 connections (the rest evicted, oldest
// first, and counted) and its timer entries within the bound, although
// every evicted connection leaves its 1-minute and 5-second timers behind.
func TestSYNFloodBounded(t *testing.T) {
	const maxFlows = 1000
	evicted := 0
	tr := NewTracker(Config{MaxFlows: maxFlows, Handler: Handler{Removed: func(r *Record) {
		if r.Reason == RemovedEvicted {
			evicted++
		}
	}}})
	rng := rand.New(rand.NewPCG(3, 4))
	start := time.Unix(1700000000, 0)
	p := packet.Packet{Dst: netip.MustParseAddr("10.0.0.1"), DstPort: 80, Proto: packet.ProtoTCP, Flags: packet.FlagSYN}
	maxTimers := 0
	for i := range 300000 {
		p.TS = start.Add(time.Duration(i) * 50 * time.Microsecond) // 15 s at 20,000 SYNs/s
		p.Src = netip.AddrFrom4([4]byte{198, 51, byte(rng.IntN(256)), byte(rng.IntN(256))})
		p.SrcPort, p.Seq = uint16(1024+rng.IntN(60000)), rng.Uint32()
		tr.Packet(&p)
		s := tr.Stats()
		if s.Flows > maxFlows {
			t.Fatalf("packet %d: %d flows tracked, cap %d", i, s.Flows, maxFlows)
		}
		maxTimers = max(maxTimers, s.Timers)
	}
	s := tr.Stats()
	if bound := 2*3*maxFlows + compactSlack; maxTimers > bound || s.TimerCompactions == 0 {
		t.Errorf("timer entries peaked at %d (bound %d), %d compactions", maxTimers, bound, s.TimerCompactions)
	}
	if s.Evicted == 0 || int(s.Evicted) != evicted || s.Evicted+s.Attempted+uint64(s.Flows) != s.Created {
		t.Errorf("stats %+v, %d evictions reported", s, evicted)
	}
	t.Logf("%d SYNs: %d evicted, %d attempts, %d timer entries at most, %d compactions",
		s.Packets, s.Evicted, s.Attempted, maxTimers, s.TimerCompactions)
}
