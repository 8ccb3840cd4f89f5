package tfgraph

import (
	"errors"
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
func (c Checkpoints) List() ([]int64, error) { return c.steps(true) }

// steps returns the steps of the ckpt-STEP.index files in Dir, oldest
// first; withData keeps only those whose data file is there too.
func (c Checkpoints) steps(withData bool) ([]int64, error) {
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
		if !withData {
			steps = append(steps, step)
		} else if _, err := os.Stat(filepath.Join(c.Dir, fmt.Sprintf("ckpt-%d.data-00000-of-00001", step))); err == nil {
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
// state file) and deletes checkpoints beyond the newest Keep, and those of
// later steps (superseded: the run went back to an earlier checkpoint).
func (c Checkpoints) Commit(step int64) error {
	steps, err := c.List()
	if err != nil {
		return err
	}
	keep := c.Keep
	if keep < 1 {
		keep = 1
	}
	// Checkpoints past step belong to steps trained again from an earlier
	// checkpoint (a resume skipped them as corrupt, see NewestIntact):
	// the checkpoint of step just written supersedes them, so they go, as
	// the oldest beyond Keep do. Until then nothing deletes them.
	var later []int64
	for len(steps) > 0 && steps[len(steps)-1] > step {
		later = append(later, steps[len(steps)-1])
		steps = steps[:len(steps)-1]
	}
	var drop []int64
	if len(steps) > keep {
		drop, steps = steps[:len(steps)-keep], steps[len(steps)-keep:]
	}
	drop = append(drop[:len(drop):len(drop)], later...) // not into steps' array
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

// SkippedCheckpoint is a checkpoint NewestIntact passed over, and why.
type SkippedCheckpoint struct {
	Prefix string
	Err    error
}

// Reason is why the checkpoint was skipped, without its prefix ("tensor
// encoder/conv1/kernel: crc32c mismatch at ...").
func (s SkippedCheckpoint) Reason() string {
	var ce *CorruptCheckpointError
	if errors.As(s.Err, &ce) {
		return ce.Detail()
	}
	return s.Err.Error()
}

// NoIntactCheckpointError says that every checkpoint in Dir failed
// VerifyCheckpoint; Skipped holds each, newest first.
type NoIntactCheckpointError struct {
	Dir     string
	Skipped []SkippedCheckpoint
}

func (e *NoIntactCheckpointError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "none of the %d checkpoints in %s is intact:", len(e.Skipped), e.Dir)
	for _, s := range e.Skipped {
		fmt.Fprintf(&b, "\n  %s: %s", filepath.Base(s.Prefix), s.Reason())
	}
	return b.String()
}

// NewestIntact returns the newest checkpoint in Dir that VerifyCheckpoint
// passes (its prefix and step) and the newer ones it skipped, newest
// first, each with its *CorruptCheckpointError. Every ckpt-STEP.index
// counts, with or without its data file (a missing shard is a reason to
// skip it). The prefix is "" and the error nil when Dir holds no
// checkpoint; when none is intact the error is a *NoIntactCheckpointError.
// Nothing is deleted or changed. An error that is not a verdict on a
// checkpoint (a permission denied) is returned as is.
func (c Checkpoints) NewestIntact() (prefix string, step int64, skipped []SkippedCheckpoint, err error) {
	steps, err := c.steps(false)
	if err != nil {
		return "", 0, nil, err
	}
	for i := len(steps) - 1; i >= 0; i-- {
		p := c.Prefix(steps[i])
		err := VerifyCheckpoint(p)
		if err == nil {
			return p, steps[i], skipped, nil
		}
		var ce *CorruptCheckpointError
		if !errors.As(err, &ce) {
			return "", 0, skipped, err
		}
		skipped = append(skipped, SkippedCheckpoint{Prefix: p, Err: err})
	}
	if len(skipped) > 0 {
		return "", 0, skipped, &NoIntactCheckpointError{Dir: c.Dir, Skipped: skipped}
	}
	return "", 0, nil, nil
}

// NewestVerified returns the newest checkpoint in Dir once it passes
// VerifyCheckpoint ("" when Dir holds none), for a command that must not
// quietly use an older checkpoint than the newest (evaluation, export).
// When the newest is corrupt, the error names it, why, and the newest
// intact one to give instead; when none is intact it is a
// *NoIntactCheckpointError.
func (c Checkpoints) NewestVerified() (string, error) {
	prefix, _, skipped, err := c.NewestIntact()
	if err != nil || len(skipped) == 0 {
		return prefix, err
	}
	return "", fmt.Errorf("the newest checkpoint %s is corrupt: %s; the newest intact one is %s: give that prefix to use it",
		skipped[0].Prefix, skipped[0].Reason(), prefix)
}
