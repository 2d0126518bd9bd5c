package check

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Bound is how many missing, duplicate and wrong rows a log may have; a
// negative field is unbounded.
type Bound struct {
	Missing, Duplicate, Wrong int
}

// Bounds are the bounds per log (LogReport.Name); a log not listed is held
// to Default.
type Bounds struct {
	Default Bound
	PerLog  map[string]Bound
	// Unintact allows files that are not intact (never, by default).
	Unintact bool
}

// Exceeds says which logs are beyond their bounds (and which files are not
// intact); nil when every log is within.
func (r *Report) Exceeds(b Bounds) error {
	var errs []error
	for _, l := range r.Logs {
		bd, ok := b.PerLog[l.Name]
		if !ok {
			bd = b.Default
		}
		for _, c := range []struct {
			what       string
			got, bound int
		}{{"missing", l.Missing, bd.Missing}, {"duplicate", l.Duplicate, bd.Duplicate}, {"wrong", l.Wrong, bd.Wrong}} {
			if c.bound >= 0 && c.got > c.bound {
				errs = append(errs, fmt.Errorf("%s: %d %s rows, bound %d", l.Name, c.got, c.what, c.bound))
			}
		}
	}
	if !b.Unintact && len(r.Problems) > 0 {
		errs = append(errs, fmt.Errorf("%d files not intact (first: %s: %s)", len(r.Problems), r.Problems[0].File, r.Problems[0].Problem))
	}
	return errors.Join(errs...)
}

// Clean reports whether nothing is missing, duplicated or wrong and every
// file is intact (unacked keys aside).
func (r *Report) Clean() bool {
	return r.Exceeds(Bounds{}) == nil
}

// Log returns the report of the named log, or nil.
func (r *Report) Log(name string) *LogReport {
	for i := range r.Logs {
		if r.Logs[i].Name == name {
			return &r.Logs[i]
		}
	}
	return nil
}

// Write prints one line per log and then the examples and the files that
// are not intact.
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "LOG\tFILES\tROWS\tEXPECTED\tMISSING\tDUPLICATE\tWRONG\tUNACKED\t")
	for _, l := range r.Logs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", l.Name, l.Files, l.Rows, l.Expected, l.Missing, l.Duplicate, l.Wrong, l.Unacked)
	}
	tw.Flush()
	for _, l := range r.Logs {
		for _, ex := range []struct {
			kind string
			list []string
			n    int
		}{{"missing", l.MissingExamples, l.Missing}, {"duplicate", l.DuplicateExamples, l.Duplicate},
			{"wrong", l.WrongExamples, l.Wrong}, {"unacked", l.UnackedExamples, l.Unacked}} {
			if len(ex.list) == 0 {
				continue
			}
			fmt.Fprintf(&b, "%s: %d %s, first %d:\n", l.Name, ex.n, ex.kind, len(ex.list))
			for _, s := range ex.list {
				fmt.Fprintf(&b, "  %s\n", s)
			}
		}
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(&b, "files not intact: %d\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  %s: %s\n", p.File, p.Problem)
		}
	} else {
		b.WriteString("files intact: yes\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
