// Package connlog owns conn.log and tunnel.log: Zeek's field layouts
// (Conn::Info, Tunnel::Info), the record a worker ships for each row, and
// the module (analysis.Module) that sends them from workers to managers.
//
//   - Worker: on traffic's Removed (a connection's record) and Tunnel
//     events, encodes the row's record (AppendRecord, AppendTunnel: every
//     column decided on the worker, local flags included) and sends it to
//     the manager that owns its uid (hashed, so a re-sent row reaches the
//     manager whose window may already hold it).
//   - Manager: conn.log and tunnel.log; DecodeRecord and ConnRecord.Row
//     render the row.
//
// A row is a pure function of its record: the same connection always
// renders the same line, which is what lets a manager drop a row re-sent
// after a failure (PLAN.md D3).
//
//	vals := connlog.ConnRow(rec, site.PrivateNets(), vals[:0]) // as a manager renders it
//	w.Write(vals...) // a zeeklog.Writer created with connlog.ConnFields
//
// The package is pure: no I/O, no goroutines.
package connlog

import (
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

// ConnRow appends the values of r's conn.log row to dst and returns it,
// exactly as a manager renders the record a worker ships
// (AppendRecord, DecodeRecord, ConnRecord.Row). local decides local_orig
// and local_resp (unset when it is empty, as Zeek leaves them without
// Site::local_nets). The row does not keep r.
func ConnRow(r *flow.Record, local site.Nets, dst []zeeklog.Value) []zeeklog.Value {
	rec, err := DecodeRecord(AppendRecord(nil, r, local))
	if err != nil {
		panic("connlog: a record does not survive its own encoding: " + err.Error()) // a broken invariant
	}
	return rec.Row(dst)
}

// TunnelRow appends the values of ev's tunnel.log row to dst and returns it.
func TunnelRow(ev *flow.TunnelEvent, dst []zeeklog.Value) []zeeklog.Value {
	return append(dst,
		zeeklog.Time(ev.TS), zeeklog.String(ev.UID.String()),
		zeeklog.Addr(ev.Orig), zeeklog.Port(ev.OrigPort), zeeklog.Addr(ev.Resp), zeeklog.Port(ev.RespPort),
		zeeklog.Enum(ev.Type.String()), zeeklog.Enum(ev.Action.String()),
	)
}
