// Package pki issues and loads the certificates of a shoal cluster: a
// cluster CA and one certificate per node that binds the node's name and
// role in a URI SAN, shoal://<role>/<name>, as `consul tls` does for its
// agents. Keys are ECDSA P-256; certificates are X.509 from crypto/x509.
//
// Issuing is pure (the caller passes the time and may pass a random
// source); Files loads a node's CA, certificate and key, reloads them when
// the files change, and builds mutual TLS 1.3 configurations whose
// verification checks the chain against the current CA and returns the
// peer's identity from its certificate.
//
//	ca, _ := pki.NewCA(pki.CARequest{Name: "shoal CA"}, time.Now())
//	cert, key, _ := ca.Issue(pki.Request{Role: "datanode", Name: "dn-1"}, time.Now())
//	f, _ := pki.Load(pki.Paths{CA: "ca.pem", Cert: "dn-1.pem", Key: "dn-1-key.pem"}, time.Now)
//	srv := f.ServerConfig()              // requires and verifies a client certificate
//	cli := f.ClientConfig("dn-2", "datanode") // verifies the server is dn-2, a datanode
//	id, _ := pki.PeerIdentity(conn.ConnectionState())
package pki
