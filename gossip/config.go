package gossip

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// Profile names a set of memberlist timings.
type Profile string

// Profiles.
const (
	// ProfileLAN is memberlist.DefaultLANConfig: 1s probes, 30s push/pull.
	ProfileLAN Profile = "lan"
	// ProfileLocal is memberlist.DefaultLocalConfig: 1s probes, 200ms probe
	// timeout, 15s push/pull.
	ProfileLocal Profile = "local"
	// ProfileFast is ProfileLocal with ProbeInterval 100ms, ProbeTimeout
	// 50ms, SuspicionMult 2, GossipInterval 20ms, PushPullInterval 1s,
	// TCPTimeout 1s, GossipToTheDeadTime 5s and DeadNodeReclaimTime 1s (a
	// node restarted on a new port may take over its name one second after
	// the old instance was declared dead). For tests and single-host clusters:
	// a killed member of a 5-node cluster is declared dead in well under 2s.
	ProfileFast Profile = "fast"
)

// ParseProfile parses "lan", "local" or "fast".
func ParseProfile(s string) (Profile, error) {
	switch p := Profile(s); p {
	case ProfileLAN, ProfileLocal, ProfileFast:
		return p, nil
	}
	return "", fmt.Errorf("%w: unknown profile %q (want lan, local or fast)", ErrInvalidConfig, s)
}

// timings holds the adapter's own intervals for a profile.
type timings struct {
	joinRetry time.Duration // between initial join attempts
	rejoin    time.Duration // between rejoin rounds
	warnEvery time.Duration // rate limit of repeated warnings, per key
}

func (p Profile) timings() timings {
	switch p {
	case ProfileFast:
		return timings{joinRetry: 200 * time.Millisecond, rejoin: 500 * time.Millisecond, warnEvery: 2 * time.Second}
	case ProfileLocal:
		return timings{joinRetry: time.Second, rejoin: 2 * time.Second, warnEvery: 10 * time.Second}
	default:
		return timings{joinRetry: 5 * time.Second, rejoin: 30 * time.Second, warnEvery: 30 * time.Second}
	}
}

// memberlistConfig returns memberlist's configuration for the profile.
func (p Profile) memberlistConfig() *memberlist.Config {
	switch p {
	case ProfileFast:
		c := memberlist.DefaultLocalConfig()
		c.ProbeInterval = 100 * time.Millisecond
		c.ProbeTimeout = 50 * time.Millisecond
		c.SuspicionMult = 2
		c.GossipInterval = 20 * time.Millisecond
		c.PushPullInterval = time.Second
		c.TCPTimeout = time.Second
		c.GossipToTheDeadTime = 5 * time.Second
		c.DeadNodeReclaimTime = time.Second
		return c
	case ProfileLocal:
		return memberlist.DefaultLocalConfig()
	default:
		return memberlist.DefaultLANConfig()
	}
}

// defaultEventQueueLen is the capacity of the callback hand-off queue.
const defaultEventQueueLen = 1024

// maxNameLen bounds node names (they travel in every gossip message).
const maxNameLen = 255

// Config configures a Gossip. The zero value is not valid; start from
// DefaultConfig. A Config is a plain value, read once by New.
type Config struct {
	// Name is the node's unique name in the cluster (1..255 bytes).
	Name string
	// BindAddr is the gossip "ip:port" for UDP and TCP; port 0 picks a free
	// port, the same for both protocols (read it back with LocalAddr).
	// Ignored when Transport is set.
	BindAddr string
	// AdvertiseAddr is the optional "ip:port" announced to peers (NAT,
	// 0.0.0.0 binds). Port 0 means the bound port. With an ephemeral bind
	// port, memberlist announces the bound port whatever is given here.
	AdvertiseAddr string
	// Seeds are "host:port" gossip addresses joined by Start and rejoined
	// whenever no alive member holds them (so give them as the "ip:port"
	// members advertise, or they are re-joined every RejoinInterval). Our own
	// address is skipped.
	Seeds []string
	// Profile selects memberlist timings (default ProfileLAN).
	Profile Profile
	// Meta is advertised to peers. Proto 0 means ProtoVersion, StartedAt 0
	// means now. Encoded, it must fit in MetaMaxSize (512) bytes.
	Meta Meta
	// JoinRetryInterval is the pause between initial join attempts.
	// 0 means the profile's default (fast 200ms, local 1s, lan 5s).
	JoinRetryInterval time.Duration
	// RejoinInterval is the period of the rejoin loop. 0 means the
	// profile's default (fast 500ms, local 2s, lan 30s); negative disables
	// rejoining.
	RejoinInterval time.Duration
	// Keys turn on gossip encryption (AES-GCM, memberlist's keyring): each
	// is 16, 24 or 32 bytes (AES-128, -192, -256); the first is primary
	// (encrypts), all decrypt. Nil means no encryption. Every member of a
	// cluster must hold the primary key of every other member.
	Keys [][]byte
	// KeyFile, when set, is rewritten (atomically, mode 0600) before every
	// keyring change made by KeyOperation takes effect, so that a restarted
	// node comes back with the keys it last used (serf's -keyring-file).
	// It needs Keys (normally read from it with ReadKeyFile).
	KeyFile string
	// ClusterName is memberlist's label, prefixed to every packet and
	// stream: messages with another label are discarded and counted. With
	// Keys it is also authenticated (part of the encryption's additional
	// data); without, it is a naming aid that keeps two clusters on one
	// network apart by mistake, not security. At most 255 bytes.
	ClusterName string
	// Transport replaces memberlist's NetTransport on BindAddr (tests inject
	// an internal/memnet transport). Nil means a real UDP/TCP transport.
	Transport memberlist.Transport
	// Logger receives the adapter's logs and memberlist's own log lines
	// ([DEBUG]/[INFO] at debug level, [WARN]/[ERR] at warn level, repeated
	// warnings rate-limited). The zero value discards everything.
	Logger zerolog.Logger

	// eventQueueLen overrides defaultEventQueueLen (tests).
	eventQueueLen int
}

