package gossip

import (
	"errors"
	"strings"
	"testing"
	"time"

	"shoal/internal/memnet"
)

func TestParseProfile(t *testing.T) {
	for _, s := range []string{"lan", "local", "fast"} {
		if p, err := ParseProfile(s); err != nil || string(p) != s {
			t.Fatalf("ParseProfile(%q) = %q, %v", s, p, err)
		}
	}
	if _, err := ParseProfile("wan"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("ParseProfile(wan) err = %v", err)
	}
}

func TestProfileTimings(t *testing.T) {
	fast := ProfileFast.memberlistConfig()
	if fast.ProbeInterval != 100*time.Millisecond || fast.ProbeTimeout != 50*time.Millisecond ||
		fast.SuspicionMult != 2 || fast.GossipInterval != 20*time.Millisecond ||
		fast.PushPullInterval != time.Second || fast.TCPTimeout != time.Second {
		t.Fatalf("fast profile: %+v", fast)
	}
	if l := ProfileLocal.memberlistConfig(); l.ProbeInterval != time.Second || l.PushPullInterval != 15*time.Second {
		t.Fatalf("local profile differs from DefaultLocalConfig: %v %v", l.ProbeInterval, l.PushPullInterval)
	}
	if l := ProfileLAN.memberlistConfig(); l.PushPullInterval != 30*time.Second {
		t.Fatalf("lan profile differs from DefaultLANConfig")
	}
	c := Config{Profile: ProfileFast}.withDefaults(time.Unix(5, 0))
	if c.RejoinInterval != 500*time.Millisecond || c.JoinRetryInterval != 200*time.Millisecond ||
		c.Meta.Proto != ProtoVersion || c.Meta.StartedAt != 5e9 {
		t.Fatalf("withDefaults: %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func() Config {
		c := DefaultConfig()
		c.Name = "n1"
		c.BindAddr = "127.0.0.1:0"
		c.Meta.Role = "worker"
		return c
	}
	tests := map[string]struct {
		mut  func(*Config)
		want string // substring of the error; "" = valid
	}{
		"default+name+role": {func(*Config) {}, ""},
		"no name":           {func(c *Config) { c.Name = "" }, "name"},
		"long name":         {func(c *Config) { c.Name = strings.Repeat("n", 256) }, "name"},
		"bad profile":       {func(c *Config) { c.Profile = "wan" }, "profile"},
		"bind hostname":     {func(c *Config) { c.BindAddr = "localhost:1" }, "bind address"},
		"bind no port":      {func(c *Config) { c.BindAddr = "127.0.0.1" }, "bind address"},
		"bad advertise":     {func(c *Config) { c.AdvertiseAddr = "x" }, "advertise"},
		"seed without port": {func(c *Config) { c.Seeds = []string{"127.0.0.1"} }, "seed"},
		"seed port 0":       {func(c *Config) { c.Seeds = []string{"127.0.0.1:0"} }, "seed"},
		"seed hostname ok":  {func(c *Config) { c.Seeds = []string{"seed.example:7946"} }, ""},
		"no role":           {func(c *Config) { c.Meta.Role = "" }, "role"},
		"negative retry":    {func(c *Config) { c.JoinRetryInterval = -1 }, "retry"},
		"meta too large":    {func(c *Config) { c.Meta.DataAddr = strings.Repeat("x", 520) }, "exceeds the limit of 512"},
		"transport, no bind": {func(c *Config) {
			tr, err := memnet.New(1).NewTransport("10.0.0.1:7946")
			if err != nil {
				t.Fatal(err)
			}
			c.BindAddr, c.Transport = "", tr
		}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := ok()
			tc.mut(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidConfig mentioning %q", err, tc.want)
			}
		})
	}
}

func TestNewMetaTooLarge(t *testing.T) {
	c := DefaultConfig()
	c.Name, c.BindAddr = "n1", "127.0.0.1:0"
	c.Meta = Meta{Role: "worker", DataAddr: strings.Repeat("x", 600)}
	g, err := New(c)
	if err == nil {
		_ = g.Close()
		t.Fatal("New accepted metadata over 512 bytes")
	}
	if !errors.Is(err, ErrMetaTooLarge) || !strings.Contains(err.Error(), "512") || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("err = %v, want ErrMetaTooLarge with size and limit", err)
	}
}
