package results

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's results tables are generated: each must be what
// `simsiam results render` makes of the committed JSON.
func TestREADMEMatchesResults(t *testing.T) {
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../../results/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no results/*.json (the README's Fashion-MNIST table is generated from results/fashion_mnist.json)")
	}
	for _, path := range files {
		f, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Section(string(doc), f.Dataset)
		if err != nil {
			t.Errorf("README.md: %v", err)
			continue
		}
		if want := Table(f); got != want {
			t.Errorf("README.md's %s table differs from %s: run `bin/simsiam results render --in %s`\nREADME:\n%s\nJSON:\n%s",
				f.Dataset, path, strings.TrimPrefix(path, "../../"), got, want)
		}
	}
}
