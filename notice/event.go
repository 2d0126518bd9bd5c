package notice

import (
	"encoding/binary"
	"time"

	"shoal/internal/wire"
)

// TypeNotice is the wire type of a notice on its way to a manager. The
// number is part of the protocol.
const TypeNotice wire.Type = 8

// Record is a notice as a record: what a datanode sends to the manager
// that writes notice.log. It carries the notice's fields except Actions,
// which the manager sets (Notice::ACTION_LOG).
type Record struct {
	Notice
}

// Key is the partition key of a notice in the manager pool: note and
// identifier, so that every notice one suppression covers reaches the same
// manager. The slice is fresh.
func Key(n *Notice) []byte {
	b := make([]byte, 0, len(n.Note)+1+len(n.Identifier))
	b = append(b, n.Note...)
	b = append(b, 0)
	return append(b, n.Identifier...)
}

// WireType implements wire.Event.
func (Record) WireType() wire.Type { return TypeNotice }

// AppendWire implements wire.Event. The first twelve fields keep the layout
// of protocol version 1; the fields a notice of a connection or a file
// adds follow only when one of them is set.
func (e Record) AppendWire(b []byte) []byte {
	n := &e.Notice
	ts := int64(0)
	if !n.TS.IsZero() {
		ts = n.TS.UnixNano()
	}
	b = binary.AppendVarint(b, ts)
	b = wire.AppendString(b, string(n.Note))
	b = wire.AppendString(b, n.Msg)
	b = wire.AppendString(b, n.Sub)
	b = wire.AppendAddr(b, n.Src)
	b = wire.AppendAddr(b, n.Dst)
	b = binary.AppendUvarint(b, uint64(n.P))
	b = append(b, n.Proto)
	b = wire.AppendBool(b, n.HasP)
	b = wire.AppendString(b, n.Identifier)
	b = binary.AppendVarint(b, int64(n.SuppressFor))
	b = wire.AppendString(b, n.PeerDescr)
	if !n.hasExtra() {
		return b
	}
	b = append(b, 1) // extension
	b = wire.AppendString(b, n.UID)
	b = wire.AppendAddr(b, n.ID.OrigH)
	b = binary.AppendUvarint(b, uint64(n.ID.OrigP))
	b = wire.AppendAddr(b, n.ID.RespH)
	b = binary.AppendUvarint(b, uint64(n.ID.RespP))
	b = wire.AppendString(b, n.FUID)
	b = wire.AppendString(b, n.FileMimeType)
	b = wire.AppendString(b, n.FileDesc)
	b = wire.AppendBool(b, n.HasN)
	b = binary.AppendUvarint(b, n.N)
	b = binary.AppendUvarint(b, uint64(len(n.EmailDest)))
	for _, d := range n.EmailDest {
		b = wire.AppendString(b, d)
	}
	loc := &n.RemoteLocation
	b = wire.AppendString(b, loc.CountryCode)
	b = wire.AppendString(b, loc.Region)
	b = wire.AppendString(b, loc.City)
	b = wire.AppendBool(b, loc.HasCoords)
	b = wire.AppendF64(b, loc.Latitude)
	return wire.AppendF64(b, loc.Longitude)
}

func (n *Notice) hasExtra() bool {
	return n.UID != "" || n.ID.OrigH.IsValid() || n.FUID != "" || n.FileMimeType != "" || n.FileDesc != "" ||
		n.HasN || len(n.EmailDest) > 0 || n.RemoteLocation != (Location{})
}

// maxEmailDest bounds the decoded email_dest set.
const maxEmailDest = 64

// DecodeWire implements wire.Decoder. Actions are left empty.
func (e *Record) DecodeWire(b []byte) error {
	*e = Record{}
	n := &e.Notice
	r := wire.NewReader(b)
	if ts := r.Varint("ts"); ts != 0 {
		n.TS = time.Unix(0, ts)
	}
	n.Note = Note(r.Str("note"))
	n.Msg = r.Str("msg")
	n.Sub = r.Str("sub")
	n.Src = r.Addr("src")
	n.Dst = r.Addr("dst")
	n.P = r.U16("port")
	n.Proto = r.U8("proto")
	n.HasP = r.Bool("has_port")
	n.Identifier = r.Str("identifier")
	n.SuppressFor = time.Duration(r.Varint("suppress_for"))
	n.PeerDescr = r.Str("peer_descr")
	if r.Err() != nil || r.Done() == nil {
		return r.Done()
	}
	if r.U8("extension") != 1 {
		r.Fail("extension", wire.ErrBadValue)
	}
	n.UID = r.Str("uid")
	n.ID.OrigH = r.Addr("id.orig_h")
	n.ID.OrigP = r.U16("id.orig_p")
	n.ID.RespH = r.Addr("id.resp_h")
	n.ID.RespP = r.U16("id.resp_p")
	n.FUID = r.Str("fuid")
	n.FileMimeType = r.Str("file_mime_type")
	n.FileDesc = r.Str("file_desc")
	n.HasN = r.Bool("has_n")
	n.N = r.Uvarint("n")
	if k := r.Uvarint("email_dest"); k > maxEmailDest {
		r.Fail("email_dest", wire.ErrBadValue)
	} else {
		for range k {
			n.EmailDest = append(n.EmailDest, r.Str("email_dest"))
		}
	}
	loc := &n.RemoteLocation
	loc.CountryCode = r.Str("country_code")
	loc.Region = r.Str("region")
	loc.City = r.Str("city")
	loc.HasCoords = r.Bool("has_coords")
	loc.Latitude = r.F64("latitude")
	loc.Longitude = r.F64("longitude")
	return r.Done()
}
