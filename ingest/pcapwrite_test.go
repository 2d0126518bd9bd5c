package ingest

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"shoal/packet"
)

// TestPcapWriterFrames: PcapWriter encodes every generated packet (IPv4 and
// IPv6, TCP and UDP, with payload) byte for byte as gopacket does, lengths
// and checksums included.
func TestPcapWriterFrames(t *testing.T) {
	for name, local := range map[string]netip.Prefix{
		"ipv4": netip.MustParsePrefix("10.0.0.0/8"), "ipv6": netip.MustParsePrefix("fd00:1::/64"),
	} {
		t.Run(name, func(t *testing.T) {
			pkts, _ := generate(t, GeneratorConfig{Seed: 21, Hosts: 50, Servers: 20, LocalServers: 20, Count: 2000,
				Scanners: 2, LocalNet: local, Start: genStart})
			for i := range pkts {
				p := &pkts[i]
				got, err := appendFrame(nil, p)
				if err != nil {
					t.Fatal(err)
				}
				if want := frame(t, p); !bytes.Equal(got, want) {
					t.Fatalf("packet %d %+v:\n got %x\nwant %x", i, *p, got, want)
				}
				if len(got) != p.WireLen {
					t.Fatalf("packet %d: frame of %d bytes, WireLen %d", i, len(got), p.WireLen)
				}
			}
		})
	}
	var w bytes.Buffer
	pw, _ := NewPcapWriter(&w)
	for _, p := range []packet.Packet{
		{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: packet.ProtoICMP},
		{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("fd00::2"), Proto: packet.ProtoTCP},
	} {
		if err := pw.Write(&p); !errors.Is(err, ErrNotWritable) {
			t.Errorf("Write(%v -> %v proto %d) = %v, want ErrNotWritable", p.Src, p.Dst, p.Proto, err)
		}
	}
}

// TestGeneratedPcapTruth closes the loop through a file: generator ->
// PcapWriter -> OpenFile -> decoder -> tracker and analyses, which find the
// packets as generated (nanosecond timestamps included) and exactly the
// ground truth.
func TestGeneratedPcapTruth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gen.pcap")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var truth bytes.Buffer
	cfg := GeneratorConfig{Seed: 22, Hosts: 200, Servers: 50, LocalServers: 50, Count: 30000 / raceScale, Scanners: 3,
		Start: genStart.Add(123456789 * time.Nanosecond), Truth: &truth,
		TruthConfig: TruthConfig{Epochs: []time.Duration{0, 2 * time.Second}, AttemptDelay: time.Second}}
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := NewPcapWriter(fh)
	if err != nil {
		t.Fatal(err)
	}
	var pkts []packet.Packet
	if _, err := g.Run(context.Background(), func(p *packet.Packet) {
		pkts = append(pkts, keep(p))
		if err := pw.Write(p); err != nil {
			t.Fatal(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := pw.Flush(); err != nil || pw.Packets() != uint64(len(pkts)) {
		t.Fatalf("Flush = %v, %d packets written of %d", err, pw.Packets(), len(pkts))
	}
	fh.Close()

	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := newAnalyses(cfg.TruthConfig)
	i := 0
	st, err := f.Run(context.Background(), func(p *packet.Packet) {
		if i < len(pkts) && !p.Equal(&pkts[i]) {
			t.Fatalf("packet %d read back as %+v, generated %+v", i, *p, pkts[i])
		}
		i++
		a.tr.Packet(p)
	})
	a.tr.Finish()
	if err != nil || i != len(pkts) || st.Malformed != 0 {
		t.Fatalf("read %d of %d packets: %+v, %v", i, len(pkts), st, err)
	}
	want, err := ReadTruth(&truth)
	if err != nil {
		t.Fatal(err)
	}
	compareTruth(t, want, a)
}
