package archtest

import (
	"bufio"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// module is the module path every package of the repository is under.
const module = "github.com/simsiam-go/simsiam"

// archDoc is the document the tests hold to the code, relative to the
// repository root.
const archDoc = "docs/ARCHITECTURE.md"

// pkgInfo is what the tests need of one package of the module.
type pkgInfo struct {
	dir  string // relative to the repository root, slash-separated
	name string // the package clause's name
	// imports, testImports: the module's packages imported (relative paths)
	// by the non-test files, and by the _test.go files only.
	imports, testImports []string
	// external: every import path of the non-test files, module or not.
	external []string
}

// repoRoot is the repository root: two folders up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("repository root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// loadPackages reads every package of the module the way the go command
// sees them on this platform, with cgo enabled (tfgraph's cgo files count),
// skipping what the go command skips: testdata, folders starting with "."
// or "_", and nested modules.
func loadPackages(t *testing.T, root string) map[string]*pkgInfo {
	t.Helper()
	ctx := build.Default
	ctx.CgoEnabled = true
	pkgs := map[string]*pkgInfo{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		base := d.Name()
		if path != root {
			if base == "testdata" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		bp, err := ctx.ImportDir(path, 0)
		if err != nil {
			var noGo *build.NoGoError
			if errors.As(err, &noGo) {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		p := &pkgInfo{dir: rel, name: bp.Name, external: bp.Imports}
		p.imports = moduleImports(bp.Imports)
		var tests []string
		for _, imp := range moduleImports(append(slices.Clone(bp.TestImports), bp.XTestImports...)) {
			if imp != rel && !slices.Contains(p.imports, imp) {
				tests = append(tests, imp)
			}
		}
		slices.Sort(tests)
		p.testImports = slices.Compact(tests)
		pkgs[rel] = p
		return nil
	})
	if err != nil {
		t.Fatalf("reading the module's packages: %v", err)
	}
	return pkgs
}

// moduleImports returns the module's packages among imports, relative to the
// module path, sorted.
func moduleImports(imports []string) []string {
	var out []string
	for _, imp := range imports {
		if rest, ok := strings.CutPrefix(imp, module+"/"); ok {
			out = append(out, rest)
		}
	}
	slices.Sort(out)
	return out
}

// docRow is one row of the document's package table.
type docRow struct {
	layer   int
	imports []string
	line    int
}

// archDocument is what the tests read from docs/ARCHITECTURE.md.
type archDocument struct {
	rows map[string]docRow
	// testOnly maps a package to the module packages only its tests import
	// that are not in a lower layer.
	testOnly map[string][]string
	// diagram maps a layer to the names its diagram row lists.
	diagram map[int][]string
}

var backticked = regexp.MustCompile("`([^`]+)`")

// inlineCode returns the contents of the inline code spans of a Markdown
// text, fenced blocks left out (their fences would pair with the spans'
// backticks).
func inlineCode(text string) []string {
	var prose strings.Builder
	inFence := false
	for line := range strings.Lines(text) {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if !inFence {
			prose.WriteString(line)
		}
	}
	var spans []string
	for _, m := range backticked.FindAllStringSubmatch(prose.String(), -1) {
		spans = append(spans, m[1])
	}
	return spans
}

// cellNames returns the backticked names of a table cell; "—" or "-" is none.
func cellNames(cell string) []string {
	var names []string
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		names = append(names, strings.Fields(m[1])...)
	}
	slices.Sort(names)
	return names
}

// tableCells splits a Markdown table row into its trimmed cells.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(strings.TrimSuffix(line, "|"), "|")
	cells := strings.Split(line, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

// parseArchDoc reads the package table (header "| layer | package | imports
// | job |"), the table of tests' imports (header "| package | its tests also
// import |") and the layer diagram (a fenced block whose lines start with a
// layer number) from the document's text.
func parseArchDoc(text string) (*archDocument, error) {
	doc := &archDocument{rows: map[string]docRow{}, testOnly: map[string][]string{}, diagram: map[int][]string{}}
	const (
		none = iota
		pkgTable
		testTable
	)
	table, inFence := none, false
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			fields := strings.Fields(trimmed)
			if len(fields) < 2 {
				continue
			}
			layer, err := strconv.Atoi(fields[0])
			if err != nil {
				continue
			}
			doc.diagram[layer] = append(doc.diagram[layer], fields[1:]...)
			continue
		}
		if !strings.HasPrefix(trimmed, "|") {
			table = none
			continue
		}
		cells := tableCells(trimmed)
		switch {
		case slices.Equal(cells, []string{"layer", "package", "imports", "job"}):
			table = pkgTable
			continue
		case slices.Equal(cells, []string{"package", "its tests also import"}):
			table = testTable
			continue
		case strings.HasPrefix(cells[0], "---"):
			continue
		}
		switch table {
		case pkgTable:
			if len(cells) != 4 {
				return nil, fmt.Errorf("line %d: %d cells, want 4", n, len(cells))
			}
			layer, err := strconv.Atoi(cells[0])
			if err != nil {
				return nil, fmt.Errorf("line %d: layer %q: %w", n, cells[0], err)
			}
			names := cellNames(cells[1])
			if len(names) != 1 {
				return nil, fmt.Errorf("line %d: package cell %q names %d packages", n, cells[1], len(names))
			}
			if _, dup := doc.rows[names[0]]; dup {
				return nil, fmt.Errorf("line %d: package %s listed twice", n, names[0])
			}
			doc.rows[names[0]] = docRow{layer: layer, imports: cellNames(cells[2]), line: n}
		case testTable:
			if len(cells) != 2 {
				return nil, fmt.Errorf("line %d: %d cells, want 2", n, len(cells))
			}
			names := cellNames(cells[0])
			if len(names) != 1 {
				return nil, fmt.Errorf("line %d: package cell %q names %d packages", n, cells[0], len(names))
			}
			doc.testOnly[names[0]] = cellNames(cells[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(doc.rows) == 0 {
		return nil, fmt.Errorf("no package table (header \"| layer | package | imports | job |\")")
	}
	return doc, nil
}

// readArchDoc reads and parses the architecture document under root.
func readArchDoc(t *testing.T, root string) *archDocument {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, archDoc))
	if err != nil {
		t.Fatalf("reading %s: %v", archDoc, err)
	}
	doc, err := parseArchDoc(string(b))
	if err != nil {
		t.Fatalf("%s: %v", archDoc, err)
	}
	return doc
}

// graphProblems compares the document with the packages and returns every
// disagreement: a package missing from either side, a different import
// list, an import that does not point to a lower layer, a wrong table of
// tests' imports, a diagram row that does not match the table.
func graphProblems(doc *archDocument, pkgs map[string]*pkgInfo) []string {
	var probs []string
	for _, dir := range sortedKeys(pkgs) {
		p := pkgs[dir]
		row, ok := doc.rows[dir]
		if !ok {
			probs = append(probs, fmt.Sprintf("package %s is missing from the table (it imports %v)", dir, p.imports))
			continue
		}
		if !slices.Equal(row.imports, p.imports) {
			probs = append(probs, fmt.Sprintf("line %d: %s imports %v, the table says %v", row.line, dir, p.imports, row.imports))
		}
		for _, imp := range p.imports {
			if to, ok := doc.rows[imp]; ok && to.layer >= row.layer {
				probs = append(probs, fmt.Sprintf("line %d: %s (layer %d) imports %s (layer %d): not down", row.line, dir, row.layer, imp, to.layer))
			}
		}
		var up []string
		for _, imp := range p.testImports {
			if to, ok := doc.rows[imp]; ok && to.layer >= row.layer {
				up = append(up, imp)
			}
		}
		if !slices.Equal(up, doc.testOnly[dir]) {
			probs = append(probs, fmt.Sprintf("%s's tests also import %v outside the lower layers, the document says %v", dir, up, doc.testOnly[dir]))
		}
	}
	for _, dir := range sortedKeys(doc.rows) {
		if _, ok := pkgs[dir]; !ok {
			probs = append(probs, fmt.Sprintf("line %d: the table lists %s, which is no package", doc.rows[dir].line, dir))
		}
	}
	for _, dir := range sortedKeys(doc.testOnly) {
		if _, ok := pkgs[dir]; !ok {
			probs = append(probs, fmt.Sprintf("the table of tests' imports lists %s, which is no package", dir))
		}
	}
	// The diagram: every name in layer L's row is a package of layer L, or
	// a pattern "prefix/*" matching at least one; every package is in its
	// layer's row, by name or by pattern.
	for _, layer := range sortedKeys(doc.diagram) {
		for _, name := range doc.diagram[layer] {
			prefix, isPattern := strings.CutSuffix(name, "/*")
			matched := false
			for dir, row := range doc.rows {
				if row.layer == layer && (dir == name || isPattern && strings.HasPrefix(dir, prefix+"/")) {
					matched = true
				}
			}
			if !matched {
				probs = append(probs, fmt.Sprintf("diagram row %d lists %s, which is no package of layer %d", layer, name, layer))
			}
		}
	}
	for _, dir := range sortedKeys(doc.rows) {
		layer := doc.rows[dir].layer
		if !slices.ContainsFunc(doc.diagram[layer], func(name string) bool {
			prefix, isPattern := strings.CutSuffix(name, "/*")
			return name == dir || isPattern && strings.HasPrefix(dir, prefix+"/")
		}) {
			probs = append(probs, fmt.Sprintf("%s (layer %d) is not in the diagram's row %d", dir, layer, layer))
		}
	}
	return probs
}

// sortedKeys returns the keys of m in order.
func sortedKeys[K interface{ ~string | ~int }, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestArchitectureImportGraph holds docs/ARCHITECTURE.md's package table,
// its table of tests' imports and its diagram to the imports the code has.
func TestArchitectureImportGraph(t *testing.T) {
	root := repoRoot(t)
	pkgs := loadPackages(t, root)
	doc := readArchDoc(t, root)
	for _, p := range graphProblems(doc, pkgs) {
		t.Error(p)
	}
}

// TestGraphProblemsCatchesAWrongTable checks that graphProblems finds each
// kind of wrong document: an import the table leaves out or adds, a package
// it misses or invents, an upward edge, a wrong diagram row and a wrong
// table of tests' imports.
func TestGraphProblemsCatchesAWrongTable(t *testing.T) {
	pkgs := map[string]*pkgInfo{
		"low":  {dir: "low"},
		"mid":  {dir: "mid", imports: []string{"low"}},
		"top":  {dir: "top", imports: []string{"low", "mid"}, testImports: []string{"side"}},
		"side": {dir: "side", imports: []string{"low"}},
	}
	const good = "```\n3  top side\n1  mid\n0  low\n```\n\n" +
		"| layer | package | imports | job |\n| --- | --- | --- | --- |\n" +
		"| 0 | `low` | — | x |\n| 1 | `mid` | `low` | x |\n| 3 | `top` | `low mid` | x |\n| 3 | `side` | `low` | x |\n\n" +
		"| package | its tests also import |\n| --- | --- |\n| `top` | `side` |\n"
	tests := []struct {
		name, old, new string
		want           string // a substring of one of the problems; "" for none
	}{
		{"the true table", "", "", ""},
		{"an import left out", "| `top` | `low mid` |", "| `top` | `mid` |", "top imports [low mid], the table says [mid]"},
		{"an import added", "| `mid` | `low` |", "| `mid` | `low side` |", "mid imports [low], the table says [low side]"},
		{"a package missing", "| 3 | `side` | `low` | x |\n", "", "package side is missing"},
		{"a package invented", "| 0 | `low` | — | x |\n", "| 0 | `low` | — | x |\n| 0 | `ghost` | — | x |\n", "ghost, which is no package"},
		{"an import pointing up", "| 1 | `mid` | `low` | x |", "| 0 | `mid` | `low` | x |", "mid (layer 0) imports low (layer 0): not down"},
		{"a diagram row wrong", "1  mid\n", "2  mid\n", "mid (layer 1) is not in the diagram's row 1"},
		{"a test import not listed", "| `top` | `side` |\n", "", "top's tests also import [side]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := good
			if tc.old != "" {
				if !strings.Contains(text, tc.old) {
					t.Fatalf("the case's text %q is not in the document", tc.old)
				}
				text = strings.Replace(text, tc.old, tc.new, 1)
			}
			doc, err := parseArchDoc(text)
			if err != nil {
				t.Fatalf("parseArchDoc: %v", err)
			}
			probs := graphProblems(doc, pkgs)
			if tc.want == "" {
				if len(probs) != 0 {
					t.Fatalf("problems in the true table: %q", probs)
				}
				return
			}
			if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Fatalf("problems %q, want one containing %q", probs, tc.want)
			}
		})
	}
}

// ruleProblems checks the rules the layering exists for: tfgraph alone
// (tests aside) imports graft and "C"; serve's transitive imports include
// none of model, augment, eval, configs, export; no package, test files
// included, imports a command under cmd/.
func ruleProblems(pkgs map[string]*pkgInfo) []string {
	var probs []string
	for _, dir := range sortedKeys(pkgs) {
		p := pkgs[dir]
		for _, imp := range p.external {
			if (imp == "C" || imp == "github.com/wamuir/graft" || strings.HasPrefix(imp, "github.com/wamuir/graft/")) && dir != "tfgraph" {
				probs = append(probs, fmt.Sprintf("%s imports %s: only tfgraph may", dir, imp))
			}
		}
		for _, imp := range append(slices.Clone(p.imports), p.testImports...) {
			if imp == "cmd" || strings.HasPrefix(imp, "cmd/") {
				probs = append(probs, fmt.Sprintf("%s imports %s: nothing imports a command", dir, imp))
			}
		}
	}
	deps := transitive(pkgs, "serve")
	for _, banned := range []string{"model", "augment", "eval", "configs", "export"} {
		if slices.Contains(deps, banned) {
			probs = append(probs, fmt.Sprintf("serve depends on %s (serve's dependencies: %v)", banned, deps))
		}
	}
	return probs
}

// TestLayeringRules holds the code to ruleProblems' rules.
func TestLayeringRules(t *testing.T) {
	pkgs := loadPackages(t, repoRoot(t))
	// The walk must see what the rules are about, or they pass vacuously.
	if tf := pkgs["tfgraph"]; tf == nil || !slices.Contains(tf.external, "C") || !slices.Contains(tf.external, "github.com/wamuir/graft/tensorflow") {
		t.Fatalf("tfgraph's imports lack \"C\" or graft: the walk did not see its cgo files")
	}
	if deps := transitive(pkgs, "serve"); !slices.Contains(deps, "tfgraph") || !slices.Contains(deps, "data") {
		t.Fatalf("serve's dependencies %v lack tfgraph or data: the walk is wrong", deps)
	}
	for _, p := range ruleProblems(pkgs) {
		t.Error(p)
	}
}

// TestRuleProblemsCatchesBrokenRules checks that ruleProblems finds each
// broken rule on made-up packages, and none in a good graph.
func TestRuleProblemsCatchesBrokenRules(t *testing.T) {
	good := func() map[string]*pkgInfo {
		return map[string]*pkgInfo{
			"tfgraph":     {dir: "tfgraph", external: []string{"C", "github.com/wamuir/graft/tensorflow"}},
			"data":        {dir: "data"},
			"model":       {dir: "model", imports: []string{"tfgraph"}, external: []string{module + "/tfgraph"}},
			"serve":       {dir: "serve", imports: []string{"data", "tfgraph"}},
			"cmd/simsiam": {dir: "cmd/simsiam", imports: []string{"model", "serve"}},
		}
	}
	tests := []struct {
		name    string
		breakIt func(map[string]*pkgInfo)
		want    string
	}{
		{"a good graph", func(map[string]*pkgInfo) {}, ""},
		{"graft outside tfgraph", func(p map[string]*pkgInfo) {
			p["model"].external = append(p["model"].external, "github.com/wamuir/graft/tensorflow")
		}, "model imports github.com/wamuir/graft/tensorflow: only tfgraph may"},
		{"cgo outside tfgraph", func(p map[string]*pkgInfo) { p["data"].external = []string{"C"} }, "data imports C: only tfgraph may"},
		{"serve on model through data", func(p map[string]*pkgInfo) { p["data"].imports = []string{"model"} }, "serve depends on model"},
		{"a test importing cmd", func(p map[string]*pkgInfo) { p["data"].testImports = []string{"cmd/simsiam"} }, "data imports cmd/simsiam"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkgs := good()
			tc.breakIt(pkgs)
			probs := ruleProblems(pkgs)
			if tc.want == "" {
				if len(probs) != 0 {
					t.Fatalf("problems in a good graph: %q", probs)
				}
				return
			}
			if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Fatalf("problems %q, want one containing %q", probs, tc.want)
			}
		})
	}
}

