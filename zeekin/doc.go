// Package zeekin owns Zeek logs as an input for a worker: it reads the
// conn.log rows a worker's analyses need and the server certificates that
// ssl.log and x509.log describe together, from files or by following a log
// directory as Zeek writes and rotates it.
//
// Both Zeek log encodings are read: the ASCII writer's TSV (recognised by
// its "#separator" header; columns are located by "#fields", in any order,
// extra columns ignored, "#set_separator", "#empty_field" and
// "#unset_field" honoured) and JSON lines (LogAscii::use_json=T). Both the
// current Zeek layout (ssl.log cert_chain_fps, x509.log keyed by
// fingerprint) and the Zeek 3 layout (ssl.log cert_chain_fuids, x509.log
// keyed by file id) are joined. Value decoding reuses zeeklog.Unescape;
// line handling is this package's own, because a live log needs a reader
// that keeps an unterminated last line and goes on after a bad one.
//
// Files:
//
//	st, err := zeekin.ReadFiles(ctx, []string{"conn.log", "ssl.log", "x509.log"}, zeekin.Handler{
//		Conn: func(c *zeekin.Conn) { ... },
//		Cert: func(c *zeekin.Cert) { ... },
//	})
//	// err joins every bad line ("conn.log:17: ..."), wrapping ErrMalformed
//	// or ErrLayout; everything else was processed. st counts it all.
//
// A live directory:
//
//	st, err := zeekin.Follow(ctx, "/opt/zeek/logs/current", zeekin.FollowConfig{}, h)
//
// One file, record by record: OpenFile and File.Next.
//
// The known-hosts rule for a conn.log row is EstablishedHosts.
//
// This package does file I/O. ReadFiles and Follow block the calling
// goroutine, call the handlers from it, and start no goroutines; Follow
// polls with a timer (or an injected tick) and reads no other clock except
// to rate-limit its warnings.
package zeekin
