package node

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"shoal/internal/wire"
	"shoal/notice"
	"shoal/sumstats"
	"shoal/zeeklog"
)

// tickInterval is how often a datanode lets its SumStats epochs end while no
// observation arrives: network time then advances with wall time, as
// Zeek's does on an idle live interface.
const tickInterval = 250 * time.Millisecond

var sumstatsFields = []zeeklog.Field{
	{Name: "ts", Type: "time"}, {Name: "name", Type: "string"}, {Name: "event", Type: "enum"},
	{Name: "epoch_start", Type: "time"}, {Name: "key_host", Type: "addr"}, {Name: "key_str", Type: "string"},
	{Name: "stream", Type: "string"}, {Name: "num", Type: "count"}, {Name: "sum", Type: "double"},
	{Name: "min", Type: "double"}, {Name: "max", Type: "double"}, {Name: "average", Type: "double"},
	{Name: "variance", Type: "double"}, {Name: "std_dev", Type: "double"}, {Name: "unique", Type: "count"},
	{Name: "hll_unique", Type: "count"}, {Name: "topk", Type: "vector[string]"}, {Name: "sample", Type: "vector[string]"},
	{Name: "last", Type: "vector[string]"}, {Name: "threshold", Type: "double"}, {Name: "threshold_value", Type: "double"},
}

// sumstatsKey is the partition key of a SumStats key: the host's 16 bytes
// and the string.
func sumstatsKey(k sumstats.Key) []byte {
	h := k.Host.As16()
	if !k.Host.IsValid() {
		h = [16]byte{}
	}
	return append(h[:], k.Str...)
}

// Observe sends one SumStats observation of stream, made at network time ts,
// to the datanode that owns key. Safe for concurrent use.
func (n *Node) Observe(ctx context.Context, stream string, key sumstats.Key, obs sumstats.Observation, ts time.Time) error {
	return n.SendHashed(ctx, string(RoleDatanode), sumstatsKey(key), observation(stream, key, obs, ts))
}

func observation(stream string, key sumstats.Key, obs sumstats.Observation, ts time.Time) wire.Observation {
	return wire.Observation{TS: ts.UnixNano(), Stream: stream, KeyHost: key.Host, KeyStr: key.Str, Kind: uint8(obs.Kind),
		Num: obs.Num, Dbl: obs.Dbl, Str: obs.Str}
}

// NextEpoch ends the current epoch of the manual sumstat name on every
// datanode; each reports its results to a manager.
func (n *Node) NextEpoch(ctx context.Context, name string) error {
	if !n.hasSumStat(name) {
		return fmt.Errorf("node: %w: %q", sumstats.ErrUnknownDef, name)
	}
	return n.Broadcast(ctx, string(RoleDatanode), wire.NextEpoch{Def: name, TS: time.Now().UnixNano(), Epoch: n.epochSeq.Add(1)})
}

func (n *Node) hasSumStat(name string) bool {
	for _, d := range n.cfg.SumStats {
		if d.Def.Name == name {
			return true
		}
	}
	return false
}

// sumstatsOwner runs the SumStats engine for the keys this datanode owns.
// Each key lives here only, so an epoch's result needs no merge round.
type sumstatsOwner struct {
	n *Node

	mu      sync.Mutex
	eng     *sumstats.Engine
	added   bool
	net     time.Time // latest observation timestamp
	arrival time.Time // wall time it arrived

	observations, outputs, sendErrors atomic.Uint64
}

// numKeys is how many keys the engine holds, over every sumstat.
func (s *sumstatsOwner) numKeys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.n.cfg.SumStats {
		n += s.eng.Len(d.Def.Name)
	}
	return n
}

func newSumStatsOwner(n *Node) *sumstatsOwner {
	s := &sumstatsOwner{n: n, eng: sumstats.New(sumstats.Config{})}
	Handle(n, s.observe)
	Handle(n, s.nextEpoch)
	Handle(n, s.lookup)
	return s
}

// startLocked adds the definitions at the first network time seen, so the
// first epoch starts with the data.
func (s *sumstatsOwner) startLocked(now time.Time) {
	if s.added {
		return
	}
	s.added = true
	for _, d := range s.n.cfg.SumStats {
		if err := s.eng.Add(d.Def, now); err != nil { // validated at start-up
			s.n.log.Error().Err(err).Str("sumstat", d.Def.Name).Msg("sumstat not started")
		}
	}
}

