package configs

import (
	"regexp"
	"slices"
	"testing"

	"github.com/simsiam-go/simsiam/data/format"
	"github.com/simsiam-go/simsiam/model/arch"
)

// choices are the enumerated keys and the lists they are validated against.
func choices() map[string][]string {
	return map[string][]string{
		"data.format":       format.Names(),
		"eval.format":       format.Names(),
		"model.arch":        arch.Names(),
		"model.stem":        arch.Stems(),
		"method.name":       Methods(),
		"runtime.precision": Precisions(),
	}
}

// TestChoicesAreDocumented checks that the doc text of every enumerated key
// (the config reference, the YAML comments) names every value the
// validation accepts, so a new architecture or format cannot be left out of
// the documentation.
func TestChoicesAreDocumented(t *testing.T) {
	for key, values := range choices() {
		f := schema().byKey[key]
		if f == nil {
			t.Fatalf("no key %s", key)
		}
		for _, v := range values {
			if !regexp.MustCompile(`\b` + regexp.QuoteMeta(v) + `\b`).MatchString(f.doc) {
				t.Errorf("%s: the doc %q does not name %s", key, f.doc, v)
			}
		}
	}
}

// TestChoicesValidate checks that Validate accepts every listed value and
// refuses an unlisted one, naming the key.
func TestChoicesValidate(t *testing.T) {
	set := map[string]func(*Config, string){
		"data.format":       func(c *Config, v string) { c.Data.Format = v },
		"eval.format":       func(c *Config, v string) { c.Eval.Format = v },
		"model.arch":        func(c *Config, v string) { c.Model.Arch = v },
		"model.stem":        func(c *Config, v string) { c.Model.Stem = v },
		"method.name":       func(c *Config, v string) { c.Method.Name = v },
		"runtime.precision": func(c *Config, v string) { c.Runtime.Precision = v },
	}
	for key, values := range choices() {
		if len(values) < 2 {
			t.Errorf("%s: %d values listed", key, len(values))
		}
		for _, v := range values {
			c := Default()
			set[key](&c, v)
			if splits, fixed := format.PretrainSplits(c.Data.Format); fixed {
				c.Data.Split = splits[0] // formats have splits of their own
			}
			if err := c.Validate(false); err != nil {
				t.Errorf("%s = %s: %v", key, v, err)
			}
		}
		c := Default()
		set[key](&c, "unlisted")
		if got := failingKeys(c.Validate(false)); !slices.Equal(got, []string{key}) {
			t.Errorf("%s = unlisted: failing keys %v, want [%s]", key, got, key)
		}
	}
}
