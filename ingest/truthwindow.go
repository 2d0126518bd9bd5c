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

// winKey is one key's observations in an epoch window: for a client, the
// favorite slots its observations named; for a scanner, its probes (whose
// targets are distinct by construction).
type winKey struct {
	estNum, attNum   uint32
	estMask, attMask uint64
}

// truthWindow accumulates the built-in SumStats streams of one epoch
// window, for the keys that have observations in it.
type truthWindow struct {
	epoch   time.Duration
	cur     int64 // start of the open window, ns since the Unix epoch (0: whole run)
	open    bool
	keys    map[int32]winKey // originators: clients, then scanners (offset by the client count)
	touched []int32          // keys in order of their first observation
}

func newTruthWindow(epoch time.Duration) *truthWindow {
	return &truthWindow{epoch: epoch, keys: map[int32]winKey{}}
}

// start returns the start of the window holding ts.
func (w *truthWindow) start(ts time.Time) int64 {
	if w.epoch == 0 {
		return 0
	}
	return ts.Truncate(w.epoch).UnixNano()
}

func (w *truthWindow) key(i int32) winKey {
	k, ok := w.keys[i]
	if !ok {
		w.touched = append(w.touched, i)
	}
	return k
}

func (w *truthWindow) established(client int32, slot int) {
	k := w.key(client)
	k.estNum++
	k.estMask |= 1 << uint(slot)
	w.keys[client] = k
}

// attempt counts an attempt of originator i: a client's to a favorite
// slot, or (slot < 0) a scanner's probe.
func (w *truthWindow) attempt(i int32, slot int) {
	k := w.key(i)
	k.attNum++
	if slot >= 0 {
		k.attMask |= 1 << uint(slot)
	}
	w.keys[i] = k
}

// flush writes the window's values and resets it.
func (w *truthWindow) flush(t *truthRecorder) {
	g := t.g
	l := &t.line
	for _, i := range w.touched {
		k := w.keys[i]
		*l = truthLine{Type: "sumstats", EpochNS: int64(w.epoch), StartNS: w.cur}
		if int(i) >= g.nclients {
			j := int(i) - g.nclients
			l.Stream, l.Host, l.Num = StreamAttempt, g.scanners[j].String(), uint64(k.attNum)
			l.Unique = t.r.scan[j].unique(l.Num)
			t.write(l)
			continue
		}
		c := int(i)
		if k.estNum > 0 {
			l.Stream, l.Host, l.Num = StreamEstablished, g.client(c).String(), uint64(k.estNum)
			l.Unique = uint64(bits.OnesCount64(k.estMask))
			l.Values = w.values(g, c, k.estMask, false)
			t.write(l)
		}
		if k.attNum > 0 {
			l.Stream, l.Host, l.Num = StreamAttempt, g.client(c).String(), uint64(k.attNum)
			l.Unique = uint64(bits.OnesCount64(k.attMask))
			l.Values = w.values(g, c, k.attMask, true)
			t.write(l)
		}
	}
	clear(w.keys)
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
