package notice

import (
	"encoding/hex"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"shoal/analysis"
)

var t0 = time.Unix(1508968605, 767055000)

func scanNotice() Notice {
	return Notice{TS: t0, Note: "Scan::Address_Scan", Msg: "m", Sub: "local", Src: netip.MustParseAddr("10.0.0.1"),
		P: 23, Proto: 6, HasP: true, Identifier: "10.0.0.1", SuppressFor: time.Hour, PeerDescr: "datanode-1"}
}

// TestRecordLayout: a notice without connection or file fields keeps the
// byte layout of protocol version 1 (wire.Notice).
func TestRecordLayout(t *testing.T) {
	const v1 = "b0dab1bff7bcf7f029125363616e3a3a416464726573735f5363616e016d056c6f63616c040a000001001706010831302e302e302e318080c58bc6d1010a646174616e6f64652d31"
	if got := hex.EncodeToString(Record{Notice: scanNotice()}.AppendWire(nil)); got != v1 {
		t.Fatalf("encoding\n%s\nwant\n%s", got, v1)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	full := scanNotice()
	full.UID, full.FUID, full.FileMimeType, full.FileDesc = "C1", "F1", "text/plain", "d"
	full.ID = ConnID{OrigH: netip.MustParseAddr("1.1.1.1"), OrigP: 1, RespH: netip.MustParseAddr("2.2.2.2"), RespP: 2}
	full.Dst, full.N, full.HasN, full.EmailDest = netip.MustParseAddr("2.2.2.2"), 7, true, []string{"a@b"}
	full.RemoteLocation = Location{CountryCode: "US", City: "Urbana", Latitude: 40.1, Longitude: -88.2, HasCoords: true}
	for name, n := range map[string]Notice{"v1 fields": scanNotice(), "every field": full, "zero": {}} {
		b := Record{Notice: n}.AppendWire(nil)
		var got Record
		if err := got.DecodeWire(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !got.TS.Equal(n.TS) {
			t.Fatalf("%s: ts %v, want %v", name, got.TS, n.TS)
		}
		got.TS = n.TS
		if !reflect.DeepEqual(got.Notice, n) {
			t.Fatalf("%s:\n got %+v\nwant %+v", name, got.Notice, n)
		}
		// Every strict prefix is refused, but for the version 1 part
		// of a notice with an extension, which is a complete notice.
		v1 := n
		v1.UID, v1.ID, v1.FUID, v1.FileMimeType, v1.FileDesc = "", ConnID{}, "", "", ""
		v1.N, v1.HasN, v1.EmailDest, v1.RemoteLocation = 0, false, nil, Location{}
		v1Len := len(Record{Notice: v1}.AppendWire(nil))
		for i := range len(b) {
			var r Record
			if r.DecodeWire(b[:i]) == nil && i != v1Len {
				t.Fatalf("%s: prefix of %d bytes decoded", name, i)
			}
		}
	}
}

func TestSuppressor(t *testing.T) {
	var s Suppressor
	n := scanNotice()
	at := func(d time.Duration, note Note, id string) *Notice {
		c := n
		c.TS, c.Note, c.Identifier = t0.Add(d), note, id
		return &c
	}
	steps := []struct {
		n    *Notice
		want bool
	}{
		{at(0, "A", "x"), false},
		{at(time.Minute, "A", "x"), true},
		{at(time.Minute, "B", "x"), false}, // another note
		{at(time.Minute, "A", "y"), false}, // another identifier
		{at(time.Hour-time.Nanosecond, "A", "x"), true},
		{at(time.Hour, "A", "x"), false}, // suppression over
		{at(time.Hour+time.Second, "A", "x"), true},
		{at(0, "A", ""), false},
		{at(0, "A", ""), false}, // no identifier: never suppressed
	}
	for i, st := range steps {
		if got := s.Suppressed(st.n); got != st.want {
			t.Fatalf("step %d: suppressed %v, want %v", i, got, st.want)
		}
	}
	zero := scanNotice()
	zero.SuppressFor = 0
	for range 2 {
		if s.Suppressed(&zero) {
			t.Fatal("suppress_for 0 suppressed")
		}
	}
}

func TestManagerRows(t *testing.T) {
	parts, err := New().Attach(analysis.Env{Role: analysis.RoleManager})
	if err != nil {
		t.Fatal(err)
	}
	m := parts.Manager
	b := Record{Notice: scanNotice()}.AppendWire(nil)
	var rows []analysis.Row
	for range 2 {
		if err := m.Rows("dn", TypeNotice, b, t0, &rows); err != nil {
			t.Fatal(err)
		}
	}
	if len(rows) != 1 || rows[0].Path != Path || len(rows[0].Values) != len(Fields) {
		t.Fatalf("rows %+v: want one (the second suppressed)", rows)
	}
	if c := m.Counters(); c[0].Value != 1 || c[1].Value != 1 {
		t.Fatalf("counters %+v", c)
	}
	if _, err := New().Attach(analysis.Env{}); err != nil {
		t.Fatal(err)
	}
}

func FuzzRecord(f *testing.F) {
	f.Add(Record{Notice: scanNotice()}.AppendWire(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if r.DecodeWire(b) != nil {
			return
		}
		var again Record
		if err := again.DecodeWire(r.AppendWire(nil)); err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
	})
}
