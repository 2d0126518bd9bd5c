package software

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"shoal/internal/zeekdata"
	"shoal/site"
	"shoal/zeeklog"
)

// renderRows writes Infos as software.log and reads the records back as
// strings, as a manager would write them.
func renderRows(t *testing.T, infos []Info) [][]string {
	t.Helper()
	var buf bytes.Buffer
	w, err := zeeklog.New(&buf, LogPath, LogFields, zeeklog.FormatTSV, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for i := range infos {
		if err := w.Write(infos[i].Row()...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	l, err := zeeklog.ReadTSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return l.Rows
}

func readBaseline(t *testing.T, rel string) *zeeklog.Log {
	t.Helper()
	l, err := zeeklog.ReadTSVFile(filepath.Join(zeekdata.Path(t), "expected", rel))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestVersionChangesCase replays Zeek's software-version-changes test: ten
// detections of my_fake_software cycling through 1.0.0, 1.1.0, 1.2.0,
// 1.0.0, 1.3.0 on one host, with asset tracking ALL and the name listed as
// interesting, once with the worker's suppression cache and once without
// (the test's second part, found_cache_interval = 0secs). software.log must
// equal the baseline (4 rows: a version seen before is not logged again)
// and the notices must be its 3 Software_Version_Change notices.
func TestVersionChangesCase(t *testing.T) {
	wantLog := readBaseline(t, "software-version-changes/software.log")
	wantNotices := readBaseline(t, "software-version-changes/notice.log")
	if len(wantLog.Rows) != 4 || len(wantNotices.Rows) != 3 {
		t.Fatalf("baseline: %d rows, %d notices", len(wantLog.Rows), len(wantNotices.Rows))
	}
	if !slices.Equal(wantLog.Fields, fieldNames(LogFields)) {
		t.Fatalf("fields %v, baseline %v", fieldNames(LogFields), wantLog.Fields)
	}
	for _, interval := range []time.Duration{0, -1} {
		w := NewWorker(WorkerConfig{Tracking: site.AllHosts, FoundCacheInterval: interval})
		o := NewOwner(OwnerConfig{Interesting: []string{"my_fake_software"}})
		versions := []string{"1.0.0", "1.1.0", "1.2.0", "1.0.0", "1.3.0"}
		now := time.Unix(1700000000, 250000000)
		var logged []Info
		var changes []*VersionChange
		for c := range 10 {
			i := Info{Host: netip.MustParseAddr("127.0.0.1"), Name: "my_fake_software",
				Unparsed: "my_fake_software " + versions[c%len(versions)]}
			sent, ok := w.Found(0, i, now)
			if !ok {
				continue
			}
			r := o.Apply(0, sent, now)
			if r.Log {
				logged = append(logged, sent)
			}
			if r.Notice {
				changes = append(changes, r.Change)
			}
		}
		got := renderRows(t, logged)
		if len(got) != len(wantLog.Rows) {
			t.Fatalf("cache %v: %d rows, want %d", interval, len(got), len(wantLog.Rows))
		}
		for k := range got {
			if !slices.Equal(got[k][1:], wantLog.Rows[k][1:]) {
				t.Errorf("cache %v: row %d\n got  %q\n want %q", interval, k, got[k], wantLog.Rows[k])
			}
		}
		ix := func(f string) int { return wantNotices.Index(f) }
		for k, c := range changes {
			want := wantNotices.Rows[k]
			msg := strings.Replace(c.Msg(), formatTime(now), "XXXXXXXXXX.XXXXXX", 1)
			if want[ix("note")] != NoteVersionChange || msg != want[ix("msg")] || c.Sub() != want[ix("sub")] ||
				c.New.Host.String() != want[ix("src")] {
				t.Errorf("cache %v: notice %d: %s %q %q %v, want %q", interval, k, NoteVersionChange, msg, c.Sub(), c.New.Host, want)
			}
		}
		if len(changes) != 3 {
			t.Errorf("cache %v: %d notices, want 3", interval, len(changes))
		}
	}
}

func fieldNames(fs []zeeklog.Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

// refOwner is a plain transcription of Zeek's Software::register over
// slices, the reference the Owner is checked against.
type refOwner struct {
	max    int
	expire time.Duration
	hosts  []refHost
}

type refHost struct {
	addr    netip.Addr
	created time.Time
	sets    []refSet
}

type refSet struct {
	name     string
	versions []string
	last     Info
}

func (r *refOwner) register(i Info, now time.Time, interesting string) Result {
	hi := slices.IndexFunc(r.hosts, func(h refHost) bool { return h.addr == i.Host })
	if hi >= 0 && now.Sub(r.hosts[hi].created) >= r.expire {
		r.hosts = slices.Delete(r.hosts, hi, hi+1)
		hi = -1
	}
	if hi < 0 {
		r.hosts = append(r.hosts, refHost{addr: i.Host, created: now})
		hi = len(r.hosts) - 1
	}
	h := &r.hosts[hi]
	vs := i.Unparsed
	if vs == "" {
		vs = i.Version.String()
	}
	si := slices.IndexFunc(h.sets, func(s refSet) bool { return s.name == i.Name })
	if si >= 0 && slices.Contains(h.sets[si].versions, vs) {
		return Result{Log: i.ForceLog}
	}
	var res Result
	if si < 0 {
		h.sets = append(h.sets, refSet{name: i.Name})
		si = len(h.sets) - 1
	} else {
		last := h.sets[si].last
		res.Change = &VersionChange{TS: now, Old: last, New: i}
		res.Notice = last.Name == interesting
	}
	s := &h.sets[si]
	s.versions = append(s.versions, vs)
	s.last = i
	if len(s.versions) > r.max {
		s.versions = []string{vs}
	}
	res.Log = true
	return res
}

// randomEvents returns n detections over a few hosts, names and versions,
// at non-decreasing times, with a few forced logs.
func randomEvents(rng *rand.Rand, n int) ([]Info, []time.Time) {
	hosts := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("2001:db8::7")}
	names := []string{"Apache", "OpenSSH", "Firefox"}
	now := time.Unix(1700000000, 0)
	var evs []Info
	var times []time.Time
	for range n {
		now = now.Add(time.Duration(rng.IntN(20)) * time.Second)
		name := names[rng.IntN(len(names))]
		ver := Version{}.WithMajor(uint64(rng.IntN(6))).WithMinor(uint64(rng.IntN(2)))
		i := Info{TS: now, Host: hosts[rng.IntN(len(hosts))], Type: Type(rng.IntN(int(numTypes))), Name: name,
			Version: ver, Unparsed: name + "/" + ver.String(), ForceLog: rng.IntN(10) == 0}
		if rng.IntN(5) == 0 {
			i.Unparsed = ""
		}
		if rng.IntN(2) == 0 {
			i.Port, i.HasPort = uint16(rng.IntN(3)+80), true
		}
		evs = append(evs, i)
		times = append(times, now)
	}
	return evs, times
}

// TestOwnerAgainstReference applies random detections to an Owner and to
// the reference and compares every decision, with a small version cap and
// expiry so that both restart often.
func TestOwnerAgainstReference(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		evs, times := randomEvents(rng, 300)
		o := NewOwner(OwnerConfig{Interesting: []string{"OpenSSH"}, MaxVersions: 3, Expire: 10 * time.Minute})
		ref := &refOwner{max: 3, expire: 10 * time.Minute}
		for k, ev := range evs {
			// A host always lies in the same partition.
			part := int(ev.Host.As16()[15] % 2)
			got, want := o.Apply(part, ev, times[k]), ref.register(ev, times[k], "OpenSSH")
			if got.Log != want.Log || got.Notice != want.Notice || (got.Change == nil) != (want.Change == nil) ||
				got.Change != nil && (Cmp(got.Change.Old.Version, want.Change.Old.Version) != 0 ||
					got.Change.Old.VersionString() != want.Change.Old.VersionString() || !got.Change.TS.Equal(want.Change.TS)) {
				t.Fatalf("seed %d event %d %+v: got %+v, want %+v", seed, k, ev, got, want)
			}
		}
	}
}

// TestOwnerCap checks Zeek's max_software_cache_size: after 20 versions of
// a name the set restarts with the newest, so an old version is logged
// (and raises a version change) again.
func TestOwnerCap(t *testing.T) {
	o := NewOwner(OwnerConfig{})
	host := netip.MustParseAddr("192.0.2.1")
	now := time.Unix(1700000000, 0)
	apply := func(v int) Result {
		ver := Version{}.WithMajor(uint64(v))
		return o.Apply(3, Info{Host: host, Name: "x", Version: ver, Unparsed: "x/" + ver.String()}, now)
	}
	for v := range 20 {
		if r := apply(v); !r.Log {
			t.Fatalf("version %d not logged", v)
		}
	}
	if r := apply(0); r.Log {
		t.Fatal("version 0 logged again within the cap")
	}
	if r := apply(20); !r.Log || r.Change == nil || r.Change.Old.Version.Major != 19 {
		t.Fatalf("21st version: %+v", r)
	}
	// The set restarted with version 20 only: 5 is new again, 20 is not.
	if r := apply(5); !r.Log || r.Change.Old.Version.Major != 20 {
		t.Fatalf("version 5 after the restart: %+v", r)
	}
	if r := apply(20); r.Log {
		t.Fatal("version 20 logged again after the restart")
	}
}

// TestOwnerExpire: a host's software is forgotten a day after the host's
// first registration, whether Expire ran or not.
func TestOwnerExpire(t *testing.T) {
	host := netip.MustParseAddr("192.0.2.1")
	t0 := time.Unix(1700000000, 0)
	i := Info{Host: host, Name: "x", Unparsed: "x/1"}
	for _, sweep := range []bool{false, true} {
		o := NewOwner(OwnerConfig{})
		o.Apply(1, i, t0)
		if r := o.Apply(1, i, t0.Add(DefaultExpire-time.Second)); r.Log {
			t.Fatal("logged again before a day")
		}
		if sweep {
			o.Apply(1, Info{Host: netip.MustParseAddr("192.0.2.9"), Name: "y"}, t0.Add(DefaultExpire))
			if n := o.Expire(); n != 1 || o.Hosts() != 1 || o.Partitions() != 1 {
				t.Fatalf("expired %d, %d hosts left", n, o.Hosts())
			}
		}
		if r := o.Apply(1, i, t0.Add(DefaultExpire)); !r.Log || r.Change != nil {
			t.Fatalf("sweep %v: after a day: %+v", sweep, r)
		}
	}
}

// TestOwnerUnregisterAndClock: an undelivered registration is taken back
// and logged again when found again; a late event is registered at the
// partition's network time, which never goes back.
func TestOwnerUnregisterAndClock(t *testing.T) {
	o := NewOwner(OwnerConfig{})
	h := netip.MustParseAddr("192.0.2.1")
	t0 := time.Unix(1700000000, 0)
	v1 := Info{Host: h, Name: "x", Unparsed: "x/1"}
	v2 := Info{Host: h, Name: "x", Unparsed: "x/2"}
	o.Apply(0, v1, t0)
	o.Unregister(0, &v1)
	if r := o.Apply(0, v1, t0); !r.Log || r.Change != nil {
		t.Fatalf("after Unregister of the only version: %+v", r)
	}
	o.Apply(0, v2, t0)
	o.Unregister(0, &v2)
	if r := o.Apply(0, v2, t0.Add(time.Hour)); !r.Log || r.Change == nil || r.Change.Old.Unparsed != "x/2" {
		t.Fatalf("after Unregister of the second version: %+v", r)
	}
	late := Info{Host: h, Name: "x", Unparsed: "x/3"}
	if r := o.Apply(0, late, t0); !r.Change.TS.Equal(t0.Add(time.Hour)) {
		t.Fatalf("late event changed at %v, want the partition's time %v", r.Change.TS, t0.Add(time.Hour))
	}
	o.Unregister(1, &v1) // no such partition: nothing happens
}

// states returns the exports of partition 0 of n Owners, each fed a random
// history.
func states(rng *rand.Rand, n int) [][]byte {
	out := make([][]byte, n)
	for k := range out {
		o := NewOwner(OwnerConfig{MaxVersions: 4})
		evs, times := randomEvents(rng, rng.IntN(60))
		for j, ev := range evs {
			o.Apply(0, ev, times[j])
		}
		out[k] = o.Export(0)
	}
	return out
}

func merged(t *testing.T, parts ...[]byte) []byte {
	t.Helper()
	o := NewOwner(OwnerConfig{})
	for _, p := range parts {
		if err := o.Merge(0, p); err != nil {
			t.Fatal(err)
		}
	}
	return o.Export(0)
}

// TestMergeLaws: Merge is idempotent, commutative and associative (on the
// canonical exports), and the merge knows every version either copy knew.
func TestMergeLaws(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 11))
		s := states(rng, 3)
		a, b, c := s[0], s[1], s[2]
		if !bytes.Equal(merged(t, a, a), merged(t, a)) || !bytes.Equal(merged(t, a), a) {
			t.Fatalf("seed %d: not idempotent", seed)
		}
		if !bytes.Equal(merged(t, a, b), merged(t, b, a)) {
			t.Fatalf("seed %d: not commutative", seed)
		}
		if !bytes.Equal(merged(t, merged(t, a, b), c), merged(t, a, merged(t, b, c))) {
			t.Fatalf("seed %d: not associative", seed)
		}
		m := NewOwner(OwnerConfig{})
		if err := m.Import(0, merged(t, a, b)); err != nil {
			t.Fatal(err)
		}
		for _, x := range [][]byte{a, b} {
			p, err := decodePartition(x)
			if err != nil {
				t.Fatal(err)
			}
			for addr, h := range p.hosts {
				mh := m.parts[0].hosts[addr]
				for name, set := range h.names {
					for v := range set.seen {
						if _, ok := mh.names[name].seen[v]; !ok {
							t.Fatalf("seed %d: %v %s %s lost in the merge", seed, addr, name, v)
						}
					}
				}
			}
		}
	}
}

