package scan

import (
	"bytes"
	"net/netip"
	"shoal/notice"
	"strings"
	"testing"
	"time"

	"shoal/zeeklog"
)

func TestSuppression(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ScanThreshold = 3
	cases := map[string]struct {
		later  float64 // seconds after the notice of the next sweep
		notice bool
	}{
		"ignored right after":     {1, false},
		"ignored just before 1 h": {3599.999, false},
		"counted again at 1 h":    {3600, true},
		"counted again after":     {7200, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDetector(t, cfg)
			first := run(d, sweepPorts("1.2.3.4", "10.0.0.1", 1, 3, 0, 1))
			if len(first) != 1 {
				t.Fatalf("want one notice, got %d", len(first))
			}
			noticeAt := 2.0
			if !d.Suppressed(addr("1.2.3.4"), at(noticeAt+0.5)) {
				t.Error("not suppressed after the notice")
			}
			second := run(d, sweepPorts("1.2.3.4", "10.0.0.1", 100, 3, noticeAt+tc.later, 0))
			if got := len(second) == 1; got != tc.notice {
				t.Fatalf("second sweep notices %d, want notice %v", len(second), tc.notice)
			}
			st := d.Stats()
			if tc.notice {
				if st.Ignored != 0 || second[0].Msg != "1.2.3.4 scanned at least 3 unique ports on host 10.0.0.1 in 0m0s" {
					t.Errorf("second notice %q (stats %+v): state must start afresh", second[0].Msg, st)
				}
			} else if st.Ignored != 3 || d.Len() != 0 {
				t.Errorf("stats %+v len %d: want 3 ignored and no state", st, d.Len())
			}
		})
	}
}

func TestSuppressFromElsewhere(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ScanThreshold = 3
	d := newDetector(t, cfg)
	run(d, sweepPorts("1.2.3.4", "10.0.0.1", 1, 2, 0, 1))
	d.Suppress(addr("1.2.3.4"), at(10))
	if d.Len() != 0 || !d.Suppressed(addr("1.2.3.4"), at(11)) {
		t.Fatal("Suppress must drop the state and suppress")
	}
	d.Suppress(addr("1.2.3.4"), at(1000)) // already suppressed: deadline kept
	if d.Suppressed(addr("1.2.3.4"), at(3610)) {
		t.Error("a second Suppress must not extend the deadline")
	}
	if ns := run(d, sweepPorts("1.2.3.4", "10.0.0.1", 1, 3, 3610, 0)); len(ns) != 1 {
		t.Errorf("after the suppression ended want a notice, got %d", len(ns))
	}
	if d.Expire(at(3610+3600)) != 1 || d.Stats().Suppressed != 0 {
		t.Errorf("the second suppression should expire: %+v", d.Stats())
	}
}

func TestScanTimeout(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ScanThreshold = 3
	cases := map[string]struct {
		gap    float64 // seconds between the 2nd attempt and the 3rd
		notice string  // "" for none
	}{
		"inside the timeout": {899.999, "1.2.3.4 scanned at least 3 unique ports on host 10.0.0.1 in 15m0s"},
		"at the timeout":     {900, ""},
		"after the timeout":  {3600, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDetector(t, cfg)
			ns := run(d, []obs{
				{"1.2.3.4", "10.0.0.1", 1, 0}, {"1.2.3.4", "10.0.0.1", 2, 1}, {"1.2.3.4", "10.0.0.1", 3, 1 + tc.gap},
			})
			switch {
			case tc.notice == "" && len(ns) != 0:
				t.Errorf("unexpected notice %q", ns[0].Msg)
			case tc.notice != "" && (len(ns) != 1 || ns[0].Msg != tc.notice):
				t.Errorf("notices %+v, want %q", ns, tc.notice)
			}
			if tc.notice == "" {
				st := d.Export(nil)
				if len(st.Scanners) != 1 || len(st.Scanners[0].Attempts) != 1 || !st.Scanners[0].FirstSeen.Equal(at(1+tc.gap)) {
					t.Errorf("state must restart after the timeout: %+v", st)
				}
				if d.Stats().Expired != 1 {
					t.Errorf("expired %d, want 1", d.Stats().Expired)
				}
			}
		})
	}
}

func TestReadExpireCountsDuplicates(t *testing.T) {
	// A repeated attempt still reads attacks[scanner], so it keeps the state alive.
	cfg := DefaultConfig()
	cfg.ScanThreshold = 2
	d := newDetector(t, cfg)
	ns := run(d, []obs{{"1.2.3.4", "10.0.0.1", 1, 0}, {"1.2.3.4", "10.0.0.1", 1, 800}, {"1.2.3.4", "10.0.0.1", 2, 1600}})
	if len(ns) != 1 || ns[0].Msg != "1.2.3.4 scanned at least 2 unique ports on host 10.0.0.1 in 26m40s" {
		t.Fatalf("notices %+v", ns)
	}
}

