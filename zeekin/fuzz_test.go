package zeekin

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"
	"testing/iotest"

	"shoal/zeeklog"
)

// decodeAll reads every record of data through a File over r and returns
// the records, the error texts, and the stats.
func decodeAll(t *testing.T, r io.Reader, hint Kind) ([]Record, []string, Stats, bool) {
	f := newFile("fuzz.log", r, hint)
	var recs []Record
	var errs []string
	layout := false
	for range 1 << 20 {
		rec, err := f.Next()
		if errors.Is(err, io.EOF) {
			return recs, errs, f.Stats(), layout
		}
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("non-line error from an in-memory reader: %v", err)
			}
			layout = layout || errors.Is(err, ErrLayout)
			errs = append(errs, err.Error())
			continue
		}
		if rec.Kind == KindUnknown || (rec.Conn == nil) == (rec.Kind == KindConn) ||
			(rec.SSL == nil) == (rec.Kind == KindSSL) || (rec.X509 == nil) == (rec.Kind == KindX509) {
			t.Fatalf("inconsistent record %+v", rec)
		}
		if rec.Kind == KindSSL && len(rec.SSL.Chain) == 0 {
			t.Fatalf("ssl record without chain: %+v", rec.SSL)
		}
		recs = append(recs, rec)
	}
	t.Fatal("Next did not reach EOF")
	return nil, nil, Stats{}, false
}

// checkDecoder is the property shared by both fuzz targets: no panic, the
// counts add up, and the result does not depend on how reads split the
// input (as when a followed file grows a few bytes at a time).
func checkDecoder(t *testing.T, data []byte) ([]Record, Stats, bool) {
	for _, hint := range []Kind{KindUnknown, KindConn, KindSSL, KindX509} {
		recs, errs, st, layout := decodeAll(t, bytes.NewReader(data), hint)
		if st.Records != uint64(len(recs)) || st.Records+st.Malformed+st.Skipped > st.Lines {
			t.Fatalf("stats %+v for %d records", st, len(recs))
		}
		for _, r := range []io.Reader{iotest.OneByteReader(bytes.NewReader(data)), iotest.HalfReader(bytes.NewReader(data))} {
			recs2, errs2, st2, _ := decodeAll(t, r, hint)
			if !reflect.DeepEqual(recs, recs2) || !reflect.DeepEqual(errs, errs2) || st != st2 {
				t.Fatalf("split reads differ:\n%v %v %+v\n%v %v %+v", recs, errs, st, recs2, errs2, st2)
			}
		}
		if hint == KindUnknown {
			return recs, st, layout
		}
	}
	return nil, Stats{}, false
}

func addSeeds(f *testing.F, json bool) {
	for _, p := range [][]string{
		{"conn-wikipedia", "conn.log"}, {"conn-wikipedia", "conn.v3.log"}, {"conn-http-get", "conn.log"},
		{"known-certs", "ssl.log"}, {"known-certs", "ssl.v3.log"}, {"known-certs", "x509.log"}, {"known-certs", "x509.v3.log"},
	} {
		path := expected(f, p...)
		if json {
			path = toJSON(f, path, f.TempDir())
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		if len(data) > 600 {
			f.Add(data[:600]) // cut mid-line
		}
	}
}

// FuzzReadTSV feeds arbitrary text to the record reader. Besides
// checkDecoder, where zeeklog's whole-file reader accepts the input and our
// reader found its layout, every one of zeeklog's rows must be accounted
// for as a record, a malformed line or a skipped row.
func FuzzReadTSV(f *testing.F) {
	addSeeds(f, false)
	f.Add([]byte("#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\thistory\n1\t::1\t1\t::2\t2\ttcp\tS0\tS\n"))
	f.Add([]byte("#separator \\x7c\n#set_separator|;\n#path|x509\n#fields|id|certificate.serial|certificate.subject|certificate.issuer\nF1|01|a|b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, st, layout := checkDecoder(t, data)
		if layout || len(data) == 0 || data[len(data)-1] != '\n' {
			return
		}
		l, err := zeeklog.ReadTSV(bytes.NewReader(data))
		if err != nil {
			return
		}
		if st.Records+st.Malformed+st.Skipped != uint64(len(l.Rows)) {
			t.Fatalf("zeeklog read %d rows; we have %d records, %d malformed, %d skipped (%d delivered)",
				len(l.Rows), st.Records, st.Malformed, st.Skipped, len(recs))
		}
	})
}

// FuzzReadJSON feeds arbitrary JSON lines to the record reader.
func FuzzReadJSON(f *testing.F) {
	addSeeds(f, true)
	f.Add([]byte(`{"ts":"2011-03-18T19:06:08.724007Z","id.orig_h":"1.1.1.1","id.orig_p":1,"id.resp_h":"2.2.2.2","id.resp_p":2,"proto":"tcp","history":"S\\xff"}` + "\n"))
	f.Add([]byte(`{"ts":1e3,"certificate.serial":"01","id":"F1"}` + "\n" + `{"ts":1,"id.resp_h":"::1","id.resp_p":443,"established":true,"cert_chain_fuids":["F1"]}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _, _ := checkDecoder(t, data)
		for _, r := range recs {
			if r.Kind == KindConn && r.Conn.Has(HasOrigH) && !r.Conn.OrigH.IsValid() {
				t.Fatalf("conn with an invalid set address: %+v", r.Conn)
			}
		}
	})
}

// benchLog is the wikipedia conn.v3.log rows repeated to about 34,000 rows.
func benchLog(b *testing.B, json bool) []byte {
	path := expected(b, "conn-wikipedia", "conn.v3.log")
	if json {
		path = toJSON(b, path, b.TempDir())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var hdr, body []byte
	for line := range bytes.Lines(data) {
		if line[0] == '#' {
			if !bytes.HasPrefix(line, []byte("#close")) {
				hdr = append(hdr, line...)
			}
			continue
		}
		body = append(body, line...)
	}
	return append(hdr, bytes.Repeat(body, 1000)...)
}

func benchDecode(b *testing.B, json bool) {
	data := benchLog(b, json)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var n uint64
	for b.Loop() {
		f := newFile("bench.log", bytes.NewReader(data), KindConn)
		for {
			if _, err := f.Next(); err != nil {
				if !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
				break
			}
		}
		n = f.Stats().Records
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkDecodeConnTSV(b *testing.B)  { benchDecode(b, false) }
func BenchmarkDecodeConnJSON(b *testing.B) { benchDecode(b, true) }
