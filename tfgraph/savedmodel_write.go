package tfgraph

// Writing graph-only SavedModels: the MetaGraphDef, the variables and the
// atomic replacement of the model directory.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	oppb "github.com/wamuir/graft/tensorflow/core/framework/op_def_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// SavedModelOptions tune WriteSavedModel.
type SavedModelOptions struct {
	// Overwrite replaces an existing non-empty directory, atomically: the
	// new model is built next to it, the old one renamed away, the new one
	// renamed in and the old one deleted. Only a directory that holds a
	// saved_model.pb is replaced; anything else is refused.
	Overwrite bool
	// Tags of the MetaGraphDef; nil means ["serve"].
	Tags []string
	// Extra files written under assets.extra/ (name -> contents).
	Extra map[string][]byte
	// KeepUnused keeps the whole graph. By default the GraphDef is pruned to
	// the ops the signatures and the saver need, so that initialisers and
	// unrelated variables (a predictor head, say) are left out.
	KeepUnused bool
}

// WriteSavedModel writes the graph of sess, the current values of the
// saver's variables and the signatures as a SavedModel in dir. The saver
// must have been built with NewSaver on the session's graph (its ops become
// the SaverDef), and it must cover every variable the signatures read.
//
// The directory is built as dir.tmp-XXXX and renamed into place, so readers
// never see a half-written model. An existing non-empty dir is an error
// unless o.Overwrite is set.
func WriteSavedModel(sess *Session, saver *Saver, dir string, sigs map[string]Signature, o SavedModelOptions) error {
	if sess == nil || saver == nil || saver.Restore == nil || saver.SaveTensor.Op == nil {
		return fmt.Errorf("SavedModel %s: need a session and a saver built with NewSaver", dir)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("SavedModel %s: no signatures", dir)
	}
	dir = filepath.Clean(dir)
	if err := checkTarget(dir, o.Overwrite); err != nil {
		return err
	}
	meta, err := buildMetaGraph(sess.Graph, saver, sigs, o)
	if err != nil {
		return fmt.Errorf("SavedModel %s: %w", dir, err)
	}
	smBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.SavedModel{
		SavedModelSchemaVersion: 1,
		MetaGraphs:              []*pb.MetaGraphDef{meta},
	})
	if err != nil {
		return fmt.Errorf("SavedModel %s: %w", dir, err)
	}

	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("SavedModel %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("SavedModel %s: %w", dir, err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("SavedModel %s: %w", dir, err)
	}
	if err := saver.Save(sess, filepath.Join(tmp, filepath.FromSlash(VariablesPrefix))); err != nil {
		return fmt.Errorf("SavedModel %s: %w", dir, err)
	}
	if err := WriteFileAtomic(filepath.Join(tmp, SavedModelFile), smBytes); err != nil {
		return fmt.Errorf("SavedModel %s: %w", dir, err)
	}
	if len(o.Extra) > 0 {
		ed := filepath.Join(tmp, ExtraDir)
		if err := os.MkdirAll(ed, 0o755); err != nil {
			return fmt.Errorf("SavedModel %s: %w", dir, err)
		}
		for name, data := range o.Extra {
			if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
				return fmt.Errorf("SavedModel %s: extra file name %q must be a plain file name", dir, name)
			}
			if err := WriteFileAtomic(filepath.Join(ed, name), data); err != nil {
				return fmt.Errorf("SavedModel %s: %w", dir, err)
			}
		}
		_ = syncDir(ed)
	}
	_ = syncDir(tmp)
	if err := replaceDir(tmp, dir); err != nil {
		return fmt.Errorf("SavedModel %s: %w", dir, err)
	}
	done = true
	return syncDir(parent)
}

// checkTarget refuses to write over anything but a missing or empty
// directory, or with overwrite a directory holding a SavedModel.
func checkTarget(dir string, overwrite bool) error {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("SavedModel %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("SavedModel %s: exists and is not a directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("SavedModel %s: %w", dir, err)
	}
	if len(ents) == 0 {
		return nil
	}
	if !overwrite {
		return fmt.Errorf("SavedModel %s: directory exists and is not empty (set overwrite to replace it)", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, SavedModelFile)); err != nil {
		return fmt.Errorf("SavedModel %s: refusing to replace a non-empty directory that holds no %s", dir, SavedModelFile)
	}
	return nil
}