// transitive returns the module packages from depends on, sorted.
func transitive(pkgs map[string]*pkgInfo, from string) []string {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(dir string) {
		p := pkgs[dir]
		if p == nil {
			return
		}
		for _, imp := range p.imports {
			if !seen[imp] {
				seen[imp] = true
				visit(imp)
			}
		}
	}
	visit(from)
	return sortedKeys(seen)
}

// mentionedPath is a backticked file path of the documents: lowercase
// folders and a file with an extension; "*" globs allowed.
var mentionedPath = regexp.MustCompile(`^[a-z0-9_.*-]+(/[a-z0-9_.*-]+)*/[a-z0-9_*-]+[a-z0-9_.*-]*\.(go|yaml|sh|tsv|json|py|csv|md)$`)

// TestDocumentedFilesExist checks that every file path the architecture
// and development documents name in backticks exists (a glob matches at
// least one file).
func TestDocumentedFilesExist(t *testing.T) {
	root := repoRoot(t)
	for _, docPath := range []string{archDoc, "docs/development.md"} {
		b, err := os.ReadFile(filepath.Join(root, docPath))
		if err != nil {
			t.Fatalf("reading %s: %v", docPath, err)
		}
		checked := 0
		for _, span := range inlineCode(string(b)) {
			for _, word := range strings.Fields(span) {
				word = strings.Trim(word, "(),;")
				if !mentionedPath.MatchString(word) {
					continue
				}
				checked++
				matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(word)))
				if err != nil || len(matches) == 0 {
					t.Errorf("%s names %s, which does not exist", docPath, word)
				}
			}
		}
		if checked == 0 {
			t.Errorf("%s: no file path found to check: the pattern is wrong", docPath)
		}
	}
}

