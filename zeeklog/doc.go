// Package zeeklog owns the on-disk log formats shoal shares with Zeek and
// the manager's log files: it writes Zeek-format logs (the ASCII writer's
// TSV layout with its "#separator ... #types" header and "#close" footer,
// or Zeek's JSON lines), keeps each row exactly once in them across
// crashes, full disks and rotations, rotates and archives them in
// zeekctl's layout, and reads Zeek TSV logs back for tests and tools.
//
// # Files (the manager's write path)
//
// A File is one live log, <dir>/<path>.log. Rows are encoded by Write
// into a pending buffer and reach the file at Commit, with one write(2)
// (plus fsync with FileConfig.Sync). The manager commits before it
// acknowledges the batch the rows came in; when Commit fails (ENOSPC), the
// file is cut back to its last complete row and the rows are discarded, so
// the manager answers the batch busy and the senders retry. A file never
// keeps a partial line: OpenFile cuts one that a crash left in the middle
// of a write.
//
// A row's identity is the hash (xxhash64) of its path and encoded line, so
// a record sent again after any failure — the manager died after writing
// and before acknowledging, an acknowledgement was lost — produces the same
// hash and Write drops it. A File keeps the hashes of its last
// FileConfig.Window committed rows (DefaultWindow: 65,536 rows, about
// 1.5 MB; the bound is in rows, not bytes or time), and OpenFile rebuilds
// them from the files: the leftover live file and, when that holds fewer
// rows than the window, the newest archives of the log. No sidecar file
// is needed. Rows must therefore render deterministically: the same record
// always gives the same line.
//
// # Leftovers, rotation and archives
//
// Nothing is ever truncated except a partial last line. A file left by an
// earlier run is rotated away at OpenFile, as Zeek does with
// LogAscii::enable_leftover_log_rotation: a TSV file with its complete
// header gets its "#close" (stamped with its modification time) and is
// archived. With FileConfig.KeepLeftover (a manager that does not rotate)
// it is appended to instead when it can be: a JSON file, or a TSV file
// with this log's complete header and no "#close"; any other is archived.
//
// Rotate archives the live file under zeekctl's make-archive-name layout,
//
//	<dir>/YYYY-MM-DD/<path>.HH:MM:SS-HH:MM:SS[-<suffix>][.<n>].log
//
// (the open day, open and close times in local time, or UTC), after
// stamping a TSV file's "#close". suffix is Zeek's log_suffix for several
// loggers: the manager's name when several managers run. A name already
// taken (a rotation in the same second as the one before) gets a counter
// .1, .2, ... Compress gzips an archive to .log.gz; Uncompressed finds
// archives a crash left uncompressed. NextRotation aligns rotations to the
// clock as Zeek does. Beside every live file a Zeek shadow file
// .shadow.<path>.log holds its open time, which JSON files have nowhere
// else.
//
// # Writers and readers
//
// Writer renders a log to any io.Writer (New) or appends to a file
// (Create, which repairs and never truncates either); it has no commit
// point and does not drop repeats.
//
//	w, err := zeeklog.New(os.Stdout, "known_hosts", fields, zeeklog.FormatTSV, time.Now())
//	err = w.Write(zeeklog.Time(ts), zeeklog.Addr(host))
//	err = w.Close(time.Now())
//
// The manager's use of a File:
//
//	f, rec, err := zeeklog.OpenFile(zeeklog.FileConfig{Dir: dir, Path: "known_hosts",
//		Fields: fields, Format: zeeklog.FormatTSV}, time.Now())
//	ok, err := f.Write(zeeklog.Time(ts), zeeklog.Addr(host)) // ok == false: a repeat, dropped
//	err = f.Commit()                                        // before acknowledging
//	name, err := f.Rotate(zeeklog.NextRotation(...), suffix) // between commits
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
// goroutines and reads no clock: times are passed in by the caller. Its
// types are owned by one goroutine each.
package zeeklog
