package tfgraph

// Loading SavedModels: checking the directory, loading it through the C
// API and resolving the signatures to tensors of the loaded graph.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

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
	if err := opts.checkPrecision(); err != nil {
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
		_, header, err := readIndex(prefix)
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

// ReadExtra reads a file of assets.extra/.
func (m *SavedModel) ReadExtra(name string) ([]byte, error) {
	if name != filepath.Base(name) {
		return nil, fmt.Errorf("%s: bad extra file name %q", m.Dir, name)
	}
	return os.ReadFile(filepath.Join(m.Dir, ExtraDir, name))
}
