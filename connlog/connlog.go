// Package connlog owns the rows of conn.log and tunnel.log: Zeek's field
// layouts (Conn::Info, Tunnel::Info) and the rendering of a connection's
// record (flow.Record) or a tunnel event (flow.TunnelEvent) as values for
// a zeeklog writer, exactly as Zeek's conn and tunnels scripts fill them.
//
//	vals := connlog.ConnRow(rec, site.PrivateNets(), vals[:0])
//	w.Write(vals...) // a zeeklog.Writer created with connlog.ConnFields
//
// A row is a pure function of its record: the same connection always
// renders the same line, which is what lets a manager drop a row re-sent
// after a failure (PLAN.md D3).
//
// The package is pure: no I/O, no goroutines.
package connlog

import (
	"strings"

	"shoal/flow"
	"shoal/site"
	"shoal/zeeklog"
)

// Paths of the two logs.
const (
	ConnPath   = "conn"
	TunnelPath = "tunnel"
)

// ConnFields are conn.log's columns (zeek: base/protocols/conn/main.zeek).
var ConnFields = []zeeklog.Field{
	{Name: "ts", Type: "time"}, {Name: "uid", Type: "string"},
	{Name: "id.orig_h", Type: "addr"}, {Name: "id.orig_p", Type: "port"},
	{Name: "id.resp_h", Type: "addr"}, {Name: "id.resp_p", Type: "port"},
	{Name: "proto", Type: "enum"}, {Name: "service", Type: "string"}, {Name: "duration", Type: "interval"},
	{Name: "orig_bytes", Type: "count"}, {Name: "resp_bytes", Type: "count"}, {Name: "conn_state", Type: "string"},
	{Name: "local_orig", Type: "bool"}, {Name: "local_resp", Type: "bool"}, {Name: "missed_bytes", Type: "count"},
	{Name: "history", Type: "string"}, {Name: "orig_pkts", Type: "count"}, {Name: "orig_ip_bytes", Type: "count"},
	{Name: "resp_pkts", Type: "count"}, {Name: "resp_ip_bytes", Type: "count"},
	{Name: "tunnel_parents", Type: "set[string]"}, {Name: "ip_proto", Type: "count"},
}

// TunnelFields are tunnel.log's columns (zeek: base/frameworks/tunnels/main.zeek).
var TunnelFields = []zeeklog.Field{
	{Name: "ts", Type: "time"}, {Name: "uid", Type: "string"},
	{Name: "id.orig_h", Type: "addr"}, {Name: "id.orig_p", Type: "port"},
	{Name: "id.resp_h", Type: "addr"}, {Name: "id.resp_p", Type: "port"},
	{Name: "tunnel_type", Type: "enum"}, {Name: "action", Type: "enum"},
}

// ConnRow appends the values of r's conn.log row to dst and returns it.
// local decides local_orig and local_resp (unset when it is empty, as
// Zeek leaves them without Site::local_nets). The row does not keep r.
func ConnRow(r *flow.Record, local site.Nets, dst []zeeklog.Value) []zeeklog.Value {
	service := zeeklog.Unset()
	if r.Service.Len() > 0 {
		service = zeeklog.String(strings.ToLower(r.Service.String()))
	}
	duration, ob, rb := zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset()
	if r.Duration > 0 { // Zeek sets these only for a positive duration
		duration = zeeklog.Interval(r.Duration)
		ob, rb = zeeklog.Count(r.OrigBytes), zeeklog.Count(r.RespBytes)
	}
	lo, lr := zeeklog.Unset(), zeeklog.Unset()
	if local.Len() > 0 {
		lo, lr = zeeklog.Bool(local.Contains(r.Orig)), zeeklog.Bool(local.Contains(r.Resp))
	}
	history := zeeklog.Unset()
	if r.History.Len() > 0 {
		history = zeeklog.String(r.History.String())
	}
	parents := zeeklog.Unset()
	if len(r.TunnelParents) > 0 {
		ps := make([]string, len(r.TunnelParents))
		for i, u := range r.TunnelParents {
			ps[i] = u.String()
		}
		parents = zeeklog.StringSet(ps)
	}
	return append(dst,
		zeeklog.Time(r.TS), zeeklog.String(r.UID.String()),
		zeeklog.Addr(r.Orig), zeeklog.Port(r.OrigPort), zeeklog.Addr(r.Resp), zeeklog.Port(r.RespPort),
		zeeklog.Enum(r.ProtoName()), service, duration, ob, rb, zeeklog.String(r.State.String()),
		lo, lr, zeeklog.Count(r.MissedBytes), history,
		zeeklog.Count(r.OrigPkts), zeeklog.Count(r.OrigIPBytes), zeeklog.Count(r.RespPkts), zeeklog.Count(r.RespIPBytes),
		parents, zeeklog.Count(uint64(r.Proto)),
	)
}

// TunnelRow appends the values of ev's tunnel.log row to dst and returns it.
func TunnelRow(ev *flow.TunnelEvent, dst []zeeklog.Value) []zeeklog.Value {
	return append(dst,
		zeeklog.Time(ev.TS), zeeklog.String(ev.UID.String()),
		zeeklog.Addr(ev.Orig), zeeklog.Port(ev.OrigPort), zeeklog.Addr(ev.Resp), zeeklog.Port(ev.RespPort),
		zeeklog.Enum(ev.Type.String()), zeeklog.Enum(ev.Action.String()),
	)
}
