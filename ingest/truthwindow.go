package ingest

import (
	"math/bits"
	"net/netip"
	"time"
)

// Built-in SumStats streams a worker observes from traffic.
const (
	StreamEstablished = "conn.established" // key: originator, value: responder address
	StreamAttempt     = "conn.attempt"     // key: scanner, value: victim:port
)

// truthWindow accumulates the built-in SumStats streams of one epoch
// window: per client the observations and the favorite slots they named,
// per scanner the probes (whose targets are distinct by construction).
type truthWindow struct {
	epoch   time.Duration
	cur     int64 // start of the open window, ns since the Unix epoch (0: whole run)
	open    bool
	estNum  []uint32
	estMask []uint64
	attNum  []uint32
	attMask []uint64
	scanNum []uint64
	touched []int32 // keys with observations: clients, then scanners (offset by the client count)
}

func newTruthWindow(clients, scanners int, epoch time.Duration) *truthWindow {
	return &truthWindow{epoch: epoch, estNum: make([]uint32, clients), estMask: make([]uint64, clients),
		attNum: make([]uint32, clients), attMask: make([]uint64, clients), scanNum: make([]uint64, scanners)}
}

// start returns the start of the window holding ts.
func (w *truthWindow) start(ts time.Time) int64 {
	if w.epoch == 0 {
		return 0
	}
	return ts.Truncate(w.epoch).UnixNano()
}

func (w *truthWindow) established(client, slot int) {
	if w.estNum[client] == 0 && w.attNum[client] == 0 {
		w.touched = append(w.touched, int32(client))
	}
	w.estNum[client]++
	w.estMask[client] |= 1 << uint(slot)
}

// attempt counts an attempt of a client (slot ≥ 0) or a scanner (slot < 0).
func (w *truthWindow) attempt(orig, slot int) {
	if slot < 0 {
		if w.scanNum[orig] == 0 {
			w.touched = append(w.touched, int32(len(w.estNum)+orig))
		}
		w.scanNum[orig]++
		return
	}
	if w.estNum[orig] == 0 && w.attNum[orig] == 0 {
		w.touched = append(w.touched, int32(orig))
	}
	w.attNum[orig]++
	w.attMask[orig] |= 1 << uint(slot)
}

// flush writes the window's values and resets it.
func (w *truthWindow) flush(t *truthRecorder) {
	g := t.g
	nc := len(w.estNum)
	l := &t.line
	for _, k := range w.touched {
		*l = truthLine{Type: "sumstats", EpochNS: int64(w.epoch), StartNS: w.cur}
		if int(k) >= nc {
			i := int(k) - nc
			l.Stream, l.Host, l.Num = StreamAttempt, g.scanners[i].String(), w.scanNum[i]
			l.Unique = t.r.scan[i].unique(l.Num)
			t.write(l)
			w.scanNum[i] = 0
			continue
		}
		c := int(k)
		if n := w.estNum[c]; n > 0 {
			l.Stream, l.Host, l.Num = StreamEstablished, g.clients[c].String(), uint64(n)
			l.Unique = uint64(bits.OnesCount64(w.estMask[c]))
			l.Values = w.values(g, c, w.estMask[c], false)
			t.write(l)
		}
		if n := w.attNum[c]; n > 0 {
			l.Stream, l.Host, l.Num = StreamAttempt, g.clients[c].String(), uint64(n)
			l.Unique = uint64(bits.OnesCount64(w.attMask[c]))
			l.Values = w.values(g, c, w.attMask[c], true)
			t.write(l)
		}
		w.estNum[c], w.estMask[c], w.attNum[c], w.attMask[c] = 0, 0, 0, 0
	}
	w.touched = w.touched[:0]
	w.open = false
}

// values names the servers of client c's slots in mask: their addresses,
// or address:port for attempts (the worker's value strings).
func (w *truthWindow) values(g *Generator, c int, mask uint64, withPort bool) []string {
	out := make([]string, 0, bits.OnesCount64(mask))
	for k := range g.favorites {
		if mask&(1<<uint(k)) == 0 {
			continue
		}
		s := g.favorite(c, k)
		if withPort {
			out = append(out, netip.AddrPortFrom(g.servers[s], g.srv[s].port).String())
		} else {
			out = append(out, g.servers[s].String())
		}
	}
	return out
}
