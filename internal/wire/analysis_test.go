package wire

import (
	"errors"
	"net/netip"
	"testing"
)

var (
	v4 = netip.MustParseAddr("172.16.238.131")
	v6 = netip.MustParseAddr("2001:db8::1")
)

// analysisEvents are valid values of every analysis event.
func analysisEvents() []Event {
	cert := Cert{TS: 1394747126871404000, Host: netip.MustParseAddr("74.125.239.129"), Port: 443, SHA1: [20]byte{1, 2, 3},
		Subject: "CN=*.google.com,O=Google Inc,L=Mountain View,ST=California,C=US",
		Issuer:  "CN=Google Internet Authority G2,O=Google Inc,C=US", Serial: "4A2C8628C1010633"}
	return []Event{
		ServiceSeen{TS: 1308930691089263000, Host: v4, Port: 22, Proto: 6, Service: "SSH"},
		KnownService{TS: 1, Host: v6, Port: 53, Proto: 17, Service: ""},
		CertSeen(cert), KnownCert(cert),
		ScanAttempt{TS: 5, Scanner: v4, Victim: v6, Port: 23, Proto: 6},
		Notice{TS: 9, Note: "Scan::Port_Scan", Msg: "192.168.2.154 scanned at least 5 unique ports on host 192.168.2.22 in 0m0s",
			Sub: "remote", Src: v4, Identifier: "192.168.2.154", SuppressFor: 3600e9, PeerDescr: "datanode-1"},
		Notice{TS: 9, Note: "Scan::Address_Scan", Src: v6, Port: 23, Proto: 6, HasPort: true},
		ScannerReported{TS: 1, Scanner: v4, Until: 3600},
		Observation{TS: 7, Stream: "test.metric", KeyHost: v4, Kind: ObsNum, Num: 5},
		Observation{TS: 7, Stream: "s", KeyStr: "counter", Kind: ObsDbl, Dbl: 2.5},
		Observation{TS: 7, Stream: "s", KeyHost: v6, KeyStr: "x", Kind: ObsStr, Str: "v"},
		Observation{Stream: "s", KeyStr: "x"},
		NextEpoch{Def: "test", TS: 9, Epoch: 2},
		Lookup{ID: 3, Def: "test", KeyHost: v4, KeyStr: "k"},
	}
}

// newDecoder returns a zero value of ev's type as a Decoder and a function
// reading it back as an Event.
func newDecoder(ev Event) (Decoder, func() Event) {
	switch ev.(type) {
	case ServiceSeen:
		v := new(ServiceSeen)
		return v, func() Event { return *v }
	case KnownService:
		v := new(KnownService)
		return v, func() Event { return *v }
	case CertSeen:
		v := new(CertSeen)
		return v, func() Event { return *v }
	case KnownCert:
		v := new(KnownCert)
		return v, func() Event { return *v }
	case ScanAttempt:
		v := new(ScanAttempt)
		return v, func() Event { return *v }
	case Notice:
		v := new(Notice)
		return v, func() Event { return *v }
	case ScannerReported:
		v := new(ScannerReported)
		return v, func() Event { return *v }
	case Observation:
		v := new(Observation)
		return v, func() Event { return *v }
	case NextEpoch:
		v := new(NextEpoch)
		return v, func() Event { return *v }
	case Lookup:
		v := new(Lookup)
		return v, func() Event { return *v }
	}
	panic("unknown event type")
}

func TestAnalysisEventsRoundTrip(t *testing.T) {
	for _, ev := range analysisEvents() {
		b := ev.AppendWire(nil)
		d, get := newDecoder(ev)
		if err := d.DecodeWire(b); err != nil {
			t.Fatalf("%T: %v", ev, err)
		}
		if got := get(); got != ev {
			t.Fatalf("%T: %+v -> %+v", ev, ev, got)
		}
		for i := range b { // every strict prefix is refused
			if err := d.DecodeWire(b[:i]); err == nil {
				t.Fatalf("%T: prefix of %d/%d bytes decoded", ev, i, len(b))
			}
		}
		if err := d.DecodeWire(append(b, 0)); !errors.Is(err, ErrBadValue) {
			t.Fatalf("%T: trailing byte: %v", ev, err)
		}
		if n := testing.AllocsPerRun(100, func() { b = ev.AppendWire(b[:0]) }); n != 0 {
			t.Errorf("%T: AppendWire allocates %v times", ev, n)
		}
	}
}

