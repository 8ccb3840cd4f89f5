package tfgraph

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// linearModel builds y = x·w + b with w = [[1,2],[3,4],[5,6]] and b = [10, 20]
// as variables, plus an unused variable and its initialiser, and writes it
// as a SavedModel in dir.
func writeLinearModel(t *testing.T, dir string, o SavedModelOptions) {
	t.Helper()
	g := NewGraph()
	s := g.Root()
	w := s.Child("dense").Var("kernel", []int64{3, 2}, func(s *Scope, _ []int64, _ Output) Output {
		return s.Const("v", [][]float32{{1, 2}, {3, 4}, {5, 6}})
	}, 0)
	b := s.Child("dense").Var("bias", []int64{2}, func(s *Scope, _ []int64, _ Output) Output {
		return s.Const("v", []float32{10, 20})
	}, 0)
	s.Child("unused").Var("v", []int64{5}, Normal(1), 0)
	x := s.Placeholder("x", Float, []int64{-1, 3})
	y := s.Identity("y", s.BiasAdd(s.MatMul(x, w.Read(), false, false), b.Read()))
	sum := s.Identity("total", s.Sum(y, false, 0, 1))
	sv := NewSaver(g, "save", []*Variable{w, b})
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, g.InitOp("init")); err != nil {
		t.Fatal(err)
	}
	sigs := map[string]Signature{
		DefaultSignature: {Inputs: map[string]Output{"x": x}, Outputs: map[string]Output{"y": y}},
		"sum":            {Inputs: map[string]Output{"x": x}, Outputs: map[string]Output{"total": sum, "y": y}},
	}
	if err := WriteSavedModel(sess, sv, dir, sigs, o); err != nil {
		t.Fatal(err)
	}
}

func TestSavedModelRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	writeLinearModel(t, dir, SavedModelOptions{Extra: map[string][]byte{"info.json": []byte(`{"a":1}`)}})

	// The protobuf has what TF1 loaders need.
	raw, err := os.ReadFile(filepath.Join(dir, SavedModelFile))
	if err != nil {
		t.Fatal(err)
	}
	var smpb pb.SavedModel
	if err := proto.Unmarshal(raw, &smpb); err != nil {
		t.Fatal(err)
	}
	if smpb.SavedModelSchemaVersion != 1 || len(smpb.MetaGraphs) != 1 {
		t.Fatalf("schema %d, %d meta graphs", smpb.SavedModelSchemaVersion, len(smpb.MetaGraphs))
	}
	mg := smpb.MetaGraphs[0]
	mi := mg.GetMetaInfoDef()
	if strings.Join(mi.GetTags(), ",") != "serve" || mi.GetTensorflowVersion() != Version() || mi.GetStrippedOpList() == nil {
		t.Errorf("meta info %v", mi)
	}
	sd := mg.GetSaverDef()
	if sd.GetFilenameTensorName() != "save/Const:0" || sd.GetSaveTensorName() != "save/control_dependency:0" ||
		sd.GetRestoreOpName() != "save/restore_all" || sd.GetVersion() != pb.SaverDef_V2 {
		t.Errorf("saver def %v", sd)
	}
	def := mg.GetSignatureDef()[DefaultSignature]
	if def.GetMethodName() != PredictMethod || def.GetInputs()["x"].GetName() != "x:0" || def.GetOutputs()["y"].GetName() != "y:0" {
		t.Errorf("signature %v", def)
	}
	if dims := def.GetInputs()["x"].GetTensorShape().GetDim(); len(dims) != 2 || dims[0].GetSize() != -1 || dims[1].GetSize() != 3 {
		t.Errorf("input shape %v", dims)
	}
	// Pruning dropped the unused variable and every initialiser.
	for _, n := range mg.GetGraphDef().GetNode() {
		if strings.HasPrefix(n.GetName(), "unused") || strings.Contains(n.GetName(), "Initializer") || n.GetName() == "init" {
			t.Errorf("pruned graph still has %s", n.GetName())
		}
	}

	sm, err := LoadSavedModel(dir, nil, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	if got := strings.Join(sm.SignatureNames(), ","); got != "serving_default,sum" {
		t.Errorf("signatures %s", got)
	}
	x, _ := NewTensor([][]float32{{1, 0, 0}, {0, 1, 1}})
	out, err := sm.Run("sum", map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	y := out["y"].Value().([][]float32)
	if y[0][0] != 11 || y[0][1] != 22 || y[1][0] != 18 || y[1][1] != 30 {
		t.Errorf("y = %v", y)
	}
	if tot := out["total"].Value().(float32); tot != 81 {
		t.Errorf("total = %v", tot)
	}
	if b, err := sm.ReadExtra("info.json"); err != nil || string(b) != `{"a":1}` {
		t.Errorf("extra file: %q %v", b, err)
	}
	// Input checks.
	if _, err := sm.Run("nope", nil); err == nil || !strings.Contains(err.Error(), "serving_default, sum") {
		t.Errorf("unknown signature: %v", err)
	}
	if _, err := sm.Run(DefaultSignature, nil); err == nil || !strings.Contains(err.Error(), `input "x" not given`) {
		t.Errorf("missing input: %v", err)
	}
	xi, _ := NewTensor([][]int32{{1, 2, 3}})
	if _, err := sm.Run(DefaultSignature, map[string]*Tensor{"x": xi}); err == nil || !strings.Contains(err.Error(), "int32, want float32") {
		t.Errorf("wrong dtype: %v", err)
	}
}

func TestWriteSavedModelNeedsSavedVariables(t *testing.T) {
	g := NewGraph()
	s := g.Root()
	a := s.Var("a", []int64{2}, Ones(), 0)
	b := s.Var("b", []int64{2}, Ones(), 0)
	y := s.Identity("y", s.Add(a.Read(), b.Read()))
	sv := NewSaver(g, "save", []*Variable{a})
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, g.InitOp("init")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "m")
	err = WriteSavedModel(sess, sv, dir, map[string]Signature{"s": {Outputs: map[string]Output{"y": y}}}, SavedModelOptions{})
	if err == nil || !strings.Contains(err.Error(), "does not cover") || !strings.Contains(err.Error(), "b") {
		t.Errorf("uncovered variable: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("failed write left %s behind", dir)
	}
	if err := WriteSavedModel(sess, sv, dir, nil, SavedModelOptions{}); err == nil {
		t.Error("no signatures accepted")
	}
}

func TestWriteSavedModelOverwrite(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "m")
	writeLinearModel(t, dir, SavedModelOptions{})
	// An empty directory is fine to write into.
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	writeLinearModel(t, empty, SavedModelOptions{})

	// Writing again without Overwrite fails and keeps the model.
	g := NewGraph()
	v := g.Root().Var("v", []int64{1}, Ones(), 0)
	sv := NewSaver(g, "save", []*Variable{v})
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, g.InitOp("init")); err != nil {
		t.Fatal(err)
	}
	sigs := map[string]Signature{"v": {Outputs: map[string]Output{"v": g.Root().Identity("out", v.Read())}}}
	if err := WriteSavedModel(sess, sv, dir, sigs, SavedModelOptions{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("overwriting without the flag: %v", err)
	}
	if err := WriteSavedModel(sess, sv, dir, sigs, SavedModelOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	sm, err := LoadSavedModel(dir, nil, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	if got := strings.Join(sm.SignatureNames(), ","); got != "v" {
		t.Errorf("after overwrite the signatures are %s", got)
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if e.Name() != "m" && e.Name() != "empty" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	// Overwrite refuses a directory that is not a SavedModel, and a file.
	other := filepath.Join(root, "other")
	os.Mkdir(other, 0o755)
	os.WriteFile(filepath.Join(other, "x"), nil, 0o644)
	if err := WriteSavedModel(sess, sv, other, sigs, SavedModelOptions{Overwrite: true}); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("replacing a non-SavedModel directory: %v", err)
	}
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o644)
	if err := WriteSavedModel(sess, sv, file, sigs, SavedModelOptions{Overwrite: true}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("writing over a file: %v", err)
	}
}

func TestLoadSavedModelErrors(t *testing.T) {
	root := t.TempDir()
	good := filepath.Join(root, "good")
	writeLinearModel(t, good, SavedModelOptions{})
	clone := func(name string) string {
		d := filepath.Join(root, name)
		if err := os.CopyFS(d, os.DirFS(good)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	file := filepath.Join(root, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	noPB := filepath.Join(root, "nopb")
	os.Mkdir(noPB, 0o755)
	corrupt := clone("corrupt")
	os.WriteFile(filepath.Join(corrupt, SavedModelFile), []byte("\x0a\xff\xff\xffgarbage"), 0o644)
	emptyPB := clone("emptypb")
	os.WriteFile(filepath.Join(emptyPB, SavedModelFile), nil, 0o644)
	noVars := clone("novars")
	os.RemoveAll(filepath.Join(noVars, "variables"))
	noData := clone("nodata")
	os.Remove(filepath.Join(noData, "variables", "variables.data-00000-of-00001"))
	badIndex := clone("badindex")
	os.WriteFile(filepath.Join(badIndex, "variables", "variables.index"), []byte("junk"), 0o644)

	for _, c := range []struct{ dir, want string }{
		{filepath.Join(root, "missing"), "not a SavedModel: directory does not exist"},
		{file, "not a SavedModel: not a directory"},
		{noPB, "not a SavedModel: no saved_model.pb"},
		{corrupt, "not a SavedModel: saved_model.pb is corrupt"},
		{emptyPB, "not a SavedModel: saved_model.pb holds no MetaGraphDef"},
		{noVars, "not a SavedModel: missing variables"},
		{noData, "not a SavedModel: missing variables data shard variables.data-00000-of-00001"},
		{badIndex, "not a SavedModel: variables:"},
	} {
		_, err := LoadSavedModel(c.dir, nil, SessionOptions{})
		if err == nil || !strings.HasPrefix(err.Error(), c.dir+": ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", filepath.Base(c.dir), err, c.want)
		}
	}
	if _, err := LoadSavedModel(good, []string{"train"}, SessionOptions{}); err == nil || !strings.Contains(err.Error(), "no MetaGraphDef with tags [train] (it has [serve])") {
		t.Errorf("wrong tags: %v", err)
	}
}

func TestPruneGraphInputNames(t *testing.T) {
	for in, want := range map[string]string{"a": "a", "a:1": "a", "^a/b": "a/b", "a:b": "a:b", "x/y:12": "x/y"} {
		if got := inputOpName(in); got != want {
			t.Errorf("inputOpName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRunHint(t *testing.T) {
	if h := runHint(errors.New("Could not find variable dense/bias. This could mean")); !strings.Contains(h, "Keras 3") {
		t.Errorf("hint %q", h)
	}
	if h := runHint(errors.New("Incompatible shapes")); h != "" {
		t.Errorf("hint for an unrelated error: %q", h)
	}
}
