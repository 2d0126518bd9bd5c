package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"shoal/pki"
)

// apiClient calls a node's HTTP API, with the bearer token if given, over
// HTTPS when given a CA.
type apiClient struct {
	addr    string
	token   string
	timeout time.Duration
	scheme  string
	http    *http.Client
}

// clientFlags are the credentials flags of the CLI commands that call a node.
type clientFlags struct {
	tokenFile, ca, cert, key string
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.tokenFile, "token-file", "", "bearer token `file` (the node's --http-token-file)")
	fs.StringVar(&f.ca, "tls-ca", "", "HTTPS: the cluster CA `file` (for nodes started with --tls-*)")
	fs.StringVar(&f.cert, "tls-cert", "", "HTTPS: a client certificate `file` (instead of the token)")
	fs.StringVar(&f.key, "tls-key", "", "HTTPS: the client certificate's key `file`")
}

// newAPIClient reads the token file and TLS files.
func newAPIClient(addr string, f clientFlags, timeout time.Duration) (*apiClient, error) {
	c := &apiClient{addr: addr, timeout: timeout, scheme: "http", http: http.DefaultClient}
	if f.ca != "" {
		cfg, err := pki.ClientTLS(f.ca, f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--tls-*: %w", err)
		}
		c.scheme = "https"
		c.http = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	} else if f.cert != "" || f.key != "" {
		return nil, fmt.Errorf("--tls-cert and --tls-key need --tls-ca")
	}
	if tokenFile := f.tokenFile; tokenFile != "" {
		tok, err := readToken(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		c.token = tok
	}
	return c, nil
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out. A non-2xx answer is an error carrying the node's message.
func (c *apiClient) do(method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.scheme+"://"+c.addr+path, rd)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}
