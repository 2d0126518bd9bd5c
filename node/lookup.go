package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sync"

	"shoal/internal/wire"
	"shoal/sumstats"
)

// lookups are the on-demand SumStats lookups this node is waiting for.
type lookups struct {
	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan wire.LookupReply
}

// Lookup returns the current result of key in sumstat name, asked of the
// datanode that owns the key (one round trip, no merge). found is false
// when the owner holds nothing for the key in the current epoch.
func (n *Node) Lookup(ctx context.Context, name string, key sumstats.Key) (res sumstats.Result, found bool, err error) {
	if !n.hasSumStat(name) {
		return nil, false, fmt.Errorf("node: %w: %q", sumstats.ErrUnknownDef, name)
	}
	ch := make(chan wire.LookupReply, 1)
	n.lookups.mu.Lock()
	n.lookups.next++
	id := n.lookups.next
	if n.lookups.waiting == nil {
		n.lookups.waiting = map[uint64]chan wire.LookupReply{}
	}
	n.lookups.waiting[id] = ch
	n.lookups.mu.Unlock()
	defer func() {
		n.lookups.mu.Lock()
		delete(n.lookups.waiting, id)
		n.lookups.mu.Unlock()
	}()
	req := wire.Lookup{ID: id, Def: name, KeyHost: key.Host, KeyStr: key.Str}
	if err := n.SendHashed(ctx, string(RoleDatanode), sumstatsKey(key), req); err != nil {
		return nil, false, err
	}
	select {
	case <-ctx.Done():
		return nil, false, fmt.Errorf("node: lookup %s %s: %w", name, key, ctx.Err())
	case r := <-ch:
		if r.Err != "" {
			return nil, false, fmt.Errorf("node: lookup %s %s: %s", name, key, r.Err)
		}
		if !r.Found {
			return nil, false, nil
		}
		if err := res.UnmarshalBinary(r.Result); err != nil {
			return nil, false, fmt.Errorf("node: lookup %s %s: %w", name, key, err)
		}
		return res, true, nil
	}
}

// lookupReply runs on every node: it hands a reply to its waiting Lookup.
func (n *Node) lookupReply(from string, ev wire.LookupReply) {
	n.lookups.mu.Lock()
	ch := n.lookups.waiting[ev.ID]
	n.lookups.mu.Unlock()
	if ch != nil {
		select {
		case ch <- ev:
		default:
		}
	}
}

// lookup answers a Lookup for a key this datanode owns.
func (s *sumstatsOwner) lookup(from string, ev wire.Lookup) {
	reply := wire.LookupReply{ID: ev.ID}
	s.mu.Lock()
	res, ok := s.eng.Lookup(ev.Def, sumstats.Key{Host: ev.KeyHost, Str: ev.KeyStr})
	s.mu.Unlock()
	if ok {
		var err error
		if reply.Result, err = res.AppendBinary(nil); err != nil {
			reply.Err = err.Error()
		} else {
			reply.Found = true
		}
	}
	if err := s.n.Send(s.n.ctx, from, reply); err != nil {
		s.n.log.Warn().Err(err).Str("peer", from).Msg("lookup reply not sent")
	}
}

// httpLookup serves GET /v1/sumstats/lookup?name=N&host=H&str=S.
func (n *Node) httpLookup(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := sumstats.Key{Str: q.Get("str")}
	if h := q.Get("host"); h != "" {
		a, err := netip.ParseAddr(h)
		if err != nil {
			httpError(w, http.StatusBadRequest, fmt.Errorf("host: %w", err))
			return
		}
		key.Host = a
	}
	res, found, err := n.Lookup(r.Context(), q.Get("name"), key)
	switch {
	case errors.Is(err, sumstats.ErrUnknownDef):
		httpError(w, http.StatusNotFound, err)
		return
	case err != nil:
		httpError(w, http.StatusBadGateway, err)
		return
	}
	out := map[string]any{"name": q.Get("name"), "key": key.String(), "found": found}
	streams := map[string]map[string]any{}
	for _, rv := range res {
		m := map[string]any{"num": rv.Num}
		for _, c := range []sumstats.Calc{sumstats.CalcSum, sumstats.CalcMin, sumstats.CalcMax, sumstats.CalcAverage,
			sumstats.CalcVariance, sumstats.CalcStdDev, sumstats.CalcUnique, sumstats.CalcHLLUnique} {
			if v, ok := rv.Value(c); ok {
				m[c.String()] = v
			}
		}
		streams[rv.Stream] = m
	}
	out["streams"] = streams
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}
