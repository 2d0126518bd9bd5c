package analysis

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// SettingsHash hashes a module's settings (Module.Settings) by reflection,
// so that every field counts without anyone listing it: a new setting
// changes the hash the day it is added. Rules, applied recursively:
//
//   - a value whose type implements fmt.Stringer is hashed as its String()
//     (a canonical rendering its type owns: site.Nets, time.Duration,
//     ssconf.Definition, which leaves out its source line);
//   - booleans, integers, floats and strings by value, tagged by kind;
//   - structs by their exported fields, each with its name; a struct with
//     an unexported field and no String method is an error, since part of
//     it could not be hashed;
//   - slices and arrays element by element, with their length; maps by
//     sorted keys; pointers and interfaces by what they hold (nil apart);
//   - functions and channels are errors.
//
// The result depends on the values only, not on memory addresses, so equal
// settings hash equally on every node.
func SettingsHash(v any) (uint64, error) {
	d := xxhash.New()
	h := hasher{d: d}
	if err := h.value(reflect.ValueOf(v), "settings"); err != nil {
		return 0, err
	}
	return d.Sum64(), nil
}

type hasher struct {
	d   *xxhash.Digest
	buf [9]byte
}

var stringerType = reflect.TypeFor[fmt.Stringer]()

func (h *hasher) tag(t byte, v uint64) {
	h.buf[0] = t
	binary.BigEndian.PutUint64(h.buf[1:], v)
	h.d.Write(h.buf[:])
}

func (h *hasher) str(s string) {
	h.tag('s', uint64(len(s)))
	h.d.WriteString(s)
}

func (h *hasher) value(v reflect.Value, path string) error {
	if !v.IsValid() {
		h.tag('0', 0)
		return nil
	}
	if k := v.Kind(); k != reflect.Pointer && k != reflect.Interface && v.CanInterface() && v.Type().Implements(stringerType) {
		h.str(v.Interface().(fmt.Stringer).String())
		return nil
	}
	switch v.Kind() {
	case reflect.Bool:
		b := uint64(0)
		if v.Bool() {
			b = 1
		}
		h.tag('b', b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		h.tag('i', uint64(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		h.tag('u', v.Uint())
	case reflect.Float32, reflect.Float64:
		h.tag('f', math.Float64bits(v.Float()))
	case reflect.String:
		h.str(v.String())
	case reflect.Slice, reflect.Array:
		h.tag('l', uint64(v.Len()))
		for i := range v.Len() {
			if err := h.value(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		return h.mapValue(v, path)
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			h.tag('n', 0)
			return nil
		}
		h.tag('p', 1)
		return h.value(v.Elem(), path)
	case reflect.Struct:
		return h.structValue(v, path)
	default:
		return fmt.Errorf("analysis: settings: %s: cannot hash a %s", path, v.Kind())
	}
	return nil
}

func (h *hasher) structValue(v reflect.Value, path string) error {
	t := v.Type()
	h.str(t.String())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			return fmt.Errorf("analysis: settings: %s: unexported field %s of %s and no String method", path, f.Name, t)
		}
		h.str(f.Name)
		if err := h.value(v.Field(i), path+"."+f.Name); err != nil {
			return err
		}
	}
	return nil
}

func (h *hasher) mapValue(v reflect.Value, path string) error {
	keys := v.MapKeys()
	var err error
	slices.SortFunc(keys, func(a, b reflect.Value) int {
		if a.Kind() != reflect.String {
			err = fmt.Errorf("analysis: settings: %s: map keys must be strings", path)
			return 0
		}
		return cmp.Compare(a.String(), b.String())
	})
	if len(keys) == 1 && keys[0].Kind() != reflect.String {
		err = fmt.Errorf("analysis: settings: %s: map keys must be strings", path)
	}
	if err != nil {
		return err
	}
	h.tag('m', uint64(len(keys)))
	for _, k := range keys {
		h.str(k.String())
		if err := h.value(v.MapIndex(k), path+"["+k.String()+"]"); err != nil {
			return err
		}
	}
	return nil
}
