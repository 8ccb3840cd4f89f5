package configs

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// YAML renders the configuration as a YAML document with every key written
// out and its description as a comment. [Load] reads it back to an equal
// configuration.
func (c *Config) YAML() ([]byte, error) {
	root := reflect.ValueOf(c).Elem()
	doc := mappingNode(root, schema().root)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("configs: rendering YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("configs: rendering YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// mappingNode renders the given keys of the configuration root as a mapping.
func mappingNode(root reflect.Value, fields []*field) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, f := range fields {
		k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.name, HeadComment: comment(f.doc, 78)}
		var v *yaml.Node
		if f.section {
			v = mappingNode(root, f.children)
		} else {
			v = valueNode(f.value(root))
		}
		m.Content = append(m.Content, k, v)
	}
	return m
}

// valueNode renders one leaf value; lists use the flow style.
func valueNode(v reflect.Value) *yaml.Node {
	switch v.Kind() {
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		for i := range v.Len() {
			n.Content = append(n.Content, valueNode(v.Index(i)))
		}
		return n
	case reflect.Int, reflect.Int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	case reflect.Float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: formatFloat(v.Float())}
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	}
	// Strings: the encoder quotes values that would read back as another type.
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String()}
}

// formatFloat writes f in the shortest form that reads back exactly and
// still looks like a number with a fraction ("1.0", "0.05", "1e-5").
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if mant, exp, ok := strings.Cut(s, "e"); ok {
		sign := exp[:1]
		exp = strings.TrimLeft(exp[1:], "0")
		if sign == "+" {
			sign = ""
		}
		return mant + "e" + sign + exp
	}
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// comment wraps text into lines of at most width columns for a YAML comment.
func comment(text string, width int) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width-2 {
			lines = append(lines, line)
			line = w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	for i := range lines {
		lines[i] = "# " + lines[i]
	}
	return strings.Join(lines, "\n")
}

// Reference renders a Markdown table of every key: its dotted name, type,
// default and description (from the `doc` struct tags). Sections appear as
// rows of their own, in bold. The environment variable of a key is
// SIMSIAM_ followed by the key in upper case with dots replaced by
// underscores.
func Reference() string {
	def := reflect.ValueOf(Default())
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n")
	b.WriteString("|-----|------|---------|-------------|\n")
	for _, f := range schema().all {
		doc := strings.ReplaceAll(f.doc, "|", `\|`)
		if f.section {
			fmt.Fprintf(&b, "| **`%s`** | section | | %s |\n", f.key, doc)
			continue
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", f.key, shortType(f.typ), inline(f.value(def)), doc)
	}
	return b.String()
}

// inline renders a leaf value as one line of YAML for the reference table.
func inline(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = inline(v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case reflect.String:
		if s := v.String(); s != "" {
			return s
		}
		return `""`
	}
	return valueNode(v).Value
}
