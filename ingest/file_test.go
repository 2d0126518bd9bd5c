package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"shoal/internal/zeekdata"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"shoal/packet"
)

// zeekTraces finds ../shared/zeek/traces next to the module root.
func zeekTraces(t testing.TB) string {
	t.Helper()
	return zeekdata.Path(t, "traces")
}

func wikipedia(t testing.TB) string { return filepath.Join(zeekTraces(t), "wikipedia.pcap") }

// record is one raw capture record.
type record struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// readRecords reads a classic pcap with pcapgo directly.
func readRecords(t testing.TB, path string) (layers.LinkType, []record) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	var recs []record
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		recs = append(recs, record{ci, data})
	}
	return r.LinkType(), recs
}

// keep copies a delivered packet, with its payload, so it outlives the
// callback.
func keep(p *packet.Packet) packet.Packet {
	q := *p
	q.Payload = bytes.Clone(p.Payload)
	return q
}

// collect runs a file and returns copies of the delivered packets.
func collect(t testing.TB, path string) ([]packet.Packet, Stats, error) {
	t.Helper()
	f, err := OpenFile(path)
	if err != nil {
		t.Fatalf("OpenFile(%s): %v", path, err)
	}
	defer f.Close()
	var got []packet.Packet
	st, err := f.Run(context.Background(), func(p *packet.Packet) { got = append(got, keep(p)) })
	return got, st, err
}

