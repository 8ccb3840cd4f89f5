package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// tinyConfig is a ResNet-18 CIFAR-stem SimSiam small enough for unit tests.
func tinyConfig() *configs.Config {
	c := configs.Default()
	c.Data.ImageSize, c.Data.Channels = 16, 3
	c.Model.Arch, c.Model.Stem, c.Model.Width = "resnet18", "cifar", 4
	c.Model.ProjDim, c.Model.ProjHidden, c.Model.PredHidden = 16, 16, 8
	c.Optim.BatchSize = 8
	return &c
}

func randomBatch(r *rand.Rand, n, size, ch int) [][][][]float32 {
	b := make([][][][]float32, n)
	for i := range b {
		b[i] = make([][][]float32, size)
		for y := range b[i] {
			b[i][y] = make([][]float32, size)
			for x := range b[i][y] {
				b[i][y][x] = make([]float32, ch)
				for c := range b[i][y][x] {
					b[i][y][x][c] = float32(r.NormFloat64())
				}
			}
		}
	}
	return b
}

func TestStepRunsAndCounts(t *testing.T) {
	cfg := tinyConfig()
	st, err := BuildStep(cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"encoder/conv1/kernel", "encoder/layer1/0/bn1/gamma", "encoder/layer2/0/downsample/conv/kernel",
		"projector/fc1/kernel", "projector/bn3/moving_mean", "predictor/fc2/bias", "global_step"} {
		if st.Graph.Variable(name) == nil {
			t.Errorf("no variable %q", name)
		}
	}
	if st.Graph.Variable("projector/bn3/gamma") != nil {
		t.Error("last projector BN must have no affine parameters")
	}
	sess, err := NewSession(st, tfgraph.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3; i++ {
		a, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
		b, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
		stats, err := sess.TrainStep(map[Output]*tfgraph.Tensor{st.X1: a, st.X2: b})
		if err != nil {
			t.Fatal(err)
		}
		if stats.Step != int64(i) {
			t.Errorf("step %d reported as %d", i, stats.Step)
		}
		if stats.Loss < -1 || stats.Loss > 1 {
			t.Errorf("loss %v outside [-1, 1]", stats.Loss)
		}
		t.Logf("%+v", stats)
	}
}

func TestNaNLossIsAnError(t *testing.T) {
	cfg := tinyConfig()
	st, err := BuildStep(cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := NewSession(st, tfgraph.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	r := rand.New(rand.NewPCG(1, 2))
	bad := randomBatch(r, 8, 16, 3)
	bad[0][0][0][0] = float32(math.NaN())
	a, _ := tfgraph.NewTensor(bad)
	b, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
	_, err = sess.TrainStep(map[Output]*tfgraph.Tensor{st.X1: a, st.X2: b})
	if err == nil || !strings.Contains(err.Error(), "step 1: loss is NaN") {
		t.Fatalf("NaN input: err = %v", err)
	}
}
