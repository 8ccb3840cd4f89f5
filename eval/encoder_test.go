package eval

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

func features(t *testing.T, cfg func() *Encoder) []float32 {
	t.Helper()
	e := cfg()
	defer e.Close()
	f, err := e.Features(colourSet(1, 10), 4) // 3 batches, the last one short
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func maxDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

func TestEncoderRestoresOnlyTheEncoder(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(runfolder.Dir(dir).Checkpoints(), "ckpt-7")
	saveTrainingLikeCheckpoint(t, tinyConfig(11), prefix)

	mk := func(seed int64, ckpt string) func() *Encoder {
		return func() *Encoder {
			e, err := NewEncoder(tinyConfig(seed), ckpt)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
	}
	trained := features(t, mk(11, "")) // the weights the checkpoint holds
	random := features(t, mk(22, ""))  // another random init
	restored := features(t, mk(22, prefix))
	if len(restored) != 10*64 {
		t.Fatalf("%d feature values, want 10 x 64", len(restored))
	}
	if d := maxDiff(restored, trained); d > 1e-6 {
		t.Errorf("restored features differ from the checkpoint's network by %g", d)
	}
	if d := maxDiff(random, trained); d < 1e-3 {
		t.Errorf("two random inits give the same features (max diff %g): the test proves nothing", d)
	}
	// A run directory resolves to its newest checkpoint.
	if p, err := ResolveCheckpoint(dir); err != nil || p != prefix {
		t.Errorf("ResolveCheckpoint(%s) = %q, %v; want %s", dir, p, err, prefix)
	}
	fromDir := features(t, mk(22, dir))
	if d := maxDiff(fromDir, trained); d > 1e-6 {
		t.Errorf("features from the run directory differ by %g", d)
	}
}

func TestEncoderCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	v, _ := tfgraph.NewTensor([]float32{1, 2, 3})
	if err := tfgraph.WriteTensors(other, map[string]*tfgraph.Tensor{"classifier/bias": v}); err != nil {
		t.Fatal(err)
	}
	wide := filepath.Join(dir, "wide")
	cw := tinyConfig(1)
	cw.Model.Width = 16
	saveTrainingLikeCheckpoint(t, cw, wide)
	deeper := filepath.Join(dir, "deeper")
	cd := tinyConfig(1)
	cd.Model.Arch = "resnet34" // every resnet18 variable is in it with its shape
	saveTrainingLikeCheckpoint(t, cd, deeper)
	bottleneck := filepath.Join(dir, "bottleneck")
	cb := tinyConfig(1)
	cb.Model.Arch = "resnet50"
	saveTrainingLikeCheckpoint(t, cb, bottleneck)
	empty := filepath.Join(dir, "emptydir")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ ckpt, want string }{
		{other, "encoder/: the checkpoint holds no variables under it"},
		{wide, "encoder/conv1/kernel: checkpoint has [3 3 3 16], model wants [3 3 3 8]"},
		// resnet34 has 8 blocks more than resnet18, of 10 variables each.
		{deeper, "encoder/: the checkpoint holds 80 variables the model does not have, first encoder/layer1/2/bn1/beta"},
		{bottleneck, "model wants"},
		{filepath.Join(dir, "missing"), "no missing.index"},
		{empty, "without ckpt-STEP.index"},
	} {
		e, err := NewEncoder(tinyConfig(1), tc.ckpt)
		if err == nil {
			e.Close()
			t.Errorf("%s: no error", tc.ckpt)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v\nwant it to contain %q", tc.ckpt, err, tc.want)
		}
	}
}

// TestEncoderNamesTheFirstExtraBlock restores a resnet101 checkpoint into a
// resnet50: the error names the first block resnet50 lacks (layer3/6, not
// layer3/10 as a plain string sort would) and counts the 17 extra blocks of
// 15 variables.
func TestEncoderNamesTheFirstExtraBlock(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "ckpt-1")
	c101 := tinyConfig(1)
	c101.Model.Arch = "resnet101"
	saveTrainingLikeCheckpoint(t, c101, prefix)
	c50 := tinyConfig(1)
	c50.Model.Arch = "resnet50"
	e, err := NewEncoder(c50, prefix)
	if err == nil {
		e.Close()
		t.Fatal("a resnet101 checkpoint restored into a resnet50")
	}
	if want := "encoder/: the checkpoint holds 255 variables the model does not have, first encoder/layer3/6/bn1/beta"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v\nwant it to contain %q", err, want)
	}
}

func TestEncoderFeaturesErrorsAndGrey(t *testing.T) {
	e, err := NewEncoder(tinyConfig(1), "")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Features(nil, 4); err == nil {
		t.Error("nil images: no error")
	}
	if _, err := e.Features(colourSet(1, 3), 0); err == nil {
		t.Error("batch 0: no error")
	}
	// Grey input is repeated to RGB: same features as the RGB copy.
	rgb := greyClasses(3, 4)
	grey := greyOf(rgb)
	a, err := e.Features(rgb, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Features(grey, 3)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(a, b); d > 1e-6 {
		t.Errorf("grey vs RGB features differ by %g", d)
	}
}
