package configs

import (
	"embed"
	"fmt"
	"io/fs"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// presetFS holds the preset YAML files of this directory.
//
//go:embed *.yaml
var presetFS embed.FS

// DefaultPreset is the preset [Load] reads when neither a file nor a preset
// is given.
const DefaultPreset = "fashion_mnist_demo"

// LoadOptions selects the layers that [Load] stacks on top of [Default].
type LoadOptions struct {
	// File is a YAML configuration file. Mutually exclusive with Preset.
	File string
	// Preset is the name of an embedded preset (see [Presets]). When both
	// File and Preset are empty, [DefaultPreset] is used.
	Preset string
	// Sets are overrides of the form "key.sub=value"; the value is a YAML
	// scalar or flow sequence ("optim.batch_size=64", "data.mean=[0.5]").
	// String keys take the text after '=' verbatim unless it is quoted.
	// Later entries win.
	Sets []string
	// Env is an environment in os.Environ() form. Every variable starting
	// with SIMSIAM_ must name a key: SIMSIAM_OPTIM_BATCH_SIZE=64 sets
	// optim.batch_size. Values are parsed like Sets.
	Env []string
	// CheckPaths makes validation require that data.dir and eval.dir exist.
	CheckPaths bool
}

// assignment is one override from the environment or from Sets.
type assignment struct {
	key   string
	value any // already converted to the Go type of the key
}

// Load builds the effective configuration: the defaults, overlaid by the
// preset or file, then by SIMSIAM_* variables of opts.Env, then by opts.Sets.
// Unknown keys, values of the wrong type and YAML syntax errors of every
// layer are reported together; then the result must pass
// [Config.Validate].
func Load(opts LoadOptions) (*Config, error) {
	if err := schema().err; err != nil {
		return nil, err
	}
	name, data, err := opts.source()
	if err != nil {
		return nil, err
	}
	return load(name, data, opts)
}

// ParseYAML is [Load] of a configuration held in memory rather than in a
// file, such as an effective configuration ([Config.YAML]) recorded in a
// checkpoint: the defaults overlaid by data (which may name a base preset),
// checked and validated as a file is, with name standing for the file in
// messages. No environment variables or overrides apply, and no paths are
// checked.
func ParseYAML(name string, data []byte) (*Config, error) {
	if err := schema().err; err != nil {
		return nil, err
	}
	return load(name, data, LoadOptions{})
}

// load is Load on the YAML text data of the file or preset called name.
func load(name string, data []byte, opts LoadOptions) (*Config, error) {
	chain, errs := documents(name, data, PresetYAML)
	env, envErrs := parseEnv(opts.Env)
	errs = append(errs, envErrs...)
	sets, setErrs := parseSets(opts.Sets)
	errs = append(errs, setErrs...)
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}

	v := viper.New()
	def := reflect.ValueOf(Default())
	for _, f := range schema().leaves {
		v.SetDefault(f.key, f.value(def).Interface())
	}
	for _, d := range chain {
		if err := v.MergeConfigMap(d.values); err != nil {
			return nil, fmt.Errorf("%s: %w", d.name, err)
		}
	}
	for _, a := range env {
		v.Set(a.key, a.value)
	}
	for _, a := range sets {
		v.Set(a.key, a.value)
	}
	var c Config
	strict := func(dc *mapstructure.DecoderConfig) {
		dc.WeaklyTypedInput = false
		dc.DecodeHook = nil
		dc.ErrorUnused = true
	}
	if err := v.UnmarshalExact(&c, strict); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.normalize()
	if err := c.Validate(opts.CheckPaths); err != nil {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			return nil, joinErrors(j.Unwrap())
		}
		return nil, err
	}
	return &c, nil
}

// BaseKey is the top-level key by which a configuration document (a preset
// or a file) names the embedded preset it overrides: "base:
// fashion_mnist_demo" starts from that preset's effective configuration
// instead of the defaults. It is not part of [Config]: the effective
// configuration ([Config.YAML]) writes every key out and names no base.
const BaseKey = "base"

// maxBaseDepth bounds a chain of documents naming their bases.
const maxBaseDepth = 8

// document is one layer of configuration text: a preset or a file.
type document struct {
	name   string         // the file name in messages
	values map[string]any // its keys, without BaseKey
}

// documents checks the document data called name and the chain of presets
// it names with BaseKey, read with preset, and returns their values weakest
// first.
func documents(name string, data []byte, preset func(string) ([]byte, error)) ([]document, []error) {
	var chain []document
	var seen []string // the bases followed
	for {
		doc, errs := checkDocument(name, data)
		if len(errs) > 0 {
			return nil, errs
		}
		chain = append(chain, document{name: name, values: doc.values})
		if doc.base == "" {
			break
		}
		at := fmt.Sprintf("%s:%d: %s", name, doc.baseLine, BaseKey)
		text, err := preset(doc.base)
		if err != nil {
			return nil, []error{fmt.Errorf("%s: %w", at, err)}
		}
		next := presetFile(doc.base)
		if slices.Contains(seen, next) {
			return nil, []error{fmt.Errorf("%s: the bases form a cycle: %s", at, strings.Join(append(seen, next), " -> "))}
		}
		if len(seen) == maxBaseDepth {
			return nil, []error{fmt.Errorf("%s: more than %d bases in a row: %s", at, maxBaseDepth, strings.Join(seen, " -> "))}
		}
		seen = append(seen, next)
		name, data = next, text
	}
	slices.Reverse(chain)
	return chain, nil
}

