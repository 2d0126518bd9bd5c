package ssconf

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every *Error unwraps to one of them.
var (
	// ErrInvalidConfig marks an invalid definitions file (syntax or
	// semantics).
	ErrInvalidConfig = errors.New("ssconf: invalid sumstats configuration")
	// ErrMalformed marks a malformed observation line.
	ErrMalformed = errors.New("ssconf: malformed observation")
)

// Error is a problem at a place in an input: a definitions file or an
// observation feed. Error() renders it as "file:line: msg" (the form
// compilers use), "file: msg" when the line is unknown, or "<sentinel>: msg"
// when the input has no name (ParseObservation on its own).
//
// Errors unwrap to Kind (ErrInvalidConfig or ErrMalformed) and to Cause when
// set (for example sumstats.ErrUnknownCalc), so errors.Is works on both.
// An Error is immutable once returned and safe to share.
type Error struct {
	File  string // input name; "" if unknown
	Line  int    // 1-based line; 0 if unknown
	Msg   string // what is wrong, without the place
	Kind  error  // ErrInvalidConfig or ErrMalformed
	Cause error  // underlying error, or nil
}

// Error renders the error with its place.
func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	case e.File != "":
		return e.File + ": " + e.Msg
	case e.Line > 0:
		return "line " + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	if e.Kind != nil {
		return e.Kind.Error() + ": " + e.Msg
	}
	return e.Msg
}

// Unwrap returns Kind and Cause.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 2)
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Cause != nil {
		out = append(out, e.Cause)
	}
	return out
}
