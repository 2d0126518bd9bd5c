// Package wire is the only package that knows byte layouts: the event
// transport's length-prefixed, versioned frames (hello, batch, ack), the
// varint helpers, and the encodings of shoal's built-in events. Every
// decoder here is fuzzed and returns an error, never panics, on bad input.
package wire