// presetFile is the name under which messages cite the named preset.
func presetFile(preset string) string {
	return "configs/" + strings.TrimSuffix(preset, ".yaml") + ".yaml"
}

// source returns the name and content of the preset or file to read.
func (o LoadOptions) source() (string, []byte, error) {
	switch {
	case o.File != "" && o.Preset != "":
		return "", nil, fmt.Errorf("configs: give a file (%s) or a preset (%s), not both", o.File, o.Preset)
	case o.File != "":
		data, err := readFile(o.File)
		if err != nil {
			return "", nil, fmt.Errorf("configs: %w", err)
		}
		return o.File, data, nil
	}
	preset := o.Preset
	if preset == "" {
		preset = DefaultPreset
	}
	data, err := PresetYAML(preset)
	if err != nil {
		return "", nil, err
	}
	return presetFile(preset), data, nil
}

// normalize replaces nil lists by empty ones so that configurations compare
// equal whatever way an empty list was written.
func (c *Config) normalize() {
	root := reflect.ValueOf(c).Elem()
	for _, f := range schema().leaves {
		if v := f.value(root); v.Kind() == reflect.Slice && v.IsNil() {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		}
	}
}

// Presets lists the names of the embedded presets, sorted. It is nil only
// if the embedded directory cannot be read, which PresetYAML reports.
func Presets() []string {
	names, _ := presetNames()
	return names
}

// presetNames lists the embedded presets, sorted.
func presetNames() ([]string, error) {
	entries, err := fs.ReadDir(presetFS, ".")
	if err != nil {
		return nil, fmt.Errorf("configs: listing the embedded presets: %w", err)
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// PresetYAML returns the YAML text of the named preset; the ".yaml" suffix is
// optional.
func PresetYAML(name string) ([]byte, error) {
	name = strings.TrimSuffix(name, ".yaml")
	names, err := presetNames()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names, name) {
		// Ties go to the default preset (fashion_mnist against
		// fashion_mnist_demo and fashion_mnist_byol), then to the first name.
		best, _ := closest(name, append([]string{DefaultPreset}, names...))
		return nil, fmt.Errorf("configs: unknown preset %q (did you mean %q?); presets: %s", name, best, strings.Join(names, ", "))
	}
	return presetFS.ReadFile(name + ".yaml")
}

// yamlLine matches the position that yaml.v3 puts in its error messages.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the messages of libyaml's parser (as opposed to its
// scanner). yaml.v3 reports their position as a 0-based line number, and
// leaves it out for the first line; scanner positions are 1-based.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// syntaxError names the file and, when known, the 1-based line of a YAML
// error.
func syntaxError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if slices.Contains(parserProblems, msg) {
		line++
	}
	if line > 0 {
		return fmt.Errorf("%s:%d: invalid YAML: %s", name, line, msg)
	}
	return fmt.Errorf("%s: invalid YAML: %s", name, msg)
}

// parsed is a configuration document that passed checkDocument.
type parsed struct {
	base     string         // the preset named by BaseKey, "" for none
	baseLine int            // the line of BaseKey
	values   map[string]any // the keys other than BaseKey, decoded
}

