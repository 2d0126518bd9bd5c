package connlog_test

import (
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"shoal/analysis"
	"shoal/connlog"
	"shoal/flow"
	"shoal/packet"
	"shoal/site"
	"shoal/zeeklog"
)

func benchRecord() flow.Record {
	r := flow.Record{UID: flow.UID{Hi: 7, Lo: rand.Uint64()}, TS: time.Unix(1700000000, 123456000),
		Orig: netip.MustParseAddr("10.1.2.3"), OrigPort: 51234, Resp: netip.MustParseAddr("93.184.216.34"), RespPort: 443,
		Proto: packet.ProtoTCP, Duration: 1234567 * time.Microsecond, OrigBytes: 517, RespBytes: 4321,
		State: flow.ConnSF, OrigPkts: 9, OrigIPBytes: 889, RespPkts: 8, RespIPBytes: 4753}
	r.Service.Add("ssl")
	return r
}

// BenchmarkRecord measures a conn.log row's cost on each side: the
// worker's encoding, and the manager's decoding, rendering and TSV write.
func BenchmarkRecord(b *testing.B) {
	r := benchRecord()
	local := site.PrivateNets()
	b.Run("worker-encode", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			buf = connlog.AppendRecord(buf[:0], &r, local)
		}
	})
	b.Run("manager-rows-and-write", func(b *testing.B) {
		enc := connlog.AppendRecord(nil, &r, local)
		parts, _ := connlog.New(connlog.Config{}).Attach(analysis.Env{Role: analysis.RoleManager, Partitions: 1021})
		w, err := zeeklog.New(io.Discard, "conn", connlog.ConnFields, zeeklog.FormatTSV, time.Unix(0, 0))
		if err != nil {
			b.Fatal(err)
		}
		var rows []analysis.Row
		b.ReportAllocs()
		for b.Loop() {
			rows = rows[:0]
			if err := parts.Manager.Rows("w", connlog.TypeConn, enc, time.Time{}, &rows); err != nil {
				b.Fatal(err)
			}
			if err := w.Write(rows[0].Values...); err != nil {
				b.Fatal(err)
			}
		}
	})
}
