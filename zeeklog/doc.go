// Package zeeklog owns the on-disk log formats shoal shares with Zeek: it
// writes Zeek-format logs (the ASCII writer's TSV layout with its
// "#separator ... #types" header and "#close" footer, or Zeek's JSON lines),
// and reads Zeek TSV logs back for tests and tools.
//
// The manager role uses one Writer per log stream (known_hosts,
// known_services, notice, ...). A Writer is owned by one goroutine; that
// goroutine also calls Flush at least once a second so that readers of the
// file (tail -f, zeek-cut, tests) see records promptly and a crash loses at
// most about a second of output.
//
// Usage sketch:
//
//	fields := []zeeklog.Field{{Name: "ts", Type: "time"}, {Name: "host", Type: "addr"}}
//	w, err := zeeklog.Create(dir, "known_hosts", fields, zeeklog.FormatTSV, time.Now())
//	if err != nil { ... }
//	err = w.Write(zeeklog.Time(ts), zeeklog.Addr(host))
//	...
//	err = w.Flush()          // at least every second
//	err = w.Close(time.Now()) // writes "#close" and closes the file
//
// Reading:
//
//	log, err := zeeklog.ReadTSVFile("known_hosts.log")
//	// log.Fields, log.Types, log.Rows (values exactly as written, still escaped;
//	// see Unescape), log.Closed
//
// Escaping follows Zeek's ASCII writer with its default
// LogAscii::enable_utf_8=T: valid multi-byte UTF-8 is written as is;
// control bytes, DEL and bytes that are not valid UTF-8 become \xNN; a
// backslash becomes \\; the set separator inside a set element becomes
// \x2c; a string equal to "-" or "(empty)" has its first byte escaped; and a
// record whose first byte is '#' has it written as \x23.
//
// This package does file I/O and is therefore not pure, but it starts no
// goroutines and reads no clock: times are passed in by the caller.
package zeeklog
