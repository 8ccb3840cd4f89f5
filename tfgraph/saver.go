package tfgraph

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
)

// Entry is one tensor a Saver writes: the checkpoint key and its value.
type Entry struct {
	Key   string
	Value Output
}

// Saver writes and reads TensorFlow checkpoints (the V2 bundle format:
// PREFIX.index + PREFIX.data-00000-of-00001) with SaveV2 and RestoreV2. The
// op names follow TF1's Saver so a SavedModel's saver_def can point at them:
// save/Const is the filename tensor, save/control_dependency the save tensor
// and save/restore_all the restore op.
type Saver struct {
	Prefix     Output     // string scalar to feed with the checkpoint prefix
	SaveTensor Output     // fetch this to save (it returns the prefix)
	Restore    *Operation // run this to restore every variable (nil for tensor-only savers)
	Keys       []string
	// finite says, per floating-point variable (finiteKeys), whether all
	// its values are finite; Save checks it before writing anything.
	finite     Output
	finiteKeys []string
}

// NewSaver builds save and restore ops for vars in the scope named name
// ("save" for the model saver). The extra entries (constants such as a
// record of the model's config) are written into every checkpoint beside
// the variables and never restored.
func NewSaver(g *Graph, name string, vars []*Variable, extra ...Entry) *Saver {
	entries := make([]Entry, len(vars), len(vars)+len(extra))
	for i, v := range vars {
		entries[i] = Entry{Key: v.Key, Value: v.Read()}
	}
	entries = append(entries, extra...)
	sv := newSaveOps(g, name, entries)
	// File I/O on the host; the assignments stay with the variables.
	s := g.Root().Child(name)
	h := s.OnHost()
	if g.err != nil {
		return sv
	}
	names := make([]string, len(vars))
	slices := make([]string, len(vars))
	dts := make([]tf.DataType, len(vars))
	for i, v := range vars {
		names[i], dts[i] = v.Key, v.DType
	}
	rop := h.Op("RestoreV2", "RestoreV2", []tf.Input{sv.Prefix, h.Const("restore_names", names), h.Const("restore_slices", slices)},
		map[string]any{"dtypes": dts})
	if rop == nil {
		return sv
	}
	assigns := make([]*Operation, len(vars))
	for i, v := range vars {
		assigns[i] = v.AssignOp(s, "Assign", rop.Output(i))
	}
	sv.Restore = s.Group("restore_all", assigns...)
	var reads []Output
	for _, v := range vars {
		if v.DType == Float || v.DType == Double {
			reads = append(reads, v.Read())
			sv.finiteKeys = append(sv.finiteKeys, v.Key)
		}
	}
	if len(reads) > 0 {
		sv.finite = s.Child("check").Finite(reads...)
	}
	return sv
}

// NewTensorSaver builds a save op for arbitrary tensors (no restore).
func NewTensorSaver(g *Graph, name string, entries []Entry) *Saver {
	return newSaveOps(g, name, entries)
}

func newSaveOps(g *Graph, name string, entries []Entry) *Saver {
	s := g.Root().Child(name).OnHost()
	sv := &Saver{}
	prefix := s.PlaceholderWithDefault("Const", s.Const("default_prefix", "model"), []int64{})
	sv.Prefix = prefix
	names := make([]string, len(entries))
	slices := make([]string, len(entries))
	vals := make([]Output, len(entries))
	for i, e := range entries {
		names[i], vals[i] = e.Key, e.Value
	}
	sv.Keys = names
	save := s.Op("SaveV2", "SaveV2", []tf.Input{prefix, s.Const("tensor_names", names), s.Const("shape_and_slices", slices), tf.OutputList(vals)}, nil)
	if save == nil {
		return sv
	}
	sv.SaveTensor = s.WithControl(save).Identity("control_dependency", prefix)
	return sv
}