// checkDocument parses a configuration file and reports syntax errors,
// unknown keys, duplicate keys and values of the wrong type, each with the
// file name and line. Without errors it returns the document's values.
func checkDocument(name string, data []byte) (parsed, []error) {
	if len(data) > MaxFileBytes {
		return parsed{}, []error{fmt.Errorf("%s is %s, over the limit of %s for a config file (a config is a few KB)", name, byteCount(int64(len(data))), byteCount(MaxFileBytes))}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return parsed{}, []error{syntaxError(name, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return parsed{}, nil // empty file: nothing to override
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return parsed{}, nil
	}
	if root.Kind != yaml.MappingNode {
		return parsed{}, []error{fmt.Errorf("%s:%d: want a mapping of keys such as \"optim:\" at the top level", name, root.Line)}
	}
	var p parsed
	if errs := checkMapping(name, root, nil, &p); len(errs) > 0 {
		return parsed{}, errs
	}
	if err := root.Decode(&p.values); err != nil {
		return parsed{}, []error{fmt.Errorf("%s: %w", name, err)}
	}
	delete(p.values, BaseKey)
	// A section with every key commented out ("optim:") keeps the values
	// below it.
	for k, v := range p.values {
		if f := schema().byKey[k]; v == nil && f != nil && f.section {
			delete(p.values, k)
		}
	}
	return p, nil
}

// checkMapping checks the keys of node, a mapping for section parent (nil
// for the top level, whose BaseKey it records in p).
func checkMapping(name string, node *yaml.Node, parent *field, p *parsed) []error {
	var errs []error
	at := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", name, n.Line, fmt.Sprintf(format, args...)))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		for v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		key := k.Value
		if parent != nil {
			key = parent.key + "." + k.Value
		}
		if k.Kind != yaml.ScalarNode {
			at(k, "keys must be plain names")
			continue
		}
		if k.Value == "<<" {
			at(k, "merge keys (<<) are not supported")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			at(k, "duplicate key %q (first set on line %d)", key, line)
			continue
		}
		seen[k.Value] = k.Line
		if parent == nil && k.Value == BaseKey {
			if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || v.Value == "" {
				at(v, "%s: want the name of a preset (%s), got %s", BaseKey, strings.Join(Presets(), ", "), kindName(v))
				continue
			}
			p.base, p.baseLine = v.Value, k.Line
			continue
		}
		f, ok := schema().byKey[key]
		if !ok {
			at(k, "%v", unknownKey(key))
			continue
		}
		if f.section {
			switch {
			case v.Kind == yaml.MappingNode:
				errs = append(errs, checkMapping(name, v, f, p)...)
			case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
				// "optim:" with every key commented out: keep the defaults.
			default:
				at(v, "%s: want a mapping of keys such as %s, got %s", key, f.children[0].name, kindName(v))
			}
			continue
		}
		raw, err := decodeValue(v)
		if err != nil {
			at(v, "%s: %v", key, err)
			continue
		}
		if _, err := convert(raw, f.typ); err != nil {
			at(v, "%s: %v", key, err)
		}
	}
	return errs
}

// kindName describes a YAML node for an error message.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return fmt.Sprintf("%q", n.Value)
}

// parseValue converts the text of an environment variable or --set override
// into the Go type of f. The text is a YAML scalar or flow sequence; for
// string keys an unquoted text is taken verbatim.
func parseValue(f *field, text string) (any, error) {
	if len(text) > MaxValueBytes {
		return nil, fmt.Errorf("%s: the value is %s, over the limit of %s", f.key, byteCount(int64(len(text))), byteCount(MaxValueBytes))
	}
	if f.typ.Kind() == reflect.String && !strings.HasPrefix(text, `"`) && !strings.HasPrefix(text, `'`) {
		return text, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("%s: cannot parse %s as a YAML value: %s", f.key, excerpt(text), strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var raw any
	if len(doc.Content) > 0 {
		r, err := decodeValue(doc.Content[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", f.key, excerpt(text), err)
		}
		raw = r
	}
	v, err := convert(raw, f.typ)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.key, err)
	}
	return v, nil
}

// parseEnv picks the SIMSIAM_* variables out of env and converts them.
func parseEnv(env []string) ([]assignment, []error) {
	var out []assignment
	var errs []error
	for _, kv := range env {
		name, text, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		f, known := schema().byEnv[name]
		if !known {
			errs = append(errs, fmt.Errorf("environment variable %s: %w", name, envKeyError(name)))
			continue
		}
		v, err := parseValue(f, text)
		if err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s: %w", name, err))
			continue
		}
		out = append(out, assignment{key: f.key, value: v})
	}
	return out, errs
}

// envKeyError explains an unknown SIMSIAM_* variable in terms of the dotted
// key it most likely meant: the first underscore after a section name is
// taken as the dot.
func envKeyError(name string) error {
	rest := strings.ToLower(strings.TrimPrefix(name, EnvPrefix))
	key := rest
	for _, f := range schema().root {
		if after, ok := strings.CutPrefix(rest, f.name+"_"); ok && f.section {
			key = f.name + "." + after
			break
		}
	}
	if f, ok := schema().byKey[key]; ok && f.section {
		return fmt.Errorf("%q is a section, set one of its keys (e.g. %s)", key, envName(f.children[0].key))
	}
	return unknownKey(key)
}

// parseSets converts "key=value" overrides.
func parseSets(sets []string) ([]assignment, []error) {
	var out []assignment
	var errs []error
	for _, s := range sets {
		key, text, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			errs = append(errs, fmt.Errorf("--set %s: want key=value, e.g. optim.batch_size=64", excerpt(s)))
			continue
		}
		f, err := lookupLeaf(key)
		if err != nil {
			errs = append(errs, fmt.Errorf("--set %s: %w", clip(s), err))
			continue
		}
		v, err := parseValue(f, text)
		if err != nil {
			errs = append(errs, fmt.Errorf("--set %s: %w", clip(s), err))
			continue
		}
		out = append(out, assignment{key: f.key, value: v})
	}
	return out, errs
}
