package wire

import (
	"encoding/binary"
	"net/netip"
)

// Event types of partitioned SumStats.
const (
	TypeObservation    Type = 10 // worker -> datanode (hashed by SumStats key)
	TypeSumStatsOutput Type = 11 // datanode -> manager: an epoch result, a threshold crossing or an epoch end
	TypeNextEpoch      Type = 12 // manager -> every datanode: end a manual epoch
)

// Observation kinds, as sumstats.Kind.
const (
	ObsNone uint8 = iota
	ObsNum
	ObsDbl
	ObsStr
)

// Observation is one SumStats observation of Stream under the key
// {KeyHost, KeyStr}, made at network time TS.
type Observation struct {
	TS      int64
	Stream  string
	KeyHost netip.Addr
	KeyStr  string
	Kind    uint8
	Num     uint64
	Dbl     float64
	Str     string
}

// WireType implements Event.
func (Observation) WireType() Type { return TypeObservation }

// AppendWire implements Event.
func (e Observation) AppendWire(b []byte) []byte {
	b = binary.AppendVarint(b, e.TS)
	b = AppendString(b, e.Stream)
	b = AppendAddr(b, e.KeyHost)
	b = AppendString(b, e.KeyStr)
	b = append(b, e.Kind)
	switch e.Kind {
	case ObsNum:
		b = binary.AppendUvarint(b, e.Num)
	case ObsDbl:
		b = AppendF64(b, e.Dbl)
	case ObsStr:
		b = AppendString(b, e.Str)
	}
	return b
}

// DecodeWire implements Decoder.
func (e *Observation) DecodeWire(b []byte) error {
	r := NewReader(b)
	*e = Observation{}
	e.TS = r.Varint("ts")
	e.Stream = r.Str("stream")
	e.KeyHost = r.Addr("key host")
	e.KeyStr = r.Str("key str")
	e.Kind = r.U8("kind")
	switch e.Kind {
	case ObsNone:
	case ObsNum:
		e.Num = r.Uvarint("num")
	case ObsDbl:
		e.Dbl = r.F64("dbl")
	case ObsStr:
		e.Str = r.Str("str")
	default:
		r.Fail("kind", ErrBadValue)
	}
	return r.Done()
}

// Output kinds, as sumstats.OutputKind.
const (
	OutThresholdCrossed uint8 = iota
	OutEpochResult
	OutEpochFinished
)

// SumStatsOutput carries one output of a datanode's SumStats engine to a
// manager. Result is the sumstats.Result in its binary encoding.
type SumStatsOutput struct {
	Kind       uint8
	Def        string
	KeyHost    netip.Addr
	KeyStr     string
	Start, End int64
	Threshold  uint32
	Value      float64
	Epoch      uint64 // manual epochs: the NextEpoch sequence number
	Result     []byte
}

// WireType implements Event.
func (SumStatsOutput) WireType() Type { return TypeSumStatsOutput }

// AppendWire implements Event.
func (e SumStatsOutput) AppendWire(b []byte) []byte {
	b = append(b, e.Kind)
	b = AppendString(b, e.Def)
	b = AppendAddr(b, e.KeyHost)
	b = AppendString(b, e.KeyStr)
	b = binary.AppendVarint(b, e.Start)
	b = binary.AppendVarint(b, e.End)
	b = binary.AppendUvarint(b, uint64(e.Threshold))
	b = AppendF64(b, e.Value)
	b = binary.AppendUvarint(b, e.Epoch)
	b = binary.AppendUvarint(b, uint64(len(e.Result)))
	return append(b, e.Result...)
}

// DecodeWire implements Decoder. Result is a copy.
func (e *SumStatsOutput) DecodeWire(b []byte) error {
	r := NewReader(b)
	e.Kind = r.U8("kind")
	if e.Kind > OutEpochFinished {
		r.Fail("kind", ErrBadValue)
	}
	e.Def = r.Str("def")
	e.KeyHost = r.Addr("key host")
	e.KeyStr = r.Str("key str")
	e.Start = r.Varint("start")
	e.End = r.Varint("end")
	t := r.Uvarint("threshold")
	if t > 1<<31 {
		r.Fail("threshold", ErrBadValue)
	}
	e.Threshold = uint32(t)
	e.Value = r.F64("value")
	e.Epoch = r.Uvarint("epoch")
	e.Result = r.Bytes("result")
	return r.Done()
}

// NextEpoch ends the current manual epoch of sumstat Def on every datanode.
// Epoch numbers the request, so a manager reports each epoch once.
type NextEpoch struct {
	Def   string
	TS    int64
	Epoch uint64
}

// WireType implements Event.
func (NextEpoch) WireType() Type { return TypeNextEpoch }

// AppendWire implements Event.
func (e NextEpoch) AppendWire(b []byte) []byte {
	b = AppendString(b, e.Def)
	b = binary.AppendVarint(b, e.TS)
	return binary.AppendUvarint(b, e.Epoch)
}

// DecodeWire implements Decoder.
func (e *NextEpoch) DecodeWire(b []byte) error {
	r := NewReader(b)
	e.Def = r.Str("def")
	e.TS = r.Varint("ts")
	e.Epoch = r.Uvarint("epoch")
	return r.Done()
}

// Event types of on-demand SumStats lookups.
const (
	TypeLookup      Type = 13 // any node -> the datanode owning the key
	TypeLookupReply Type = 14 // that datanode -> the asking node
)

// Lookup asks the owner of a key for its current result of sumstat Def.
type Lookup struct {
	ID      uint64
	Def     string
	KeyHost netip.Addr
	KeyStr  string
}

// WireType implements Event.
func (Lookup) WireType() Type { return TypeLookup }

// AppendWire implements Event.
func (e Lookup) AppendWire(b []byte) []byte {
	b = binary.AppendUvarint(b, e.ID)
	b = AppendString(b, e.Def)
	b = AppendAddr(b, e.KeyHost)
	return AppendString(b, e.KeyStr)
}

// DecodeWire implements Decoder.
func (e *Lookup) DecodeWire(b []byte) error {
	r := NewReader(b)
	e.ID = r.Uvarint("id")
	e.Def = r.Str("def")
	e.KeyHost = r.Addr("key host")
	e.KeyStr = r.Str("key str")
	return r.Done()
}

// LookupReply answers Lookup ID: the encoded sumstats.Result, or Found
// false (no such key, or no such sumstat: Err says which).
type LookupReply struct {
	ID     uint64
	Found  bool
	Err    string
	Result []byte
}

// WireType implements Event.
func (LookupReply) WireType() Type { return TypeLookupReply }

// AppendWire implements Event.
func (e LookupReply) AppendWire(b []byte) []byte {
	b = binary.AppendUvarint(b, e.ID)
	if e.Found {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = AppendString(b, e.Err)
	b = binary.AppendUvarint(b, uint64(len(e.Result)))
	return append(b, e.Result...)
}

// DecodeWire implements Decoder. Result is a copy.
func (e *LookupReply) DecodeWire(b []byte) error {
	r := NewReader(b)
	e.ID = r.Uvarint("id")
	switch r.U8("found") {
	case 0:
		e.Found = false
	case 1:
		e.Found = true
	default:
		r.Fail("found", ErrBadValue)
	}
	e.Err = r.Str("err")
	e.Result = r.Bytes("result")
	return r.Done()
}
