// Package check compares the logs a shoal run wrote with ground truth and
// reports, per log, the rows that are missing, duplicated or wrong, with the
// first few examples of each, and every file that is not intact.
//
// Ground truth never comes from the code under test: it is what the traffic
// generator reports it produced and what each worker reports was
// acknowledged to it (PLAN.md D4). The caller turns it into one Spec per
// log (or per part of a log, e.g. one sumstat of sumstats.log): the fields
// that identify a row (Key), and for every key what is expected (Expect:
// acceptable timestamps, exact fields, numbers within a tolerance, how many
// rows are allowed, and whether a worker had it acknowledged at all).
//
// Check reads every file of every log a Spec names in every manager's log
// directory — the live <path>.log and its archives (zeekctl's layout, plain
// or gzip), TSV or JSON — and compares:
//
//   - missing: an expected key with no row; a key whose events no worker had
//     acknowledged is counted apart, as unacked (the guarantee covers
//     acknowledged events; unacknowledged ones must have been reported
//     by the worker as undelivered);
//   - duplicate: rows of a key beyond the number allowed (one per key per
//     expiry or suppression window);
//   - wrong: a row for a key ground truth does not have, or whose timestamp
//     or fields differ from every acceptable value.
//
// A file is intact when it has no partial last line and, for TSV, has its
// #path, #open, #fields and #types headers and only well-formed records.
//
//	rep, err := check.Check([]string{managerLogDir}, specs)
//	rep.Write(os.Stdout, 3)
//	if err := rep.Exceeds(check.Bounds{}); err != nil { ... }
//
// The package reads files and nothing else; it is safe for concurrent use
// on distinct inputs.
package check
