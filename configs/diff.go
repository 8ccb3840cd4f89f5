package configs

import "reflect"

// Change is one key whose value differs between two configs, both values
// rendered as in the config reference (one line of YAML).
type Change struct {
	Key  string `json:"key"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Diff lists the keys whose values differ from a to b, in the order of the
// config reference.
func Diff(a, b *Config) []Change {
	va, vb := reflect.ValueOf(*a), reflect.ValueOf(*b)
	var out []Change
	for _, f := range schema().leaves {
		x, y := inline(f.value(va)), inline(f.value(vb))
		if x != y {
			out = append(out, Change{Key: f.key, From: x, To: y})
		}
	}
	return out
}

// KeyValue is one key and its value rendered as in the config reference.
type KeyValue struct {
	Key, Value string
}

// Values lists every key of c with its value, in the order of the config
// reference.
func Values(c *Config) []KeyValue {
	v := reflect.ValueOf(*c)
	out := make([]KeyValue, 0, len(schema().leaves))
	for _, f := range schema().leaves {
		out = append(out, KeyValue{Key: f.key, Value: inline(f.value(v))})
	}
	return out
}
