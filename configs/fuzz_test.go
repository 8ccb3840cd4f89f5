package configs

import (
	"testing"
)

// FuzzLoad feeds arbitrary YAML to the loader: it must return a config or
// an error, never panic, and a config it returns must be valid and survive
// a round trip through its own YAML unchanged.
func FuzzLoad(f *testing.F) {
	// Every preset: they hold only their overrides, so they are short.
	for _, name := range Presets() {
		b, err := PresetYAML(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "seed: 3\n", "model: {arch: resnet18, width: 4}\n", "optim:\n  batch_size: -1\n",
		"data:\n  mean: [0.5]\n  std: [0.5]\n  channels: 1\n", "unknown: 1\n", "seed: [1, 2]\n",
		"a: &x [*x]\n", "runtime:\n  devices: ['/device:CPU:0']\n", "augment: {crop_scale: [0.5, 0.2]}\n",
		"seed: 1e309\n", "model: !!binary aGVsbG8=\n", "---\nseed: 1\n---\nseed: 2\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := load("fuzz.yaml", b, LoadOptions{})
		if err != nil {
			if c != nil {
				t.Fatal("a config alongside an error")
			}
			return
		}
		if err := c.Validate(false); err != nil {
			t.Fatalf("Load returned a config that fails validation: %v", err)
		}
		y, err := c.YAML()
		if err != nil {
			t.Fatalf("rendering a loaded config: %v", err)
		}
		again, err := load("again.yaml", y, LoadOptions{})
		if err != nil {
			t.Fatalf("the rendered config does not load: %v\n%s", err, y)
		}
		if d := Diff(c, again); len(d) > 0 {
			t.Fatalf("round trip changed %v", d)
		}
	})
}
