package node

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"shoal/gossip"
	"shoal/pki"
)

// Security configures who may talk to a node. The zero value is a node for
// a loopback-only cluster: no encryption, no credentials, and New refuses
// to listen on any other address (ErrInsecure) unless Insecure is set.
type Security struct {
	// GossipKeys encrypt gossip (the first key is primary); GossipKeyFile is
	// rewritten on every keyring change (`node keys install|use|remove`).
	GossipKeys    [][]byte
	GossipKeyFile string
	// ClusterName is memberlist's label: gossip with another one is
	// discarded and counted. Without GossipKeys it is a naming aid only.
	ClusterName string
	// HTTPToken, when set, is the bearer token HTTP clients present
	// ("Authorization: Bearer <token>"): write endpoints always need it,
	// read endpoints need it unless the listener is on loopback. Key
	// management needs it whatever the listener.
	HTTPToken string
	// TLS, when set, turns on mutual TLS 1.3 for the event transport and
	// HTTP: the cluster CA, this node's certificate (which must name this
	// node's name and role) and key, reloaded when the files change.
	TLS pki.Paths
	// Insecure allows listening on non-loopback addresses without the
	// settings that protect them.
	Insecure bool
}

// ErrInsecure is wrapped by New's error (and CheckExposure's) when a node
// would listen on a non-loopback address without security settings.
var ErrInsecure = errors.New("node: refusing an unprotected non-loopback listener")

// minTokenLen is the shortest bearer token accepted.
const minTokenLen = 16

// CheckExposure reports the first listener of c that is not on loopback and
// lacks the settings that protect it: gossip needs GossipKeys, the event
// transport TLS, HTTP TLS or HTTPToken. Listeners replaced by injected ones
// (GossipTransport, DataListener) are not checked. Nil with Insecure.
func CheckExposure(c Config) error {
	s := c.Security
	if s.HTTPToken != "" && len(s.HTTPToken) < minTokenLen {
		return fmt.Errorf("%w: the HTTP token is %d bytes, at least %d are needed", ErrConfig, len(s.HTTPToken), minTokenLen)
	}
	tlsOn := s.TLS != (pki.Paths{})
	if tlsOn && (s.TLS.CA == "" || s.TLS.Cert == "" || s.TLS.Key == "") {
		return fmt.Errorf("%w: TLS needs the CA, the certificate and the key", ErrConfig)
	}
	if s.Insecure {
		return nil
	}
	bind := c.Bind
	if bind == "" {
		bind = "127.0.0.1:7946"
	}
	data := c.DataBind
	if data == "" {
		if host, _, err := net.SplitHostPort(bind); err == nil {
			data = net.JoinHostPort(host, "0")
		}
	}
	type listener struct {
		what, addr string
		injected   bool
		protected  bool
		need       string
	}
	for _, l := range []listener{
		{"gossip", bind, c.GossipTransport != nil, len(s.GossipKeys) > 0, "--gossip-key-file"},
		{"event transport", data, c.DataListener != nil, tlsOn, "--tls-ca, --tls-cert and --tls-key"},
		{"HTTP", c.HTTP, false, s.HTTPToken != "" || tlsOn, "--http-token-file or --tls-*"},
	} {
		if l.addr == "" || l.injected || l.protected || isLoopback(l.addr) {
			continue
		}
		return fmt.Errorf("%w: the %s would listen on %s, reachable from other hosts, without protection: "+
			"give %s, or --insecure to run unprotected on a trusted network", ErrInsecure, l.what, l.addr, l.need)
	}
	return nil
}

// isLoopback reports whether a listen address host:port is on loopback
// only ("localhost" counts; an empty host or 0.0.0.0 is every interface).
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// httpAuth guards the HTTP endpoints.
type httpAuth struct {
	tokenSum [32]byte // SHA-256 of the token; compared in constant time
	hasToken bool
	loopback bool // the listener is on loopback
	tls      bool // the listener is TLS: client certificates are verified
	denied   atomic.Uint64
}

func newHTTPAuth(token string, ln net.Listener) *httpAuth {
	a := &httpAuth{hasToken: token != ""}
	if a.hasToken {
		a.tokenSum = sha256.Sum256([]byte(token))
	}
	if ln != nil {
		a.loopback = isLoopback(ln.Addr().String())
	}
	return a
}

// access is what an endpoint needs.
type access int

const (
	accessRead  access = iota // GET status and lookups
	accessWrite               // POST observations, epochs
	accessAdmin               // key management: a credential, always
)

// httpRule is one endpoint's rule: the access it needs and the roles whose
// client certificates grant it (any role for reads).
type httpRule struct {
	need  access
	roles []Role
}

