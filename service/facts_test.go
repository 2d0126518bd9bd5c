package service

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"shoal/packet"
)

// traceFacts runs Detector and Facts over every connection of a trace, as a
// worker does, and returns "kind value" per fact with the connection and
// the packet time.
func traceFacts(t *testing.T, name string) []string {
	t.Helper()
	var got []string
	for _, c := range readTrace(t, name) {
		var d Detector
		var f Facts
		id := fmt.Sprintf("%s:%d->%s:%d", c.orig, c.origPort, c.resp, c.respPort)
		for k, p := range c.pkts {
			if k == 0 {
				d.SetPartial(c.proto == packet.ProtoTCP && p.flags&packet.FlagSYN == 0)
			}
			if p.flags&packet.FlagRST != 0 {
				continue
			}
			seq := p.seq
			if p.flags&packet.FlagSYN != 0 {
				seq++
			}
			d.Packet(c.proto, p.fromOrig, seq, p.payload)
			for _, x := range f.Packet(&d, c.proto, p.fromOrig, seq, p.payload, nil) {
				got = append(got, fmt.Sprintf("%s %s %s %q", tsString(p.ts), id, x.Kind, x.Value))
			}
		}
		for _, x := range f.Finish(nil) {
			got = append(got, fmt.Sprintf("end %s %s %q", id, x.Kind, x.Value))
		}
		if f.OutOfOrder() {
			t.Errorf("%s: out of order", id)
		}
	}
	return got
}

