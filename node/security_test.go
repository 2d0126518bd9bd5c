package node

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"shoal/gossip"
	"shoal/internal/memnet"
	"shoal/internal/wire"
	"shoal/known/hosts"
	"shoal/route"
)

func TestCheckExposure(t *testing.T) {
	key := [][]byte{make([]byte, 32)}
	nw := memnet.New(1)
	tr, err := nw.NewTransport("10.0.0.1:7946")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown()
	ln, err := nw.Listen("10.0.0.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tok := strings.Repeat("t", 16)
	tests := map[string]struct {
		cfg  Config
		want string // substring of the error; "" = allowed
	}{
		"loopback only":              {Config{Bind: "127.0.0.1:7946", HTTP: "127.0.0.1:8080"}, ""},
		"default bind":               {Config{}, ""},
		"localhost http":             {Config{HTTP: "localhost:8080"}, ""},
		"ipv6 loopback":              {Config{Bind: "[::1]:7946", HTTP: "[::1]:0"}, ""},
		"gossip on all interfaces":   {Config{Bind: "0.0.0.0:7946", DataBind: "127.0.0.1:0"}, "gossip would listen on 0.0.0.0:7946"},
		"gossip with key, data open": {Config{Bind: "10.1.2.3:7946", Security: Security{GossipKeys: key}}, "event transport would listen on 10.1.2.3:0"},
		"data on a LAN address":      {Config{DataBind: "10.1.2.3:9000"}, "event transport"},
		"http on all interfaces":     {Config{HTTP: ":8080"}, "HTTP would listen on :8080"},
		"http with token":            {Config{HTTP: ":8080", Security: Security{HTTPToken: tok}}, ""},
		"insecure":                   {Config{Bind: "0.0.0.0:7946", HTTP: ":8080", Security: Security{Insecure: true}}, ""},
		"short token":                {Config{Security: Security{HTTPToken: "short"}}, "at least 16"},
		"injected transports":        {Config{Bind: "10.0.0.1:7946", GossipTransport: tr, DataListener: ln}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckExposure(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if !strings.Contains(tc.want, "at least") && (!errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "--insecure")) {
				t.Fatalf("err = %v: want ErrInsecure naming --insecure", err)
			}
		})
	}
}

func TestHTTPAuthDecisions(t *testing.T) {
	tok := "0123456789abcdef0123"
	req := func(auth string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/status", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return r
	}
	tests := map[string]struct {
		token    string
		loopback bool
		need     access
		auth     string
		want     int
	}{
		"no token, loopback read":    {"", true, accessRead, "", 0},
		"no token, write":            {"", true, accessWrite, "", 0},
		"no token, key management":   {"", true, accessAdmin, "", http.StatusForbidden},
		"token, loopback read":       {tok, true, accessRead, "", 0},
		"token, remote read":         {tok, false, accessRead, "", http.StatusUnauthorized},
		"token, remote read with it": {tok, false, accessRead, "Bearer " + tok, 0},
		"token, write without":       {tok, true, accessWrite, "", http.StatusUnauthorized},
		"token, write with it":       {tok, true, accessWrite, "Bearer " + tok, 0},
		"token, write wrong":         {tok, true, accessWrite, "Bearer " + tok + "x", http.StatusUnauthorized},
		"token, read wrong on lo":    {tok, true, accessRead, "Bearer nope", http.StatusUnauthorized},
		"token, admin with it":       {tok, true, accessAdmin, "Bearer " + tok, 0},
		"token, admin basic auth":    {tok, true, accessAdmin, "Basic " + tok, http.StatusUnauthorized},
		"token, admin without":       {tok, true, accessAdmin, "", http.StatusUnauthorized},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := &httpAuth{loopback: tc.loopback}
			if tc.token != "" {
				a = newHTTPAuth(tc.token, nil)
				a.loopback = tc.loopback
			}
			if code, _ := a.check(req(tc.auth), httpRule{need: tc.need, roles: []Role{RoleManager}}); code != tc.want {
				t.Fatalf("code %d, want %d", code, tc.want)
			}
		})
	}
}

