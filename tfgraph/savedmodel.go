package tfgraph

// SavedModels: writing graph-only (TF1-style) SavedModels from Go and loading
// any SavedModel (TF1 or TF2) into a session.
//
// A directory written by WriteSavedModel holds
//
//	saved_model.pb                        SavedModel{schema 1, one MetaGraphDef}
//	variables/variables.index             the Saver's checkpoint (V2 format)
//	variables/variables.data-00000-of-00001
//	assets.extra/...                      optional extra files (ignored by loaders)
//
// The MetaGraphDef carries the tags (["serve"]), the GraphDef, a SaverDef
// naming the Saver's filename tensor, save tensor and restore op, and the
// signatures. Loaders (the C API's TF_LoadSessionFromSavedModel behind
// LoadSavedModel, TensorFlow Serving, Python's tf.saved_model.load, which
// wraps such graphs with load_v1_in_v2) import the graph, feed
// variables/variables into the filename tensor and run the restore op. No
// init op is needed: every variable the signatures use is restored, and
// WriteSavedModel checks that.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	oppb "github.com/wamuir/graft/tensorflow/core/framework/op_def_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// Constants of the SavedModel format.
const (
	// ServeTag tags the MetaGraphDef used for inference.
	ServeTag = "serve"
	// DefaultSignature is the signature serving systems call by default.
	DefaultSignature = "serving_default"
	// PredictMethod is the method name of prediction signatures.
	PredictMethod = "tensorflow/serving/predict"
	// SavedModelFile is the protobuf file of a SavedModel directory.
	SavedModelFile = "saved_model.pb"
	// VariablesPrefix is the checkpoint prefix inside a SavedModel directory.
	VariablesPrefix = "variables/variables"
	// ExtraDir holds files loaders ignore (metadata for tools).
	ExtraDir = "assets.extra"
	// initOpSignature is TF2's pseudo-signature naming the init op.
	initOpSignature = "__saved_model_init_op"
)

// Signature is one entry point of a SavedModel: named inputs and outputs of
// the graph. MethodName defaults to PredictMethod.
type Signature struct {
	Inputs, Outputs map[string]Output
	MethodName      string
}

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

// SavedModel is a SavedModel loaded into a session, with its signatures
// resolved to tensors of the loaded graph.
type SavedModel struct {
	Dir     string
	Tags    []string
	Session *Session
	Graph   *Graph
	// Signatures maps signature names to their tensors. TF2's init-op
	// pseudo-signature and signatures with sparse or composite tensors are
	// left out.
	Signatures map[string]Signature
	// Extra holds the names of the files under assets.extra/.
	Extra []string
}