func TestOpenWikipedia(t *testing.T) {
	f, err := OpenFile(wikipedia(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Format() != "pcap" || f.LinkType() != layers.LinkTypeEthernet || f.Path() != wikipedia(t) {
		t.Errorf("format %s link %v path %s", f.Format(), f.LinkType(), f.Path())
	}
	var first, last packet.Packet
	st, err := f.Run(context.Background(), func(p *packet.Packet) {
		if first.TS.IsZero() {
			first = *p
		}
		last = *p
	})
	if err != nil {
		t.Fatal(err)
	}
	// 136 frames: 121 IPv4 and 5 IPv6, 6 ARP and 4 LLC.
	want := Stats{Packets: 136, Delivered: 126, NotIP: 10, Bytes: st.Bytes}
	if st != want || st.Bytes == 0 {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if first.TS.UnixMicro() != 1300475167096535 || last.WireLen == 0 {
		t.Errorf("first packet %+v, last %+v", first, last)
	}
	if _, err := f.Run(context.Background(), func(*packet.Packet) {}); !errors.Is(err, ErrUsed) {
		t.Errorf("second Run = %v, want ErrUsed", err)
	}
	if err := f.Close(); err != nil {
		t.Error(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pcapHeader := func(link uint32) []byte {
		h := make([]byte, 24)
		binary.LittleEndian.PutUint32(h[0:], magicMicros)
		binary.LittleEndian.PutUint16(h[4:], 2)
		binary.LittleEndian.PutUint16(h[6:], 4)
		binary.LittleEndian.PutUint32(h[16:], 65535)
		binary.LittleEndian.PutUint32(h[20:], link)
		return h
	}
	cases := map[string]struct {
		path    string
		wantErr error
		alsoIs  error
		text    string
	}{
		"missing":          {path: filepath.Join(dir, "nope.pcap"), wantErr: ErrNotCapture, alsoIs: fs.ErrNotExist, text: "nope.pcap"},
		"garbage":          {path: write("garbage.pcap", []byte("this is not a capture file at all, just text\n")), wantErr: ErrNotCapture, text: "unknown magic"},
		"empty":            {path: write("empty.pcap", nil), wantErr: ErrNotCapture, text: "too short"},
		"tiny":             {path: write("tiny.pcap", []byte{0xd4, 0xc3}), wantErr: ErrNotCapture, text: "too short"},
		"directory":        {path: dir, wantErr: ErrNotCapture, text: "directory"},
		"short pcap hdr":   {path: write("short.pcap", pcapHeader(1)[:20]), wantErr: ErrNotCapture, text: "short.pcap"},
		"bad version":      {path: write("version.pcap", append(pcapHeader(1)[:4], make([]byte, 20)...)), wantErr: ErrNotCapture, text: "version"},
		"bad pcapng":       {path: write("bad.pcapng", []byte{0x0a, 0x0d, 0x0d, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}), wantErr: ErrNotCapture, text: "bad.pcapng"},
		"unsupported link": {path: write("null.pcap", pcapHeader(0)), wantErr: packet.ErrUnsupportedLinkType, text: "null.pcap"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f, err := OpenFile(tc.path)
			if err == nil {
				f.Close()
				t.Fatal("OpenFile succeeded")
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tc.wantErr)
			}
			if tc.alsoIs != nil && !errors.Is(err, tc.alsoIs) {
				t.Errorf("error %v does not wrap %v", err, tc.alsoIs)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
			if !strings.Contains(err.Error(), filepath.Base(tc.path)) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// recordEnds returns the offsets at which each record of a classic pcap ends.
func recordEnds(data []byte) []int {
	var ends []int
	for off := 24; off+16 <= len(data); {
		off += 16 + int(binary.LittleEndian.Uint32(data[off+8:]))
		ends = append(ends, off)
	}
	return ends
}

func TestTruncatedPcap(t *testing.T) {
	full, err := os.ReadFile(wikipedia(t))
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := collect(t, wikipedia(t))
	if err != nil {
		t.Fatal(err)
	}
	ends := recordEnds(full)
	if len(ends) != 136 {
		t.Fatalf("%d records", len(ends))
	}
	dir := t.TempDir()
	cases := map[string]struct {
		cut      int
		complete int // complete records before the cut
		wantErr  bool
	}{
		"inside data":         {cut: ends[99] - 7, complete: 99, wantErr: true},
		"inside record hdr":   {cut: ends[49] + 10, complete: 50, wantErr: true},
		"after record header": {cut: ends[49] + 16, complete: 50, wantErr: true},
		"at record boundary":  {cut: ends[79], complete: 80},
		"header only":         {cut: 24, complete: 0},
		"inside first record": {cut: 30, complete: 0, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".pcap")
			if err := os.WriteFile(path, full[:tc.cut], 0o644); err != nil {
				t.Fatal(err)
			}
			got, st, err := collect(t, path)
			if int(st.Packets) != tc.complete {
				t.Errorf("read %d packets, want %d", st.Packets, tc.complete)
			}
			// Every complete packet was delivered, identical to the full run.
			delivered := 0
			for _, p := range all {
				if len(got) > delivered && got[delivered].Equal(&p) {
					delivered++
				}
			}
			if delivered != len(got) || uint64(len(got)) != st.Delivered {
				t.Errorf("delivered packets differ from the full file's (%d of %d match)", delivered, len(got))
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("Run = %v, want ErrTruncated", err)
			}
			for _, s := range []string{path, " " + strconv.Itoa(tc.complete) + " complete packets"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

// writeNg writes records as pcapng and returns the file's bytes.
func writeNg(t testing.TB, path string, link layers.LinkType, recs []record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, link)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		ci := r.ci
		ci.InterfaceIndex = 0
		if err := w.WritePacket(ci, r.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPcapngRoundTrip(t *testing.T) {
	link, recs := readRecords(t, wikipedia(t))
	want, wantSt, err := collect(t, wikipedia(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "wikipedia.pcapng")
	ng := writeNg(t, path, link, recs)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Format() != "pcapng" {
		t.Errorf("format %q", f.Format())
	}
	f.Close()
	got, st, err := collect(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if st != wantSt {
		t.Errorf("stats %+v, want %+v", st, wantSt)
	}
	if len(got) != len(want) {
		t.Fatalf("%d packets, want %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].Equal(&want[i]) {
			t.Fatalf("packet %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	t.Run("truncated", func(t *testing.T) {
		for _, cut := range []int{len(ng) - 1, len(ng) - 50, len(ng) / 2, 200} {
			p := filepath.Join(t.TempDir(), "cut.pcapng")
			if err := os.WriteFile(p, ng[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			got, st, err := collect(t, p)
			if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), p) {
				t.Fatalf("cut at %d: Run = %v, want ErrTruncated naming the file", cut, err)
			}
			if st.Packets == 0 && cut > 1000 {
				t.Errorf("cut at %d: no packets delivered", cut)
			}
			for i := range got {
				if !got[i].Equal(&want[i]) {
					t.Fatalf("cut at %d: packet %d differs", cut, i)
				}
			}
		}
	})
	t.Run("corrupt capture length", func(t *testing.T) {
		bad := append([]byte(nil), ng...)
		// Find the third enhanced packet block and give it a 1 GiB capture length.
		off, seen := 0, 0
		for off+8 <= len(bad) {
			typ := binary.LittleEndian.Uint32(bad[off:])
			blen := int(binary.LittleEndian.Uint32(bad[off+4:]))
			if typ == ngEnhancedPacket {
				seen++
				if seen == 3 {
					binary.LittleEndian.PutUint32(bad[off+20:], 1<<30)
					break
				}
			}
			off += blen
		}
		p := filepath.Join(t.TempDir(), "corrupt.pcapng")
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		_, st, err := collect(t, p)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
			t.Fatalf("Run = %v, want ErrCorrupt naming the file", err)
		}
		if st.Packets != 2 {
			t.Errorf("read %d packets before the corrupt block, want 2", st.Packets)
		}
	})
}

// swapPcap rewrites a little-endian microsecond pcap as big-endian, and
// optionally as nanosecond resolution.
func swapPcap(data []byte, nanos bool) []byte {
	out := append([]byte(nil), data...)
	be, le := binary.BigEndian, binary.LittleEndian
	magic := uint32(magicMicros)
	if nanos {
		magic = magicNanos
	}
	be.PutUint32(out[0:], magic)
	be.PutUint16(out[4:], le.Uint16(data[4:]))
	be.PutUint16(out[6:], le.Uint16(data[6:]))
	for _, o := range []int{8, 12, 16, 20} {
		be.PutUint32(out[o:], le.Uint32(data[o:]))
	}
	for off := 24; off+16 <= len(data); {
		caplen := le.Uint32(data[off+8:])
		for k := 0; k < 16; k += 4 {
			v := le.Uint32(data[off+k:])
			if k == 4 && nanos {
				v *= 1000
			}
			be.PutUint32(out[off+k:], v)
		}
		off += 16 + int(caplen)
	}
	return out
}

func TestByteOrdersAndResolutions(t *testing.T) {
	want, _, err := collect(t, wikipedia(t))
	if err != nil {
		t.Fatal(err)
	}
	full, _ := os.ReadFile(wikipedia(t))
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"big-endian micro": swapPcap(full, false),
		"big-endian nano":  swapPcap(full, true),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".pcap")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, _, err := collect(t, path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d packets, want %d", len(got), len(want))
			}
			for i := range got {
				if !got[i].Equal(&want[i]) {
					t.Fatalf("packet %d: %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
	t.Run("gzip", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(full)
		_ = zw.Close()
		path := filepath.Join(dir, "wikipedia.pcap.gz")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Format() != "pcap.gz" {
			t.Errorf("format %q", f.Format())
		}
		f.Close()
		got, _, err := collect(t, path)
		if err != nil || len(got) != len(want) || !got[len(got)-1].Equal(&want[len(want)-1]) {
			t.Fatalf("%d packets, %v", len(got), err)
		}
	})
	t.Run("little-endian nano via pcapgo", func(t *testing.T) {
		link, recs := readRecords(t, wikipedia(t))
		path := filepath.Join(dir, "nano.pcap")
		fh, _ := os.Create(path)
		w := pcapgo.NewWriterNanos(fh)
		if err := w.WriteFileHeader(65535, link); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			ci := r.ci
			ci.Timestamp = ci.Timestamp.Add(123 * time.Nanosecond)
			_ = w.WritePacket(ci, r.data)
		}
		fh.Close()
		got, _, err := collect(t, path)
		if err != nil || len(got) != len(want) {
			t.Fatalf("%d packets, %v", len(got), err)
		}
		if d := got[0].TS.Sub(want[0].TS); d != 123*time.Nanosecond {
			t.Errorf("nanosecond timestamps lost: off by %v", d)
		}
	})
}

// writePcap writes frames with pcapgo.Writer.
func writePcap(t testing.TB, path string, link layers.LinkType, recs []record) {
	t.Helper()
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w := pcapgo.NewWriter(fh)
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		ci := r.ci
		ci.CaptureLength = len(r.data)
		ci.Length = len(r.data)
		if err := w.WritePacket(ci, r.data); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLinkTypeFiles re-frames the IP packets of wikipedia.pcap as Linux SLL
// and raw IP captures; they must decode to the same packets.
func TestLinkTypeFiles(t *testing.T) {
	_, recs := readRecords(t, wikipedia(t))
	want, _, err := collect(t, wikipedia(t))
	if err != nil {
		t.Fatal(err)
	}
	var sll, raw, raw4 []record
	var want4 []packet.Packet
	wi := 0
	for _, r := range recs {
		et := binary.BigEndian.Uint16(r.data[12:14])
		if et != 0x0800 && et != 0x86dd {
			continue
		}
		ip := r.data[14:]
		h := make([]byte, 16, 16+len(ip))
		binary.BigEndian.PutUint16(h[0:], 0) // PACKET_HOST
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], r.data[6:12])
		binary.BigEndian.PutUint16(h[14:], et)
		sll = append(sll, record{r.ci, append(h, ip...)})
		raw = append(raw, record{r.ci, ip})
		if et == 0x0800 {
			raw4 = append(raw4, record{r.ci, ip})
			want4 = append(want4, want[wi])
		}
		wi++
	}
	dir := t.TempDir()
	cases := map[string]struct {
		link layers.LinkType
		recs []record
		want []packet.Packet
	}{
		"linux sll": {layers.LinkTypeLinuxSLL, sll, want},
		"raw ip":    {layers.LinkTypeRaw, raw, want},
		"ipv4 228":  {layers.LinkTypeIPv4, raw4, want4},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".pcap")
			writePcap(t, path, tc.link, tc.recs)
			got, st, err := collect(t, path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Malformed != 0 || len(got) != len(tc.want) {
				t.Fatalf("%d packets (%+v), want %d", len(got), st, len(tc.want))
			}
			for i := range got {
				w := tc.want[i]
				w.WireLen = got[i].WireLen // the frames differ in link-layer length
				if !got[i].Equal(&w) {
					t.Fatalf("packet %d: %+v, want %+v", i, got[i], w)
				}
			}
		})
	}
}

func TestMalformedCountedAndSkipped(t *testing.T) {
	_, recs := readRecords(t, wikipedia(t))
	garbage := record{recs[0].ci, append(append([]byte(nil), recs[0].data[:14]...), 0x45, 0, 0)}
	frag := append([]byte(nil), recs[2].data...)
	frag[14+6] |= 0x20 // IPv4 more-fragments
	mixed := []record{recs[0], garbage, recs[1], {recs[2].ci, frag}, recs[2]}
	path := filepath.Join(t.TempDir(), "mixed.pcap")
	writePcap(t, path, layers.LinkTypeEthernet, mixed)
	got, st, err := collect(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets != 5 || st.Malformed != 1 || st.Skipped != 1 || st.Delivered != uint64(len(got)) {
		t.Errorf("stats %+v", st)
	}
}

func TestRunStopsOnContext(t *testing.T) {
	f, err := OpenFile(wikipedia(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	st, err := f.Run(ctx, func(*packet.Packet) {
		n++
		if n == 10 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || st.Delivered != 10 {
		t.Errorf("Run = %+v, %v; want 10 delivered and context.Canceled", st, err)
	}
}