// replaceDir moves the finished directory tmp to dir, replacing dir if it
// exists: dir is renamed away first and deleted last, and put back if the
// second rename fails.
func replaceDir(tmp, dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.Rename(tmp, dir)
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) == 0 {
		if err := os.Remove(dir); err != nil {
			return err
		}
		return os.Rename(tmp, dir)
	}
	old, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".old-")
	if err != nil {
		return err
	}
	if err := os.Remove(old); err != nil {
		return err
	}
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if rerr := os.Rename(old, dir); rerr != nil {
			return fmt.Errorf("%w (and restoring the old model from %s failed: %v)", err, old, rerr)
		}
		return err
	}
	return os.RemoveAll(old)
}

// buildMetaGraph assembles the MetaGraphDef of a SavedModel.
func buildMetaGraph(g *Graph, saver *Saver, sigs map[string]Signature, o SavedModelOptions) (*pb.MetaGraphDef, error) {
	if err := g.Err(); err != nil {
		return nil, err
	}
	b, err := g.GraphDef()
	if err != nil {
		return nil, err
	}
	gd := &graphpb.GraphDef{}
	if err := proto.Unmarshal(b, gd); err != nil {
		return nil, fmt.Errorf("reading back the graph: %w", err)
	}
	saverDef := &pb.SaverDef{
		FilenameTensorName: tensorName(saver.Prefix),
		SaveTensorName:     tensorName(saver.SaveTensor),
		RestoreOpName:      saver.Restore.Name(),
		MaxToKeep:          5,
		Sharded:            false,
		Version:            pb.SaverDef_V2,
	}
	roots := []string{saver.Prefix.Op.Name(), saver.SaveTensor.Op.Name(), saver.Restore.Name()}

	sigDefs := map[string]*pb.SignatureDef{}
	for name, sig := range sigs {
		if name == "" || strings.HasPrefix(name, "__") {
			return nil, fmt.Errorf("invalid signature name %q", name)
		}
		if len(sig.Outputs) == 0 {
			return nil, fmt.Errorf("signature %q has no outputs", name)
		}
		sd := &pb.SignatureDef{MethodName: sig.MethodName, Inputs: map[string]*pb.TensorInfo{}, Outputs: map[string]*pb.TensorInfo{}}
		if sd.MethodName == "" {
			sd.MethodName = PredictMethod
		}
		for _, side := range []struct {
			what string
			in   map[string]Output
			out  map[string]*pb.TensorInfo
		}{{"input", sig.Inputs, sd.Inputs}, {"output", sig.Outputs, sd.Outputs}} {
			for key, t := range side.in {
				if key == "" {
					return nil, fmt.Errorf("signature %q: an %s has an empty name", name, side.what)
				}
				if t.Op == nil || g.g.Operation(t.Op.Name()) == nil {
					return nil, fmt.Errorf("signature %q: %s %q is not a tensor of the session's graph", name, side.what, key)
				}
				side.out[key] = tensorInfo(t)
				roots = append(roots, t.Op.Name())
			}
		}
		sigDefs[name] = sd
	}

	if !o.KeepUnused {
		pruneGraph(gd, roots)
	}
	saved := map[string]bool{}
	for _, k := range saver.Keys {
		saved[k] = true
	}
	var unsaved []string
	for _, n := range gd.GetNode() {
		if n.GetOp() == "VarHandleOp" && !saved[n.GetName()] {
			unsaved = append(unsaved, n.GetName())
		}
	}
	if len(unsaved) > 0 {
		return nil, fmt.Errorf("the saver does not cover variables the model uses: %s", strings.Join(unsaved, ", "))
	}

	tags := o.Tags
	if len(tags) == 0 {
		tags = []string{ServeTag}
	}
	return &pb.MetaGraphDef{
		MetaInfoDef: &pb.MetaGraphDef_MetaInfoDef{
			Tags:              append([]string(nil), tags...),
			TensorflowVersion: Version(),
			// The op definitions are not available through the C API
			// bindings; an empty list is valid (importers then strip no
			// default attributes, which nothing here relies on).
			StrippedOpList: &oppb.OpList{},
		},
		GraphDef:     gd,
		SaverDef:     saverDef,
		SignatureDef: sigDefs,
	}, nil
}

