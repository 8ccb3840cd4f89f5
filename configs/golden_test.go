package configs

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// update rewrites the golden files of TestPresetGolden from the current
// presets: go test ./configs -run TestPresetGolden -update.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/presets")

// goldenValue renders a leaf exactly (floats with every digit that tells
// them apart, strings quoted), independently of the package's renderers.
func goldenValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = goldenValue(v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.String:
		return strconv.Quote(v.String())
	}
	return fmt.Sprint(v.Interface())
}

// goldenLines is the effective configuration as one "key = value" line per
// leaf, in declaration order.
func goldenLines(c *Config) []string {
	root := reflect.ValueOf(c).Elem()
	var lines []string
	for _, f := range leafKeys(reflect.TypeFor[Config](), "") {
		v := root
		for _, part := range strings.Split(f, ".") {
			v = fieldByYAML(v, part)
		}
		lines = append(lines, f+" = "+goldenValue(v))
	}
	return lines
}

// fieldByYAML is the field of struct v whose yaml tag is name.
func fieldByYAML(v reflect.Value, name string) reflect.Value {
	for i := range v.NumField() {
		if v.Type().Field(i).Tag.Get("yaml") == name {
			return v.Field(i)
		}
	}
	panic("no field " + name)
}

// TestPresetGolden compares the effective configuration of every preset,
// every key of it, with testdata/presets/NAME.golden, recorded from the
// presets as they were before they became layered: a preset's effective
// values may change only on purpose (rerun with -update and review the diff).
// A key newer than a golden file must have its default value there.
func TestPresetGolden(t *testing.T) {
	names := Presets()
	if len(names) == 0 {
		t.Fatal("no presets")
	}
	def := goldenLines(new(Default()))
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c, err := Load(LoadOptions{Preset: name})
			if err != nil {
				t.Fatal(err)
			}
			got := goldenLines(c)
			path := filepath.Join("testdata", "presets", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (record it with -update)", err)
			}
			want := map[string]string{}
			for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
				key, _, ok := strings.Cut(line, " = ")
				if !ok {
					t.Fatalf("%s: malformed line %q", path, line)
				}
				want[key] = line
			}
			for i, line := range got {
				key, _, _ := strings.Cut(line, " = ")
				w, recorded := want[key]
				switch {
				case !recorded && line != def[i]:
					t.Errorf("%s is not in %s and is not its default %q: got %q", key, path, def[i], line)
				case recorded && line != w:
					t.Errorf("effective value changed:\n got %s\nwant %s", line, w)
				}
				delete(want, key)
			}
			for key := range want {
				t.Errorf("%s records %s, which is no key any more", path, key)
			}
		})
	}
}
