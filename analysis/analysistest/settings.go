package analysistest

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"shoal/analysis"
	"shoal/site"
)

var netsType = reflect.TypeFor[site.Nets]()

// CheckSettingsHash verifies by reflection that every setting counts:
// changing any one leaf field of settings (a struct, walked recursively;
// slices get one more element) changes analysis.SettingsHash, and hashing
// is stable. It fails the test for a field it cannot change.
func CheckSettingsHash(t *testing.T, settings any) {
	t.Helper()
	base, err := analysis.SettingsHash(settings)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := analysis.SettingsHash(settings); again != base {
		t.Fatal("settings hash is not stable")
	}
	n := 0
	eachLeaf(t, reflect.TypeOf(settings), nil, func(path []int, name string) {
		v := reflect.New(reflect.TypeOf(settings)).Elem()
		v.Set(reflect.ValueOf(settings))
		f := v.FieldByIndex(path)
		if err := mutate(f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h, err := analysis.SettingsHash(v.Interface())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h == base {
			t.Errorf("changing %s does not change the settings hash", name)
		}
		n++
	})
	t.Logf("%d settings fields each change the hash", n)
}

// eachLeaf calls fn with the index path of every leaf field of struct type
// typ: fields that are not structs, or are structs with a String method.
func eachLeaf(t *testing.T, typ reflect.Type, prefix []int, fn func([]int, string)) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		path := append(append([]int(nil), prefix...), i)
		if f.Type.Kind() == reflect.Struct && f.Type != netsType && !f.Type.Implements(reflect.TypeFor[fmt.Stringer]()) {
			eachLeaf(t, f.Type, path, fn)
			continue
		}
		fn(path, typ.Name()+"."+f.Name)
	}
}

// mutate changes v to a value different from the one it has.
func mutate(v reflect.Value) error {
	switch {
	case v.Type() == netsType:
		n := site.NewNets(netip.MustParsePrefix("192.0.2.0/24"))
		if v.Interface().(site.Nets).String() == n.String() {
			n = site.NewNets(netip.MustParsePrefix("198.51.100.0/24"))
		}
		v.Set(reflect.ValueOf(n))
		return nil
	case v.Type() == reflect.TypeFor[time.Duration]():
		v.SetInt(v.Int() + int64(time.Second))
		return nil
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
			return nil
		}
		return mutate(v.Elem())
	default:
		return fmt.Errorf("cannot change a %s", v.Type())
	}
	return nil
}
