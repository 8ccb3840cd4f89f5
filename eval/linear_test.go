package eval

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// checkpointShape reads one tensor's shape from a checkpoint.
func checkpointShape(t *testing.T, prefix, key string) []int32 {
	t.Helper()
	g := tfgraph.NewGraph()
	s := g.Root()
	op := s.Op("RestoreV2", "read", []tfgraph.Input{s.Const("prefix", prefix), s.Const("names", []string{key}),
		s.Const("slices", []string{""})}, map[string]any{"dtypes": []tfgraph.DataType{tfgraph.Float}})
	if op == nil {
		t.Fatal(g.Err())
	}
	shape := s.Shape(op.Output(0))
	sess := testutil.Session(t, g)
	out, err := sess.Run(nil, []tfgraph.Output{shape})
	if err != nil {
		t.Fatalf("reading %s from %s: %v", key, prefix, err)
	}
	return out[0].Value().([]int32)
}

func TestLinearEvalSeparableCachedFeatures(t *testing.T) {
	cfg := tinyConfig(3)
	out := t.TempDir()
	var log bytes.Buffer
	res, err := LinearEvalData(context.Background(), cfg, "", colourSet(1, 96), colourSet(2, 60), out, &log)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("random-init tiny ResNet, cached features: top1 %.3f, last-epoch loss %.4f, %d steps\n%s", res.Top1, res.Loss, res.Steps, log.String())
	if res.Top1 < 0.9 {
		t.Errorf("top1 %.3f on linearly separable colours, want > 0.9", res.Top1)
	}
	if !math.IsNaN(res.Top5) {
		t.Errorf("top5 = %v with 3 classes, want NaN", res.Top5)
	}
	if res.Mode != ModeCached || res.Epochs != 30 || res.Steps != 30*3 || res.Classes != 3 {
		t.Errorf("result %+v", res)
	}
	if want := filepath.Join(runfolder.Dir(out).Linear(), "ckpt-90"); res.Checkpoint != want {
		t.Errorf("checkpoint %q, want %q", res.Checkpoint, want)
	}
	if p, err := ResolveCheckpoint(runfolder.Dir(out).Linear()); err != nil || p != res.Checkpoint {
		t.Errorf("ResolveCheckpoint(out/linear) = %q, %v", p, err)
	}
	if got := checkpointShape(t, res.Checkpoint, "classifier/kernel"); len(got) != 2 || got[0] != 64 || got[1] != 3 {
		t.Errorf("classifier/kernel shape %v, want [64 3]", got)
	}
	if got := checkpointShape(t, res.Checkpoint, "classifier/bias"); len(got) != 1 || got[0] != 3 {
		t.Errorf("classifier/bias shape %v, want [3]", got)
	}
	// The encoder in the classifier checkpoint is the one evaluated.
	e, err := NewEncoder(tinyConfig(99), res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	top1, _, err := e.KNN(context.Background(), colourSet(1, 96), colourSet(2, 60), 10, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kNN on the same features: top1 %.3f", top1)
	if !strings.Contains(log.String(), "linear epoch 30/30") {
		t.Errorf("log lacks the epoch lines:\n%s", log.String())
	}
}

func TestLinearEvalAugmentMode(t *testing.T) {
	cfg := tinyConfig(3)
	cfg.Linear.Augment, cfg.Linear.CachedFeatures = true, false
	cfg.Linear.Epochs = 10
	cfg.Augment.CropScale = []float64{0.5, 1}
	// Colours survive crops and flips, so the classifier trained on
	// augmented batches still separates the unaugmented test images.
	res, err := LinearEvalData(context.Background(), cfg, "", colourSet(1, 96), colourSet(2, 60), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("augment mode, 10 epochs: top1 %.3f loss %.4f", res.Top1, res.Loss)
	if res.Mode != ModeAugment || res.Steps != 10*3 || res.Checkpoint != "" {
		t.Errorf("result %+v", res)
	}
	if res.Top1 < 0.9 {
		t.Errorf("augment mode: top1 %.3f, want > 0.9", res.Top1)
	}
	// One-channel textures through the augment path too (repeated to RGB),
	// 4 classes so top-5 is undefined.
	cfg.Linear.Epochs = 1
	res, err = LinearEvalData(context.Background(), cfg, "", greyOf(greyClasses(1, 32)), greyOf(greyClasses(2, 8)), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(res.Top5) || math.IsNaN(res.Loss) || res.Classes != 4 {
		t.Errorf("result %+v", res)
	}
}

func TestLinearEvalErrors(t *testing.T) {
	ctx := context.Background()
	good := colourSet(1, 12)
	unlabelled := *good
	unlabelled.Labels, unlabelled.NumClasses = nil, 0
	named := *good
	named.ClassNames = []string{"r", "g", "b"}
	renamed := *good
	renamed.ClassNames = []string{"b", "g", "r"}
	both := tinyConfig(1)
	both.Linear.Augment = true
	for _, tc := range []struct {
		name        string
		train, test *data.Images
		cfgMod      func()
		want        string
	}{
		{"empty test", good, good.Subset(0), nil, "test split: no images"},
		{"unlabelled", &unlabelled, good, nil, "has no labels"},
		{"class names", &named, &renamed, nil, "different classes"},
	} {
		_, err := LinearEvalData(ctx, tinyConfig(1), "", tc.train, tc.test, "", nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := LinearEvalData(ctx, both, "", good, good, "", nil); err == nil || !strings.Contains(err.Error(), "linear.augment") {
		t.Errorf("augment with cached features: err = %v", err)
	}
	bad := tinyConfig(1)
	bad.Linear.Epochs = 0
	if _, err := LinearEvalData(ctx, bad, "", good, good, "", nil); err == nil || !strings.Contains(err.Error(), "linear.epochs") {
		t.Errorf("0 epochs: err = %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := LinearEvalData(cancelled, tinyConfig(1), "", good, good, "", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
}

// TestFromDisk runs RunKNN and LinearEval on idx files: grey data read with
// data.Open, repeated to the 3 channels the network takes, a pretraining
// checkpoint from a run directory.
func TestFromDisk(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, dir, "train", greyClasses(1, 80), 80)
	writeIDX(t, dir, "t10k", greyClasses(2, 40), 40)
	run := t.TempDir()
	cfg := tinyConfig(5)
	cfg.Eval.Format, cfg.Eval.Dir, cfg.Eval.TrainSplit, cfg.Eval.TestSplit = "idx", dir, "train", "test"
	cfg.Eval.LimitTrain, cfg.Eval.LimitTest = 60, 0
	saveTrainingLikeCheckpoint(t, cfg, filepath.Join(runfolder.Dir(run).Checkpoints(), "ckpt-3"))

	top1, top5, err := RunKNN(context.Background(), cfg, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kNN on textures (random-init tiny ResNet): top1 %.3f top5 %v", top1, top5)
	if top1 < 0.5 {
		t.Errorf("kNN top1 %.3f on 4 easy classes", top1)
	}
	trainSet, testSet, err := OpenEvalData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if trainSet.N != 60 || testSet.N != 40 || trainSet.C != 3 {
		t.Errorf("eval data: train %v, test %v", trainSet, testSet)
	}
	px, _, err := KNN(context.Background(), PixelFeatures(trainSet), trainSet.Labels, 8*8*3, PixelFeatures(testSet), testSet.Labels, 4, 10, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("raw-pixel kNN: top1 %.3f", px)

	cfg.Linear.Epochs = 5
	res, err := LinearEval(context.Background(), cfg, run, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("linear eval from disk: %+v", *res)

	// The raw-pixel baseline trains the same classifier on pixels: the four
	// grey-level classes are linearly separable in pixel space.
	pres, err := LinearEvalPixels(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pres.Top1 < 0.9 || pres.Checkpoint != "" {
		t.Errorf("raw-pixel linear eval: %+v", *pres)
	}

	// A label file that does not match the images is the reader's error.
	bad := t.TempDir()
	writeIDX(t, bad, "train", greyClasses(1, 20), 19)
	writeIDX(t, bad, "t10k", greyClasses(2, 20), 20)
	cfg.Eval.Dir = bad
	if _, _, err := RunKNN(context.Background(), cfg, "", nil); err == nil || !strings.Contains(err.Error(), "labels") {
		t.Errorf("label count mismatch: err = %v", err)
	}
	cfg.Eval.Dir = filepath.Join(dir, "nowhere")
	if _, err := LinearEval(context.Background(), cfg, "", "", nil); err == nil {
		t.Error("missing data: no error")
	}
}

func TestFoldMatchesStandardisedClassifier(t *testing.T) {
	cfg := tinyConfig(1)
	lg, err := buildLinear(cfg, 5, ModeCached, 0)
	if err != nil {
		t.Fatal(err)
	}
	sess := testutil.Session(t, lg.g, lg.init)
	r := rand.New(rand.NewPCG(5, 6))
	const n, d = 7, 64
	feats := randFeatures(r, n, d)
	for i := range feats {
		feats[i] = feats[i]*3 + 1
	}
	mean, inv := featureStats(feats, d)
	if err := lg.setStats(sess, mean, inv); err != nil {
		t.Fatal(err)
	}
	// A trained-looking classifier: random kernel and bias.
	kt, _ := floatTensor(randFeatures(r, d, 5), d, 5)
	bt, _ := tfgraph.NewTensor(randFeatures(r, 1, 5))
	if _, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{lg.kernelIn: kt, lg.biasIn: bt}, nil, lg.foldOp); err != nil {
		t.Fatal(err)
	}
	ft, _ := floatTensor(feats, n, d)
	logits := func(o tfgraph.Output) []float32 {
		out, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{lg.feats: ft}, []tfgraph.Output{o})
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, n*5)
		if err := rows(out[0], v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	want := logits(lg.logits)
	if err := lg.fold(sess, mean, inv); err != nil {
		t.Fatal(err)
	}
	got := logits(lg.rawLogits)
	if d := maxDiff(got, want); d > 1e-4 {
		t.Errorf("folded classifier on raw features differs from the standardised one by %g", d)
	}
	// The statistics standardise: mean 0, std 1 per dimension.
	var m0, s0 float64
	for i := 0; i < n; i++ {
		x := float64((feats[i*d] - mean[0]) * inv[0])
		m0 += x / n
		s0 += x * x / n
	}
	if math.Abs(m0) > 1e-5 || math.Abs(s0-1) > 1e-4 {
		t.Errorf("standardised dimension 0: mean %g, mean square %g", m0, s0)
	}
}

func TestSpread(t *testing.T) {
	ds := greyClasses(1, 12)
	if same, err := spread(ds, 20); err != nil || same != ds {
		t.Errorf("spread of a small set should be the set (err %v)", err)
	}
	sub, err := spread(ds, 4) // images 0, 3, 6, 9
	if err != nil {
		t.Fatal(err)
	}
	if sub.N != 4 || len(sub.Pix) != 4*ds.ImageSize() || sub.Labels[1] != ds.Labels[3] {
		t.Fatalf("spread: %v labels %v", sub, sub.Labels)
	}
	if !bytes.Equal(sub.Pix[2*ds.ImageSize():3*ds.ImageSize()], ds.Pix[6*ds.ImageSize():7*ds.ImageSize()]) {
		t.Error("spread image 2 is not image 6")
	}
}

// Features extracted once and handed to LinearEvalFeatures train the same
// classifier as a cached-mode LinearEvalData that extracts them itself.
func TestLinearEvalFeaturesEqualsCachedEval(t *testing.T) {
	cfg := tinyConfig(3)
	cfg.Linear.Epochs = 5
	trainSet, testSet := colourSet(1, 96), colourSet(2, 60)
	want, err := LinearEvalData(context.Background(), cfg, "", trainSet, testSet, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEncoder(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tf, err := e.Features(trainSet, FeatureBatch)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := e.Features(testSet, FeatureBatch)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	got, err := LinearEvalFeatures(context.Background(), cfg, "precomputed", trainSet, tf, testSet, sf, e.Dim, &log)
	if err != nil {
		t.Fatal(err)
	}
	if got.Top1 != want.Top1 || got.Loss != want.Loss || got.Steps != want.Steps {
		t.Errorf("LinearEvalFeatures top1 %v loss %v steps %d, LinearEvalData top1 %v loss %v steps %d",
			got.Top1, got.Loss, got.Steps, want.Top1, want.Loss, want.Steps)
	}
	if !strings.Contains(log.String(), "from precomputed") {
		t.Errorf("log does not name the features' source:\n%s", log.String())
	}
	for _, tc := range []struct {
		name      string
		tr, te    []float32
		d         int
		wantError string
	}{
		{"short train", tf[:len(tf)-1], sf, e.Dim, "train feature values"},
		{"short test", tf, sf[:e.Dim], e.Dim, "test feature values"},
		{"zero dimension", tf, sf, 0, "dimension 0"},
	} {
		_, err := LinearEvalFeatures(context.Background(), cfg, "x", trainSet, tc.tr, testSet, tc.te, tc.d, nil)
		if err == nil || !strings.Contains(err.Error(), tc.wantError) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantError)
		}
	}
}

// The feeder collects garbage after FeedCollectBytes of fed features, so
// the C buffers of fed tensors (freed by finalizers) cannot pile up over a
// long feature-fed loop whose Go heap stays small.
func TestFeederCollectsFedTensors(t *testing.T) {
	const d, n = 1024, 64 // 256 KB a batch
	f := &feeder{lg: &linearGraph{}, mode: ModeCached, ds: colourSet(1, n), feats: make([]float32, n*d), d: d}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	batches := FeedCollectBytes / (4 * n * d)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.NumGC
	for i := 0; i < batches-1; i++ {
		if _, err := f.feeds(idx, int64(i), 0.1); err != nil {
			t.Fatal(err)
		}
	}
	if f.unfreed != (batches-1)*4*n*d {
		t.Fatalf("unfreed %d after %d batches", f.unfreed, batches-1)
	}
	if _, err := f.feeds(idx, 0, 0.1); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms)
	if f.unfreed != 0 || ms.NumGC == before {
		t.Errorf("after %d bytes: unfreed %d, %d collections; want a collection and the count reset", FeedCollectBytes, f.unfreed, ms.NumGC-before)
	}
}
