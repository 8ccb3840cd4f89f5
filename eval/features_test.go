package eval

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"
)

// TestKNNEvalSources: the one extractor gives the pixel rows for the
// pixel baseline and the restored encoder's rows for a checkpoint, and
// KNNEval scores every k from them as KNNMulti does.
func TestKNNEvalSources(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeIDX(t, dir, "train", greyClasses(1, 60), 60)
	writeIDX(t, dir, "t10k", greyClasses(2, 30), 30)
	cfg := tinyConfig(5)
	cfg.Eval.Format, cfg.Eval.Dir, cfg.Eval.TrainSplit, cfg.Eval.TestSplit = "idx", dir, "train", "test"
	// The checkpoint holds another seed's initialisation: its features
	// differ from the random-init baseline's.
	ckpt := filepath.Join(t.TempDir(), "ckpt-3")
	other := *cfg
	other.Seed = cfg.Seed + 1
	saveTrainingLikeCheckpoint(t, &other, ckpt)
	bank, test, err := OpenEvalData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ks := []int{1, 10}

	px, err := ExtractFeatures(ctx, cfg, Source{Pixels: true, Checkpoint: ckpt}, bank, test, nil)
	if err != nil {
		t.Fatal(err)
	}
	if px.Dim != bank.ImageSize() || !slices.Equal(px.Bank, PixelFeatures(bank)) || !slices.Equal(px.Test, PixelFeatures(test)) {
		t.Errorf("pixel features: dim %d (want %d), rows differ from PixelFeatures", px.Dim, bank.ImageSize())
	}
	want, err := KNNMulti(ctx, px.Bank, bank.Labels, px.Dim, px.Test, test.Labels, 4, ks, cfg.Train.KNNTemperature)
	if err != nil {
		t.Fatal(err)
	}
	got, err := KNNEval(ctx, cfg, Source{Pixels: true}, ks, nil)
	if err != nil || !slices.EqualFunc(got, want, sameScore) {
		t.Errorf("KNNEval pixels = %+v, %v; want %+v", got, err, want)
	}

	enc, err := NewEncoder(cfg, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	bf, err := enc.Features(bank, FeatureBatch)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ExtractFeatures(ctx, cfg, Source{Checkpoint: ckpt}, bank, test, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Dim != enc.Dim || !slices.Equal(f.Bank, bf) || len(f.Test) != test.N*enc.Dim {
		t.Errorf("encoder features: dim %d (want %d), bank rows equal %v, %d test values", f.Dim, enc.Dim, slices.Equal(f.Bank, bf), len(f.Test))
	}
	random, err := ExtractFeatures(ctx, cfg, Source{}, bank, test, nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(random.Bank, f.Bank) {
		t.Error("random-init features equal the checkpoint's: the checkpoint was not restored")
	}
	scores, err := KNNEval(ctx, cfg, Source{Checkpoint: ckpt}, []int{cfg.Train.KNNK}, nil)
	if err != nil {
		t.Fatal(err)
	}
	top1, top5, err := enc.KNN(ctx, bank, test, cfg.Train.KNNK, cfg.Train.KNNTemperature)
	if err != nil || !sameScore(scores[0], KNNScore{K: cfg.Train.KNNK, Top1: top1, Top5: top5}) {
		t.Errorf("KNNEval %+v, Encoder.KNN %v %v %v", scores[0], top1, top5, err)
	}
}

// sameScore compares scores with NaN (no top-5) equal to NaN.
func sameScore(a, b KNNScore) bool {
	same := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	return a.K == b.K && same(a.Top1, b.Top1) && same(a.Top5, b.Top5)
}
