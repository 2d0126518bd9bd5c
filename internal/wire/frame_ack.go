package wire

import (
	"encoding/binary"
	"fmt"
)

// Outcome is a receiver's answer for one event.
type Outcome uint8

// Outcomes. Numbers are part of the protocol: never reuse one.
const (
	// OK: the event was taken (and, where the receiver has a commit step,
	// committed). The sender forgets it.
	OK Outcome = 0
	// Busy: the receiver cannot take the event now. The sender backs off
	// and sends it again, to the same peer, before newer events.
	Busy Outcome = 1
	// NotOwner: the receiver does not own the event's key in its ring
	// (Ack.Ring). The sender routes it again once its own ring has moved.
	NotOwner Outcome = 2
)

// String names the outcome for logs.
func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Busy:
		return "busy"
	case NotOwner:
		return "not-owner"
	}
	return "unknown"
}

// Run is a run of consecutive events with the same outcome other than OK:
// events Start to Start+Len-1 of the acknowledged range.
type Run struct {
	Start, Len uint64
	Outcome    Outcome
}

// Ack acknowledges the batches First to Last (inclusive) of one
// connection, which hold Events events in sequence order. Every event is
// answered OK except those in Runs, which are ascending, non-overlapping,
// non-empty and within Events. Ring is the checksum of the receiver's ring
// for its own pool when it answered; it matters for NotOwner.
type Ack struct {
	First, Last uint64
	Events      uint64
	Ring        uint64
	Runs        []Run
}

// AppendAck appends an ack frame: u64 first, u64 last, uvarint events,
// u64 ring, uvarint run count, then per run uvarint gap (events since the
// end of the previous run), uvarint length and u8 outcome. It does not
// allocate when b has room. Runs that violate the Ack invariants are
// encoded but refused by the decoder.
func AppendAck(b []byte, a Ack) []byte {
	n := 8 + 8 + uvarintLen(a.Events) + 8 + uvarintLen(uint64(len(a.Runs)))
	end := uint64(0)
	for _, r := range a.Runs {
		n += uvarintLen(r.Start-end) + uvarintLen(r.Len) + 1
		end = r.Start + r.Len
	}
	b = appendHeader(b, KindAck, n)
	b = binary.BigEndian.AppendUint64(b, a.First)
	b = binary.BigEndian.AppendUint64(b, a.Last)
	b = binary.AppendUvarint(b, a.Events)
	b = binary.BigEndian.AppendUint64(b, a.Ring)
	b = binary.AppendUvarint(b, uint64(len(a.Runs)))
	end = 0
	for _, r := range a.Runs {
		b = binary.AppendUvarint(b, r.Start-end)
		b = binary.AppendUvarint(b, r.Len)
		b = append(b, byte(r.Outcome))
		end = r.Start + r.Len
	}
	return b
}

// Ack decodes an ack frame's body. The runs are appended to runs[:0] (pass
// the previous Ack's Runs to reuse its array); the result's Runs never
// aliases the frame.
func (f Frame) Ack(runs []Run) (Ack, error) {
	if f.Kind != KindAck {
		return Ack{}, fmt.Errorf("%w: %s frame, want ack", ErrBadFrame, f.Kind)
	}
	b := f.Body
	if len(b) < 16 {
		return Ack{}, fmt.Errorf("%w: ack of %d bytes", ErrBadFrame, len(b))
	}
	a := Ack{First: binary.BigEndian.Uint64(b), Last: binary.BigEndian.Uint64(b[8:])}
	if a.First > a.Last {
		return Ack{}, fmt.Errorf("%w: ack of batches %d to %d", ErrBadFrame, a.First, a.Last)
	}
	b = b[16:]
	var k int
	if a.Events, k = binary.Uvarint(b); k <= 0 {
		return Ack{}, fmt.Errorf("%w: ack event count", ErrBadFrame)
	}
	b = b[k:]
	if len(b) < 8 {
		return Ack{}, fmt.Errorf("%w: ack ring", ErrBadFrame)
	}
	a.Ring = binary.BigEndian.Uint64(b)
	b = b[8:]
	nr, k := binary.Uvarint(b)
	// Every run takes at least 3 bytes: a count above that is a lie.
	if k <= 0 || nr > uint64(len(b)-k)/3 {
		return Ack{}, fmt.Errorf("%w: ack run count", ErrBadFrame)
	}
	b = b[k:]
	a.Runs = runs[:0]
	end := uint64(0)
	for i := range nr {
		gap, k1 := binary.Uvarint(b)
		if k1 <= 0 {
			return Ack{}, fmt.Errorf("%w: ack run %d gap", ErrBadFrame, i)
		}
		n, k2 := binary.Uvarint(b[k1:])
		if k2 <= 0 || len(b) <= k1+k2 {
			return Ack{}, fmt.Errorf("%w: ack run %d length", ErrBadFrame, i)
		}
		o := Outcome(b[k1+k2])
		b = b[k1+k2+1:]
		if n == 0 || (o != Busy && o != NotOwner) {
			return Ack{}, fmt.Errorf("%w: ack run %d of %d events %s", ErrBadFrame, i, n, o)
		}
		// end <= Events, so none of these sums overflow once checked.
		if gap > a.Events-end || n > a.Events-end-gap {
			return Ack{}, fmt.Errorf("%w: ack run %d beyond %d events", ErrBadFrame, i, a.Events)
		}
		a.Runs = append(a.Runs, Run{Start: end + gap, Len: n, Outcome: o})
		end += gap + n
	}
	if len(b) != 0 {
		return Ack{}, fmt.Errorf("%w: %d trailing bytes after ack", ErrBadFrame, len(b))
	}
	return a, nil
}
