package gossip

import (
	"errors"
	"reflect"
	"testing"
)

func TestIntentCodec(t *testing.T) {
	in := intent{Name: "dn-1", BootID: 1<<64 - 1}
	got, err := decodeIntent(encodeIntent(in))
	if err != nil || got != in {
		t.Fatalf("decodeIntent = %+v %v", got, err)
	}
	list := []intent{{"a", 1}, {"b", 2}, {"c", 0}}
	gotList, err := decodeIntents(encodeIntents(list))
	if err != nil || !reflect.DeepEqual(gotList, list) {
		t.Fatalf("decodeIntents = %+v %v", gotList, err)
	}
	if gotList, err := decodeIntents(encodeIntents(nil)); err != nil || len(gotList) != 0 {
		t.Fatalf("empty list = %+v %v", gotList, err)
	}
	bad := map[string][]byte{
		"empty":         nil,
		"version":       {2, intentKindLeave, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0},
		"kind":          {intentVersion, intentKindState, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0},
		"empty name":    {intentVersion, intentKindLeave, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"truncated":     encodeIntent(in)[:5],
		"too many":      {intentVersion, intentKindState, 0xff, 0xff, 0x03},
		"list as leave": encodeIntents(list),
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			_, err1 := decodeIntent(b)
			_, err2 := decodeIntents(b)
			if err1 == nil && err2 == nil {
				t.Fatal("both decoders accepted bad input")
			}
			for _, err := range []error{err1, err2} {
				if err != nil && !errors.Is(err, ErrBadMeta) {
					t.Fatalf("error does not wrap ErrBadMeta: %v", err)
				}
			}
		})
	}
}

func FuzzDecodeIntent(f *testing.F) {
	f.Add(encodeIntent(intent{Name: "n1", BootID: 5}), uint8(3))
	f.Add(encodeIntents([]intent{{"a", 1}, {"bb", 2}}), uint8(7))
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		if in, err := decodeIntent(b); err == nil {
			if again, err := decodeIntent(encodeIntent(in)); err != nil || again != in {
				t.Fatalf("intent round trip: %+v %v", again, err)
			}
		}
		if ins, err := decodeIntents(b); err == nil {
			if again, err := decodeIntents(encodeIntents(ins)); err != nil || len(again) != len(ins) {
				t.Fatalf("intents round trip: %+v %v", again, err)
			}
		}
		if len(b) > 0 {
			k := int(split) % len(b)
			_, _ = decodeIntent(b[:k])
			_, _ = decodeIntents(b[k:])
		}
	})
}
