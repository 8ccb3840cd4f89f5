package data

import (
	"strconv"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/data/format"
)

// TestOpenMatchesFormatList checks Open against package format, the list
// configs validates with: every listed format is known to Open, every listed
// split passes Open's split check (the read then fails on the empty
// directory, for another reason), an unlisted split is refused by name, and
// an unlisted format is refused with the list.
func TestOpenMatchesFormatList(t *testing.T) {
	dir := t.TempDir()
	for _, name := range format.Names() {
		_, err := Open(name, dir, "train", 32, 0)
		if err == nil {
			t.Fatalf("%s: opening an empty directory gave no error", name)
		}
		if strings.Contains(err.Error(), "unknown data format") {
			t.Errorf("%s is listed in package format but Open does not know it: %v", name, err)
		}
		for _, list := range []func(string) ([]string, bool){format.PretrainSplits, format.LabelledSplits} {
			splits, fixed := list(name)
			if !fixed {
				continue
			}
			for _, split := range splits {
				_, err := Open(name, dir, split, 32, 0)
				if err == nil {
					t.Fatalf("%s %s: opening an empty directory gave no error", name, split)
				}
				if strings.Contains(err.Error(), strconv.Quote(split)) {
					t.Errorf("%s: Open refuses the listed split %q: %v", name, split, err)
				}
			}
			if _, err := Open(name, dir, "validation", 32, 0); err == nil || !strings.Contains(err.Error(), `"validation"`) {
				t.Errorf("%s: the unlisted split validation: err = %v, want it refused by name", name, err)
			}
		}
	}
	_, err := Open("imagenet", dir, "train", 32, 0)
	if err == nil || !strings.Contains(err.Error(), `unknown data format "imagenet"`) {
		t.Fatalf("unlisted format: err = %v", err)
	}
	for _, name := range format.Names() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the unknown-format error does not list %s: %v", name, err)
		}
	}
}
