package service

// Counters sum the outcomes of many connections' analyses. The analyzers
// keep only a few bits per connection; a caller adds each connection's
// Detector and TLS once, when the connection ends. Counters is a plain
// value, not safe for concurrent use.
type Counters struct {
	Connections uint64              // Detectors added
	Confirmed   [NumServices]uint64 // per Service: connections on which it was confirmed
	Violated    uint64              // connections with a service confirmed, then violated
	OutOfOrder  uint64              // connections whose Detector stopped at a TCP gap or reordering

	TLS           uint64 // TLS analyses added
	Certs         uint64 // leaf certificates parsed
	Established   uint64 // ssl_established seen
	NoCert        uint64 // handshakes without a server certificate
	TLS13         uint64 // TLS 1.3: certificate encrypted, not logged
	SSLv2         uint64 // SSLv2 servers, not analyzed
	CertTooLarge  uint64 // leaves over MaxCertSize
	CertInvalid   uint64 // leaves that do not parse
	TLSOutOfOrder uint64 // TLS analyses stopped at a gap or reordering
	TLSMalformed  uint64 // TLS analyses stopped at a record or handshake message that does not parse

	Facts           uint64 // Facts analyses added that followed a protocol
	FactsOutOfOrder uint64 // of those, stopped at a gap or reordering
	FactLinesCut    uint64 // lines longer than MaxFactLine, cut
}

// AddDetector adds one connection's Detector.
func (c *Counters) AddDetector(d *Detector) {
	c.Connections++
	for s := Service(0); s < NumServices; s++ {
		if d.conf.Has(s) {
			c.Confirmed[s]++
		}
	}
	if d.viol != 0 {
		c.Violated++
	}
	if d.OutOfOrder() {
		c.OutOfOrder++
	}
}

// AddTLS adds one connection's TLS analysis.
func (c *Counters) AddTLS(s *TLS) {
	c.TLS++
	if s.established {
		c.Established++
	}
	switch s.status {
	case TLSCert:
		c.Certs++
	case TLSNoCert:
		c.NoCert++
	case TLS13:
		c.TLS13++
	case TLSSSLv2:
		c.SSLv2++
	case TLSCertTooLarge:
		c.CertTooLarge++
	case TLSCertInvalid:
		c.CertInvalid++
	}
	switch s.anomaly {
	case TLSOutOfOrder:
		c.TLSOutOfOrder++
	case TLSMalformed:
		c.TLSMalformed++
	}
}

// AddFacts adds one connection's fact analysis; one that followed no
// protocol is not counted.
func (c *Counters) AddFacts(f *Facts) {
	if f.http == nil && f.ssh == nil && f.lines == nil {
		return
	}
	c.Facts++
	if f.OutOfOrder() {
		c.FactsOutOfOrder++
	}
	c.FactLinesCut += uint64(f.cut)
}
