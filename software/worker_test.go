package software

import (
	"net/netip"
	"regexp"
	"testing"
	"time"

	"shoal/service"
	"shoal/site"
)

func TestFromFact(t *testing.T) {
	orig, resp := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("192.0.2.25")
	relay := netip.MustParseAddr("10.9.9.9")
	c := Conn{Orig: orig, Resp: resp, RespPort: 8080}
	local := WorkerConfig{Nets: site.NewNets(netip.MustParsePrefix("10.0.0.0/8"))}
	mail := func(ua string, agents []string, first string) *service.Fact {
		return &service.Fact{Kind: service.SMTPUserAgent, Value: ua, Mail: &service.Mail{UserAgent: ua,
			UserAgentHeaders: agents, Received: []netip.Addr{orig, relay}, FirstReceived: first}}
	}
	for name, tc := range map[string]struct {
		f    *service.Fact
		cfg  WorkerConfig
		want string
	}{
		"browser":     {&service.Fact{Kind: service.HTTPUserAgent, Value: "curl/8.5.0"}, local, "10.0.0.5 0 false HTTP::BROWSER curl/8.5.0"},
		"ignored ua":  {&service.Fact{Kind: service.HTTPUserAgent, Value: "x NO_DEFAULT y"}, local, ""},
		"ignored cfg": {&service.Fact{Kind: service.HTTPUserAgent, Value: "Nessus"}, WorkerConfig{IgnoredUserAgents: regexp.MustCompile(`^Nessus`)}, ""},
		"plugin":      {&service.Fact{Kind: service.HTTPFlash, Value: "Flash/11"}, local, "10.0.0.5 0 false HTTP::BROWSER_PLUGIN Flash/11"},
		"omniture":    {&service.Fact{Kind: service.HTTPPlugin, Value: "Java Plug-In"}, local, "10.0.0.5 0 false HTTP::BROWSER_PLUGIN Java Plug-In"},
		"server":      {&service.Fact{Kind: service.HTTPServer, Value: "nginx"}, local, "192.0.2.25 8080 true HTTP::SERVER nginx"},
		"powered":     {&service.Fact{Kind: service.HTTPPoweredBy, Value: "PHP/8"}, local, "192.0.2.25 8080 true HTTP::APPSERVER PHP/8"},
		"sharepoint":  {&service.Fact{Kind: service.HTTPSharePoint, Value: "16.0"}, local, "192.0.2.25 8080 true HTTP::APPSERVER SharePoint/16.0"},
		"ssh client":  {&service.Fact{Kind: service.SSHClient, Value: "SSH-2.0-PuTTY_0.80"}, local, "10.0.0.5 0 false SSH::CLIENT PuTTY_0.80"},
		"ssh server":  {&service.Fact{Kind: service.SSHServer, Value: "SSH-1.99-Cisco-1.25"}, local, "192.0.2.25 8080 true SSH::SERVER Cisco-1.25"},
		"ftp":         {&service.Fact{Kind: service.FTPClient, Value: "FileZilla"}, local, "10.0.0.5 0 false FTP::CLIENT FileZilla"},
		"mail client": {mail("Thunderbird", []string{"Thunderbird"}, "from a"), local, "10.9.9.9 0 false SMTP::MAIL_CLIENT Thunderbird"},
		"webmail":     {mail("SquirrelMail/1.4", []string{"SquirrelMail/1.4"}, "from x (HELO y) by z via HTTP"), local, "10.0.0.5 0 false SMTP::WEBMAIL_SERVER SquirrelMail/1.4"},
		"webmail mta": {mail("IMP/H3 (4.1) (IMP)", []string{"IMP/H3 (4.1) (IMP)"}, "from x"), local, "10.9.9.9 0 false SMTP::WEBMAIL_SERVER IMP/H3 (4.1) (IMP)"},
		"x-mailer":    {mail("ZimbraWebClient", nil, "via HTTP"), local, "10.9.9.9 0 false SMTP::MAIL_CLIENT ZimbraWebClient"},
		"remote orig": {mail("Thunderbird", nil, ""), WorkerConfig{}, ""},
		"no received": {&service.Fact{Kind: service.SMTPUserAgent, Value: "a", Mail: &service.Mail{UserAgent: "a"}}, local,
			"10.0.0.5 0 false SMTP::MAIL_CLIENT a"},
		"webmail no received": {&service.Fact{Kind: service.SMTPUserAgent, Value: "NeoMail", Mail: &service.Mail{UserAgent: "NeoMail",
			UserAgentHeaders: []string{"NeoMail"}, FirstReceived: "via HTTP"}}, local, "192.0.2.25 0 false SMTP::WEBMAIL_SERVER NeoMail"},
	} {
		got := FromFact(nil, tc.f, c, &tc.cfg)
		s := ""
		if len(got) == 1 {
			i := got[0]
			s = i.Host.String() + " " + itoa(i.Port) + " " + btoa(i.HasPort) + " " + i.Type.String() + " " + i.Unparsed
		} else if len(got) > 1 {
			t.Errorf("%s: %d infos", name, len(got))
		}
		if s != tc.want {
			t.Errorf("%s: got %q, want %q", name, s, tc.want)
		}
	}
}

