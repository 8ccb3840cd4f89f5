package eval

import (
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// tinyConfig is a ResNet-18 of width 8 with the CIFAR stem on 8x8 RGB
// images: 64-d features, fast on two cores.
func tinyConfig(seed int64) *configs.Config {
	c := configs.Default()
	c.Seed = seed
	c.Data.ImageSize, c.Data.Channels = 8, 3
	c.Data.Mean, c.Data.Std = []float64{0.5, 0.5, 0.5}, []float64{0.25, 0.25, 0.25}
	c.Model.Arch, c.Model.Stem, c.Model.Width = "resnet18", "cifar", 8
	c.Model.ProjDim, c.Model.ProjHidden, c.Model.PredHidden = 16, 16, 8
	c.Train.KNNK, c.Train.KNNTemperature = 10, 0.1
	c.Linear.Epochs, c.Linear.BatchSize, c.Linear.BaseLR = 30, 32, 0.1
	c.Linear.Augment, c.Linear.CachedFeatures = false, true
	c.Runtime.IntraOpThreads, c.Runtime.InterOpThreads = 2, 2
	return &c
}

// colourSet makes n noisy 8x8 RGB images of 3 classes: class c has channel
// c bright and the others dark, every pixel jittered by up to ±40.
func colourSet(seed uint64, n int) *data.Images {
	r := rand.New(rand.NewPCG(seed, 99))
	const h, w, ch = 8, 8, 3
	ds := &data.Images{N: n, H: h, W: w, C: ch, Pix: make([]byte, n*h*w*ch), Labels: make([]int32, n), NumClasses: 3,
		Source: "synthetic colours"}
	for i := 0; i < n; i++ {
		c := i % 3
		ds.Labels[i] = int32(c)
		img := ds.Pix[i*h*w*ch : (i+1)*h*w*ch]
		for p := 0; p < h*w; p++ {
			for k := 0; k < ch; k++ {
				v := 60
				if k == c {
					v = 190
				}
				img[p*ch+k] = byte(v + r.IntN(81) - 40)
			}
		}
	}
	return ds
}

// saveTrainingLikeCheckpoint writes what a pretraining checkpoint holds
// (encoder, projector, predictor and a global step) for cfg's network.
func saveTrainingLikeCheckpoint(t *testing.T, cfg *configs.Config, prefix string) {
	t.Helper()
	g := tfgraph.NewGraph()
	if _, err := model.New(g, cfg.Model, int64(cfg.Data.Channels), cfg.Seed); err != nil {
		t.Fatal(err)
	}
	g.Root().Var("global_step", nil, tfgraph.Fill(42), 0, tfgraph.NonTrainable(), tfgraph.WithDType(tfgraph.Int64))
	testutil.SaveCheckpoint(t, g, g.Variables(), prefix)
}

// writeIDX writes a grey 8x8 labelled set in idx format under dir as the
// train or t10k split; nLabels lets a test write a mismatching label file.
func writeIDX(t *testing.T, dir, split string, imgs *data.Images, nLabels int) {
	t.Helper()
	// Grey: the mean of the three channels.
	grey := make([]byte, imgs.N*imgs.H*imgs.W)
	for i := range grey {
		p := imgs.Pix[3*i : 3*i+3]
		grey[i] = byte((int(p[0]) + int(p[1]) + int(p[2])) / 3)
	}
	labels := make([]byte, nLabels)
	for i := range labels {
		labels[i] = byte(imgs.Labels[i%imgs.N])
	}
	testutil.WriteIDX(t, dir, split, imgs.N, imgs.H, imgs.W, grey, labels)
}

// greyClasses makes grey images (stored as RGB with equal channels) of 4
// texture classes that survive global average pooling: flat dark, flat
// bright, horizontal stripes and a checkerboard, with pixel noise of ±20.
func greyClasses(seed uint64, n int) *data.Images {
	r := rand.New(rand.NewPCG(seed, 7))
	const h, w = 8, 8
	ds := &data.Images{N: n, H: h, W: w, C: 3, Pix: make([]byte, n*h*w*3), Labels: make([]int32, n), NumClasses: 4, Source: "synthetic textures"}
	for i := 0; i < n; i++ {
		c := i % 4
		ds.Labels[i] = int32(c)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var v int
				switch c {
				case 0:
					v = 60
				case 1:
					v = 190
				case 2:
					v = 30 + 190*(y%2)
				case 3:
					v = 30 + 190*((x+y)%2)
				}
				v += r.IntN(41) - 20
				o := ((i*h+y)*w + x) * 3
				ds.Pix[o], ds.Pix[o+1], ds.Pix[o+2] = byte(v), byte(v), byte(v)
			}
		}
	}
	return ds
}

// greyOf keeps the first channel of an RGB set with equal channels.
func greyOf(rgb *data.Images) *data.Images {
	g := *rgb
	g.C = 1
	g.Pix = make([]byte, rgb.N*rgb.H*rgb.W)
	for i := range g.Pix {
		g.Pix[i] = rgb.Pix[3*i]
	}
	return &g
}
