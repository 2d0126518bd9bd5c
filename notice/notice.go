package notice

import (
	"net/netip"
	"time"

	"shoal/zeeklog"
)

// Note is a Zeek Notice::Type name as notice.log writes it.
type Note string

// ActionLog is the notice action every logged notice carries.
const ActionLog = "Notice::ACTION_LOG"

// ConnID is notice.log's id record (conn_id). It is unset, and written as
// four "-" columns, when OrigH is the zero netip.Addr.
type ConnID struct {
	OrigH netip.Addr
	OrigP uint16
	RespH netip.Addr
	RespP uint16
}

// Location is notice.log's remote_location record (geo_location). Empty
// strings are unset; Latitude and Longitude are written only when HasCoords.
type Location struct {
	CountryCode, Region, City string
	Latitude, Longitude       float64
	HasCoords                 bool
}

// Notice is one notice.log record (Zeek's Notice::Info with its &log fields,
// plus the identifier used for suppression). Optional string fields are
// unset when empty. A Notice is a plain value; Actions and EmailDest are
// shared when copied, so treat them as read-only.
type Notice struct {
	TS             time.Time     // network time of the notice
	UID            string        // connection uid
	ID             ConnID        // the connection
	FUID           string        // file id
	FileMimeType   string        // file MIME type
	FileDesc       string        // file description
	Proto          uint8         // transport of P (IP protocol number); 0 is unset
	Note           Note          // the notice type, Scan::Address_Scan for instance
	Msg            string        // human-readable message
	Sub            string        // sub-message (simple-scan: "local" or "remote")
	Src            netip.Addr    // source address
	Dst            netip.Addr    // destination address
	P              uint16        // port, when HasP
	HasP           bool          // whether P is set
	N              uint64        // a count, when HasN
	HasN           bool          // whether N is set
	PeerDescr      string        // the node that raised it (Zeek: Cluster::node); unset standalone
	Actions        []string      // the actions taken ({Notice::ACTION_LOG})
	EmailDest      []string      // addresses mailed (none)
	SuppressFor    time.Duration // how long notices with the same Note and Identifier are suppressed
	RemoteLocation Location      // where Src is
	Identifier     string        // $identifier: what makes two notices the same for suppression; not logged
}

// Fields are the columns of Zeek's notice.log (current Zeek, with
// the remote_location columns that base/frameworks/notice/actions/add-geodata
// adds), in order, with their Zeek types. Notice.Values returns one value per
// field. The slice is shared: do not modify it.
var Fields = []zeeklog.Field{
	{Name: "ts", Type: "time"},
	{Name: "uid", Type: "string"},
	{Name: "id.orig_h", Type: "addr"},
	{Name: "id.orig_p", Type: "port"},
	{Name: "id.resp_h", Type: "addr"},
	{Name: "id.resp_p", Type: "port"},
	{Name: "fuid", Type: "string"},
	{Name: "file_mime_type", Type: "string"},
	{Name: "file_desc", Type: "string"},
	{Name: "proto", Type: "enum"},
	{Name: "note", Type: "enum"},
	{Name: "msg", Type: "string"},
	{Name: "sub", Type: "string"},
	{Name: "src", Type: "addr"},
	{Name: "dst", Type: "addr"},
	{Name: "p", Type: "port"},
	{Name: "n", Type: "count"},
	{Name: "peer_descr", Type: "string"},
	{Name: "actions", Type: "set[enum]"},
	{Name: "email_dest", Type: "set[string]"},
	{Name: "suppress_for", Type: "interval"},
	{Name: "remote_location.country_code", Type: "string"},
	{Name: "remote_location.region", Type: "string"},
	{Name: "remote_location.city", Type: "string"},
	{Name: "remote_location.latitude", Type: "double"},
	{Name: "remote_location.longitude", Type: "double"},
}

// Path is the log path (stream name) of notice.log.
const Path = "notice"

// optString returns s, or Unset() for "".
func optString(s string) zeeklog.Value {
	if s == "" {
		return zeeklog.Unset()
	}
	return zeeklog.String(s)
}

// Values returns the record for zeeklog.Writer.Write, one value per entry of
// Fields. The set values share n.Actions and n.EmailDest. Values is
// safe for concurrent use on distinct or unchanging Notices.
func (n *Notice) Values() []zeeklog.Value {
	v := make([]zeeklog.Value, 0, len(Fields))
	v = append(v, zeeklog.Time(n.TS), optString(n.UID))
	if n.ID.OrigH.IsValid() {
		v = append(v, zeeklog.Addr(n.ID.OrigH), zeeklog.Port(n.ID.OrigP), zeeklog.Addr(n.ID.RespH), zeeklog.Port(n.ID.RespP))
	} else {
		v = append(v, zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset(), zeeklog.Unset())
	}
	v = append(v, optString(n.FUID), optString(n.FileMimeType), optString(n.FileDesc))
	if n.Proto != 0 {
		v = append(v, zeeklog.Enum(protoName(n.Proto)))
	} else {
		v = append(v, zeeklog.Unset())
	}
	v = append(v, zeeklog.Enum(string(n.Note)), optString(n.Msg), optString(n.Sub),
		zeeklog.Addr(n.Src), zeeklog.Addr(n.Dst))
	if n.HasP {
		v = append(v, zeeklog.Port(n.P))
	} else {
		v = append(v, zeeklog.Unset())
	}
	if n.HasN {
		v = append(v, zeeklog.Count(n.N))
	} else {
		v = append(v, zeeklog.Unset())
	}
	v = append(v, optString(n.PeerDescr), zeeklog.StringSet(n.Actions), zeeklog.StringSet(n.EmailDest),
		zeeklog.Interval(n.SuppressFor))
	loc := &n.RemoteLocation
	v = append(v, optString(loc.CountryCode), optString(loc.Region), optString(loc.City))
	if loc.HasCoords {
		v = append(v, zeeklog.Double(loc.Latitude), zeeklog.Double(loc.Longitude))
	} else {
		v = append(v, zeeklog.Unset(), zeeklog.Unset())
	}
	return v
}

// protoName returns Zeek's transport_proto name of an IP protocol.
func protoName(p uint8) string {
	switch p {
	case 6, 0:
		return "tcp"
	case 17:
		return "udp"
	case 1, 58:
		return "icmp"
	}
	return "unknown"
}