// goNames returns, for the package in dir, its top-level names ("Run"),
// methods and struct fields ("Step.Sync", "PrefetchOptions.Shard"), and
// its type names, test files excluded.
func goNames(t *testing.T, dir string) (names, types map[string]bool) {
	t.Helper()
	fset := token.NewFileSet()
	names, types = map[string]bool{}, map[string]bool{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parsing %s: %v", e.Name(), err)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv != nil && len(d.Recv.List) == 1 {
					names[recvName(d.Recv.List[0].Type)+"."+d.Name.Name] = true
				} else {
					names[d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						names[s.Name.Name] = true
						types[s.Name.Name] = true
						addFields(names, s.Name.Name, s.Type)
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names[n.Name] = true
						}
					}
				}
			}
		}
	}
	return names, types
}

// addFields records the fields and interface methods of a type as
// "Type.Field".
func addFields(names map[string]bool, typeName string, expr ast.Expr) {
	var list *ast.FieldList
	switch x := expr.(type) {
	case *ast.StructType:
		list = x.Fields
	case *ast.InterfaceType:
		list = x.Methods
	default:
		return
	}
	for _, f := range list.List {
		for _, n := range f.Names {
			names[typeName+"."+n.Name] = true
		}
		if len(f.Names) == 0 {
			names[typeName+"."+recvName(f.Type)] = true
		}
	}
}