// nowLocked is network time: the latest observation's timestamp, advanced
// by the wall time since it arrived.
func (s *sumstatsOwner) nowLocked() time.Time {
	if s.net.IsZero() {
		return time.Now()
	}
	return s.net.Add(time.Since(s.arrival))
}

func (s *sumstatsOwner) observe(from string, ev wire.Observation) {
	s.observations.Add(1)
	ts := time.Unix(0, ev.TS)
	key := sumstats.Key{Host: ev.KeyHost, Str: ev.KeyStr}
	obs := sumstats.Observation{Kind: sumstats.Kind(ev.Kind), Num: ev.Num, Dbl: ev.Dbl, Str: ev.Str}
	s.mu.Lock()
	s.startLocked(ts)
	if ts.After(s.net) {
		s.net = ts
	}
	s.arrival = time.Now()
	outs := s.eng.Observe(ev.Stream, key, obs, ts)
	s.mu.Unlock()
	s.ship(outs, 0)
}

func (s *sumstatsOwner) nextEpoch(from string, ev wire.NextEpoch) {
	s.mu.Lock()
	now := s.nowLocked()
	s.startLocked(now)
	outs, err := s.eng.EndEpoch(ev.Def, now)
	s.mu.Unlock()
	if err != nil {
		s.n.log.Warn().Err(err).Str("sumstat", ev.Def).Msg("cannot end epoch")
		return
	}
	s.ship(outs, ev.Epoch)
}

func (s *sumstatsOwner) tickLoop(ctx context.Context) {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		var outs []sumstats.Output
		if s.added {
			outs = s.eng.Tick(s.nowLocked())
		}
		s.mu.Unlock()
		s.ship(outs, 0)
	}
}

// ship sends outputs to the manager that owns their sumstat, so one
// manager writes all of a sumstat's rows.
func (s *sumstatsOwner) ship(outs []sumstats.Output, epoch uint64) {
	for i := range outs {
		o := &outs[i]
		ev := wire.SumStatsOutput{Kind: outKind[o.Kind], Def: o.Def, KeyHost: o.Key.Host, KeyStr: o.Key.Str,
			Start: unixNano(o.Start), End: unixNano(o.End), Threshold: uint32(o.Threshold), Value: o.Value, Epoch: epoch}
		if o.Kind != sumstats.EpochFinished {
			var err error
			if ev.Result, err = o.Result.AppendBinary(nil); err != nil {
				s.n.log.Error().Err(err).Str("sumstat", o.Def).Msg("cannot encode sumstats result")
				continue
			}
		}
		s.outputs.Add(1)
		if err := s.n.toManager([]byte(o.Def), ev); err != nil {
			if c := s.sendErrors.Add(1); c&(c-1) == 0 {
				s.n.log.Error().Err(err).Str("sumstat", o.Def).Msg("sumstats output not sent to a manager")
			}
		}
	}
}

