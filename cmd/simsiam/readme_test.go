package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/simsiam-go/simsiam/configs"
)

// docFiles returns the user documentation: README.md and every docs/*.md,
// as paths relative to this package's folder.
func docFiles(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no docs/*.md")
	}
	return append([]string{"../../README.md"}, docs...)
}

// docName is a documentation path as the repository names it (docs/data.md).
func docName(path string) string { return strings.TrimPrefix(filepath.ToSlash(path), "../../") }

// docCommand is one `bin/simsiam ...` command line of the documentation.
type docCommand struct {
	file string   // docs/data.md
	args []string // without bin/simsiam
}

// readmeCommands returns every `bin/simsiam ...` command in the code blocks
// of README.md and docs/*.md, split into arguments (quotes removed,
// continuation lines joined, leading VAR=value assignments dropped).
func readmeCommands(t *testing.T) []docCommand {
	var cmds []docCommand
	for _, path := range docFiles(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range codeCommands(string(b)) {
			cmds = append(cmds, docCommand{file: docName(path), args: args})
		}
	}
	return cmds
}

// codeCommands returns the `bin/simsiam ...` commands of doc's code blocks.
func codeCommands(doc string) [][]string {
	var cmds [][]string
	inCode := false
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if !inCode {
			continue
		}
		for strings.HasSuffix(strings.TrimSpace(line), "\\") && i+1 < len(lines) {
			line = strings.TrimSuffix(strings.TrimSpace(line), "\\") + " " + lines[i+1]
			i++
		}
		if c, ok := strings.CutPrefix(line, "#"); ok && !strings.Contains(c, "bin/simsiam") {
			continue
		}
		args := shellSplit(line)
		for len(args) > 0 && strings.Contains(args[0], "=") && !strings.HasPrefix(args[0], "-") {
			args = args[1:]
		}
		if len(args) > 1 && args[0] == "bin/simsiam" {
			if j := indexOf(args, "#"); j >= 0 {
				args = args[:j]
			}
			cmds = append(cmds, args[1:])
		}
	}
	return cmds
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}

// shellSplit splits a command line on blanks, honouring single and double quotes.
func shellSplit(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	has := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, has = r, true
		case r == ' ' || r == '\t':
			if cur.Len() > 0 || has {
				out = append(out, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 || has {
		out = append(out, cur.String())
	}
	return out
}

// TestReadmeCommandsParse checks that every command README.md and docs/*.md
// show names a real subcommand with flags it accepts, and that its --set
// keys and values are valid config (the commands themselves run in CI
// through make smoke).
func TestReadmeCommandsParse(t *testing.T) {
	cmds := readmeCommands(t)
	if len(cmds) < 10 {
		t.Fatalf("found only %d simsiam commands in README.md and docs/*.md", len(cmds))
	}
	inReadme := 0
	for _, c := range cmds {
		if c.file == "README.md" {
			inReadme++
		}
		args := c.args
		var out bytes.Buffer
		withHelp := append(append([]string(nil), args...), "--help")
		if args[0] == "config" || args[0] == "version" {
			withHelp = append(args[:len(args):len(args)], "--help")
		}
		err := run(context.Background(), withHelp, &out, &out)
		if args[0] != "version" && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: command %q: %v\n%s", c.file, strings.Join(args, " "), err, out.String())
		}
		var sets []string
		preset := ""
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "--set":
				sets = append(sets, args[i+1])
			case "--preset":
				preset = args[i+1]
			}
		}
		if _, err := configs.Load(configs.LoadOptions{Preset: preset, Sets: sets}); err != nil {
			t.Errorf("%s: command %q: config: %v", c.file, strings.Join(args, " "), err)
		}
	}
	if inReadme == 0 {
		t.Error("README.md shows no bin/simsiam command")
	}
}

// TestDocLinksResolve checks every relative link and #anchor of README.md
// and docs/*.md: the file it names exists, and the heading it names is one
// of that Markdown file's (GitHub's anchors).
func TestDocLinksResolve(t *testing.T) {
	files := docFiles(t)
	docs := map[string]string{}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.Clean(path)] = string(b)
	}
	n := 0
	for _, path := range files {
		links := markdownLinks(docs[filepath.Clean(path)])
		n += len(links)
		for _, err := range checkLinks(path, links, docs) {
			t.Errorf("%s: %v", docName(path), err)
		}
	}
	if n < 20 {
		t.Errorf("found only %d links in README.md and docs/*.md", n)
	}
}

// TestCheckLinks runs the link check on documents with good and broken links.
func TestCheckLinks(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	readme := filepath.Join(dir, "README.md")
	page := filepath.Join(dir, "docs", "a.md")
	if err := os.WriteFile(filepath.Join(dir, "docs", "plot.svg"), []byte("<svg/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{
		readme: "# Title\n\n## Two commands on a fresh machine\n\n## Serving over HTTP (TensorFlow Serving's REST API)\n",
		page:   "# Page\n\n## Stopping a run\n\n## Stopping a run\n\n```sh\n# not a heading\n```\n\n## An existing output_dir and --resume\n",
	}
	for _, p := range []string{readme, page} {
		if err := os.WriteFile(p, []byte(docs[p]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		from, doc string
		bad       []string // the link targets reported, in order
	}{
		{readme, "[a](docs/a.md) [b](docs/a.md#stopping-a-run) [c](docs/a.md#stopping-a-run-1) ![p](docs/plot.svg) [d](#two-commands-on-a-fresh-machine) [e](https://example.com/x#y)", nil},
		{readme, "[s](#serving-over-http-tensorflow-servings-rest-api) [r](docs/a.md#an-existing-output_dir-and---resume)", nil},
		{readme, "[a](docs/b.md) [b](docs/a.md#stopping) `[c](docs/c.md)` [d](#title-1) [e](docs/a.md#not-a-heading)", []string{"docs/b.md", "docs/a.md#stopping", "#title-1", "docs/a.md#not-a-heading"}},
		{page, "[r](../README.md#serving-over-http-tensorflow-servings-rest-api) [x](README.md) [y](plot.svg#top)", []string{"README.md", "plot.svg#top"}},
		{page, "```\n[z](nowhere.md)\n```\n[w](#stopping-a-run-2)", []string{"#stopping-a-run-2"}},
	}
	for _, tc := range tests {
		errs := checkLinks(tc.from, markdownLinks(tc.doc), docs)
		var got []string
		for _, err := range errs {
			var le linkError
			if !errors.As(err, &le) {
				t.Fatalf("%q: error %v is not a linkError", tc.doc, err)
			}
			got = append(got, le.target)
		}
		if strings.Join(got, " ") != strings.Join(tc.bad, " ") {
			t.Errorf("%q: broken links %q, want %q (%v)", tc.doc, got, tc.bad, errs)
		}
	}
}

// linkPattern matches an inline Markdown link or image: [text](target) with
// an optional "title".
var linkPattern = regexp.MustCompile(`\]\(([^()\s]+)(?:\s+"[^"]*")?\)`)

// markdownLinks returns the targets of doc's inline links outside code
// blocks and code spans.
func markdownLinks(doc string) []string {
	var out []string
	inCode := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
			continue
		}
		if inCode {
			continue
		}
		for _, m := range linkPattern.FindAllStringSubmatch(stripCodeSpans(line), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// stripCodeSpans removes the `code spans` of a line.
func stripCodeSpans(line string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(line, '`')
		if i < 0 {
			break
		}
		j := strings.IndexByte(line[i+1:], '`')
		if j < 0 {
			break
		}
		b.WriteString(line[:i])
		line = line[i+1+j+1:]
	}
	b.WriteString(line)
	return b.String()
}

// headingAnchors returns the anchors GitHub gives doc's headings (outside
// code blocks): the text lower-cased, punctuation dropped, spaces turned to
// hyphens, and -1, -2, ... appended to repeats.
func headingAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	inCode := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
			continue
		}
		text, ok := strings.CutPrefix(line, "#")
		if inCode || !ok {
			continue
		}
		text = strings.TrimLeft(text, "#")
		if text != "" && text[0] != ' ' {
			continue // #hashtag, not a heading
		}
		a := slug(text)
		if k := seen[a]; k > 0 {
			seen[a]++
			a = fmt.Sprintf("%s-%d", a, k)
		} else {
			seen[a] = 1
		}
		anchors[a] = true
	}
	return anchors
}

// slug is GitHub's anchor of a heading's text.
func slug(text string) string {
	text = linkPattern.ReplaceAllString(strings.TrimSpace(text), "]")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) || r == '_' || r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// linkError is a link of a documentation file that does not resolve.
type linkError struct {
	target, why string
}

func (e linkError) Error() string { return fmt.Sprintf("link %q: %s", e.target, e.why) }

// checkLinks returns an error for every relative link of the file at from
// whose file or #anchor does not exist; docs holds the Markdown files whose
// anchors are known, by cleaned path.
func checkLinks(from string, links []string, docs map[string]string) []error {
	var errs []error
	for _, target := range links {
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		file, anchor, _ := strings.Cut(target, "#")
		path := filepath.Clean(from)
		if file != "" {
			path = filepath.Join(filepath.Dir(from), filepath.FromSlash(file))
			if _, err := os.Stat(path); err != nil {
				errs = append(errs, linkError{target, "no such file"})
				continue
			}
		}
		if anchor == "" {
			continue
		}
		doc, ok := docs[path]
		if !ok {
			if !strings.HasSuffix(path, ".md") {
				errs = append(errs, linkError{target, "an anchor in a file that is not Markdown"})
				continue
			}
			b, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, linkError{target, err.Error()})
				continue
			}
			doc = string(b)
		}
		if !headingAnchors(doc)[anchor] {
			errs = append(errs, linkError{target, "no heading with that anchor"})
		}
	}
	return errs
}
