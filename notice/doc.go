// Package notice owns Zeek's Notice framework in shoal: the notice.log
// record (Notice: Zeek's Notice::Info with its &log fields, Fields and
// Values render the row), the record that carries a notice from the
// datanode that raised it to a manager (Record, TypeNotice, keyed by note
// and identifier with Key), $identifier suppression (Suppressor: a notice
// equal in note and identifier to one logged less than $suppress_for ago is
// dropped) and the module that writes notice.log on managers (Module).
// $sub is the Sub field; the only action is Notice::ACTION_LOG, which
// every logged notice carries.
//
// Scan detection and SumStats thresholds raise notices:
//
//	n := notice.Notice{TS: ts, Note: "Scan::Port_Scan", Msg: msg, Sub: "remote",
//		Src: scanner, Identifier: scanner.String(), SuppressFor: time.Hour}
//	out.Records = append(out.Records, analysis.Record{Key: notice.Key(&n), Event: notice.Record{Notice: n}})
//
// The package is pure: no I/O, no goroutines, no clock.
package notice