// TestExportImport: an imported partition exports identically and makes
// the same decisions as the original from then on; Drop and an empty
// import leave nothing.
func TestExportImport(t *testing.T) {
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 13))
		evs, times := randomEvents(rng, 200)
		a, b := NewOwner(OwnerConfig{MaxVersions: 5}), NewOwner(OwnerConfig{MaxVersions: 5})
		for k, ev := range evs[:100] {
			a.Apply(9, ev, times[k])
		}
		if err := b.Import(9, a.Export(9)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Export(9), b.Export(9)) {
			t.Fatalf("seed %d: export after import differs", seed)
		}
		for k, ev := range evs[100:] {
			ra, rb := a.Apply(9, ev, times[100+k]), b.Apply(9, ev, times[100+k])
			if ra.Log != rb.Log || ra.Notice != rb.Notice || (ra.Change == nil) != (rb.Change == nil) {
				t.Fatalf("seed %d: decisions differ after import", seed)
			}
		}
		b.Drop(9)
		if b.Partitions() != 0 || !bytes.Equal(b.Export(9), NewOwner(OwnerConfig{}).Export(9)) {
			t.Fatal("dropped partition still has state")
		}
	}
	o := NewOwner(OwnerConfig{})
	for _, bad := range [][]byte{nil, {2}, {1}, {1, 0}, {1, 0, 1}, {1, 0, 1, 4, 1, 2}, append(NewOwner(OwnerConfig{}).Export(0), 0)} {
		if err := o.Import(0, bad); err == nil {
			t.Errorf("Import(%x) accepted", bad)
		}
		if err := o.Merge(0, bad); err == nil {
			t.Errorf("Merge(%x) accepted", bad)
		}
	}
}

func TestInfoCodec(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	evs, _ := randomEvents(rng, 500)
	for _, ev := range evs {
		b := AppendInfo([]byte("x"), &ev)
		got, rest, err := DecodeInfo(append(b[1:], 7))
		if err != nil || len(rest) != 1 || !got.TS.Equal(ev.TS) || !bytes.Equal(AppendInfo(nil, &got), b[1:]) {
			t.Fatalf("%+v: %+v %v %v", ev, got, rest, err)
		}
	}
}

func FuzzImport(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range states(rng, 4) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o := NewOwner(OwnerConfig{})
		if err := o.Import(0, b); err != nil {
			return
		}
		e := o.Export(0)
		p := NewOwner(OwnerConfig{})
		if err := p.Import(0, e); err != nil || !bytes.Equal(p.Export(0), e) {
			t.Fatalf("re-import of %x: %v", e, err)
		}
		if err := o.Merge(0, e); err != nil || !bytes.Equal(o.Export(0), e) {
			t.Fatalf("merge with itself: %v", err)
		}
	})
}
