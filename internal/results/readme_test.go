package results

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs reads README.md and docs/*.md, keyed by their repository path
// (README.md, docs/results.md).
func docs(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range append([]string{"../../README.md"}, paths...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(filepath.ToSlash(p), "../../")] = string(b)
	}
	return out
}

// sectionIn returns the text between name's markers and the one document of
// docs holding them; more or fewer than one is an error.
func sectionIn(docs map[string]string, name string) (section, doc string, err error) {
	var holders []string
	begin, end := Markers(name)
	for path, d := range docs {
		if strings.Contains(d, begin) || strings.Contains(d, end) {
			holders = append(holders, path)
		}
	}
	slices.Sort(holders)
	if len(holders) != 1 {
		return "", "", &markerError{name: name, holders: holders}
	}
	s, err := Section(docs[holders[0]], name)
	if err != nil {
		return "", holders[0], err
	}
	return s, holders[0], nil
}

type markerError struct {
	name    string
	holders []string
}

func (e *markerError) Error() string {
	return "the " + e.name + " markers are in [" + strings.Join(e.holders, ", ") + "], want them in exactly one of README.md and docs/*.md"
}

// The documentation's results tables are generated: each must be what
// `simsiam results render` makes of the committed JSON, in the file the
// generator writes it into.
func TestREADMEMatchesResults(t *testing.T) {
	all := docs(t)
	targets := generatorTargets(t)
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
		got, doc, err := sectionIn(all, f.Dataset)
		if err != nil {
			t.Errorf("%s: %v", f.Dataset, err)
			continue
		}
		if want := Table(f); got != want {
			t.Errorf("%s's %s table differs from %s: run `bin/simsiam results render --in %s --readme %s`\n%s:\n%s\nJSON:\n%s",
				doc, f.Dataset, path, strings.TrimPrefix(path, "../../"), doc, doc, got, want)
		}
		if w := targets[f.Dataset]; w != doc {
			t.Errorf("the %s table is in %s, but the Makefile's and results/*.sh's generator writes it into %q", f.Dataset, doc, w)
		}
	}
}

// A folder results/NAME/ of measure files is a comparison: the
// documentation's NAME table must be what `simsiam results compare` makes of
// them, in the file the generator writes it into.
func TestREADMEMatchesComparisons(t *testing.T) {
	all := docs(t)
	targets := generatorTargets(t)
	files, err := filepath.Glob("../../results/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	byDir := map[string][]string{}
	var dirs []string
	for _, p := range files {
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
		got, doc, err := sectionIn(all, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got != want {
			t.Errorf("%s's %s table differs from results/%s: run `bin/simsiam results compare --in %s --name %s --readme %s`\n%s:\n%s\nJSON:\n%s",
				doc, name, name, strings.Join(sources, ","), name, doc, doc, got, want)
		}
		if w := targets[name]; w != doc {
			t.Errorf("the %s table is in %s, but the Makefile's and results/*.sh's generator writes it into %q", name, doc, w)
		}
	}
	if len(dirs) == 0 {
		t.Fatal("no results/NAME/*.json (the precision table is generated from results/precision/)")
	}
}

// Every `simsiam results render|compare` line of the Makefile and
// results/*.sh writes into a documentation file holding its markers.
func TestGeneratorsWriteIntoTheirMarkers(t *testing.T) {
	all := docs(t)
	targets := generatorTargets(t)
	if len(targets) < 2 {
		t.Fatalf("found the generators of %d tables in the Makefile and results/*.sh, want fashion_mnist and precision", len(targets))
	}
	for name, doc := range targets {
		d, ok := all[doc]
		if !ok {
			t.Errorf("the %s table is written into %s, which is not README.md or docs/*.md", name, doc)
			continue
		}
		if _, err := Section(d, name); err != nil {
			t.Errorf("the %s table is written into %s: %v", name, doc, err)
		}
	}
}

// TestGeneratorTargetsOf parses generator lines as the Makefile and the
// scripts spell them.
func TestGeneratorTargetsOf(t *testing.T) {
	const demo = "results/fashion_mnist.json" // dataset fashion_mnist
	tests := []struct {
		text string
		vars map[string]string
		want map[string]string
	}{
		{"\t@./bin/simsiam results render --in $(J) --readme docs/x.md --plot docs/k.svg\n", map[string]string{"J": demo}, map[string]string{"fashion_mnist": "docs/x.md"}},
		{"bin/simsiam results render\n", nil, map[string]string{"fashion_mnist": "README.md"}},
		{"./bin/simsiam results compare --in \"$(IFS=,; echo \"${files[*]}\")\" --name precision \\\n    --readme docs/precision.md --plot p.svg\n", nil, map[string]string{"precision": "docs/precision.md"}},
		{"bin/simsiam results compare --in a,b --name cmp\n", nil, map[string]string{"cmp": "README.md"}},
		{"bin/simsiam results render --in " + demo + " --readme \"\"\n", nil, map[string]string{}},
		{"# simsiam results render --readme docs/comment.md\nbin/simsiam results measure --out x.json\n", nil, map[string]string{}},
	}
	for _, tc := range tests {
		got, err := generatorTargetsOf(tc.text, tc.vars)
		if err != nil {
			t.Errorf("%q: %v", tc.text, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: %v, want %v", tc.text, got, tc.want)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q: %v, want %v", tc.text, got, tc.want)
			}
		}
	}
}

// generatorTargets maps every table name (a results JSON's dataset, or a
// compare --name) to the Markdown file the Makefile's and results/*.sh's
// `simsiam results render|compare` lines write it into.
func generatorTargets(t *testing.T) map[string]string {
	t.Helper()
	scripts, err := filepath.Glob("../../results/*.sh")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	vars := makeVars(string(mk))
	out := map[string]string{}
	for _, p := range append([]string{"../../Makefile"}, scripts...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := generatorTargetsOf(string(b), vars)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for k, v := range got {
			if w, ok := out[k]; ok && w != v {
				t.Errorf("the %s table is written into both %s and %s", k, w, v)
			}
			out[k] = v
		}
	}
	return out
}

var makeVar = regexp.MustCompile(`(?m)^([A-Z_]+)\s*[?:]?=\s*(\S+)\s*$`)

// makeVars returns the Makefile's simple variable definitions (NAME ?= value).
func makeVars(makefile string) map[string]string {
	vars := map[string]string{}
	for _, m := range makeVar.FindAllStringSubmatch(makefile, -1) {
		vars[m[1]] = m[2]
	}
	return vars
}

// generatorTargetsOf finds the `simsiam results render` and `compare` lines
// of a Makefile or shell script (continuation lines joined, comments
// skipped, $(VAR) from vars substituted) and maps each table's name to its
// --readme file (README.md when the flag is absent, as the command's
// default; none for --readme ""). A render's name is the dataset of its
// --in file (results/fashion_mnist.json by default), read relative to the
// repository root.
func generatorTargetsOf(text string, vars map[string]string) (map[string]string, error) {
	text = strings.ReplaceAll(text, "\\\n", " ")
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for k, v := range vars {
			line = strings.ReplaceAll(line, "$("+k+")", v)
		}
		fields := strings.Fields(line)
		i := slices.Index(fields, "results")
		if i < 1 || i+1 >= len(fields) || !strings.HasSuffix(fields[i-1], "simsiam") {
			continue
		}
		sub := fields[i+1]
		if sub != "render" && sub != "compare" {
			continue
		}
		flags := map[string]string{"--readme": "README.md", "--in": "results/fashion_mnist.json"}
		for j := i + 2; j+1 < len(fields); j++ {
			if strings.HasPrefix(fields[j], "--") {
				flags[fields[j]] = strings.Trim(fields[j+1], `"'`)
			}
		}
		name := flags["--name"]
		if sub == "render" {
			in := flags["--in"]
			if !filepath.IsAbs(in) {
				in = filepath.Join("../..", in)
			}
			f, err := Read(in)
			if err != nil {
				return nil, err
			}
			name = f.Dataset
		}
		if name == "" {
			continue
		}
		if flags["--readme"] != "" {
			out[name] = flags["--readme"]
		}
	}
	return out, nil
}
