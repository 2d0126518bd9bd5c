package zeekin

import "container/list"

// Default bounds of the certificate join.
const (
	// DefaultMaxCerts is how many x509 rows the join keeps (least recently
	// used first out). Current Zeek logs each certificate once a day or so
	// and later ssl rows refer back to it by fingerprint, so the rows are
	// kept after use.
	DefaultMaxCerts = 1 << 16
	// DefaultMaxPending is how many ssl rows may wait for their leaf's x509
	// row; the oldest is dropped (counted in Stats.Unjoined) beyond that.
	DefaultMaxPending = 1 << 12
)

// joiner pairs ssl.log rows with the x509.log row of their leaf certificate,
// whichever comes first, within fixed memory bounds. Current Zeek keys both
// by the certificate's SHA-256 fingerprint; Zeek 3 by a per-connection file
// id, so such an x509 row is dropped once used. The joiner is pure (no I/O,
// no clock) and used by one goroutine.
type joiner struct {
	maxCerts, maxPending int

	certs map[string]*list.Element // key -> element of lru holding *certEntry
	lru   list.List                // front: most recently used

	pending map[string][]*list.Element // key -> elements of queue, oldest first
	queue   list.List                  // *pendingSSL in arrival order
}

type certEntry struct {
	key string
	x   *X509
}

type pendingSSL struct {
	key string
	s   *SSL
}

func newJoiner(maxCerts, maxPending int) *joiner {
	if maxCerts <= 0 {
		maxCerts = DefaultMaxCerts
	}
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	return &joiner{
		maxCerts:   maxCerts,
		maxPending: maxPending,
		certs:      make(map[string]*list.Element),
		pending:    make(map[string][]*list.Element),
	}
}

func x509Key(x *X509) string {
	if x.Fingerprint != "" {
		return "fp:" + x.Fingerprint
	}
	return "fuid:" + x.FileID
}

// leafKey returns the join key of the leaf certificate of s (whose Chain is
// not empty).
func leafKey(s *SSL) string {
	if s.ByFileID {
		return "fuid:" + s.Chain[0]
	}
	return "fp:" + s.Chain[0]
}

func joinCert(s *SSL, x *X509) *Cert {
	return &Cert{
		TS:          s.TS,
		UID:         s.UID,
		Orig:        s.Orig,
		Host:        s.Resp.Addr(),
		Port:        s.Resp.Port(),
		Established: s.Established,
		Subject:     x.Subject,
		Issuer:      x.Issuer,
		Serial:      x.Serial,
		Fingerprint: x.Fingerprint,
		FileID:      x.FileID,
		X509TS:      x.TS,
	}
}

// addX509 records x and emits the certificates of the ssl rows waiting for
// it, in their order of arrival.
func (j *joiner) addX509(x *X509, emit func(*Cert)) {
	key := x509Key(x)
	if els := j.pending[key]; len(els) > 0 {
		for _, e := range els {
			emit(joinCert(e.Value.(*pendingSSL).s, x))
			j.queue.Remove(e)
		}
		delete(j.pending, key)
		if x.Fingerprint == "" {
			return // a v3 file id belongs to one connection: used up
		}
	}
	if e, ok := j.certs[key]; ok {
		e.Value.(*certEntry).x = x
		j.lru.MoveToFront(e)
		return
	}
	j.certs[key] = j.lru.PushFront(&certEntry{key: key, x: x})
	if j.lru.Len() > j.maxCerts {
		old := j.lru.Back()
		delete(j.certs, old.Value.(*certEntry).key)
		j.lru.Remove(old)
	}
}

// addSSL emits the certificate of s if its leaf's x509 row is known, and
// otherwise keeps s waiting. It returns how many waiting rows it had to drop
// to stay within bounds (0 or 1). s.Chain must not be empty.
func (j *joiner) addSSL(s *SSL, emit func(*Cert)) (dropped int) {
	key := leafKey(s)
	if e, ok := j.certs[key]; ok {
		emit(joinCert(s, e.Value.(*certEntry).x))
		if s.ByFileID {
			delete(j.certs, key)
			j.lru.Remove(e)
		} else {
			j.lru.MoveToFront(e)
		}
		return 0
	}
	j.pending[key] = append(j.pending[key], j.queue.PushBack(&pendingSSL{key: key, s: s}))
	if j.queue.Len() <= j.maxPending {
		return 0
	}
	old := j.queue.Front()
	okey := old.Value.(*pendingSSL).key
	j.queue.Remove(old)
	if rest := j.pending[okey][1:]; len(rest) > 0 {
		j.pending[okey] = rest
	} else {
		delete(j.pending, okey)
	}
	return 1
}

// waiting returns the number of ssl rows waiting for their x509 row.
func (j *joiner) waiting() int { return j.queue.Len() }

// drop discards every waiting ssl row and returns how many there were.
func (j *joiner) drop() int {
	n := j.queue.Len()
	j.queue.Init()
	clear(j.pending)
	return n
}
