package serve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveVersions(t *testing.T) {
	mk := func(t *testing.T, root string, dirs ...string) {
		for _, d := range dirs {
			p := filepath.Join(root, d)
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(p, "saved_model.pb"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name  string
		dirs  []string
		extra []string // folders without saved_model.pb
		want  []int64
		err   string
	}{
		{"versions", []string{"1", "2", "10"}, []string{"11", "tmp"}, []int64{1, 2, 10}, ""},
		{"leading zeros", []string{"00017", "3"}, nil, []int64{3, 17}, ""},
		{"saved model itself", []string{"."}, nil, []int64{1}, ""},
		{"no version", nil, []string{"x", "11"}, nil, "neither a SavedModel"},
		{"duplicate", []string{"1", "01"}, nil, nil, "version 1 is both"},
		{"not numeric only", []string{"v1", "1a", "-1"}, nil, nil, "neither a SavedModel"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			mk(t, root, c.dirs...)
			for _, d := range c.extra {
				os.MkdirAll(filepath.Join(root, d), 0o755)
			}
			vs, err := ResolveVersions(root)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("%v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != len(c.want) {
				t.Fatalf("%+v, want %v", vs, c.want)
			}
			for i, v := range vs {
				if v.Number != c.want[i] {
					t.Errorf("version %d = %d, want %d", i, v.Number, c.want[i])
				}
				if _, err := os.Stat(filepath.Join(v.Dir, "saved_model.pb")); err != nil {
					t.Errorf("version %d: %v", v.Number, err)
				}
			}
		})
	}
	if _, err := ResolveVersions(filepath.Join(t.TempDir(), "gone")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing folder: %v", err)
	}
}
