package export_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	. "github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/internal/testutil/trainfix"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// tinyConfig is a ResNet-18 with the CIFAR stem at width 4 on 16x16 images.
func tinyConfig(width int) *configs.Config {
	c := testutil.TinyConfig()
	c.Seed = 11
	c.Data.Mean = []float64{0.4, 0.5, 0.6}
	c.Data.Std = []float64{0.2, 0.25, 0.3}
	c.Model.Width = width
	c.Model.ZeroInitResidual = false
	c.Optim.BatchSize = 4
	return c
}

// trainCheckpoint builds the training step for cfg, runs steps training
// steps on random views (so BatchNorm statistics move away from 0 and 1)
// and saves a checkpoint.
func trainCheckpoint(t testing.TB, cfg *configs.Config, steps int) string {
	t.Helper()
	return trainfix.Checkpoint(t, cfg, filepath.Join(t.TempDir(), "ckpt", "ckpt-1"), steps, 1, 2)
}

// randomImages returns n uint8 images h x w x c.
func randomImages(seed uint64, n, h, w, c int) []byte {
	r := rand.New(rand.NewPCG(seed, 99))
	b := make([]byte, n*h*w*c)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

// normalise is the evaluation transform of an image already at the model's
// size: x/255, minus the mean, over the std.
func normalise(cfg *configs.Config, pix []byte, n int) [][][][]float32 {
	s, c := cfg.Data.ImageSize, cfg.Data.Channels
	out := make([][][][]float32, n)
	i := 0
	for a := range out {
		out[a] = make([][][]float32, s)
		for y := range out[a] {
			out[a][y] = make([][]float32, s)
			for x := range out[a][y] {
				px := make([]float32, c)
				for ch := range px {
					v := float32(pix[i]) * float32(1.0/255)
					px[ch] = (v - float32(cfg.Data.Mean[ch])) / float32(cfg.Data.Std[ch])
					i++
				}
				out[a][y][x] = px
			}
		}
	}
	return out
}

// directEmbeddings runs the backbone in inference mode in a fresh graph
// restored from prefix on normalised float input.
func directEmbeddings(t *testing.T, cfg *configs.Config, prefix string, x [][][][]float32) [][]float32 {
	t.Helper()
	g := tfgraph.NewGraph()
	net, err := model.New(g, cfg.Model, int64(cfg.Data.Channels), cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	in := g.Root().Placeholder("x", tfgraph.Float, []int64{-1, int64(cfg.Data.ImageSize), int64(cfg.Data.ImageSize), int64(cfg.Data.Channels)})
	h := net.Backbone.Apply(g.Root().Child("encoder"), in, tfgraph.Inference)
	sv := tfgraph.NewSaver(g, "save", g.Variables())
	sess := testutil.Session(t, g)
	// The checkpoint has every variable of the model (and more).
	if err := sv.RestoreFrom(sess, prefix); err != nil {
		t.Fatal(err)
	}
	xt, err := tfgraph.NewTensor(x)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{in: xt}, []tfgraph.Output{h})
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Value().([][]float32)
}

func maxAbsDiff(a, b [][]float32) float64 {
	m := 0.0
	for i := range a {
		for j := range a[i] {
			m = math.Max(m, math.Abs(float64(a[i][j]-b[i][j])))
		}
	}
	return m
}

func TestExportMatchesDirectBackbone(t *testing.T) {
	cfg := tinyConfig(4)
	prefix := trainCheckpoint(t, cfg, 1)
	dir := filepath.Join(t.TempDir(), "model")
	if err := Export(cfg, prefix, dir, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00001", "assets.extra/simsiam.json", "assets.extra/config.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	// The SavedModel's variables are the encoder and projector only.
	specs, err := tfgraph.ReadCheckpointIndex(filepath.Join(dir, "variables", "variables"))
	if err != nil {
		t.Fatal(err)
	}
	for k := range specs {
		if !strings.HasPrefix(k, "encoder/") && !strings.HasPrefix(k, "projector/") {
			t.Errorf("unexpected variable %s in the SavedModel", k)
		}
	}
	if _, ok := specs["encoder/conv1/kernel"]; !ok {
		t.Errorf("encoder/conv1/kernel missing from the SavedModel variables")
	}

	sm, err := tfgraph.LoadSavedModel(dir, nil, tfgraph.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	if got := strings.Join(sm.SignatureNames(), ","); got != "projection,serving_default" {
		t.Errorf("signatures %s", got)
	}
	var meta Metadata
	b, err := sm.ReadExtra(MetadataFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.FeatureDim != 32 || meta.ImageSize != 16 || meta.Channels != 3 {
		t.Errorf("metadata %+v", meta)
	}

	const n = 5
	pix := randomImages(3, n, 16, 16, 3)
	it, err := tfgraph.NewTensor(pix)
	if err != nil {
		t.Fatal(err)
	}
	if err := it.Reshape([]int64{n, 16, 16, 3}); err != nil {
		t.Fatal(err)
	}
	res, err := sm.Run(SigEmbedding, map[string]*tfgraph.Tensor{InputImages: it})
	if err != nil {
		t.Fatal(err)
	}
	got := res[OutEmbedding].Value().([][]float32)
	want := directEmbeddings(t, cfg, prefix, normalise(cfg, pix, n))
	if len(got) != n || len(got[0]) != 32 {
		t.Fatalf("embedding shape %dx%d", len(got), len(got[0]))
	}
	d := maxAbsDiff(got, want)
	t.Logf("max |exported - direct| = %.3g", d)
	if d > 1e-5 {
		t.Errorf("exported embeddings differ from the direct backbone by %g", d)
	}
}

func TestExportRefusesOverwrite(t *testing.T) {
	cfg := tinyConfig(4)
	prefix := trainCheckpoint(t, cfg, 0)
	dir := filepath.Join(t.TempDir(), "model")
	if err := Export(cfg, prefix, dir, false); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "saved_model.pb"))
	err := Export(cfg, prefix, dir, false)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("second export without overwrite: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "saved_model.pb"))
	if string(before) != string(after) {
		t.Error("refused export changed the existing model")
	}
	if err := Export(cfg, prefix, dir, true); err != nil {
		t.Fatalf("export with overwrite: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "model.*"))
	if len(left) != 0 {
		t.Errorf("temporary directories left: %v", left)
	}
	// Overwrite never replaces something that is not a SavedModel.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Export(cfg, prefix, other, true); err == nil {
		t.Error("overwrite replaced a directory that is not a SavedModel")
	}
	if _, err := os.Stat(filepath.Join(other, "notes.txt")); err != nil {
		t.Error(err)
	}
}

func TestExportWrongWidthNamesVariables(t *testing.T) {
	prefix := trainCheckpoint(t, tinyConfig(8), 0)
	err := Export(tinyConfig(4), prefix, filepath.Join(t.TempDir(), "m"), false)
	var me *model.ConfigMismatchError
	if !errors.As(err, &me) || len(me.Diffs) != 1 || me.Diffs[0] != "model.width: checkpoint 8, config 4" {
		t.Fatalf("exporting a width-8 checkpoint as width 4: %v", err)
	}
	// A checkpoint without the model config record (an older version's)
	// is checked by names and shapes.
	g := tfgraph.NewGraph()
	c8 := tinyConfig(8)
	if _, err := model.New(g, c8.Model, 3, c8.Seed); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "ckpt-1")
	testutil.SaveCheckpoint(t, g, g.Variables(), old)
	err = Export(tinyConfig(4), old, filepath.Join(t.TempDir(), "m"), false)
	var ie *tfgraph.IncompatibleError
	if !errors.As(err, &ie) {
		t.Fatalf("error is not an IncompatibleError: %v", err)
	}
	want := "encoder/conv1/kernel: checkpoint has [3 3 3 8], model wants [3 3 3 4]"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error does not say %q:\n%v", want, err)
	}
}

func TestExportClassifier(t *testing.T) {
	cfg := tinyConfig(4)
	// A linear-evaluation style checkpoint: encoder/* and classifier/*.
	g := tfgraph.NewGraph()
	net, err := model.New(g, cfg.Model, 3, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	const k = 5
	head := tfgraph.NewDense(g.Root().Child("classifier"), net.Backbone.FeatureDim(), k, true, 3)
	var vars []*tfgraph.Variable
	for _, v := range g.Variables() {
		if strings.HasPrefix(v.Key, "encoder/") || strings.HasPrefix(v.Key, "classifier/") {
			vars = append(vars, v)
		}
	}
	prefix := filepath.Join(runfolder.Dir(t.TempDir()).Linear(), "ckpt-9")
	sess := testutil.SaveCheckpoint(t, g, vars, prefix)
	dir := filepath.Join(t.TempDir(), "clf")
	names := []string{"a", "b", "c", "d", "e"}
	if err := ExportClassifier(cfg, prefix, dir, false, Classifier{ClassNames: names}); err != nil {
		t.Fatal(err)
	}
	sm, err := tfgraph.LoadSavedModel(dir, nil, tfgraph.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	if got := strings.Join(sm.SignatureNames(), ","); got != "classify,serving_default" {
		t.Errorf("signatures %s (no projector in the checkpoint, so no projection)", got)
	}
	const n = 3
	pix := randomImages(5, n, 16, 16, 3)
	it, _ := tfgraph.NewTensor(pix)
	if err := it.Reshape([]int64{n, 16, 16, 3}); err != nil {
		t.Fatal(err)
	}
	res, err := sm.Run(SigClassify, map[string]*tfgraph.Tensor{InputImages: it})
	if err != nil {
		t.Fatal(err)
	}
	emb, err := sm.Run(SigEmbedding, map[string]*tfgraph.Tensor{InputImages: it})
	if err != nil {
		t.Fatal(err)
	}
	// logits = embedding · kernel + bias, with the checkpoint's values.
	kb, err := sess.Run(nil, []tfgraph.Output{head.Kernel.Read(), head.Bias.Read()})
	if err != nil {
		t.Fatal(err)
	}
	kern, bias := kb[0].Value().([][]float32), kb[1].Value().([]float32)
	h := emb[OutEmbedding].Value().([][]float32)
	logits := res[OutLogits].Value().([][]float32)
	probs := res[OutProbs].Value().([][]float32)
	classes := res[OutClasses].Value().([]int32)
	for i := 0; i < n; i++ {
		var sum float64
		best := 0
		for j := 0; j < k; j++ {
			want := float64(bias[j])
			for f := range h[i] {
				want += float64(h[i][f]) * float64(kern[f][j])
			}
			if math.Abs(want-float64(logits[i][j])) > 1e-4 {
				t.Errorf("logit[%d][%d] = %v, want %v", i, j, logits[i][j], want)
			}
			sum += float64(probs[i][j])
			if logits[i][j] > logits[i][best] {
				best = j
			}
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("probabilities of image %d sum to %v", i, sum)
		}
		if int(classes[i]) != best {
			t.Errorf("class of image %d = %d, want %d", i, classes[i], best)
		}
	}
	// The head may come from its own checkpoint, the encoder from the
	// pretraining one; the restore-only savers are pruned from the model.
	hv := tfgraph.NewSaver(g, "save_head", []*tfgraph.Variable{head.Kernel, head.Bias})
	headPrefix := filepath.Join(t.TempDir(), "head", "ckpt-1")
	if err := hv.Save(sess, headPrefix); err != nil {
		t.Fatal(err)
	}
	pre := trainCheckpoint(t, cfg, 0)
	dir2 := filepath.Join(t.TempDir(), "clf2")
	if err := ExportClassifier(cfg, pre, dir2, false, Classifier{Checkpoint: headPrefix}); err != nil {
		t.Fatal(err)
	}
	sm2, err := tfgraph.LoadSavedModel(dir2, nil, tfgraph.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sm2.Close()
	if got := strings.Join(sm2.SignatureNames(), ","); got != "classify,projection,serving_default" {
		t.Errorf("signatures %s (the pretraining checkpoint has the projector)", got)
	}
	checkSignaturesOnGPU(t, sm2)
	checkPinnedNames(t, sm2, map[string]string{"serving_default": embeddingSig, "projection": projectionSig, "classify": classifySig})
	for _, name := range []string{"restore_0/restore_all", "restore_1/restore_all", "predictor/fc1/kernel"} {
		if sm2.Graph.Operation(name) != nil {
			t.Errorf("the exported graph still has %s", name)
		}
	}
	res2, err := sm2.Run(SigClassify, map[string]*tfgraph.Tensor{InputImages: it})
	if err != nil {
		t.Fatal(err)
	}
	emb2, err := sm2.Run(SigEmbedding, map[string]*tfgraph.Tensor{InputImages: it})
	if err != nil {
		t.Fatal(err)
	}
	h2 := emb2[OutEmbedding].Value().([][]float32)
	logits2 := res2[OutLogits].Value().([][]float32)
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			want := float64(bias[j])
			for f := range h2[i] {
				want += float64(h2[i][f]) * float64(kern[f][j])
			}
			if math.Abs(want-float64(logits2[i][j])) > 1e-4 {
				t.Errorf("two checkpoints: logit[%d][%d] = %v, want %v", i, j, logits2[i][j], want)
			}
		}
	}

	// A checkpoint without a head is a clear error.
	err = ExportClassifier(cfg, trainCheckpoint(t, cfg, 0), filepath.Join(t.TempDir(), "x"), false, Classifier{})
	if err == nil || !strings.Contains(err.Error(), "classifier/kernel") {
		t.Errorf("exporting a classifier from a pretraining checkpoint: %v", err)
	}
}
