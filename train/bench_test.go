package train

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/augment"
	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// BenchmarkStepResNet18CIFAR measures the graph-only train step (views fed
// from memory) for the paper's CIFAR network: ResNet-18, CIFAR stem, width
// 64, projector 2048 (3 layers), predictor 512, 32x32 inputs, batch 64.
func BenchmarkStepResNet18CIFAR(b *testing.B) {
	c := configs.Default()
	c.Data.ImageSize, c.Data.Channels = 32, 3
	c.Model.Arch, c.Model.Stem, c.Model.Width = "resnet18", "cifar", 64
	c.Model.ProjDim, c.Model.ProjHidden, c.Model.PredHidden = 2048, 2048, 512
	c.Optim.BatchSize = 64
	st, err := BuildStep(&c, StepOptions{StepsPerEpoch: 1000, TotalSteps: 1000})
	if err != nil {
		b.Fatal(err)
	}
	sess, err := NewSession(st, tfgraph.SessionOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	r := rand.New(rand.NewPCG(1, 1))
	x1, _ := tfgraph.NewTensor(randomBatch(r, 64, 32, 3))
	x2, _ := tfgraph.NewTensor(randomBatch(r, 64, 32, 3))
	feeds := map[Output]*tfgraph.Tensor{st.X1: x1, st.X2: x2}
	if _, err := sess.TrainStep(feeds); err != nil { // warm-up
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := sess.TrainStep(feeds); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkInputPipeline measures the input side alone for the CIFAR
// recipe: batches of 512 32x32x3 uint8 images assembled by the prefetching
// goroutine from an in-memory set, then both augmented views built in the
// graph (crop, jitter, grey, flip, normalise), as the training step gets
// them. Compare its images/s with BenchmarkStepResNet18CIFAR's.
func BenchmarkInputPipeline(b *testing.B) {
	c := configs.Default()
	c.Data.ImageSize, c.Data.Channels = 32, 3
	c.Augment.BlurProb = 0
	const n, batch = 4096, 512
	r := rand.New(rand.NewPCG(2, 2))
	pix := make([]byte, n*32*32*3)
	for i := range pix {
		pix[i] = byte(r.IntN(256))
	}
	ds := &data.Images{N: n, H: 32, W: 32, C: 3, Pix: pix, Source: "synthetic"}
	bt, err := data.NewBatcher(n, batch, 1, true)
	if err != nil {
		b.Fatal(err)
	}
	g := tfgraph.NewGraph()
	s := g.Root().Child("input")
	images := s.Placeholder("images", tfgraph.Uint8, []int64{-1, 32, 32, 3})
	seed := s.Placeholder("seed", tfgraph.Int64, []int64{2})
	v1, v2 := augment.Views(s, images, seed, c.Augment, c.Data)
	sess, err := tfgraph.NewSession(g, tfgraph.SessionOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	pf, err := data.NewPrefetcher(context.Background(), ds, bt, data.PrefetchOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer pf.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bb, err := pf.Next()
		if err != nil {
			b.Fatal(err)
		}
		t, _ := tfgraph.NewTensor(bb.Pix)
		if err := t.Reshape([]int64{batch, 32, 32, 3}); err != nil {
			b.Fatal(err)
		}
		st, _ := tfgraph.NewTensor(augment.StepSeed(1, int64(i)))
		if _, err := sess.Run(map[Output]*tfgraph.Tensor{images: t, seed: st}, []Output{v1, v2}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
}
