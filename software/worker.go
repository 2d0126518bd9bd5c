package software

import (
	"net/netip"
	"regexp"
	"strings"
	"time"

	"shoal/service"
	"shoal/site"
)

// DefaultFoundCacheInterval is Software::found_cache_interval: how long a
// worker suppresses sending the same detection again.
const DefaultFoundCacheInterval = 10 * time.Minute

// maxFoundCache bounds a worker's suppression cache; past it detections are
// sent without being remembered (and counted).
const maxFoundCache = 1 << 20

// WorkerConfig configures the worker side. The zero value is Zeek's default
// configuration with no local networks.
type WorkerConfig struct {
	// Nets are the local networks.
	Nets site.Nets
	// Tracking selects the hosts whose software is tracked
	// (Software::asset_tracking; the zero value is LocalHosts).
	Tracking site.Mode
	// MailClients selects the SMTP originators whose messages' user agents
	// are read (SMTP::detect_clients_in_messages_from; zero: LocalHosts).
	MailClients site.Mode
	// IgnoredUserAgents are HTTP user agents not reported
	// (HTTP::ignored_user_agents); nil is Zeek's default /NO_DEFAULT/.
	IgnoredUserAgents *regexp.Regexp
	// FoundCacheInterval is how long a detection is not sent again; 0 means
	// DefaultFoundCacheInterval, a negative value disables the cache.
	FoundCacheInterval time.Duration
}

// Conn is the connection a fact was seen on.
type Conn struct {
	Orig, Resp netip.Addr
	RespPort   uint16
}

var (
	defaultIgnoredUA = regexp.MustCompile(`NO_DEFAULT`)
	reSSHClient      = pattern(`^SSH[0-9.\-]+`)
	reSSHServer      = pattern(`SSH[0-9.\-]{2,}`)
	// SMTP::webmail_user_agents.
	reWebmail = regexp.MustCompile(`^iPlanet Messenger|^Sun Java\(tm\) System Messenger Express|\(IMP\)|^SquirrelMail|^NeoMail|ZimbraWebClient`)
)

// FromFact appends to dst the detections Zeek's protocol scripts pass to
// Software::found for a protocol fact seen on connection c
// (policy/protocols/{http,ssh,ftp,smtp}/software.zeek and
// http/software-browser-plugins.zeek): the host, its port for servers, the
// software type and the unparsed version string. TS, name and version are
// filled in by Worker.Found.
func FromFact(dst []Info, f *service.Fact, c Conn, cfg *WorkerConfig) []Info {
	client := Info{Host: c.Orig, Unparsed: f.Value}
	server := Info{Host: c.Resp, Port: c.RespPort, HasPort: true, Unparsed: f.Value}
	switch f.Kind {
	case service.HTTPUserAgent:
		ignored := cfg.IgnoredUserAgents
		if ignored == nil {
			ignored = defaultIgnoredUA
		}
		if ignored.MatchString(f.Value) {
			return dst
		}
		client.Type = HTTPBrowser
		return append(dst, client)
	case service.HTTPFlash, service.HTTPPlugin:
		client.Type = HTTPBrowserPlugin
		return append(dst, client)
	case service.HTTPServer:
		server.Type = HTTPServer
		return append(dst, server)
	case service.HTTPPoweredBy:
		server.Type = HTTPAppServer
		return append(dst, server)
	case service.HTTPSharePoint:
		server.Type, server.Unparsed = HTTPAppServer, "SharePoint/"+f.Value
		return append(dst, server)
	case service.SSHClient:
		client.Type, client.Unparsed = SSHClient, reSSHClient.sub(f.Value, "", false)
		return append(dst, client)
	case service.SSHServer:
		server.Type, server.Unparsed = SSHServer, reSSHServer.sub(f.Value, "", false)
		return append(dst, server)
	case service.FTPClient:
		client.Type = FTPClient
		return append(dst, client)
	case service.SMTPUserAgent:
		return fromMail(dst, f, c, cfg)
	}
	return dst
}