// outKind maps the engine's output kinds to the wire's.
var outKind = map[sumstats.OutputKind]uint8{
	sumstats.ThresholdCrossed: wire.OutThresholdCrossed,
	sumstats.EpochResult:      wire.OutEpochResult,
	sumstats.EpochFinished:    wire.OutEpochFinished,
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// sumstatsLog is the manager's side: sumstats.log rows, notices for
// definitions that ask for them, and one epoch_finished row per epoch.
type sumstatsLog struct {
	finished map[string]int // reports per def + epoch (under manager.mu)
	notices  map[string]string
}

func (m *manager) sumstatsOutput(from string, ev wire.SumStatsOutput) {
	ts := time.Unix(0, ev.End)
	if ev.End == 0 {
		ts = time.Now()
	}
	key := sumstats.Key{Host: ev.KeyHost, Str: ev.KeyStr}
	switch ev.Kind {
	case wire.OutEpochFinished:
		// A manual epoch is finished when every datanode has reported it
		// (their results come before their reports); a fixed window is
		// reported by the first datanode that closes it, since a datanode
		// that saw no observation has no epochs.
		id := ev.Def + "/window/" + strconv.FormatInt(ev.Start, 10)
		need := 1
		if ev.Epoch != 0 {
			id = ev.Def + "/manual/" + strconv.FormatUint(ev.Epoch, 10)
			need = max(len(m.n.router.Rings()[string(RoleDatanode)].Members), 1)
		}
		m.mu.Lock()
		m.ss.finished[id]++
		done := m.ss.finished[id] == need
		m.mu.Unlock()
		if !done {
			return
		}
		m.write("sumstats", sumstatsFields, zeeklog.Time(ts), zeeklog.String(ev.Def), zeeklog.Enum("epoch_finished"),
			optTime(ev.Start), zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset(),
			zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset(),
			zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset())
		return
	}
	var res sumstats.Result
	if err := res.UnmarshalBinary(ev.Result); err != nil {
		m.n.log.Warn().Err(err).Str("peer", from).Str("sumstat", ev.Def).Msg("dropping undecodable sumstats result")
		return
	}
	event, thr, val := zeeklog.Enum("epoch_result"), zeeklog.Unset(), zeeklog.Unset()
	if ev.Kind == wire.OutThresholdCrossed {
		event, val = zeeklog.Enum("threshold_crossed"), zeeklog.Double(ev.Value)
		thr = zeeklog.Double(m.threshold(ev.Def, int(ev.Threshold)))
	}
	for _, rv := range res {
		m.write("sumstats", sumstatsFields, append([]zeeklog.Value{zeeklog.Time(ts), zeeklog.String(ev.Def), event,
			optTime(ev.Start), optAddr(key.Host), optString(key.Str), zeeklog.String(rv.Stream)},
			append(resultValues(rv), thr, val)...)...)
	}
	if ev.Kind == wire.OutThresholdCrossed {
		if note := m.ss.notices[ev.Def]; note != "" {
			n := notice.Notice{TS: ts, Note: notice.Note(note), Sub: key.String(), Identifier: ev.Def + "/" + key.String(),
				Msg:     fmt.Sprintf("%s crossed %g with %g for %s", ev.Def, m.threshold(ev.Def, int(ev.Threshold)), ev.Value, key.String()),
				Actions: []string{notice.ActionLog}, PeerDescr: from}
			if key.Host.IsValid() {
				n.Src = key.Host
			}
			m.write(notice.Path, notice.Fields, n.Values()...)
		}
	}
}

// threshold returns the value of threshold step i of sumstat name.
func (m *manager) threshold(name string, i int) float64 {
	for _, d := range m.n.cfg.SumStats {
		if d.Def.Name != name {
			continue
		}
		if d.Def.Threshold != nil {
			return *d.Def.Threshold
		}
		if i >= 0 && i < len(d.Def.ThresholdSeries) {
			return d.Def.ThresholdSeries[i]
		}
	}
	return 0
}

// resultValues are the num .. last columns of one stream's result; a
// calculation the reducer does not apply is unset.
func resultValues(rv *sumstats.ResultVal) []zeeklog.Value {
	out := []zeeklog.Value{zeeklog.Count(rv.Num)}
	for _, c := range []sumstats.Calc{sumstats.CalcSum, sumstats.CalcMin, sumstats.CalcMax, sumstats.CalcAverage,
		sumstats.CalcVariance, sumstats.CalcStdDev} {
		if v, ok := rv.Value(c); ok {
			out = append(out, zeeklog.Double(v))
		} else {
			out = append(out, zeeklog.Unset())
		}
	}
	for _, c := range []sumstats.Calc{sumstats.CalcUnique, sumstats.CalcHLLUnique} {
		if v, ok := rv.Value(c); ok {
			out = append(out, zeeklog.Count(uint64(v)))
		} else {
			out = append(out, zeeklog.Unset())
		}
	}
	topk := zeeklog.Unset()
	if rv.TopK != nil {
		var s []string
		for _, e := range rv.TopK.Top(10) {
			s = append(s, fmt.Sprintf("%s:%d:%d", e.Value, e.Count, e.Epsilon))
		}
		topk = zeeklog.StringSet(s)
	}
	sample, last := zeeklog.Unset(), zeeklog.Unset()
	if rv.Sample != nil {
		sample = zeeklog.StringSet(obsStrings(rv.Sample.Samples()))
	}
	if rv.Last != nil {
		last = zeeklog.StringSet(obsStrings(rv.Last.Values()))
	}
	return append(out, topk, sample, last)
}

func obsStrings(obs []sumstats.Observation) []string {
	out := make([]string, len(obs))
	for i, o := range obs {
		out[i] = o.String()
	}
	return out
}

func optTime(ns int64) zeeklog.Value {
	if ns == 0 {
		return zeeklog.Unset()
	}
	return zeeklog.Time(time.Unix(0, ns))
}

func optAddr(a netip.Addr) zeeklog.Value {
	if !a.IsValid() {
		return zeeklog.Unset()
	}
	return zeeklog.Addr(a)
}

func optString(s string) zeeklog.Value {
	if s == "" {
		return zeeklog.Unset()
	}
	return zeeklog.String(s)
}
