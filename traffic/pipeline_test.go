package traffic

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"shoal/ingest"
	"shoal/internal/zeekdata"
	"shoal/packet"
	"shoal/service"
	"shoal/zeekin"
)

// recorder keeps a copy of every event it is handed.
type recorder struct {
	est      []Established
	attempts []Attempt
	services []Service
	certs    []string
}

func (r *recorder) Established(_ context.Context, e *Established) { r.est = append(r.est, *e) }
func (r *recorder) Attempt(_ context.Context, a *Attempt)         { r.attempts = append(r.attempts, *a) }
func (r *recorder) Service(_ context.Context, s *Service)         { r.services = append(r.services, *s) }
func (r *recorder) Cert(_ context.Context, c *Cert) {
	r.certs = append(r.certs, c.Host.String()+" "+c.Leaf.Subject)
}

func readTrace(t *testing.T, p *Pipeline, name string) {
	t.Helper()
	f, err := ingest.OpenFile(zeekdata.Path(t, "traces/"+name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	if _, err := f.Run(ctx, func(pkt *packet.Packet) { p.Packet(ctx, pkt) }); err != nil {
		t.Fatal(err)
	}
	p.Finish(ctx)
}

func TestPipelineCert(t *testing.T) {
	var r recorder
	p := newPipeline(t, []any{&r})
	readTrace(t, p, "google-duplicate.pcap")
	want := []string{"74.125.239.129 CN=*.google.com,O=Google Inc,L=Mountain View,ST=California,C=US"}
	if !slices.Equal(slices.Compact(r.certs), want) {
		t.Fatalf("certs %q, want %q", r.certs, want)
	}
}

// TestZeekConnMatchesPackets: wikipedia's conn.log raises the same
// handshakes (originator, responder) as wikipedia.pcap.
func TestZeekConnMatchesPackets(t *testing.T) {
	var fromPcap, fromLog recorder
	readTrace(t, newPipeline(t, []any{&fromPcap}), "wikipedia.pcap")
	p := newPipeline(t, []any{&fromLog})
	ctx := context.Background()
	before := 0
	h, flush := p.ZeekHandler(ctx, func() { before++ }, func(err error) { t.Error(err) })
	if _, err := zeekin.ReadFiles(ctx, []string{zeekdata.Path(t, "expected/conn-wikipedia/conn.v3.log")}, h); err != nil {
		t.Fatal(err)
	}
	flush()
	pairs := func(r *recorder) []string {
		var out []string
		for _, e := range r.est {
			out = append(out, e.Orig.String()+">"+e.Resp.String())
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	if got, want := pairs(&fromLog), pairs(&fromPcap); !slices.Equal(got, want) || len(got) == 0 {
		t.Fatalf("conn.log handshakes\n%v\npcap\n%v", got, want)
	}
	if before == 0 {
		t.Fatal("before never ran")
	}
}

func TestZeekConnAttemptAndService(t *testing.T) {
	var r recorder
	p := newPipeline(t, []any{&r})
	ctx := context.Background()
	t0 := time.Unix(1300000000, 0)
	rows := []zeekin.Conn{
		{TS: t0, OrigH: addr("1.1.1.1"), RespH: addr("10.0.0.1"), RespP: 23, Proto: "tcp", ConnState: "S0", History: "S"},
		{TS: t0, OrigH: addr("1.1.1.1"), RespH: addr("10.0.0.2"), RespP: 23, Proto: "tcp", ConnState: "REJ", History: "Sr", Duration: time.Second},
		{TS: t0, OrigH: addr("1.1.1.1"), RespH: addr("10.0.0.3"), RespP: 80, Proto: "tcp", ConnState: "SF", History: "ShADadFf",
			Service: []string{"http"}, Duration: 2 * time.Second},
		{TS: t0, OrigH: addr("1.1.1.1"), RespH: addr("10.0.0.4"), RespP: 53, Proto: "udp", Service: []string{"dns"}, RespPkts: 1},
	}
	for i := range rows {
		p.Conn(ctx, &rows[i])
	}
	if len(r.attempts) != 2 || !r.attempts[0].TS.Equal(t0.Add(5*time.Second)) || !r.attempts[1].Rejected ||
		!r.attempts[1].TS.Equal(t0.Add(time.Second)) {
		t.Fatalf("attempts %+v", r.attempts)
	}
	if len(r.services) != 1 || r.services[0].Host != addr("10.0.0.3") || !r.services[0].Services.Has(service.HTTP) ||
		!r.services[0].TS.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("services %+v (a lone DNS whose server sent no byte does not count)", r.services)
	}
	if len(r.est) != 1 {
		t.Fatalf("established %+v", r.est)
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestIsAttempt(t *testing.T) {
	cases := map[string]struct {
		history  string
		rejected bool
		want     bool
	}{
		"unanswered syn":               {"S", false, true},
		"zero window syn":              {"SW", false, true},
		"rejected":                     {"Sr", true, true},
		"zero window rejected":         {"SWr", true, true},
		"rejected history as attempt":  {"Sr", false, false},
		"attempt history as rejected":  {"S", true, false},
		"zero window as rejected":      {"SW", true, false},
		"backscatter syn-ack":          {"^h", false, false},
		"backscatter syn-ack rejected": {"Hr", true, false},
		"handshake then reset":         {"ShR", true, false},
		"handshake then reset attempt": {"ShR", false, false},
		"syn with data":                {"SD", false, false},
		"retransmitted syn rejected":   {"SSr", true, false},
		"empty":                        {"", false, false},
		"lower case":                   {"s", false, false},
		"originator reset":             {"SR", true, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := IsAttempt(tc.history, tc.rejected); got != tc.want {
				t.Errorf("IsAttempt(%q, %v) = %v, want %v", tc.history, tc.rejected, got, tc.want)
			}
		})
	}
}

type factRecorder struct{ facts []string }

func (r *factRecorder) Fact(_ context.Context, f *Fact) {
	r.facts = append(r.facts, f.Fact.Kind.String()+" "+f.Fact.Value)
}

// TestFacts: the HTTP headers of a trace reach a FactHook.
func TestFacts(t *testing.T) {
	var r factRecorder
	readTrace(t, newPipeline(t, []any{&r}), "wikipedia.pcap")
	if len(r.facts) == 0 {
		t.Fatal("no facts")
	}
	found := false
	for _, f := range r.facts {
		found = found || strings.HasPrefix(f, "http_user_agent ")
	}
	if !found {
		t.Fatalf("no user agent among %q", r.facts[:min(len(r.facts), 10)])
	}
}

func newPipeline(t *testing.T, subs []any) *Pipeline {
	t.Helper()
	p, err := New(Config{}, subs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