func TestExpireOrder(t *testing.T) {
	d := newDetector(t, DefaultConfig())
	run(d, []obs{
		{"1.1.1.1", "10.0.0.1", 1, 0}, {"2.2.2.2", "10.0.0.1", 1, 10}, {"3.3.3.3", "10.0.0.1", 1, 20},
		{"1.1.1.1", "10.0.0.1", 2, 30}, // refreshes 1.1.1.1
	})
	steps := []struct {
		at    float64
		n     int
		left  int
		first string
	}{
		{909, 0, 3, ""}, {910, 1, 2, "2.2.2.2"}, {920, 1, 1, "3.3.3.3"}, {929, 0, 1, ""}, {930, 1, 0, "1.1.1.1"},
	}
	for _, s := range steps {
		before := d.Export(nil)
		if n := d.Expire(at(s.at)); n != s.n || d.Len() != s.left {
			t.Fatalf("Expire(%v) = %d leaving %d, want %d leaving %d", s.at, n, d.Len(), s.n, s.left)
		}
		if s.n == 1 {
			after := d.Export(nil)
			gone := ""
			for _, ss := range before.Scanners {
				found := false
				for _, x := range after.Scanners {
					found = found || x.Scanner == ss.Scanner
				}
				if !found {
					gone = ss.Scanner.String()
				}
			}
			if gone != s.first {
				t.Errorf("at %v expired %s, want %s", s.at, gone, s.first)
			}
		}
	}
}

func TestBackwardsTime(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ScanThreshold = 2
	d := newDetector(t, cfg)
	ns := run(d, []obs{{"1.2.3.4", "10.0.0.1", 1, 100}, {"1.2.3.4", "10.0.0.1", 2, 50}})
	if len(ns) != 1 || !ns[0].TS.Equal(at(100)) || !strings.HasSuffix(ns[0].Msg, " in 0m0s") {
		t.Fatalf("an earlier time must be taken as network time: %+v", ns)
	}
	if !d.Now().Equal(at(100)) {
		t.Errorf("Now = %v", d.Now())
	}
}

func TestInvalidAttempts(t *testing.T) {
	d := newDetector(t, DefaultConfig())
	for _, a := range []Attempt{
		{TS: at(0), Victim: addr("10.0.0.1")},
		{TS: at(0), Scanner: addr("1.2.3.4")},
		{},
	} {
		if _, ok := d.Observe(a, a.TS); ok {
			t.Fatal("notice for an invalid attempt")
		}
	}
	if st := d.Stats(); st.Invalid != 3 || st.Attempts != 0 || st.Scanners != 0 {
		t.Errorf("stats %+v", st)
	}
	// IPv4-mapped addresses and protocol 0 are normalised.
	d.Observe(Attempt{TS: at(1), Scanner: addr("::ffff:1.2.3.4"), Victim: addr("::ffff:10.0.0.1"), Port: 22}, at(1))
	d.Observe(Attempt{TS: at(2), Scanner: addr("1.2.3.4"), Victim: addr("10.0.0.1"), Port: 22, Proto: 6}, at(2))
	st := d.Export(nil)
	if len(st.Scanners) != 1 || st.Scanners[0].Scanner != addr("1.2.3.4") || len(st.Scanners[0].Attempts) != 1 ||
		st.Scanners[0].Attempts[0] != (Target{Victim: addr("10.0.0.1"), Port: 22, Proto: 6}) {
		t.Errorf("state %+v", st)
	}
}

func TestMaxScanners(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxScanners = 3
	cfg.ScanThreshold = 2
	d := newDetector(t, cfg)
	run(d, []obs{
		{"1.1.1.1", "10.0.0.1", 1, 0}, {"2.2.2.2", "10.0.0.1", 1, 1}, {"3.3.3.3", "10.0.0.1", 1, 2},
		{"1.1.1.1", "10.0.0.1", 1, 3}, // refreshes 1.1.1.1: 2.2.2.2 is now the oldest
		{"4.4.4.4", "10.0.0.1", 1, 4},
	})
	if d.Len() != 3 || d.Stats().Evicted != 1 {
		t.Fatalf("len %d stats %+v", d.Len(), d.Stats())
	}
	for _, ss := range d.Export(nil).Scanners {
		if ss.Scanner == addr("2.2.2.2") {
			t.Error("2.2.2.2 should have been evicted")
		}
	}
	// Suppressions are bounded too: four notices keep three suppressions.
	for i, s := range []string{"5.5.5.5", "6.6.6.6", "7.7.7.7", "8.8.8.8"} {
		if ns := run(d, sweepPorts(s, "10.0.0.1", 1, 2, 10+float64(i), 0)); len(ns) != 1 {
			t.Fatalf("%s: %d notices", s, len(ns))
		}
	}
	if st := d.Stats(); st.Suppressed != 3 || st.SuppressedEvicted != 1 || d.Suppressed(addr("5.5.5.5"), at(20)) {
		t.Errorf("stats %+v", st)
	}
}