// LoadSavedModel loads the MetaGraphDef of dir whose tag set equals tags
// (nil means ["serve"]) into a new session and restores its variables.
// Problems with the directory are reported as "<dir>: not a SavedModel: ..."
// before TensorFlow is asked to load it.
func LoadSavedModel(dir string, tags []string, opts SessionOptions) (*SavedModel, error) {
	if len(tags) == 0 {
		tags = []string{ServeTag}
	}
	meta, err := inspectSavedModel(dir, tags)
	if err != nil {
		return nil, err
	}
	cfg, err := opts.ConfigProto()
	if err != nil {
		return nil, fmt.Errorf("session config: %w", err)
	}
	sm, err := tf.LoadSavedModel(dir, tags, &tf.SessionOptions{Target: opts.Target, Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("%s: loading SavedModel: %w", dir, err)
	}
	g := &Graph{g: sm.Graph, names: map[string]int{}, byKey: map[string]*Variable{}}
	out := &SavedModel{
		Dir:        dir,
		Tags:       append([]string(nil), tags...),
		Session:    &Session{s: sm.Session, Graph: g},
		Graph:      g,
		Signatures: map[string]Signature{},
	}
	for name, sd := range meta.GetSignatureDef() {
		if name == initOpSignature {
			continue
		}
		sig, ok := resolveSignature(g, sd)
		if ok {
			out.Signatures[name] = sig
		}
	}
	if ents, err := os.ReadDir(filepath.Join(dir, ExtraDir)); err == nil {
		for _, e := range ents {
			out.Extra = append(out.Extra, e.Name())
		}
	}
	return out, nil
}

// resolveSignature maps a SignatureDef's tensor names to graph outputs. It
// reports false when a tensor is not a plain named tensor of g.
func resolveSignature(g *Graph, sd *pb.SignatureDef) (Signature, bool) {
	sig := Signature{MethodName: sd.GetMethodName(), Inputs: map[string]Output{}, Outputs: map[string]Output{}}
	for _, side := range []struct {
		in  map[string]*pb.TensorInfo
		out map[string]Output
	}{{sd.GetInputs(), sig.Inputs}, {sd.GetOutputs(), sig.Outputs}} {
		for key, ti := range side.in {
			o, ok := lookupTensor(g, ti.GetName())
			if !ok {
				return Signature{}, false
			}
			side.out[key] = o
		}
	}
	return sig, true
}

// lookupTensor resolves "op:index" (or "op") in g.
func lookupTensor(g *Graph, name string) (Output, bool) {
	if name == "" {
		return Output{}, false
	}
	opName, idx := name, 0
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		n, err := strconv.Atoi(name[i+1:])
		if err != nil || n < 0 {
			return Output{}, false
		}
		opName, idx = name[:i], n
	}
	op := g.g.Operation(opName)
	if op == nil || idx >= op.NumOutputs() {
		return Output{}, false
	}
	return op.Output(idx), true
}

// notSavedModel builds the loader's directory errors.
func notSavedModel(dir, format string, args ...any) error {
	return fmt.Errorf("%s: not a SavedModel: %s", dir, fmt.Sprintf(format, args...))
}

// inspectSavedModel checks dir's layout, reads saved_model.pb and returns
// the MetaGraphDef matching tags.
func inspectSavedModel(dir string, tags []string) (*pb.MetaGraphDef, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, notSavedModel(dir, "directory does not exist")
	case err != nil:
		return nil, notSavedModel(dir, "%v", err)
	case !st.IsDir():
		return nil, notSavedModel(dir, "not a directory")
	}
	pbPath := filepath.Join(dir, SavedModelFile)
	b, err := os.ReadFile(pbPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, notSavedModel(dir, "no %s", SavedModelFile)
	}
	if err != nil {
		return nil, notSavedModel(dir, "%v", err)
	}
	sm := &pb.SavedModel{}
	if err := proto.Unmarshal(b, sm); err != nil {
		return nil, notSavedModel(dir, "%s is corrupt: %v", SavedModelFile, err)
	}
	if len(sm.GetMetaGraphs()) == 0 {
		return nil, notSavedModel(dir, "%s holds no MetaGraphDef (corrupt or empty file)", SavedModelFile)
	}
	var meta *pb.MetaGraphDef
	var avail []string
	for _, m := range sm.GetMetaGraphs() {
		have := m.GetMetaInfoDef().GetTags()
		avail = append(avail, fmt.Sprint(have))
		if sameSet(have, tags) && meta == nil {
			meta = m
		}
	}
	if meta == nil {
		return nil, fmt.Errorf("%s: SavedModel has no MetaGraphDef with tags %v (it has %s)", dir, tags, strings.Join(avail, ", "))
	}
	if meta.GetGraphDef() == nil {
		return nil, notSavedModel(dir, "the MetaGraphDef with tags %v has no graph", tags)
	}
	if meta.GetSaverDef().GetRestoreOpName() != "" {
		prefix := filepath.Join(dir, filepath.FromSlash(VariablesPrefix))
		if _, err := os.Stat(prefix + ".index"); err != nil {
			return nil, notSavedModel(dir, "missing variables (%s.index): %v", VariablesPrefix, errors.Unwrap(err))
		}
		_, header, err := readIndexFile(prefix)
		if err != nil {
			return nil, notSavedModel(dir, "variables: %v", err)
		}
		for i := int32(0); i < header.GetNumShards(); i++ {
			shard := fmt.Sprintf("%s.data-%05d-of-%05d", prefix, i, header.GetNumShards())
			if _, err := os.Stat(shard); err != nil {
				return nil, notSavedModel(dir, "missing variables data shard %s", filepath.Base(shard))
			}
		}
	}
	return meta, nil
}