// tokenOK reports whether r carries the bearer token.
func (a *httpAuth) tokenOK(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || !a.hasToken {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1
}

// certOK reports whether r came with a verified client certificate of one
// of the rule's roles (any role for reads).
func (a *httpAuth) certOK(r *http.Request, rule httpRule) bool {
	if !a.tls || r.TLS == nil {
		return false
	}
	id, err := pki.PeerIdentity(*r.TLS)
	if err != nil {
		return false
	}
	if rule.need == accessRead {
		return true
	}
	for _, role := range rule.roles {
		if id.Role == string(role) {
			return true
		}
	}
	return false
}

// check decides a request; it returns the HTTP status and message of a
// refusal, or 0.
func (a *httpAuth) check(r *http.Request, rule httpRule) (int, string) {
	secured := a.hasToken || a.tls
	switch {
	case a.tokenOK(r) || a.certOK(r, rule):
		return 0, ""
	case !secured && rule.need == accessAdmin:
		return http.StatusForbidden, "key management needs --http-token-file or TLS on this node"
	case !secured:
		return 0, "" // a loopback-only node without credentials, as CheckExposure allows
	case r.Header.Get("Authorization") != "":
		return http.StatusUnauthorized, "wrong credentials"
	case rule.need == accessRead && a.loopback:
		return 0, ""
	case a.tls && r.TLS != nil && len(r.TLS.PeerCertificates) > 0:
		return http.StatusForbidden, "this client certificate's role may not use this endpoint"
	}
	return http.StatusUnauthorized, "this endpoint needs the bearer token or a client certificate"
}

// guard wraps h with the access check; refusals are counted.
func (a *httpAuth) guard(rule httpRule, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if code, msg := a.check(r, rule); code != 0 {
			a.denied.Add(1)
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
			}
			httpError(w, code, errors.New(msg))
			return
		}
		h(w, r)
	}
}

// SecurityStatus is the node's security settings and what it refused.
type SecurityStatus struct {
	Gossip gossip.SecurityStats `json:"gossip"`
	// HTTPToken says the HTTP endpoints take a bearer token.
	HTTPToken bool `json:"http_token"`
	// HTTPDenied counts HTTP requests refused for missing or wrong credentials.
	HTTPDenied uint64 `json:"http_denied"`
	// EventsRefused counts events dropped because the sender's role may not
	// send their type (the authorization table).
	EventsRefused uint64 `json:"events_refused"`
	// NotOwner counts events this datanode answered not-owner: their key's
	// partition belongs to another member of its ring.
	NotOwner uint64 `json:"not_owner"`
	Insecure bool   `json:"insecure,omitempty"`
	// TLS is set with mutual TLS: the certificate in use, the transport's
	// refusals, and the members kept out of the rings (not confirmed by an
	// mTLS hello) with the reason.
	TLS         *pki.Status         `json:"tls,omitempty"`
	Transport   *pki.TransportStats `json:"transport,omitempty"`
	Unconfirmed map[string]string   `json:"unconfirmed,omitempty"`
	// ConfirmFailures counts failed confirmations of members.
	ConfirmFailures uint64 `json:"confirm_failures,omitempty"`
}

func (n *Node) securityStatus() *SecurityStatus {
	st := &SecurityStatus{Gossip: n.gossip.Security(), HTTPToken: n.cfg.Security.HTTPToken != "",
		Insecure: n.cfg.Security.Insecure, EventsRefused: n.authz.refused.Load(), NotOwner: n.authz.notOwner.Load()}
	if n.auth != nil {
		st.HTTPDenied = n.auth.denied.Load()
	}
	if n.tlsFiles != nil {
		fs := n.tlsFiles.Status()
		ts := n.tlsTr.Stats()
		st.TLS, st.Transport = &fs, &ts
		st.Unconfirmed = n.confirm.unconfirmed()
		st.ConfirmFailures = n.confirm.refused.Load()
	}
	return st
}

// keyBody is the body of POST /v1/keys/{op}.
type keyBody struct {
	Key string `json:"key"`
}

// httpKeys serves GET /v1/keys and POST /v1/keys/{op}: a keyring operation
// on every alive member, answered with gossip.KeyResult. ?timeout= bounds
// the wait for answers (default 10s).
func (n *Node) httpKeys(w http.ResponseWriter, r *http.Request) {
	op := gossip.KeyList
	if r.Method == http.MethodPost {
		var err error
		if op, err = gossip.ParseKeyOp(r.PathValue("op")); err != nil || op == gossip.KeyList {
			httpError(w, http.StatusNotFound, fmt.Errorf("unknown key operation %q (want install, use or remove)", r.PathValue("op")))
			return
		}
	}
	var key []byte
	if op != gossip.KeyList {
		var body keyBody
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
			httpError(w, http.StatusBadRequest, fmt.Errorf("body: want {\"key\": \"<base64>\"}: %w", err))
			return
		}
		var err error
		if key, err = gossip.DecodeKey(body.Key); err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
	}
	timeout := 10 * time.Second
	if s := r.URL.Query().Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			httpError(w, http.StatusBadRequest, fmt.Errorf("timeout %q: want a positive duration", s))
			return
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, err := n.gossip.KeyOperation(ctx, op, key)
	switch {
	case errors.Is(err, gossip.ErrNoEncryption):
		httpError(w, http.StatusConflict, errors.New("gossip encryption is not enabled on this node (--gossip-key-file)"))
		return
	case err != nil:
		httpError(w, http.StatusConflict, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}
