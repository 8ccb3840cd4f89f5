package configs

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
)

// field describes one key of the configuration, found by reflection on
// [Config]. A section (data, optim, ...) has children; a leaf has a value.
type field struct {
	key      string // full dotted key, e.g. "optim.batch_size"
	name     string // last segment of key, e.g. "batch_size"
	doc      string // text of the `doc` struct tag
	typ      reflect.Type
	index    int // index of the Go field inside its parent struct
	section  bool
	parent   *field
	children []*field
}

// schemaInfo is the reflected shape of [Config].
type schemaInfo struct {
	root   []*field          // top-level keys in declaration order
	all    []*field          // every key (sections and leaves) in declaration order
	leaves []*field          // every leaf in declaration order
	byKey  map[string]*field // every key by its dotted name
	byEnv  map[string]*field // every leaf by its environment variable name
	// err lists the struct fields whose tags are malformed (a programming
	// error that TestStructTags catches); Load reports it. Such fields are
	// left out of the schema.
	err error
}

// schema returns the reflected shape of [Config], built once.
var schema = sync.OnceValue(func() *schemaInfo {
	s := &schemaInfo{byKey: map[string]*field{}, byEnv: map[string]*field{}}
	s.root = s.walk(reflect.TypeFor[Config](), nil)
	return s
})

// walk reflects the fields of struct type t below parent.
func (s *schemaInfo) walk(t reflect.Type, parent *field) []*field {
	var out []*field
	for i := range t.NumField() {
		sf := t.Field(i)
		name := sf.Tag.Get("yaml")
		if name == "" || name == "-" || sf.Tag.Get("mapstructure") != name || sf.Tag.Get("doc") == "" {
			// Checked by TestStructTags; a broken struct is a programming error.
			s.err = errors.Join(s.err, fmt.Errorf("configs: field %s.%s needs matching yaml and mapstructure tags and a doc tag", t.Name(), sf.Name))
			continue
		}
		f := &field{name: name, doc: sf.Tag.Get("doc"), typ: sf.Type, index: i, parent: parent}
		f.key = name
		if parent != nil {
			f.key = parent.key + "." + name
		}
		s.all = append(s.all, f)
		s.byKey[f.key] = f
		if sf.Type.Kind() == reflect.Struct {
			f.section = true
			f.children = s.walk(sf.Type, f)
		} else {
			s.leaves = append(s.leaves, f)
			s.byEnv[envName(f.key)] = f
		}
		out = append(out, f)
	}
	return out
}

// EnvPrefix starts the name of every environment variable read by [Load].
const EnvPrefix = "SIMSIAM_"

// envName is the environment variable that overrides key:
// "optim.batch_size" -> "SIMSIAM_OPTIM_BATCH_SIZE".
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// value returns the Go value of f inside the struct value v of f's parent.
func (f *field) value(root reflect.Value) reflect.Value {
	if f.parent == nil {
		return root.Field(f.index)
	}
	return f.parent.value(root).Field(f.index)
}

// typeName describes the type of a leaf for error messages and the reference.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.Float64:
			return "a list of numbers, e.g. [0.5, 0.5]"
		case reflect.String:
			return "a list of strings, e.g. [a, b]"
		}
	}
	return t.String()
}

// shortType is the type column of the reference table.
func shortType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "int"
	case reflect.Float64:
		return "float"
	case reflect.Bool:
		return "bool"
	case reflect.String:
		return "string"
	case reflect.Slice:
		return "list of " + shortType(t.Elem())
	}
	return t.String()
}

// describe renders a decoded YAML value for an error message.
func describe(raw any) string {
	switch v := raw.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", v)
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a mapping"
	}
	return fmt.Sprint(raw)
}

// convert turns a value decoded from YAML (nil, bool, int, int64, uint64,
// float64, string, []any, map[string]any) into a value of type t, strictly:
// no strings for numbers, no numbers for strings, no fractions for integers.
func convert(raw any, t reflect.Type) (any, error) {
	want := func() error { return fmt.Errorf("want %s, got %s", typeName(t), describe(raw)) }
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		var i int64
		switch v := raw.(type) {
		case int:
			i = int64(v)
		case int64:
			i = v
		case uint64:
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("want %s, got %v (out of range)", typeName(t), v)
			}
			i = int64(v)
		case float64:
			if v != math.Trunc(v) || math.IsInf(v, 0) {
				return nil, want()
			}
			if v < math.MinInt64 || v >= math.MaxInt64 {
				return nil, fmt.Errorf("want %s, got %v (out of range)", typeName(t), v)
			}
			i = int64(v)
		default:
			return nil, want()
		}
		if t.Kind() == reflect.Int {
			if int64(int(i)) != i {
				return nil, fmt.Errorf("want %s, got %v (out of range)", typeName(t), i)
			}
			return int(i), nil
		}
		return i, nil
	case reflect.Float64:
		switch v := raw.(type) {
		case int:
			return float64(v), nil
		case int64:
			return float64(v), nil
		case uint64:
			return float64(v), nil
		case float64:
			return v, nil
		}
		return nil, want()
	case reflect.Bool:
		if v, ok := raw.(bool); ok {
			return v, nil
		}
		return nil, want()
	case reflect.String:
		switch v := raw.(type) {
		case string:
			return v, nil
		case nil:
			return "", nil
		}
		return nil, want()
	case reflect.Slice:
		var items []any
		switch v := raw.(type) {
		case nil:
		case []any:
			items = v
		default:
			return nil, want()
		}
		out := reflect.MakeSlice(t, 0, len(items))
		for i, item := range items {
			e, err := convert(item, t.Elem())
			if err != nil {
				return nil, fmt.Errorf("want %s, got %s at index %d", typeName(t), describe(item), i)
			}
			out = reflect.Append(out, reflect.ValueOf(e))
		}
		return out.Interface(), nil
	}
	return nil, fmt.Errorf("unsupported type %s", t)
}

// levenshtein is the edit distance between a and b (insertions, deletions
// and substitutions of runes, each costing 1).
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// closest returns the candidate nearest to s by edit distance (the first one
// on ties) and that distance.
func closest(s string, candidates []string) (string, int) {
	best, bestD := "", math.MaxInt
	for _, c := range candidates {
		if d := levenshtein(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best, bestD
}

// suggest returns the valid key closest to the unknown key: the nearest
// dotted key by edit distance, or, when that is far off, a key with the same
// or a nearly identical last segment in another section ("data.batch_size" ->
// "optim.batch_size").
func suggest(key string) string {
	s := schema()
	keys := make([]string, len(s.all))
	for i, f := range s.all {
		keys[i] = f.key
	}
	best, d := closest(key, keys)
	if d <= 2 {
		return best
	}
	last := key[strings.LastIndex(key, ".")+1:]
	names := make([]string, len(s.all))
	for i, f := range s.all {
		names[i] = f.name
	}
	if name, nd := closest(last, names); nd <= 1 && nd < d {
		for _, f := range s.all {
			if f.name == name {
				return f.key
			}
		}
	}
	return best
}

// unknownKey is the error for a key that is not part of [Config].
func unknownKey(key string) error {
	return fmt.Errorf("unknown key %q (did you mean %q?)", key, suggest(key))
}

// lookupLeaf finds the leaf for a dotted key given by the user, explaining
// unknown keys and sections.
func lookupLeaf(key string) (*field, error) {
	f, ok := schema().byKey[key]
	switch {
	case !ok:
		return nil, unknownKey(key)
	case f.section:
		return nil, fmt.Errorf("%q is a section, set one of its keys (e.g. %s)", key, f.children[0].key)
	}
	return f, nil
}