// readIndexFile parses PREFIX.index.
func readIndexFile(prefix string) (map[string]TensorSpec, *pb.BundleHeaderProto, error) {
	b, err := os.ReadFile(prefix + ".index")
	if err != nil {
		return nil, nil, err
	}
	return parseCheckpointIndex(b)
}

func sameSet(a, b []string) bool {
	x := append([]string(nil), a...)
	y := append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	x, y = dedup(x), dedup(y)
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Close releases the session.
func (m *SavedModel) Close() error { return m.Session.Close() }

// Run calls a signature: inputs maps the signature's input names to values
// (every input must be given) and the result maps the requested output
// names (all outputs when none are named) to values.
func (m *SavedModel) Run(signature string, inputs map[string]*Tensor, outputs ...string) (map[string]*Tensor, error) {
	sig, ok := m.Signatures[signature]
	if !ok {
		return nil, fmt.Errorf("%s: no signature %q (have %s)", m.Dir, signature, strings.Join(m.SignatureNames(), ", "))
	}
	feeds := make(map[Output]*Tensor, len(inputs))
	for name, in := range sig.Inputs {
		t, ok := inputs[name]
		if !ok || t == nil {
			return nil, fmt.Errorf("%s: signature %q: input %q not given", m.Dir, signature, name)
		}
		if t.DataType() != in.DataType() {
			return nil, fmt.Errorf("%s: signature %q: input %q is %s, want %s", m.Dir, signature, name, DTypeName(t.DataType()), DTypeName(in.DataType()))
		}
		feeds[in] = t
	}
	for name := range inputs {
		if _, ok := sig.Inputs[name]; !ok {
			return nil, fmt.Errorf("%s: signature %q has no input %q", m.Dir, signature, name)
		}
	}
	if len(outputs) == 0 {
		for name := range sig.Outputs {
			outputs = append(outputs, name)
		}
		sort.Strings(outputs)
	}
	fetches := make([]Output, len(outputs))
	for i, name := range outputs {
		o, ok := sig.Outputs[name]
		if !ok {
			return nil, fmt.Errorf("%s: signature %q has no output %q", m.Dir, signature, name)
		}
		fetches[i] = o
	}
	res, err := m.Session.Run(feeds, fetches)
	if err != nil {
		return nil, fmt.Errorf("%s: signature %q: %w%s", m.Dir, signature, err, runHint(err))
	}
	out := make(map[string]*Tensor, len(outputs))
	for i, name := range outputs {
		out[name] = res[i]
	}
	return out, nil
}

// runHint explains the usual cause of a signature reading a variable the
// loader did not restore.
func runHint(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "Could not find variable") || strings.Contains(msg, "uninitialized value") {
		return " (the SavedModel's saver does not restore a variable its signature reads; " +
			"Keras 3 models saved with tf.saved_model.save have this problem: save them with " +
			"model.export(...) or track the underlying tf.Variables)"
	}
	return ""
}

// SignatureNames lists the signatures, sorted.
func (m *SavedModel) SignatureNames() []string {
	names := make([]string, 0, len(m.Signatures))
	for n := range m.Signatures {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ReadExtra reads a file of assets.extra/.
func (m *SavedModel) ReadExtra(name string) ([]byte, error) {
	if name != filepath.Base(name) {
		return nil, fmt.Errorf("%s: bad extra file name %q", m.Dir, name)
	}
	return os.ReadFile(filepath.Join(m.Dir, ExtraDir, name))
}
