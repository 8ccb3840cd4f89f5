package model

import (
	"fmt"
	"io"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// CheckedRestore is the one way a checkpoint is loaded into a graph's
// variables (resume, export, the evaluation encoder): first the model
// config the checkpoint records is compared with Config (CheckRecord), then
// its index with Vars (tfgraph.CheckCompatible), and only then is anything
// assigned. A checkpoint of another model is thus named, never half loaded.
type CheckedRestore struct {
	// Config is compared with the checkpoint's record on Keys (RecordKeys
	// or EncoderKeys); nil skips the record check.
	Config *configs.Config
	Keys   []string
	// Vars are the variables the checkpoint must hold, with their shapes.
	Vars []*tfgraph.Variable
	// Log, when set, receives the note about a checkpoint without a record.
	Log io.Writer
	// Hint, when set, prefixes an incompatibility ("HINT: err"), saying
	// what the caller's config must match.
	Hint string
}

// Check checks the checkpoint at prefix without restoring it: a
// *ConfigMismatchError when its record differs from Config, an error
// wrapping *tfgraph.IncompatibleError when its variables do not match Vars.
func (c CheckedRestore) Check(prefix string) error {
	if c.Config != nil {
		note, err := CheckRecord(prefix, c.Config, c.Keys)
		if err != nil {
			return err
		}
		if note != "" && c.Log != nil {
			fmt.Fprintln(c.Log, note)
		}
	}
	if err := tfgraph.CheckCompatible(prefix, c.Vars); err != nil {
		if c.Hint != "" {
			return fmt.Errorf("%s: %w", c.Hint, err)
		}
		return err
	}
	return nil
}

// Restore checks the checkpoint at prefix (Check), then restores it with
// saver (a saver over Vars) in sess.
func (c CheckedRestore) Restore(sess *tfgraph.Session, saver *tfgraph.Saver, prefix string) error {
	if err := c.Check(prefix); err != nil {
		return err
	}
	return saver.RestoreFrom(sess, prefix)
}