// A node with a token: writes without it are refused and counted, and the
// key endpoints rotate the keyring of the whole (in-process) cluster.
func TestHTTPTokenAndKeyEndpoints(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k1, k2 := make([]byte, 32), make([]byte, 32)
		k2[0] = 1
		tok := "0123456789abcdef"
		h := newHarness(t, func(c *Config) {
			c.Security = Security{GossipKeys: [][]byte{k1}, ClusterName: "test", HTTPToken: tok}
		})
		defer h.closeAll()
		mgr := h.start("mgr", RoleManager, nil)
		h.start("dn1", RoleDatanode, nil)
		h.start("w1", RoleWorker, nil)
		time.Sleep(2 * time.Second)
		srv := mgr.httpHandler()
		call := func(method, path, auth, body string) (int, string) {
			r := httptest.NewRequest(method, path, strings.NewReader(body))
			if auth != "" {
				r.Header.Set("Authorization", "Bearer "+auth)
			}
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			return w.Code, w.Body.String()
		}
		if code, _ := call(http.MethodPost, "/v1/sumstats/next-epoch?name=x", "", ""); code != http.StatusUnauthorized {
			t.Fatalf("write without the token: %d", code)
		}
		if code, _ := call(http.MethodGet, "/v1/keys", "", ""); code != http.StatusUnauthorized {
			t.Fatalf("key list without the token: %d", code)
		}
		if got := mgr.Status().Security.HTTPDenied; got != 2 {
			t.Fatalf("http_denied = %d, want 2", got)
		}
		if code, body := call(http.MethodPost, "/v1/keys/install", tok, `{"key":"`+gossip.EncodeKey(k2)+`"}`); code != http.StatusOK {
			t.Fatalf("install: %d %s", code, body)
		}
		code, body := call(http.MethodPost, "/v1/keys/use", tok, `{"key":"`+gossip.EncodeKey(k2)+`"}`)
		var res gossip.KeyResult
		if err := json.Unmarshal([]byte(body), &res); code != http.StatusOK || err != nil {
			t.Fatalf("use: %d %s", code, body)
		}
		if len(res.Nodes) != 3 || len(res.Failed()) != 0 {
			t.Fatalf("use result %+v", res)
		}
		for name, n := range h.nodes {
			if ks := n.gossip.Keys(); len(ks) != 2 || ks[0] != gossip.KeyFingerprint(k2) {
				t.Fatalf("%s keys %v", name, ks)
			}
		}
		if code, _ := call(http.MethodPost, "/v1/keys/remove", tok, `{"key":"`+gossip.EncodeKey(k2)+`"}`); code != http.StatusConflict {
			t.Fatalf("removing the primary key: %d", code)
		}
		if code, _ := call(http.MethodPost, "/v1/keys/install", tok, `{"key":"short"}`); code != http.StatusBadRequest {
			t.Fatalf("bad key: %d", code)
		}
		st := mgr.Status().Security
		if !st.Gossip.Encrypted || st.Gossip.ClusterName != "test" || !st.HTTPToken {
			t.Fatalf("security status %+v", st)
		}
	})
}

// Every event type a node of any role handles has a row in the
// authorization table, and deliver enforces it: a record from a worker is
// dropped and counted, the same record from a datanode is taken.
func TestAuthorizationTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		defer h.closeAll()
		mgr := h.start("mgr", RoleManager, nil)
		dn := h.start("dn1", RoleDatanode, nil)
		w := h.start("w1", RoleWorker, nil)
		for _, n := range []*Node{mgr, dn, w} {
			for typ := range n.handlers {
				if _, ok := n.authz.lookup(typ); !ok {
					t.Errorf("%s handles type %d, which has no row in the authorization table", n.cfg.Role, typ)
				}
			}
		}
		for pattern := range httpRules {
			_ = rule(pattern)
		}
		_ = mgr.httpHandler() // panics on an endpoint without a rule

		payload := wire.AppendEvent(nil, wire.KnownHost{TS: 1, Host: netip.MustParseAddr("10.9.9.9")})
		typ, body, _, err := wire.ReadEvent(payload)
		if err != nil {
			t.Fatal(err)
		}
		mgr.deliver(route.Sender{Name: "w1", Pool: "worker"}, typ, body)
		if got := mgr.Status().Security.EventsRefused; got != 1 {
			t.Fatalf("events_refused = %d after a record from a worker, want 1", got)
		}
		mgr.deliver(route.Sender{Name: "dn1", Pool: "datanode"}, typ, body)
		if got := mgr.Status().Security.EventsRefused; got != 1 {
			t.Fatalf("events_refused = %d after a record from a datanode, want still 1", got)
		}
		// A type without a row is refused too, whoever sends it.
		for _, from := range []route.Sender{{Name: "w1", Pool: "worker"}, {Name: "dn1", Pool: "datanode"}} {
			mgr.deliver(from, 4000, []byte{1})
		}
		if got := mgr.Status().Security.EventsRefused; got != 3 {
			t.Fatalf("events_refused = %d after two events of a type without a row, want 3", got)
		}
		time.Sleep(2 * time.Second)
		if got := mgr.manager.status().Records["known_hosts"]; got != 1 {
			t.Fatalf("known_hosts records %d, want 1 (the datanode's)", got)
		}
	})
}

// A datanode answers not-owner for an event whose partition another
// datanode of its ring owns, and takes one of its own.
func TestNotOwner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		defer h.closeAll()
		h.start("mgr", RoleManager, nil)
		dn1 := h.start("dn1", RoleDatanode, nil)
		h.start("dn2", RoleDatanode, nil)
		time.Sleep(3 * time.Second)
		r, _ := dn1.router.Ring("datanode")
		if r == nil || r.Len() != 2 {
			t.Fatalf("dn1's datanode ring: %v", r)
		}
		var mine, theirs []byte
		for i := 0; mine == nil || theirs == nil; i++ {
			host := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
			ev := hosts.Seen{TS: 1, Host: host}.AppendWire(nil)
			k := host.As16()
			if r.Member(r.PartitionOwner(r.Partition(k[:]))) == "dn1" {
				mine = ev
			} else {
				theirs = ev
			}
		}
		w := route.Sender{Name: "w1", Pool: "worker"}
		if got := dn1.deliver(w, hosts.TypeSeen, theirs); got != route.NotOwner {
			t.Fatalf("event for dn2's partition: outcome %v, want not-owner", got)
		}
		if got := dn1.deliver(w, hosts.TypeSeen, mine); got != route.OK {
			t.Fatalf("event for dn1's partition: outcome %v, want ok", got)
		}
		if got := dn1.Status().Security.NotOwner; got != 1 {
			t.Fatalf("not_owner = %d, want 1", got)
		}
	})
}
