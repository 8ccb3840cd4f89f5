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