// fromMail is smtp/software.zeek's log_smtp handler: the mail client is the
// last address of the message's path (SMTP::Info$path: the responder, the
// originator, then the Received addresses), or, for a webmail interface
// reached over HTTP, the one before.
func fromMail(dst []Info, f *service.Fact, c Conn, cfg *WorkerConfig) []Info {
	m := f.Mail
	if m == nil || !cfg.Nets.Matches(c.Orig, cfg.MailClients) {
		return dst
	}
	path := append([]netip.Addr{c.Resp, c.Orig}, m.Received...)
	if len(m.Received) > 0 && m.Received[0] == c.Orig {
		path = append(path[:2], m.Received[1:]...)
	}
	i := Info{Host: path[len(path)-1], Type: SMTPMailClient, Unparsed: m.UserAgent}
	for _, ua := range m.UserAgentHeaders {
		if reWebmail.MatchString(ua) {
			i.Type = SMTPWebmailServer
			if strings.Contains(m.FirstReceived, "via HTTP") {
				i.Host = path[len(path)-2]
			}
			break
		}
	}
	return append(dst, i)
}

// foundKey identifies a detection for the worker's suppression cache
// (Software::found_cache holds the Info before its time is set).
type foundKey struct {
	host     netip.Addr
	port     uint16
	hasPort  bool
	typ      Type
	forceLog bool
	name     string
	unparsed string
}

// Worker is the worker side of Software::found: the tracking check, the
// suppression cache (kept per ring partition of the host, so that a ring
// change drops exactly the moved partitions' entries) and the parsing of the
// version string. It is not safe for concurrent use.
type Worker struct {
	cfg      WorkerConfig
	interval time.Duration
	cache    map[int]map[foundKey]time.Time
	size     int

	// Suppressed counts detections not sent because the cache had them;
	// Untracked those of hosts the tracking mode excludes; CacheFull those
	// sent without being remembered because the cache was full.
	Suppressed, Untracked, CacheFull uint64
}

// NewWorker returns a Worker with an empty cache.
func NewWorker(cfg WorkerConfig) *Worker {
	w := &Worker{cfg: cfg, interval: cfg.FoundCacheInterval, cache: map[int]map[foundKey]time.Time{}}
	if w.interval == 0 {
		w.interval = DefaultFoundCacheInterval
	}
	return w
}

// Config returns the configuration.
func (w *Worker) Config() *WorkerConfig { return &w.cfg }

// Found is Software::found for a detection i whose host lies in ring
// partition part, at network time now: it returns the Info to send to the
// host's owner (time set, version parsed when i has none), or false when
// the host is not tracked or the same detection was sent less than the
// cache interval ago.
func (w *Worker) Found(part int, i Info, now time.Time) (Info, bool) {
	if !i.ForceLog && !w.cfg.Nets.Matches(i.Host, w.cfg.Tracking) {
		w.Untracked++
		return Info{}, false
	}
	if w.interval > 0 {
		k := keyOf(&i)
		c := w.cache[part]
		if t, ok := c[k]; ok && now.Before(t.Add(w.interval)) {
			w.Suppressed++
			return Info{}, false
		}
		switch {
		case w.size >= maxFoundCache:
			w.CacheFull++
		case c == nil:
			w.cache[part] = map[foundKey]time.Time{k: now}
			w.size++
		default:
			if _, ok := c[k]; !ok {
				w.size++
			}
			c[k] = now
		}
	}
	if i.TS.IsZero() {
		i.TS = now
	}
	if i.Version.Set == 0 {
		d := Parse(i.Unparsed)
		i.Name, i.Version, i.Unparsed = d.Name, d.Version, d.Unparsed
	}
	return i, true
}

// Forget removes detection i from partition part's cache: it could not be
// sent, so it is sent when it is found again.
func (w *Worker) Forget(part int, i Info) {
	c := w.cache[part]
	if k := keyOf(&i); c != nil {
		if _, ok := c[k]; ok {
			delete(c, k)
			w.size--
		}
	}
}

func keyOf(i *Info) foundKey {
	return foundKey{host: i.Host, port: i.Port, hasPort: i.HasPort, typ: i.Type, forceLog: i.ForceLog,
		name: i.Name, unparsed: i.Unparsed}
}

// Drop forgets the cache entries of partition part (its owner changed) and
// returns how many.
func (w *Worker) Drop(part int) int {
	n := len(w.cache[part])
	w.size -= n
	delete(w.cache, part)
	return n
}

// Expire forgets the cache entries older than the cache interval at now.
func (w *Worker) Expire(now time.Time) {
	for part, c := range w.cache {
		for k, t := range c {
			if !now.Before(t.Add(w.interval)) {
				delete(c, k)
				w.size--
			}
		}
		if len(c) == 0 {
			delete(w.cache, part)
		}
	}
}

// Cached returns the number of cache entries.
func (w *Worker) Cached() int { return w.size }