// recvName is the type name of a receiver or embedded field: T, *T, T[P].
func recvName(expr ast.Expr) string {
	switch x := expr.(type) {
	case *ast.StarExpr:
		return recvName(x.X)
	case *ast.IndexExpr:
		return recvName(x.X)
	case *ast.IndexListExpr:
		return recvName(x.X)
	case *ast.SelectorExpr:
		return x.Sel.Name
	case *ast.Ident:
		return x.Name
	}
	return ""
}

// qualifiedName is a backticked Go name with a package: pkg.Name,
// pkg.Type.Method or pkg.Type.Field, optionally followed by arguments.
var qualifiedName = regexp.MustCompile(`^([a-z][a-z0-9]*(?:/[a-z0-9]+)*)\.([A-Z][A-Za-z0-9_]*)(?:\.([A-Z][A-Za-z0-9_]*))?(?:\(.*\))?$`)

// memberName is a backticked Type.Member without its package (`Step.Sync`,
// `run.start`).
var memberName = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*)\.([A-Za-z][A-Za-z0-9]*)(?:\(.*\))?$`)

// nameProblems returns the names of spans that the packages do not
// declare. A span pkg.Name (pkg a package of the module by name or path:
// `data.OpenWith`, `tfgraph.Graph.Gradients`, `internal/schedule.Cosine`)
// must be declared by that package; a lowercase Name after a package is a
// config key (`augment.local_crops`) and is not checked. A span
// Type.Member whose Type some package declares (`Step.Sync`, `run.start`)
// must be a method or field of that type in one of them. Other prefixes
// (`http.Server`, a config section) are not checked. It also returns how
// many spans it checked.
func nameProblems(spans []string, byName map[string]string, names, types map[string]map[string]bool) (probs []string, checked int) {
	for _, span := range spans {
		if q := qualifiedName.FindStringSubmatch(span); q != nil {
			dir, ok := byName[q[1]]
			if !ok {
				if names[q[1]] == nil {
					continue
				}
				dir = q[1]
			}
			name := q[2]
			if q[3] != "" {
				name += "." + q[3]
			}
			checked++
			if !names[dir][name] {
				probs = append(probs, fmt.Sprintf("%s: package %s declares no %s", span, dir, name))
			}
			continue
		}
		m := memberName.FindStringSubmatch(span)
		if m == nil {
			continue
		}
		if _, isPkg := byName[m[1]]; isPkg {
			continue // a config key such as data.format
		}
		var owners []string
		for _, dir := range sortedKeys(types) {
			if types[dir][m[1]] {
				owners = append(owners, dir)
			}
		}
		if len(owners) == 0 {
			continue
		}
		checked++
		if !slices.ContainsFunc(owners, func(dir string) bool { return names[dir][m[1]+"."+m[2]] }) {
			probs = append(probs, fmt.Sprintf("%s: no type %s (in %v) has a member %s", span, m[1], owners, m[2]))
		}
	}
	return probs, checked
}

// TestDocumentedNamesExist checks that the Go names docs/ARCHITECTURE.md
// gives exist (see nameProblems).
func TestDocumentedNamesExist(t *testing.T) {
	root := repoRoot(t)
	pkgs := loadPackages(t, root)
	byName := map[string]string{}
	names, types := map[string]map[string]bool{}, map[string]map[string]bool{}
	for dir, p := range pkgs {
		if p.name != "main" {
			byName[p.name] = dir
		}
		names[dir], types[dir] = goNames(t, filepath.Join(root, filepath.FromSlash(dir)))
	}
	b, err := os.ReadFile(filepath.Join(root, archDoc))
	if err != nil {
		t.Fatalf("reading %s: %v", archDoc, err)
	}
	probs, checked := nameProblems(inlineCode(string(b)), byName, names, types)
	for _, p := range probs {
		t.Errorf("%s names %s", archDoc, p)
	}
	if checked < 50 {
		t.Errorf("%s: only %d Go names checked: the patterns are wrong", archDoc, checked)
	}
}

// TestNameProblemsCatchesMissingNames checks nameProblems on made-up
// packages: each kind of wrong name is found, the right ones and the
// spans it does not judge pass.
func TestNameProblemsCatchesMissingNames(t *testing.T) {
	byName := map[string]string{"train": "train", "schedule": "internal/schedule"}
	names := map[string]map[string]bool{
		"train":             {"Run": true, "Step": true, "Step.Sync": true, "run": true, "run.start": true},
		"internal/schedule": {"Cosine": true},
	}
	types := map[string]map[string]bool{"train": {"Step": true, "run": true}, "internal/schedule": {}}
	tests := []struct {
		span string
		bad  bool
	}{
		{"train.Run", false},
		{"train.Run(ctx, cfg, o)", false},
		{"train.Step.Sync", false},
		{"internal/schedule.Cosine", false},
		{"schedule.Cosine", false},
		{"Step.Sync", false},
		{"run.start", false},
		{"train.knn_every", false},
		{"http.Server", false},
		{"train.Walk", true},
		{"train.Step.Skips", true},
		{"schedule.Linear", true},
		{"Step.Missing", true},
		{"run.finish", true},
	}
	for _, tc := range tests {
		t.Run(tc.span, func(t *testing.T) {
			probs, _ := nameProblems([]string{tc.span}, byName, names, types)
			if bad := len(probs) > 0; bad != tc.bad {
				t.Fatalf("problems %q, want a problem: %v", probs, tc.bad)
			}
		})
	}
}
