package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"time"

	"shoal/ssconf"
)

func (n *Node) httpHandler() http.Handler {
	mux := http.NewServeMux()
	a := n.auth
	guarded := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, a.guard(rule(pattern), h)) }
	guarded("GET /status", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(n.Status())
	})
	guarded("POST /v1/observe", n.httpObserve)
	guarded("GET /v1/sumstats/lookup", n.httpLookup)
	guarded("GET /v1/keys", n.httpKeys)
	guarded("POST /v1/keys/{op}", n.httpKeys)
	for _, e := range n.mods.endpoints {
		mux.HandleFunc(e.Pattern, a.guard(moduleRule(e), e.Handler))
	}
	guarded("POST /v1/sumstats/next-epoch", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if err := n.NextEpoch(r.Context(), name); err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"sumstat": name, "epoch": n.epochSeq.Load()})
	})
	return mux
}

// httpObserve takes SumStats observations as JSON lines (the --observe
// format). Good lines are sent even when others are malformed; the answer
// counts both and lists the first errors, with status 400 if any line was
// bad.
func (n *Node) httpObserve(w http.ResponseWriter, r *http.Request) {
	if n.worker == nil {
		httpError(w, http.StatusNotFound, errors.New("observations go to a worker"))
		return
	}
	var bad []string
	st, err := ssconf.ReadObservations(r.Context(), "POST /v1/observe", http.MaxBytesReader(w, r.Body, 64<<20),
		func(o *ssconf.Observation) { n.worker.leg.observe(n.ctx, o) },
		func(e error) {
			n.worker.malformed.Add(1)
			if len(bad) < 10 {
				bad = append(bad, e.Error())
			}
		})
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	code := http.StatusOK
	if st.Malformed > 0 {
		code = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"observations": st.Observations, "malformed": st.Malformed, "errors": bad})
}

func httpError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// Status returns a snapshot of the node's view of the cluster.
func (n *Node) Status() *Status {
	st := &Status{
		Name:     n.cfg.Name,
		Role:     string(n.cfg.Role),
		BootID:   n.BootID(),
		Gossip:   n.GossipAddr(),
		Data:     n.DataAddr(),
		HTTP:     n.HTTPAddr(),
		Uptime:   time.Since(n.start).Round(time.Millisecond).String(),
		Settings: fmt.Sprintf("%016x", n.cfg.settingsHash(n.mods.settings)),
		Rings:    make(map[string]RingStatus),
	}
	suspect := make(map[string]bool)
	for _, p := range n.router.Peers() {
		st.Peers = append(st.Peers, PeerStatus{Name: p.Name, Pool: p.Pool, Addr: p.Addr, Connected: p.Connected,
			Suspect: p.Suspect, Queued: p.Queued, Unacked: p.Unacked})
		suspect[p.Name] = p.Suspect
	}
	for _, m := range n.gossip.Members() {
		state := string(m.State)
		if state == "alive" && suspect[m.Name] {
			state = "suspect" // the transport lost it; gossip has not confirmed yet
		}
		st.Members = append(st.Members, MemberStatus{Name: m.Name, Role: m.Meta.Role, State: state, Addr: m.Addr,
			DataAddr: m.Meta.DataAddr, BootID: fmt.Sprintf("%016x", m.Meta.BootID), SettingsMismatch: m.SettingsMismatch})
	}
	sort.Slice(st.Members, func(i, j int) bool { return st.Members[i].Name < st.Members[j].Name })
	for pool, r := range n.router.Rings() {
		st.Rings[pool] = RingStatus{Version: r.Version, Checksum: fmt.Sprintf("%016x", r.Checksum), Members: r.Members, Owned: r.Owned}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st.Memory = MemoryStatus{HeapAlloc: ms.HeapAlloc, HeapInuse: ms.HeapInuse, Sys: ms.Sys}
	s := n.router.Stats()
	st.Transport = s
	st.Counters = Counters{
		Sent: s.Sent, Received: s.Received, Acknowledged: s.Acked, Dropped: s.Dropped, DroppedFull: s.DroppedFull,
		Rerouted: s.Rerouted, NoMembers: s.NoMembers, Batches: s.Batches, Writes: s.Writes, BadFrames: s.BadFrames,
		Reconnects: s.Reconnects, UnknownTypes: n.unknownTypes.Load(), BadEvents: n.badEvents.Load(),
	}
	for _, f := range n.router.Failovers() {
		fs := FailoverStatus{Peer: f.Peer, DetectedAt: f.DetectedAt.Format(time.RFC3339Nano), Rerouted: f.Rerouted}
		if !f.FirstAckAt.IsZero() {
			fs.FirstAckAt = f.FirstAckAt.Format(time.RFC3339Nano)
		}
		st.Failovers = append(st.Failovers, fs)
	}
	switch {
	case n.worker != nil:
		st.Worker = n.worker.status()
	case n.datanode != nil:
		st.Datanode = n.datanode.status()
	case n.manager != nil:
		st.Manager = n.manager.status()
	}
	st.Security = n.securityStatus()
	return st
}
