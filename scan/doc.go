// Package scan owns scan detection with the semantics of Justin Azoff's
// bro-simple-scan (simple-scan: scripts/scan.zeek; SEMANTICS.md §5).
//
// An attempt is an unanswered or rejected TCP connection attempt: Zeek's
// connection_attempt with history S or SW, or connection_rejected with
// history Sr or SWr (IsAttempt). The scanner address is the partition key,
// so the cluster splits the work in two pure pieces:
//
//   - WorkerFilter runs on a worker. It drops attempts it sent for the same
//     scanner within the last minute and stops sending for a scanner once it
//     sent the scanner's threshold of distinct attempts or the scanner was
//     reported (Reported), as simple-scan's cluster add_scan does.
//   - Detector runs on the datanode that owns the scanner. It keeps
//     simple-scan's Scan_Info per scanner (first_seen, the unique
//     (victim, port) attempts, port_counts, up to DarkHostThreshold darknet
//     victims), decides scan and knock-knock, classifies the attempts into
//     Scan::Address_Scan, Scan::Port_Scan or Scan::Random_Scan and returns
//     the Notice, then forgets the scanner's state and ignores it for the
//     suppression interval (known_scanners).
//
// The manager writes the notices with zeeklog using NoticeFields and
// Notice.Values, which reproduce Zeek's notice.log columns.
//
// Usage sketch:
//
//	cfg := scan.DefaultConfig()
//	cfg.LocalNets, _ = site.ParseNets("10.0.0.0/8")
//	// worker
//	wf, _ := scan.NewWorkerFilter(cfg)
//	if scan.IsAttempt(history, rejected) && wf.Allow(a, now) {
//		sendHashed(a.Scanner, a) // to the owning datanode
//	}
//	// datanode
//	d, _ := scan.NewDetector(cfg)
//	if n, ok := d.Observe(a, now); ok {
//		sendToManager(n)            // manager: w.Write(n.Values()...)
//		broadcastReported(n.Src)    // workers: wf.Reported(n.Src, now)
//	}
//	d.Expire(now)                   // from time to time
//
// State moves between nodes as a State (Detector.Export, State.AppendBinary,
// State.DecodeBinary, Detector.Merge): merging the states of any split of an
// attempt stream gives the state that observing the whole stream would give,
// for everything the decisions depend on.
//
// The package is pure: no I/O, no goroutines, no clock. Time is network
// time passed in by the caller and never runs backwards inside a Detector or
// WorkerFilter (an earlier time is taken as the latest one seen). Detector
// and WorkerFilter are not safe for concurrent use: one goroutine owns each.
package scan
