package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"shoal/analysis"
	"shoal/internal/wire"
	"shoal/zeeklog"
)

// modules are the analyses this node runs (Config.Modules) and their sides
// for its role. The node knows none of them by name: it registers their
// events, feeds their worker sides from its inputs, serialises calls to
// their owner and manager sides, and sends what they decide.
type modules struct {
	list      []analysis.Module
	workers   []analysis.Worker
	owners    []*ownerSlot
	managers  []*managerSlot
	streams   map[string][]zeeklog.Field // manager: log path -> columns
	endpoints []analysis.Endpoint
	settings  uint64 // hash of every module's settings
}

// ownerSlot is one module's owner side; mu serialises calls to it.
type ownerSlot struct {
	name string
	o    analysis.Owner
	mu   sync.Mutex
	out  analysis.Out // reused under mu
}

// managerSlot is one module's manager side; mu serialises calls to it.
type managerSlot struct {
	name string
	m    analysis.Manager
	mu   sync.Mutex
	rows []analysis.Row // reused under mu
}

// attachModules attaches every configured module to this node and
// registers the handlers of the events its role receives.
func (n *Node) attachModules() error {
	mods := n.cfg.Modules
	if err := analysis.CheckEvents(mods); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	n.mods = modules{list: mods, streams: map[string][]zeeklog.Field{}}
	role := analysis.Role(n.cfg.Role)
	env := analysis.Env{Node: n.cfg.Name, Role: role, Partitions: n.cfg.Ring.Partitions, Send: sender{n}}
	d := xxhash.New()
	for _, m := range mods {
		h, err := analysis.SettingsHash(m.Settings())
		if err != nil {
			return fmt.Errorf("%w: module %s: %w", ErrConfig, m.Name(), err)
		}
		d.WriteString(m.Name())
		d.Write(binary.BigEndian.AppendUint64(nil, h))
		parts, err := m.Attach(env)
		if err != nil {
			return fmt.Errorf("%w: module %s: %w", ErrConfig, m.Name(), err)
		}
		if err := n.registerModule(m, parts, role); err != nil {
			return err
		}
	}
	n.mods.settings = d.Sum64()
	return nil
}

// registerModule keeps the sides of m and registers a handler for every
// event of m that this node's role handles.
func (n *Node) registerModule(m analysis.Module, parts analysis.Parts, role analysis.Role) error {
	mods := &n.mods
	mods.endpoints = append(mods.endpoints, parts.Endpoints...)
	var os *ownerSlot
	var ms *managerSlot
	if parts.Worker != nil {
		mods.workers = append(mods.workers, parts.Worker)
	}
	if parts.Owner != nil {
		os = &ownerSlot{name: m.Name(), o: parts.Owner}
		mods.owners = append(mods.owners, os)
	}
	if parts.Manager != nil {
		ms = &managerSlot{name: m.Name(), m: parts.Manager}
		mods.managers = append(mods.managers, ms)
		for _, s := range parts.Manager.Streams() {
			if f, ok := mods.streams[s.Path]; ok && !slices.Equal(f, s.Fields) {
				return fmt.Errorf("%w: log %q declared twice with different columns", ErrConfig, s.Path)
			}
			mods.streams[s.Path] = s.Fields
		}
	}
	for _, e := range m.Events() {
		n.authz.declare(e.Type, roles(e.From)) // issue 10: enforced on receipt
		var h handler
		switch {
		case e.To == analysis.RoleAny && parts.Handle != nil:
			h = parts.Handle
		case e.To != role:
			continue
		case parts.Worker != nil:
			h = parts.Worker.Handle
		case os != nil:
			h = func(from string, t wire.Type, payload []byte) error { return n.applyOwner(os, from, t, payload) }
		case ms != nil:
			h = func(from string, t wire.Type, payload []byte) error { return n.writeRows(ms, from, t, payload) }
		default:
			continue
		}
		n.handlers[e.Type] = h
	}
	return nil
}

// sender implements analysis.Sender over the node's router.
type sender struct{ n *Node }

var _ analysis.Sender = sender{}

func (s sender) Hashed(ctx context.Context, to analysis.Role, part int, ev wire.Event) error {
	return s.n.counted(s.n.router.SendPartition(ctx, string(to), part, ev), ev)
}

func (s sender) Broadcast(ctx context.Context, to analysis.Role, ev wire.Event) error {
	return s.n.counted(s.n.router.Broadcast(ctx, string(to), ev), ev)
}