func TestFactsTraces(t *testing.T) {
	air := "Mozilla/5.0 (Macintosh; U; Intel Mac OS X; en) AppleWebKit/531.9 (KHTML, like Gecko) AdobeAIR/2.6"
	chrome := "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_6_8) AppleWebKit/534.30 (KHTML, like Gecko) Chrome/12.0.742.100 Safari/534.30"
	ff := "Mozilla/5.0 (X11; Linux i686; rv:5.0) Gecko/20100101 Firefox/5.0"
	for name, want := range map[string][]string{
		// The case of Zeek's software-http-flash baseline: the browser, its
		// Flash plugin (at the end of the request) and the server.
		"flash-version.pcap": {
			`1320279616.824058 192.168.2.76:52095->208.85.41.42:80 http_user_agent "` + air + `"`,
			`1320279616.824058 192.168.2.76:52095->208.85.41.42:80 http_flash "AdobeAIR-Flash/10,2,159,1"`,
			`1320279616.907315 192.168.2.76:52095->208.85.41.42:80 http_server "Apache"`,
		},
		"http-get.pcap": {
			`1362692526.939527 141.142.228.5:59856->192.150.187.43:80 http_user_agent "Wget/1.14 (darwin12.2.0)"`,
			`1362692527.009512 141.142.228.5:59856->192.150.187.43:80 http_server "Apache/2.4.3 (Fedora)"`,
		},
		// Version lines once both sides sent theirs; two requests and
		// replies on each keep-alive HTTP connection.
		"var-services-std-ports.pcap": {
			`1308930691.049715 172.16.238.1:49656->172.16.238.131:22 ssh_client "SSH-2.0-OpenSSH_5.2"`,
			`1308930691.049715 172.16.238.1:49656->172.16.238.131:22 ssh_server "SSH-2.0-OpenSSH_5.8p1 Debian-1ubuntu3"`,
			`1308930694.550308 172.16.238.1:49657->172.16.238.131:80 http_user_agent "` + chrome + `"`,
			`1308930694.551356 172.16.238.1:49657->172.16.238.131:80 http_server "Apache/2.2.17 (Ubuntu)"`,
			`1308930694.613220 172.16.238.1:49657->172.16.238.131:80 http_user_agent "` + chrome + `"`,
			`1308930694.614212 172.16.238.1:49657->172.16.238.131:80 http_server "Apache/2.2.17 (Ubuntu)"`,
			`1308930716.462556 172.16.238.131:55515->74.125.225.81:80 http_user_agent "` + ff + `"`,
			`1308930716.541100 172.16.238.131:55515->74.125.225.81:80 http_server "gws"`,
			`1308930716.709298 172.16.238.131:55515->74.125.225.81:80 http_user_agent "` + ff + `"`,
			`1308930716.740660 172.16.238.131:55515->74.125.225.81:80 http_server "Golfe"`,
			`1308930726.872806 172.16.238.131:45908->141.142.192.39:22 ssh_client "SSH-2.0-OpenSSH_5.8p1 Debian-1ubuntu3"`,
			`1308930726.872806 172.16.238.131:45908->141.142.192.39:22 ssh_server "SSH-2.0-OpenSSH_4.3"`,
		},
		// The FTP session sends no CLNT; its data connections carry
		// "User-agent: *" from a robots.txt, which is no HTTP header.
		"ftp-ipv4.pcap":         nil,
		"google-duplicate.pcap": nil,
	} {
		t.Run(name, func(t *testing.T) {
			got := traceFacts(t, name)
			if !slices.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
	t.Run("wikipedia.pcap", func(t *testing.T) {
		// 14 requests on the 8 connections with a handshake; the connection
		// picked up mid-stream (a 15th request) is partial, and Zeek's HTTP
		// analyzer skips it.
		got := traceFacts(t, "wikipedia.pcap")
		if len(got) != 14 {
			t.Fatalf("%d facts, want 14:\n%s", len(got), strings.Join(got, "\n"))
		}
		for _, g := range got {
			if !strings.Contains(g, "http_user_agent") || strings.Contains(g, ":35634->") {
				t.Errorf("unexpected %s", g)
			}
		}
	})
}

// session feeds a TCP conversation to a Detector and Facts, each message
// cut into segments of at most seg bytes (0: one segment per message). The
// first segment of each direction carries at least its first line: the
// Detector identifies protocols from it.
type session struct {
	d     Detector
	f     Facts
	seq   [2]uint32
	seg   int
	sent  [2]bool
	facts []Fact
}

func newSession(seg int) *session {
	return &session{seg: seg, seq: [2]uint32{1000, 90000}}
}

func (s *session) send(fromOrig bool, msg string) {
	i := 0
	if !fromOrig {
		i = 1
	}
	for len(msg) > 0 {
		n := len(msg)
		if s.seg > 0 && n > s.seg {
			n = s.seg
		}
		if !s.sent[i] {
			s.sent[i] = true
			if j := strings.IndexByte(msg, '\n'); j >= n {
				n = j + 1
			}
		}
		p := []byte(msg[:n])
		s.d.Packet(protoTCP, fromOrig, s.seq[i], p)
		s.facts = s.f.Packet(&s.d, protoTCP, fromOrig, s.seq[i], p, s.facts)
		s.seq[i] += uint32(n)
		msg = msg[n:]
	}
}

func (s *session) finish() []Fact { return s.f.Finish(s.facts) }

func factStrings(fs []Fact) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Kind.String() + " " + f.Value
		if f.Mail != nil {
			out[i] += fmt.Sprintf(" received=%v agents=%q first=%q", f.Mail.Received, f.Mail.UserAgentHeaders, f.Mail.FirstReceived)
		}
	}
	return out
}

// conversation is one side's message in a test transcript.
type conversation []struct {
	orig bool
	msg  string
}

// runAllSegmentations plays the transcript in one segment per message and
// cut into segments of every size from 1 to 40 bytes, and checks that the
// facts are always the same.
func runAllSegmentations(t *testing.T, conv conversation, want []string) {
	t.Helper()
	for _, seg := range append([]int{0}, seq(1, 40)...) {
		s := newSession(seg)
		for _, m := range conv {
			s.send(m.orig, m.msg)
		}
		if got := factStrings(s.finish()); !slices.Equal(got, want) {
			t.Fatalf("segments of %d bytes: got\n%s\nwant\n%s", seg, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func seq(a, b int) []int {
	var out []int
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}

func TestFactsHTTP(t *testing.T) {
	conv := conversation{
		{true, "GET /a HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0;\r\n Win64; x64) Firefox/121.0\r\n" +
			"X-Requested-With: ShockwaveFlash/32.0.0.465\r\nContent-Length: 5\r\n\r\nhello"},
		{false, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nX-Powered-By: PHP/8.2.7\r\n" +
			"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1a;ext=1\r\nServer: not a header here\r\n\r\n0\r\nX-Trailer: x\r\n\r\n"},
		{true, "HEAD /b HTTP/1.1\r\nUser-Agent: curl/8.5.0\r\nX-Flash-Version: 11,2,202,228\r\n\r\n"},
		{false, "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/10.0\r\nMicrosoftSharePointTeamServices: 16.0.0.10337\r\nContent-Length: 999\r\n\r\n"},
		{true, "GET /c HTTP/1.1\r\nuser-agent: Wget/1.21\r\n\r\n"},
		{false, "HTTP/1.1 204 No Content\r\nserver: Apache\r\n\r\nHTTP/1.1 200 OK\r\n"},
	}
	runAllSegmentations(t, conv, []string{
		"http_user_agent Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/121.0",
		"http_flash ShockwaveFlash/32.0.0.465",
		"http_server nginx/1.24.0",
		"http_powered_by PHP/8.2.7",
		"http_user_agent curl/8.5.0",
		"http_flash Flash/11,2,202,228",
		"http_server Microsoft-IIS/10.0",
		"http_sharepoint 16.0.0.10337",
		"http_user_agent Wget/1.21",
		"http_server Apache",
	})
}

func TestFactsHTTPOmniture(t *testing.T) {
	// A request to an Omniture server lists the browser's plugins; they are
	// reported when the transaction ends. The second request's reply comes
	// from another server, so its plugin list is not read.
	uri := "/b/ss/acme/1/H.22.1/s0123?AQB=1&ndh=1&t=1%2F2%2F2011&p=Shockwave%20Flash;QuickTime%20Plug-in%207.6.6%20;%20Java%20Plug-In;&AQE=1"
	conv := conversation{
		{true, "GET " + uri + " HTTP/1.1\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 8.0)\r\n\r\n"},
		{true, "GET /x?&p=Silverlight%20Plug-In;&z HTTP/1.1\r\n\r\n"},
		{false, "HTTP/1.1 200 OK\r\nServer: Omniture DC/2.0.0\r\nContent-Length: 3\r\n\r\nGIF"},
		{false, "HTTP/1.1 200 OK\r\nServer: Apache\r\nContent-Length: 0\r\n\r\n"},
	}
	runAllSegmentations(t, conv, []string{
		"http_user_agent Mozilla/4.0 (compatible; MSIE 8.0)",
		"http_server Omniture DC/2.0.0",
		"http_plugin Shockwave Flash",
		"http_plugin QuickTime Plug-in 7.6.6",
		"http_plugin Java Plug-In",
		"http_server Apache",
	})
}

func TestFactsHTTPInterrupted(t *testing.T) {
	// The connection ends inside the request's headers and inside a reply
	// body that runs to the end of the connection: Zeek completes the last
	// header and the messages when the connection is removed.
	conv := conversation{
		{true, "GET / HTTP/1.0\r\nX-Flash-Version: 10,1\r\nUser-Agent: Mozilla/5.0 AdobeAIR/2.0\r\n"},
	}
	runAllSegmentations(t, conv, []string{
		"http_user_agent Mozilla/5.0 AdobeAIR/2.0",
		"http_flash AdobeAIR-Flash/10,1",
	})
}

func TestFactsHTTPLongLines(t *testing.T) {
	// A cookie longer than MaxFactLine is cut, and the next header is still
	// read; an over-long User-Agent is cut to MaxFactLine bytes.
	long := strings.Repeat("x", 3*MaxFactLine)
	for _, seg := range []int{0, 1000, 1460} {
		s := newSession(seg)
		s.send(true, "GET / HTTP/1.1\r\nCookie: a="+long+"\r\nUser-Agent: "+long+"\r\nX-Flash-Version: 9\r\n\r\n")
		got := s.finish()
		if len(got) != 2 || got[0].Kind != HTTPUserAgent || len(got[0].Value) != MaxFactLine-len("User-Agent: ") ||
			got[1].Value != "Flash/9" {
			t.Fatalf("seg %d: got %q", seg, factStrings(got))
		}
		if s.f.Cut() != 2 {
			t.Errorf("seg %d: %d lines cut, want 2", seg, s.f.Cut())
		}
	}
}

func TestFactsHTTPNotHTTP(t *testing.T) {
	// A reply that is not HTTP violates the protocol: nothing is read from
	// it; a partial connection yields nothing.
	s := newSession(0)
	s.send(true, "GET / HTTP/1.1\r\nUser-Agent: a\r\n\r\n")
	s.send(false, "SSH-2.0-x\r\nServer: b\r\n\r\n")
	if got := factStrings(s.finish()); !slices.Equal(got, []string{"http_user_agent a"}) {
		t.Errorf("violated: %q", got)
	}
	s = newSession(0)
	s.d.SetPartial(true)
	s.send(true, "GET / HTTP/1.1\r\nUser-Agent: a\r\n\r\n")
	if got := s.finish(); len(got) != 0 {
		t.Errorf("partial: %q", factStrings(got))
	}
}

func TestFactsGap(t *testing.T) {
	s := newSession(0)
	s.send(true, "GET / HTTP/1.1\r\n")
	s.seq[0] += 10 // ten bytes were not captured
	s.send(true, "User-Agent: a\r\n\r\n")
	if got := s.finish(); len(got) != 0 || !s.f.OutOfOrder() {
		t.Errorf("after a gap: %q, out of order %v", factStrings(got), s.f.OutOfOrder())
	}
}

func TestFactsSSH(t *testing.T) {
	runAllSegmentations(t, conversation{
		{false, "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"},
		{true, "SSH-2.0-PuTTY_Release_0.80\r\n\x00\x00\x05\xdc\x07\x14"},
	}, []string{"ssh_client SSH-2.0-PuTTY_Release_0.80", "ssh_server SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13"})
	// Only one side speaks SSH: nothing.
	runAllSegmentations(t, conversation{
		{false, "SSH-2.0-OpenSSH_9.6\r\n"},
		{true, "GET / HTTP/1.1\r\n\r\n"},
	}, nil)
}

func TestFactsFTP(t *testing.T) {
	runAllSegmentations(t, conversation{
		{false, "220 (vsFTPd 3.0.5)\r\n"},
		{true, "USER anonymous\r\n"},
		{false, "331 Please specify the password.\r\n"},
		{true, "PASS guest@\r\n"},
		{false, "230 Login successful.\r\n"},
		{true, "clnt  Total Commander  \r\nCLNT\r\nCL\r\n"},
		{false, "200 OK\r\n500 Unknown command.\r\n"},
		{true, "AUTH TLS\r\n"},
		{false, "234 Proceed with negotiation.\r\n"},
		{true, "CLNT hidden in TLS\r\n"},
	}, []string{"ftp_client Total Commander  ", "ftp_client "})
}

func TestFactsSMTP(t *testing.T) {
	ua := "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"
	runAllSegmentations(t, conversation{
		{false, "220 mail.example.org ESMTP Postfix\r\n"},
		{true, "EHLO [10.0.0.5]\r\n"},
		{false, "250-mail.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n"},
		{true, "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"},
		{false, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"},
		{true, "Received: from [10.0.0.5] (client.example.org [198.51.100.7])\r\n\tby mail.example.org (Postfix) with ESMTPSA id 4T0x;\r\n" +
			"\tMon, 1 Jan 2024 10:00:00 +0000 (UTC)\r\nReceived: from laptop ([10.0.0.5]) by client.example.org\r\n" +
			"X-Mailer: Sendmail\r\nUser-Agent: " + ua + "\r\nSubject: hi\r\n\r\nUser-Agent: in the body\r\n..\r\n.\r\n"},
		{false, "250 2.0.0 Ok: queued as 4T0x\r\n"},
		{true, "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"},
		{false, "250 Ok\r\n250 Ok\r\n354 go ahead\r\n"},
		{true, "Subject: no agent\r\n\r\nbody\r\n.\r\n"},
		{false, "250 Ok\r\n"},
		{true, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"},
		{false, "250 Ok\r\n250 Ok\r\n354 go ahead\r\n"},
		{true, "X-Mailer: Microsoft Outlook 16.0\r\nReceived: (qmail 1234 invoked by uid 0)\r\n"},
	}, []string{
		"smtp_user_agent " + ua + " received=[198.51.100.7 10.0.0.5] agents=[\"" + ua + "\"] " +
			"first=\"from laptop ([10.0.0.5]) by client.example.org\"",
		// The connection ends inside the third message.
		"smtp_user_agent Microsoft Outlook 16.0 received=[] agents=[] first=\"(qmail 1234 invoked by uid 0)\"",
	})
	// After STARTTLS is accepted the rest is TLS.
	runAllSegmentations(t, conversation{
		{false, "220 mx ESMTP\r\n"},
		{true, "EHLO x\r\nSTARTTLS\r\n"},
		{false, "250 mx\r\n220 2.0.0 Ready to start TLS\r\n"},
		{true, "DATA\r\n"},
		{false, "354 x\r\n"},
		{true, "User-Agent: a\r\n\r\n.\r\n"},
		{false, "250 Ok\r\n"},
	}, nil)
}

func TestSMTPHeaderAddr(t *testing.T) {
	for h, want := range map[string]string{
		"from a.example (a.example [192.0.2.1]) by b.example":                       "192.0.2.1",
		"from [10.1.2.3] (helo=x) by y with esmtpa (Exim) (envelope [2001:db8::1])": "2001:db8::1",
		"from a (b [192.0.2.1]) (c [192.0.2.2]) (d [192.0.2.3])":                    "192.0.2.2",
		"by 192.0.2.9 with SMTP":    "192.0.2.9",
		"from x (192.0.2.1.5)":      "",
		"from x (1.2.3.4567)":       "",
		"by mx id abc; 10.0.0.1":    "",
		"192.0.2.44":                "192.0.2.44",
		"from x ({192.0.2.8}) by y": "192.0.2.8",
		"from x [::ffff:192.0.2.1]": "::ffff:192.0.2.1",
		"from x [010.0.0.1]":        "",
	} {
		a, ok := smtpHeaderAddr([]byte(h))
		got := ""
		if ok {
			got = a.String()
		}
		if got != want {
			t.Errorf("%q: got %q, want %q", h, got, want)
		}
	}
}

func TestUnescapeURI(t *testing.T) {
	for in, want := range map[string]string{
		"a%20b":        "a b",
		"%E6%9C%89":    "\xe6\x9c\x89",
		"%%41":         "A",
		"100%":         "100%",
		"%4":           "%4",
		"%zz":          "%zz",
		"%u0041%u4e2d": "A\x4e\x2d",
		"%u00":         "%u00",
		"plain":        "plain",
	} {
		if got := string(UnescapeURI([]byte(in))); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestParseRequestLine(t *testing.T) {
	for line, want := range map[string]string{
		"GET /index.html HTTP/1.1":      "GET|/index.html|1.1",
		"POST /a b HTTP/1.0":            "POST|/a b|1.0",
		"GET /index.html":               "GET|/index.html|",
		"GET HTTP/1.1":                  "GET||1.1",
		"M-SEARCH * HTTP/1.1":           "M-SEARCH|*|1.1",
		"GET / HTTP/x":                  "GET|/|?",
		"/ HTTP/1.1":                    "",
		"GET":                           "",
		"GE /":                          "",
		"PROPFIND /dav/ HTTP/1.1 extra": "PROPFIND|/dav/|1.1",
	} {
		m, u, v, ok := parseRequestLine([]byte(line))
		got := ""
		if ok {
			got = string(m) + "|" + string(u) + "|" + v
		}
		if line == "GE /" {
			want = "" // HTTP/0.9 wants a method of three characters
		}
		if got != want {
			t.Errorf("%q: got %q, want %q", line, got, want)
		}
	}
}