func TestStringLimit(t *testing.T) {
	big := make([]byte, MaxString+1)
	b := ServiceSeen{Host: v4, Service: string(big)}.AppendWire(nil)
	var s ServiceSeen
	if err := s.DecodeWire(b); !errors.Is(err, ErrBadValue) {
		t.Fatalf("oversize string: %v", err)
	}
}

// FuzzAnalysisEvents feeds arbitrary bytes to every analysis decoder: no
// panic, and whatever decodes re-encodes to a value that decodes the same.
func FuzzAnalysisEvents(f *testing.F) {
	for i, ev := range analysisEvents() {
		f.Add(uint8(i), ev.AppendWire(nil))
	}
	evs := analysisEvents()
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		d, get := newDecoder(evs[int(which)%len(evs)])
		if err := d.DecodeWire(data); err != nil {
			return
		}
		first := get()
		if err := d.DecodeWire(first.AppendWire(nil)); err != nil {
			t.Fatalf("re-encoding of %+v does not decode: %v", first, err)
		}
		// Compare encodings: a NaN decodes to a NaN that is not == itself.
		if again := get(); string(again.AppendWire(nil)) != string(first.AppendWire(nil)) {
			t.Fatalf("decode(encode(%+v)) = %+v", first, again)
		}
	})
}

func TestSumStatsOutputRoundTrip(t *testing.T) {
	for _, e := range []SumStatsOutput{
		{Kind: OutEpochResult, Def: "test", KeyHost: v4, Start: 1, End: 2, Result: []byte{1, 2, 3}},
		{Kind: OutThresholdCrossed, Def: "t", KeyStr: "k", Threshold: 2, Value: 1001, End: 5},
		{Kind: OutEpochFinished, Def: "t", Epoch: 3},
	} {
		b := e.AppendWire(nil)
		var got SumStatsOutput
		if err := got.DecodeWire(b); err != nil {
			t.Fatal(err)
		}
		if string(got.Result) != string(e.Result) || got.Def != e.Def || got.Kind != e.Kind || got.Value != e.Value ||
			got.Epoch != e.Epoch || got.KeyHost != e.KeyHost || got.KeyStr != e.KeyStr || got.Threshold != e.Threshold {
			t.Fatalf("%+v -> %+v", e, got)
		}
		for i := range b {
			if got.DecodeWire(b[:i]) == nil {
				t.Fatalf("prefix %d/%d decoded", i, len(b))
			}
		}
	}
}

func FuzzSumStatsOutput(f *testing.F) {
	f.Add(SumStatsOutput{Kind: OutEpochResult, Def: "test", KeyHost: v4, Result: []byte{1}}.AppendWire(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e SumStatsOutput
		if e.DecodeWire(data) != nil {
			return
		}
		var again SumStatsOutput
		if err := again.DecodeWire(e.AppendWire(nil)); err != nil || string(again.AppendWire(nil)) != string(e.AppendWire(nil)) {
			t.Fatalf("re-encoding of %+v: %v", e, err)
		}
	})
}

func FuzzLookupReply(f *testing.F) {
	f.Add(LookupReply{ID: 1, Found: true, Result: []byte{1, 2}}.AppendWire(nil))
	f.Add(LookupReply{ID: 2, Err: "no such sumstat"}.AppendWire(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e LookupReply
		if e.DecodeWire(data) != nil {
			return
		}
		var again LookupReply
		if err := again.DecodeWire(e.AppendWire(nil)); err != nil || string(again.AppendWire(nil)) != string(e.AppendWire(nil)) {
			t.Fatalf("re-encoding of %+v: %v", e, err)
		}
	})
}