func TestNoticeValues(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LocalNets = nets(t, "10.0.0.0/24")
	cfg.LocalScanThreshold = 5
	d := newDetector(t, cfg)
	var n notice.Notice
	var ok bool
	for i := range 5 {
		n, ok = d.Observe(Attempt{TS: at(float64(i)), Scanner: addr("10.0.0.1"), Victim: host("10.0.", i), Port: 23, Proto: 6}, at(float64(i)))
	}
	if !ok {
		t.Fatal("no notice")
	}
	if len(notice.Fields) != 26 || len(n.Values()) != len(notice.Fields) {
		t.Fatalf("%d fields, %d values", len(notice.Fields), len(n.Values()))
	}
	var buf bytes.Buffer
	w, err := zeeklog.New(&buf, notice.Path, notice.Fields, zeeklog.FormatTSV, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(n.Values()...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	wantFields := "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tfuid\tfile_mime_type\tfile_desc\tproto\tnote\tmsg\tsub\tsrc\tdst\tp\tn\tpeer_descr\tactions\temail_dest\tsuppress_for\tremote_location.country_code\tremote_location.region\tremote_location.city\tremote_location.latitude\tremote_location.longitude"
	wantTypes := "#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tstring\tenum\tenum\tstring\tstring\taddr\taddr\tport\tcount\tstring\tset[enum]\tset[string]\tinterval\tstring\tstring\tstring\tdouble\tdouble"
	wantRow := "1508968605.767055\t-\t-\t-\t-\t-\t-\t-\t-\ttcp\tScan::Address_Scan\t10.0.0.1 scanned at least 5 unique hosts on port 23/tcp in 0m4s\tlocal\t10.0.0.1\t-\t23\t-\t-\tNotice::ACTION_LOG\t(empty)\t3600.000000\t-\t-\t-\t-\t-"
	if lines[6] != wantFields || lines[7] != wantTypes || lines[8] != wantRow {
		t.Errorf("notice.log:\n%s\nwant row\n%s", buf.String(), wantRow)
	}

	// Every optional field, set.
	full := notice.Notice{
		TS: at(0), UID: "C1", ID: notice.ConnID{OrigH: addr("1.1.1.1"), OrigP: 1, RespH: addr("2.2.2.2"), RespP: 2},
		FUID: "F1", FileMimeType: "text/plain", FileDesc: "d", Proto: 17, Note: PortScan, Msg: "m", Sub: "s",
		Src: addr("1.1.1.1"), Dst: addr("2.2.2.2"), P: 53, HasP: true, N: 7, HasN: true, PeerDescr: "dn-1",
		Actions: []string{notice.ActionLog}, EmailDest: []string{"a@b"}, SuppressFor: 90 * time.Second,
		RemoteLocation: notice.Location{CountryCode: "US", Region: "IL", City: "Urbana", Latitude: 40.1, Longitude: -88.2, HasCoords: true},
	}
	buf.Reset()
	w, _ = zeeklog.New(&buf, notice.Path, notice.Fields, zeeklog.FormatTSV, time.Unix(0, 0))
	if err := w.Write(full.Values()...); err != nil {
		t.Fatal(err)
	}
	_ = w.Flush()
	row := strings.Split(buf.String(), "\n")[8]
	if want := "1508968601.767055\tC1\t1.1.1.1\t1\t2.2.2.2\t2\tF1\ttext/plain\td\tudp\tScan::Port_Scan\tm\ts\t1.1.1.1\t2.2.2.2\t53\t7\tdn-1\tNotice::ACTION_LOG\ta@b\t90.000000\tUS\tIL\tUrbana\t40.1\t-88.2"; row != want {
		t.Errorf("row\n%s\nwant\n%s", row, want)
	}
}

func TestDetectorRemove(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ScanThreshold = 2
	d := newDetector(t, cfg)
	run(d, []obs{{"1.1.1.1", "10.0.0.1", 1, 0}, {"2.2.2.2", "10.0.0.1", 1, 0}, {"2.2.2.2", "10.0.0.1", 2, 0}, {"3.3.3.3", "10.0.0.1", 2, 0}})
	n := d.Remove(func(a netip.Addr) bool { return a != addr("3.3.3.3") })
	if n != 2 || d.Len() != 1 || d.Stats().Suppressed != 0 {
		t.Errorf("Remove = %d, len %d, stats %+v", n, d.Len(), d.Stats())
	}
}
