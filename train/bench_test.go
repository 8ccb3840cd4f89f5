package train

import (
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
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