func (s sender) Direct(ctx context.Context, node string, ev wire.Event) error {
	return s.n.counted(s.n.router.Send(ctx, node, ev), ev)
}

func (s sender) Members(to analysis.Role) int {
	r, _ := s.n.router.Ring(string(to))
	if r == nil {
		return 0
	}
	return r.Len()
}

// counted counts and logs (at powers of two) a module's failed send.
func (n *Node) counted(err error, ev wire.Event) error {
	if err != nil {
		if c := n.sendErrors.Add(1); c&(c-1) == 0 {
			n.log.Warn().Err(err).Uint16("type", uint16(ev.WireType())).Uint64("send_errors", c).Msg("event not sent")
		}
	}
	return err
}

// applyOwner applies one event to a module's owner side and sends what it
// decided. It runs on the receiving connection's goroutine: waiting for a
// manager applies backpressure to the sender.
func (n *Node) applyOwner(s *ownerSlot, from string, t wire.Type, payload []byte) error {
	now := time.Now()
	s.mu.Lock()
	part, err := s.o.Partition(t, payload)
	if err == nil && part != analysis.NoPartition && !n.owns(part) {
		s.mu.Unlock()
		return errNotOwner // issue 10: answered not-owner, the sender re-routes
	}
	if err == nil {
		s.out.Reset()
		err = s.o.Apply(part, t, payload, now, &s.out)
	}
	var out analysis.Out
	if len(s.out.Records)+len(s.out.Notify)+len(s.out.Replies) > 0 {
		out = analysis.Out{Records: slices.Clone(s.out.Records), Notify: slices.Clone(s.out.Notify),
			Replies: slices.Clone(s.out.Replies)}
		s.out.Reset()
	}
	s.mu.Unlock()
	n.ship(s, from, &out)
	return err
}

// expireOwners lets every owner side end and expire what is due.
func (n *Node) expireOwners() {
	now := time.Now()
	for _, s := range n.mods.owners {
		s.mu.Lock()
		s.out.Reset()
		s.o.Expire(now, &s.out)
		out := analysis.Out{Records: slices.Clone(s.out.Records), Notify: slices.Clone(s.out.Notify)}
		s.out.Reset()
		s.mu.Unlock()
		n.ship(s, "", &out)
	}
}

// ship sends an owner's decisions: records to the manager owning their key
// (a record no manager takes is handed back through Unsent), notifications
// to every worker, replies to the sender of the event.
func (n *Node) ship(s *ownerSlot, from string, out *analysis.Out) {
	for _, rec := range out.Records {
		if err := n.toManager(rec.Key, rec.Event); err != nil {
			s.mu.Lock()
			s.o.Unsent(rec)
			s.mu.Unlock()
			if c := n.unsent.Add(1); c&(c-1) == 0 {
				n.log.Error().Err(err).Str("module", s.name).Uint16("type", uint16(rec.Event.WireType())).
					Uint64("records_unsent", c).Msg("record not sent to a manager")
			}
		}
	}
	for _, ev := range out.Notify {
		if err := n.Broadcast(n.ctx, string(RoleWorker), ev); err != nil {
			n.log.Debug().Err(err).Str("module", s.name).Msg("notification not broadcast to workers")
		}
	}
	for _, ev := range out.Replies {
		if err := n.Send(n.ctx, from, ev); err != nil {
			n.log.Warn().Err(err).Str("module", s.name).Str("peer", from).Msg("reply not sent")
		}
	}
}

// writeRows turns one record into rows with its module's manager side and
// writes them.
func (n *Node) writeRows(s *managerSlot, from string, t wire.Type, payload []byte) error {
	s.mu.Lock()
	s.rows = s.rows[:0]
	err := s.m.Rows(from, t, payload, time.Now(), &s.rows)
	for _, r := range s.rows {
		n.manager.write(r.Path, n.mods.streams[r.Path], r.Values...)
	}
	clear(s.rows)
	s.mu.Unlock()
	return err
}

// moduleCounters collects the counters of this node's sides, and the
// traffic path's on a worker, by name.
func (n *Node) moduleCounters() map[string]uint64 {
	out := map[string]uint64{}
	add := func(cs []analysis.Counter) {
		for _, c := range cs {
			out[c.Name] += c.Value
		}
	}
	for _, w := range n.mods.workers {
		add(w.Counters())
	}
	for _, s := range n.mods.owners {
		add(s.o.Counters())
	}
	for _, s := range n.mods.managers {
		add(s.m.Counters())
	}
	if n.worker != nil {
		add(n.worker.pipe.Counters())
	}
	return out
}
