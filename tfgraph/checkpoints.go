package tfgraph

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Checkpoints manages a directory of training checkpoints named ckpt-STEP,
// keeps the newest Keep and maintains TensorFlow's "checkpoint" state file,
// so Python's tf.train.latest_checkpoint(dir) finds the newest one too.
type Checkpoints struct {
	Dir  string
	Keep int
}

var ckptName = regexp.MustCompile(`^ckpt-(\d+)\.index$`)

// Prefix is the checkpoint prefix for a step.
func (c Checkpoints) Prefix(step int64) string {
	return filepath.Join(c.Dir, fmt.Sprintf("ckpt-%d", step))
}

// List returns the steps of complete checkpoints in Dir, oldest first.
func (c Checkpoints) List() ([]int64, error) {
	ents, err := os.ReadDir(c.Dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var steps []int64
	for _, e := range ents {
		m := ckptName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		step, _ := strconv.ParseInt(m[1], 10, 64)
		if _, err := os.Stat(filepath.Join(c.Dir, fmt.Sprintf("ckpt-%d.data-00000-of-00001", step))); err == nil {
			steps = append(steps, step)
		}
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i] < steps[j] })
	return steps, nil
}

// Latest returns the newest complete checkpoint's prefix, or "" if none.
func (c Checkpoints) Latest() (string, error) {
	steps, err := c.List()
	if err != nil || len(steps) == 0 {
		return "", err
	}
	return c.Prefix(steps[len(steps)-1]), nil
}

// Commit records step as the newest checkpoint (atomically rewriting the
// state file) and deletes checkpoints beyond the newest Keep.
func (c Checkpoints) Commit(step int64) error {
	steps, err := c.List()
	if err != nil {
		return err
	}
	keep := c.Keep
	if keep < 1 {
		keep = 1
	}
	var drop []int64
	if len(steps) > keep {
		drop, steps = steps[:len(steps)-keep], steps[len(steps)-keep:]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "model_checkpoint_path: %q\n", fmt.Sprintf("ckpt-%d", step))
	for _, s := range steps {
		fmt.Fprintf(&b, "all_model_checkpoint_paths: %q\n", fmt.Sprintf("ckpt-%d", s))
	}
	if err := WriteFileAtomic(filepath.Join(c.Dir, "checkpoint"), []byte(b.String())); err != nil {
		return err
	}
	for _, s := range drop {
		for _, suf := range []string{".index", ".data-00000-of-00001"} {
			if err := os.Remove(c.Prefix(s) + suf); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return nil
}
