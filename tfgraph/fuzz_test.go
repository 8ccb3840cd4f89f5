package tfgraph

import "testing"

// FuzzParseTFConfig feeds arbitrary TF_CONFIG values to the parser: an error
// or a config whose task is in its cluster, never a panic.
func FuzzParseTFConfig(f *testing.F) {
	for _, s := range []string{
		"", "  ", `{"cluster":{"worker":["127.0.0.1:1","127.0.0.1:2"]},"task":{"type":"worker","index":1}}`,
		`{"cluster":{"worker":["h:1"]},"task":{"type":"worker","index":2}}`,
		`{"cluster":{"chief":["h:1"],"worker":[]},"task":{"type":"chief","index":0}}`,
		`{"cluster":{},"task":{"type":"worker","index":-1}}`, `{"cluster":1}`, `{"extra":true}`, `null`, `[`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseTFConfig(s)
		if err != nil {
			if c != nil {
				t.Fatal("a config alongside an error")
			}
			return
		}
		if c == nil {
			return // blank input
		}
		tasks := c.Cluster[c.Task.Type]
		if c.Task.Index < 0 || c.Task.Index >= len(tasks) {
			t.Fatalf("task %s:%d is not in the cluster %v", c.Task.Type, c.Task.Index, c.Cluster)
		}
	})
}