func itoa(p uint16) string { return string(appendUint(nil, uint64(p))) }

func appendUint(b []byte, n uint64) []byte {
	if n >= 10 {
		b = appendUint(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func btoa(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestWorkerCache: a detection is sent once per cache interval; the cache
// is kept per partition, so dropping one partition resends exactly its
// hosts' detections; a cache interval below zero sends everything.
func TestWorkerCache(t *testing.T) {
	w := NewWorker(WorkerConfig{Tracking: site.AllHosts})
	now := time.Unix(1700000000, 0)
	a := Info{Host: netip.MustParseAddr("192.0.2.1"), Type: HTTPBrowser, Unparsed: "curl/8.5.0"}
	b := Info{Host: netip.MustParseAddr("192.0.2.2"), Type: HTTPBrowser, Unparsed: "curl/8.5.0"}
	sent := func(part int, i Info, at time.Time) bool { _, ok := w.Found(part, i, at); return ok }
	if !sent(1, a, now) || !sent(2, b, now) {
		t.Fatal("first detections not sent")
	}
	if sent(1, a, now.Add(time.Minute)) || sent(2, b, now.Add(time.Minute)) || w.Suppressed != 2 {
		t.Fatal("repeated detections sent")
	}
	if n := w.Drop(1); n != 1 {
		t.Fatalf("Drop(1) dropped %d entries", n)
	}
	if !sent(1, a, now.Add(2*time.Minute)) || sent(2, b, now.Add(2*time.Minute)) {
		t.Fatal("Drop(1) did not resend exactly partition 1's detection")
	}
	// The entry of a was renewed at +2m, b's is from +0.
	if !sent(2, b, now.Add(DefaultFoundCacheInterval)) || sent(1, a, now.Add(DefaultFoundCacheInterval)) {
		t.Fatal("cache interval")
	}
	w.Expire(now.Add(2*time.Minute + DefaultFoundCacheInterval))
	if w.Cached() != 1 {
		t.Fatalf("%d cached after expiry, want 1 (b's renewed entry)", w.Cached())
	}
	got, _ := w.Found(3, Info{Host: a.Host, Unparsed: "Apache/2.4.58 (Unix)"}, now)
	if got.Name != "Apache" || got.Version.Major != 2 || got.Version.Minor2 != 58 || !got.TS.Equal(now) {
		t.Errorf("parsed %+v", got)
	}
	c := Info{Host: netip.MustParseAddr("192.0.2.3"), Type: SSHClient, Unparsed: "PuTTY"}
	if !sent(4, c, now) {
		t.Fatal("c not sent")
	}
	w.Forget(4, c) // its send failed
	if !sent(4, c, now) {
		t.Fatal("c not sent again after Forget")
	}
	off := NewWorker(WorkerConfig{Tracking: site.AllHosts, FoundCacheInterval: -1})
	for range 3 {
		if _, ok := off.Found(0, a, now); !ok {
			t.Fatal("cache disabled: detection suppressed")
		}
	}
	none := NewWorker(WorkerConfig{Tracking: site.NoHosts})
	if _, ok := none.Found(0, a, now); ok || none.Untracked != 1 {
		t.Fatal("NoHosts tracked")
	}
	if _, ok := none.Found(0, Info{Host: a.Host, ForceLog: true}, now); !ok {
		t.Fatal("ForceLog not sent")
	}
}