// Save writes the checkpoint PREFIX.index and PREFIX.data-00000-of-00001
// atomically: the files are written under a temporary prefix in the same
// directory and renamed into place (data first, index last), so a crash
// leaves either the old files or the new ones, never a torn checkpoint.
func (sv *Saver) Save(sess *Session, prefix string) error {
	if err := sv.checkFinite(sess, prefix); err != nil {
		return err
	}
	dir := filepath.Dir(prefix)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint %s: %w", prefix, err)
	}
	tmpDir, err := os.MkdirTemp(dir, ".tmp-"+filepath.Base(prefix)+"-")
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", prefix, err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, filepath.Base(prefix))
	t, err := tf.NewTensor(tmp)
	if err != nil {
		return err
	}
	if _, err := sess.Run(map[Output]*Tensor{sv.Prefix: t}, []Output{sv.SaveTensor}); err != nil {
		return fmt.Errorf("writing checkpoint %s: %w", prefix, err)
	}
	files, err := filepath.Glob(tmp + ".data-*")
	if err != nil || len(files) == 0 {
		return fmt.Errorf("writing checkpoint %s: SaveV2 produced no data file", prefix)
	}
	for _, f := range append(files, tmp+".index") {
		if err := moveSynced(f, prefix+strings.TrimPrefix(f, tmp)); err != nil {
			return fmt.Errorf("writing checkpoint %s: %w", prefix, err)
		}
	}
	return syncDir(dir)
}

// RestoreFrom loads every variable from the checkpoint at prefix.
func (sv *Saver) RestoreFrom(sess *Session, prefix string) error {
	if sv.Restore == nil {
		return errors.New("this saver cannot restore")
	}
	if _, err := os.Stat(prefix + ".index"); err != nil {
		return fmt.Errorf("checkpoint %s: %w", prefix, err)
	}
	t, err := tf.NewTensor(prefix)
	if err != nil {
		return err
	}
	if _, err := sess.Run(map[Output]*Tensor{sv.Prefix: t}, nil, sv.Restore); err != nil {
		return fmt.Errorf("restoring checkpoint %s: %w", prefix, err)
	}
	return nil
}

// WriteTensors writes concrete tensors as a TensorFlow checkpoint at prefix
// (readable with Python's tf.train.load_checkpoint), atomically like Save.
func WriteTensors(prefix string, tensors map[string]*Tensor) error {
	g := NewGraph()
	s := g.Root().Child("tensors")
	keys := make([]string, 0, len(tensors))
	for k := range tensors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	entries := make([]Entry, len(keys))
	for i, k := range keys {
		entries[i] = Entry{Key: k, Value: s.Const("t", tensors[k])}
	}
	sv := NewTensorSaver(g, "save", entries)
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		return err
	}
	defer sess.Close()
	return sv.Save(sess, prefix)
}

// checkFinite refuses to write a checkpoint holding NaN or infinite values:
// such a checkpoint would be kept as the last good one and resumed from.
func (sv *Saver) checkFinite(sess *Session, prefix string) error {
	if sv.finite.Op == nil {
		return nil
	}
	out, err := sess.Run(nil, []Output{sv.finite})
	if err != nil {
		return fmt.Errorf("checkpoint %s: checking the values: %w", prefix, err)
	}
	ok, err := Value[[]bool](out[0])
	if err != nil || len(ok) != len(sv.finiteKeys) {
		return fmt.Errorf("checkpoint %s: checking the values: %v", prefix, err)
	}
	var bad []string
	for i, fine := range ok {
		if !fine {
			bad = append(bad, sv.finiteKeys[i])
		}
	}
	if len(bad) == 0 {
		return nil
	}
	more := ""
	if len(bad) > 3 {
		more, bad = fmt.Sprintf(" and %d more", len(bad)-3), bad[:3]
	}
	return fmt.Errorf("checkpoint %s not written: %s%s hold NaN or infinite values", prefix, strings.Join(bad, ", "), more)
}