// tensorName is "op:index".
func tensorName(o Output) string { return fmt.Sprintf("%s:%d", o.Op.Name(), o.Index) }

// tensorInfo describes o for a SignatureDef.
func tensorInfo(o Output) *pb.TensorInfo {
	ti := &pb.TensorInfo{
		Encoding:    &pb.TensorInfo_Name{Name: tensorName(o)},
		Dtype:       typespb.DataType(o.DataType()),
		TensorShape: &shapepb.TensorShapeProto{},
	}
	sh := o.Shape()
	if sh.NumDimensions() < 0 {
		ti.TensorShape.UnknownRank = true
		return ti
	}
	for i := 0; i < sh.NumDimensions(); i++ {
		ti.TensorShape.Dim = append(ti.TensorShape.Dim, &shapepb.TensorShapeProto_Dim{Size: sh.Size(i)})
	}
	return ti
}

// pruneGraph keeps only the nodes the roots depend on (through data and
// control inputs), in their original order.
func pruneGraph(gd *graphpb.GraphDef, roots []string) {
	byName := make(map[string]int, len(gd.GetNode()))
	for i, n := range gd.GetNode() {
		byName[n.GetName()] = i
	}
	keep := make([]bool, len(gd.GetNode()))
	stack := append([]string(nil), roots...)
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, ok := byName[name]
		if !ok || keep[i] {
			continue
		}
		keep[i] = true
		for _, in := range gd.Node[i].GetInput() {
			stack = append(stack, inputOpName(in))
		}
	}
	kept := gd.Node[:0]
	for i, n := range gd.Node {
		if keep[i] {
			kept = append(kept, n)
		}
	}
	gd.Node = kept
}

// inputOpName strips the "^" of control inputs and the ":N" of outputs.
func inputOpName(in string) string {
	in = strings.TrimPrefix(in, "^")
	if i := strings.LastIndexByte(in, ':'); i >= 0 {
		if _, err := strconv.Atoi(in[i+1:]); err == nil {
			return in[:i]
		}
	}
	return in
}

// RemoveSavedModelTemps tidies what a process killed while writing the
// SavedModel dir left beside it: dir.tmp-* (an unfinished model) is
// deleted, and so is dir.old-* (the previous model, moved aside while the
// new one was renamed in) unless dir itself is missing. A kill between the
// two renames leaves exactly that: no dir, the old model complete in
// dir.old-*. Then the newest dir.old-* holding a SavedModelFile is renamed
// back to dir (restored), so replacing a model never loses the one it
// replaces. It returns the paths removed and the one restored ("" if
// none). Call it before writing dir again, and only where no other
// process writes dir at the same time.
func RemoveSavedModelTemps(dir string) (removed []string, restored string, err error) {
	dir = filepath.Clean(dir)
	olds, err := filepath.Glob(dir + ".old-*")
	if err != nil {
		return nil, "", err
	}
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		if restored = newestSavedModel(olds); restored != "" {
			if err := os.Rename(restored, dir); err != nil {
				return nil, "", fmt.Errorf("restoring the SavedModel %s from %s: %w", dir, restored, err)
			}
		}
	}
	tmps, err := filepath.Glob(dir + ".tmp-*")
	if err != nil {
		return nil, restored, err
	}
	for _, p := range append(tmps, olds...) {
		if p == restored {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return removed, restored, err
		}
		removed = append(removed, p)
	}
	return removed, restored, nil
}

// newestSavedModel returns the most recently modified of dirs that holds a
// SavedModelFile, or "" if none does.
func newestSavedModel(dirs []string) string {
	best, bestTime := "", time.Time{}
	for _, d := range dirs {
		st, err := os.Stat(filepath.Join(d, SavedModelFile))
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if best == "" || st.ModTime().After(bestTime) {
			best, bestTime = d, st.ModTime()
		}
	}
	return best
}
