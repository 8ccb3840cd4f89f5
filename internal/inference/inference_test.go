package inference

import (
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestFeatures: images of any size become [N, FeatureDim] features, the
// preprocessing under the pre scope and the backbone under fwd/encoder,
// and two graphs built alike from the same seed give the same features.
func TestFeatures(t *testing.T) {
	cfg := configs.Default()
	cfg.Data.ImageSize, cfg.Data.Channels = 8, 1
	cfg.Data.Mean, cfg.Data.Std = []float64{0.5}, []float64{0.25}
	cfg.Model.Arch, cfg.Model.Stem, cfg.Model.Width = "resnet18", "cifar", 4
	run := func() ([][]float32, []tfgraph.Node) {
		g := tfgraph.NewGraph()
		bb, err := model.NewBackbone(g.Root().Child(model.EncoderScope), model.BackboneConfig{Model: cfg.Model, InChannels: 1, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		images := g.Root().Placeholder("images", tfgraph.Uint8, []int64{-1, -1, -1, 1})
		out := Features(g.Root().Child("preprocess"), g.Root().Child("inference"), bb, images, cfg.Data)
		init := g.InitOp("init")
		if err := g.Err(); err != nil {
			t.Fatal(err)
		}
		sess := testutil.Session(t, g, init)
		pix := make([]byte, 2*12*10)
		for i := range pix {
			pix[i] = byte(i * 7)
		}
		in, err := tfgraph.NewTensor(pix)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Reshape([]int64{2, 12, 10, 1}); err != nil {
			t.Fatal(err)
		}
		res, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{images: in}, []tfgraph.Output{out})
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := g.Nodes()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(res[0].Value().([][]float32)[0])) != bb.FeatureDim() {
			t.Errorf("feature width %d, want %d", len(res[0].Value().([][]float32)[0]), bb.FeatureDim())
		}
		return res[0].Value().([][]float32), nodes
	}
	a, nodes := run()
	b, _ := run()
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("got %d and %d rows, want 2", len(a), len(b))
	}
	for i := range a {
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				t.Fatalf("feature [%d][%d]: %v vs %v between two identical graphs", i, j, a[i][j], b[i][j])
			}
		}
	}
	var pre, enc bool
	for _, n := range nodes {
		pre = pre || strings.HasPrefix(n.Name, "preprocess/")
		enc = enc || strings.HasPrefix(n.Name, "inference/encoder/")
	}
	if !pre || !enc {
		t.Errorf("ops under preprocess/ %v, under inference/encoder/ %v; want both", pre, enc)
	}
}
