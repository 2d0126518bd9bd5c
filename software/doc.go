// Package software owns Zeek's Software framework as a cluster analysis:
// which software and versions hosts run, logged to software.log once per
// host, name and version, with Software::Software_Version_Change notices
// for the names an operator lists as interesting.
//
// It reproduces Zeek's scripts (base/frameworks/software/main.zeek, the
// protocols' software.zeek and http/software-browser-plugins.zeek,
// policy/frameworks/software/version-changes.zeek):
//
//   - FromFact maps a protocol fact of package service (an HTTP header, an
//     SSH version line, an FTP CLNT argument, a mail's user agent) to the
//     detections the protocol scripts pass to Software::found: host, port
//     for servers, type (HTTP::BROWSER, SSH::SERVER, ...) and unparsed
//     version string.
//   - Worker is Software::found on a worker: the tracking check
//     (Software::asset_tracking), the suppression cache
//     (Software::found_cache, 10 minutes; kept per ring partition of the
//     host), and Parse.
//   - Parse is Software::parse, entry for entry equal to Zeek's
//     version-parsing table; Cmp is Software::cmp_versions.
//   - Owner is Software::register on the datanode that owns the host, one
//     state per ring partition: a version of a name not yet seen on the
//     host is logged; one already seen is not; at most 20 versions are
//     remembered per name (then the set restarts with the newest); a new
//     version of a known name is a VersionChange; a host's software is
//     forgotten a day after its first registration. Export, Import and
//     Merge move and combine partitions; Merge is idempotent, commutative
//     and associative.
//   - Info.Row gives the software.log values (LogFields).
//
// A worker's path, for each fact of a connection at packet time ts:
//
//	for _, i := range software.FromFact(nil, &fact, conn, w.Config()) {
//		if sent, ok := w.Found(partitionOf(i.Host), i, ts); ok {
//			send(owner(i.Host), software.AppendInfo(nil, &sent))
//		}
//	}
//
// and the owner's, for each Info received:
//
//	r := o.Apply(partitionOf(i.Host), i, i.TS) // network time from the event
//	if r.Log { toManager(i.Row()) }
//	if r.Notice { raise(r.Change) }
//
// The package is pure: no I/O, no goroutines, no clocks; network time is
// an argument. Nothing in it is safe for concurrent use.
package software
