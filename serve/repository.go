package serve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// Version is one servable version of a model: a SavedModel directory and
// its version number.
type Version struct {
	Number int64
	Dir    string
}

// ResolveVersions finds the SavedModel versions under dir, in TensorFlow
// Serving's layout: a model base folder whose sub-folders named by
// non-negative integers (1, 2, 00017) each hold a SavedModel. Other entries
// are ignored, as TensorFlow Serving ignores them. A dir that is itself a
// SavedModel (it holds saved_model.pb) is served as version 1. The result is
// sorted by version, highest last; an error names dir and what it holds
// when it has no version.
func ResolveVersions(dir string) ([]Version, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("serve: model folder %s does not exist", dir)
		}
		return nil, fmt.Errorf("serve: model folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("serve: model folder %s is not a directory", dir)
	}
	if isSavedModel(dir) {
		return []Version{{Number: 1, Dir: dir}}, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: model folder: %w", err)
	}
	var out []Version
	var seen []string
	byNumber := map[int64]string{}
	for _, e := range ents {
		seen = append(seen, e.Name())
		n, ok := versionNumber(e.Name())
		if !ok {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if !isSavedModel(p) {
			continue
		}
		if prev, dup := byNumber[n]; dup {
			return nil, fmt.Errorf("serve: %s: version %d is both %s and %s", dir, n, prev, e.Name())
		}
		byNumber[n] = e.Name()
		out = append(out, Version{Number: n, Dir: p})
	}
	if len(out) == 0 {
		what := "nothing"
		if len(seen) > 0 {
			what = fmt.Sprint(seen)
		}
		return nil, fmt.Errorf("serve: %s is neither a SavedModel (no %s) nor a model base folder with integer version sub-folders holding SavedModels (e.g. %s); it holds %s",
			dir, tfgraph.SavedModelFile, filepath.Join(dir, "1", tfgraph.SavedModelFile), what)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// versionNumber parses a version folder name: decimal digits only, as
// TensorFlow Serving accepts them.
func versionNumber(name string) (int64, bool) {
	if name == "" {
		return 0, false
	}
	for _, r := range name {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(name, 10, 64)
	return n, err == nil
}

func isSavedModel(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, tfgraph.SavedModelFile))
	return err == nil && st.Mode().IsRegular()
}
