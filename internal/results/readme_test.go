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

// A folder results/NAME/ of measure files is a comparison: the README's
// NAME table must be what `simsiam results compare` makes of them.
func TestREADMEMatchesComparisons(t *testing.T) {
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	all, err := filepath.Glob("../../results/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	byDir := map[string][]string{}
	var dirs []string
	for _, p := range all {
		d := filepath.Dir(p)
		if byDir[d] == nil {
			dirs = append(dirs, d)
		}
		byDir[d] = append(byDir[d], p)
	}
	for _, dir := range dirs {
		paths := byDir[dir] // Glob sorts, as compare does
		sources := make([]string, len(paths))
		files := make([]*File, len(paths))
		for i, p := range paths {
			sources[i] = strings.TrimPrefix(p, "../../")
			if files[i], err = Read(p); err != nil {
				t.Fatal(err)
			}
		}
		name := filepath.Base(dir)
		want, err := CompareTable(files, sources)
		if err != nil {
			t.Errorf("results/%s: %v", name, err)
			continue
		}
		got, err := Section(string(doc), name)
		if err != nil {
			t.Errorf("README.md: %v", err)
			continue
		}
		if got != want {
			t.Errorf("README.md's %s table differs from results/%s: run `bin/simsiam results compare --in %s --name %s`\nREADME:\n%s\nJSON:\n%s",
				name, name, strings.Join(sources, ","), name, got, want)
		}
	}
	if len(dirs) == 0 {
		t.Fatal("no results/NAME/*.json (the README's precision table is generated from results/precision/)")
	}
}