// DefaultConfig returns a LAN configuration named after the host, bound to
// 0.0.0.0:7946, with no seeds and a discarding logger.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Name:     host,
		BindAddr: "0.0.0.0:7946",
		Profile:  ProfileLAN,
		Meta:     Meta{Proto: ProtoVersion},
		Logger:   zerolog.Nop(),
	}
}

// Validate checks the configuration without side effects.
func (c Config) Validate() error {
	if c.Name == "" || len(c.Name) > maxNameLen {
		return fmt.Errorf("%w: name must be 1..%d bytes, got %d", ErrInvalidConfig, maxNameLen, len(c.Name))
	}
	if c.Profile != "" {
		if _, err := ParseProfile(string(c.Profile)); err != nil {
			return err
		}
	}
	if c.Transport == nil {
		if _, _, err := splitIPPort(c.BindAddr, true); err != nil {
			return fmt.Errorf("%w: bind address: %w", ErrInvalidConfig, err)
		}
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitIPPort(c.AdvertiseAddr, true); err != nil {
			return fmt.Errorf("%w: advertise address: %w", ErrInvalidConfig, err)
		}
	}
	for _, s := range c.Seeds {
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" {
			return fmt.Errorf("%w: seed %q: want host:port", ErrInvalidConfig, s)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%w: seed %q: bad port", ErrInvalidConfig, s)
		}
	}
	if c.Meta.Role == "" {
		return fmt.Errorf("%w: meta role is empty", ErrInvalidConfig)
	}
	for i, k := range c.Keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fmt.Errorf("%w: key %d: %d bytes, want 16, 24 or 32", ErrInvalidConfig, i+1, len(k))
		}
	}
	if c.KeyFile != "" && len(c.Keys) == 0 {
		return fmt.Errorf("%w: key file %s without keys", ErrInvalidConfig, c.KeyFile)
	}
	if len(c.ClusterName) > memberlist.LabelMaxSize {
		return fmt.Errorf("%w: cluster name is %d bytes, at most %d", ErrInvalidConfig, len(c.ClusterName), memberlist.LabelMaxSize)
	}
	if c.JoinRetryInterval < 0 {
		return fmt.Errorf("%w: negative join retry interval %v", ErrInvalidConfig, c.JoinRetryInterval)
	}
	if _, err := c.Meta.Encode(); err != nil {
		return fmt.Errorf("%w: meta: %w", ErrInvalidConfig, err)
	}
	return nil
}

// splitIPPort parses "ip:port"; port 0 is allowed when zeroOK.
func splitIPPort(s string, zeroOK bool) (string, int, error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", s, err)
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("%q: host must be an IP address", s)
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 0 || p > 65535 || (p == 0 && !zeroOK) {
		return "", 0, fmt.Errorf("%q: bad port", s)
	}
	return host, p, nil
}

// withDefaults fills the zero values documented on Config.
func (c Config) withDefaults(now time.Time) Config {
	if c.Profile == "" {
		c.Profile = ProfileLAN
	}
	t := c.Profile.timings()
	if c.JoinRetryInterval == 0 {
		c.JoinRetryInterval = t.joinRetry
	}
	if c.RejoinInterval == 0 {
		c.RejoinInterval = t.rejoin
	}
	if c.Meta.Proto == 0 {
		c.Meta.Proto = ProtoVersion
	}
	if c.Meta.StartedAt == 0 {
		c.Meta.StartedAt = now.UnixNano()
	}
	if c.eventQueueLen <= 0 {
		c.eventQueueLen = defaultEventQueueLen
	}
	c.Seeds = append([]string(nil), c.Seeds...)
	c.Keys = cloneKeys(c.Keys)
	return c
}
