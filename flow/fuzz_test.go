package flow_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"shoal/flow"
	"shoal/packet"
)

// FuzzTunnels feeds arbitrary Ethernet frames, seeded with the frames of
// Zeek's tunnel traces, through a decoder and a tracker that decapsulates
// and validates checksums: nothing may panic, and every record and tunnel
// event must be well formed.
func FuzzTunnels(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(zeekDir(f), "tunnels", "traces", "*.pcap"))
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			f.Fatal(err)
		}
		r, err := pcapgo.NewReader(fh)
		if err == nil && r.LinkType() == layers.LinkTypeEthernet {
			for i := 0; i < 4; i++ {
				data, _, err := r.ReadPacketData()
				if err != nil {
					break
				}
				f.Add(data)
			}
		}
		fh.Close()
	}
	dec, _ := packet.NewDecoder(layers.LinkTypeEthernet)
	f.Fuzz(func(t *testing.T, frame []byte) {
		bad := ""
		tr := flow.NewTracker(flow.Config{Checksums: true, Handler: flow.Handler{
			Removed: func(r *flow.Record) {
				if r.UID.IsZero() || len(r.TunnelParents) > 64 {
					bad = "record"
				}
			},
			Tunnel: func(ev *flow.TunnelEvent) {
				if ev.UID.IsZero() || ev.Type == packet.TunnelNone {
					bad = "tunnel event"
				}
			},
		}})
		var p packet.Packet
		for i := range 3 { // the same frame thrice: repeats exercise existing connections and tunnels
			if dec.Decode(frame, time.Unix(1700000000+int64(i), 0), &p) == nil {
				tr.Packet(&p)
			}
		}
		tr.Finish()
		if bad != "" {
			t.Fatalf("malformed %s", bad)
		}
	})
}
