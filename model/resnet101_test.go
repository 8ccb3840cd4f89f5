package model

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestResNet101 checks resnet101 with torchvision's settings (ImageNet stem,
// width 64, RGB) against the independent layout of resnet_test.go, against
// torchvision's published parameter count minus its classifier and its
// GFLOPS figure, and pins the keys of its 23-block third stage.
func TestResNet101(t *testing.T) {
	r := resNetCase{"resnet101", [4]int{3, 4, 23, 3}, true, 2048}
	g, bb := buildBackbone(t, r.arch, "imagenet", 64, 3)
	want := torchvisionVars(r.blocks, r.bottleneck, "imagenet", 64, 3)
	checkVars(t, builtVars(g, ""), want)
	if bb.FeatureDim() != r.features {
		t.Errorf("FeatureDim = %d, want %d", bb.FeatureDim(), r.features)
	}

	// torchvision.models.resnet101(): 44,549,160 parameters, of which the
	// classifier has 2048·1000 + 1000.
	const params = 42_500_160
	if 44_549_160-(r.features*1000+1000) != params {
		t.Fatal("torchvision's count minus the classifier is not 42,500,160")
	}
	if n := trainableParams(want); n != params {
		t.Errorf("torchvisionVars counts %d trainable parameters, want %d", n, params)
	}
	var n int64
	for _, v := range g.Trainable() {
		n += v.NumElements()
	}
	if n != params {
		t.Errorf("%d trainable parameters, want %d", n, params)
	}

	for key, dims := range map[string][]int64{
		"encoder/layer3/0/downsample/conv/kernel": {1, 1, 512, 1024},
		"encoder/layer3/22/conv1/kernel":          {1, 1, 1024, 256},
		"encoder/layer3/22/conv3/kernel":          {1, 1, 256, 1024},
		"encoder/layer3/22/bn3/moving_variance":   {1024},
		"encoder/layer4/2/bn3/gamma":              {2048},
	} {
		if v := g.Variable(key); v == nil || !slices.Equal(v.Dims, dims) {
			t.Errorf("%s: %v, want shape %v", key, v, dims)
		}
	}
	for _, key := range []string{"encoder/layer3/23/conv1/kernel", "encoder/layer4/3/conv1/kernel", "encoder/layer3/1/downsample/conv/kernel"} {
		if g.Variable(key) != nil {
			t.Errorf("%s exists", key)
		}
	}

	// torchvision: 7.80 GFLOPS (multiply-accumulates, classifier included).
	macs := bb.MACs(224)
	if macs != 7_799_357_440 {
		t.Errorf("MACs(224) = %d, want 7,799,357,440", macs)
	}
	if gm := float64(macs+r.features*1000) / 1e9; math.Abs(gm-7.80) > 0.005 {
		t.Errorf("%.3f GMACs with the classifier, torchvision says 7.80", gm)
	}

	x := g.Root().Placeholder("x", tfgraph.Float, []int64{2, 224, 224, 3})
	out := bb.Apply(g.Root().Child("fwd"), x, tfgraph.Training(tfgraph.NewUpdates()))
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	if sh := out.Shape(); sh.NumDimensions() != 2 || sh.Size(0) != 2 || sh.Size(1) != 2048 {
		t.Errorf("features have shape %v, want [2 2048]", sh)
	}
	for stage, side := range []int64{56, 28, 14, 7} {
		scope := fmt.Sprintf("fwd/layer%d/%d/conv3/", stage+1, r.blocks[stage]-1)
		op := convOp(g, scope)
		if op == nil {
			t.Fatalf("no Conv2D op under %s", scope)
		}
		if s := op.Output(0).Shape(); s.Size(1) != side || s.Size(3) != 256<<stage {
			t.Errorf("%s: shape %v, want [2 %d %d %d]", op.Name(), s, side, side, 256<<stage)
		}
	}
}
