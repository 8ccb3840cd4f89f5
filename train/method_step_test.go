package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestMethodSteps runs three training steps of every method on random
// views: the loss is finite and the weights move, the method's metrics
// include z_std, and only SimSiam and BYOL have predictor variables.
func TestMethodSteps(t *testing.T) {
	for _, name := range model.MethodNames() {
		t.Run(name, func(t *testing.T) {
			cfg := testutil.TinyConfig()
			cfg.Method.Name = name
			st, err := BuildStep(cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10})
			if err != nil {
				t.Fatal(err)
			}
			if st.Method.Name() != name {
				t.Errorf("step trains %s", st.Method.Name())
			}
			hasPred := st.Graph.Variable("predictor/fc1/kernel") != nil
			if hasPred != (name == "simsiam" || name == "byol") {
				t.Errorf("predictor variables: %v", hasPred)
			}
			sess, err := NewSession(st, tfgraph.SessionOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			kernel := st.Graph.Variable("projector/fc1/kernel")
			before, err := sess.Run(nil, []Output{kernel.Read()})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 3; i++ {
				a, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
				b, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
				stats, err := sess.TrainStep(map[Output]*tfgraph.Tensor{st.X1: a, st.X2: b})
				if err != nil {
					t.Fatal(err)
				}
				if math.IsNaN(float64(stats.Loss)) || math.IsInf(float64(stats.Loss), 0) || stats.ZStd <= 0 {
					t.Errorf("step %d: %+v", i, stats)
				}
			}
			after, err := sess.Run(nil, []Output{kernel.Read()})
			if err != nil {
				t.Fatal(err)
			}
			var moved float64
			for i, row := range after[0].Value().([][]float32) {
				for j, v := range row {
					moved += math.Abs(float64(v - before[0].Value().([][]float32)[i][j]))
				}
			}
			if moved == 0 {
				t.Error("projector/fc1/kernel did not move")
			}
		})
	}
}

// TestMethodWorkersMatchOneProcess: SimCLR and Barlow Twins with two
// workers on batch B/2 each (and model.sync_bn, so the network's BatchNorm
// is global too) train like one process on batch B: their losses are over
// the global batch (SimCLR's negatives gathered from every worker, Barlow
// Twins' batch statistics and cross-correlation all-reduced), the same for
// 5 steps, and the parameters after them agree (rel 1e-4); the two workers
// hold bit-identical weights.
func TestMethodWorkersMatchOneProcess(t *testing.T) {
	for _, tc := range []struct {
		method string
		lr     float64
	}{
		{"simclr", 0.05},
		{"barlow_twins", 0.05}, // the loss is a sum over proj_dim^2 entries
	} {
		t.Run(tc.method, func(t *testing.T) {
			cfg := testutil.TinyConfig()
			cfg.Method.Name = tc.method
			cfg.Model.SyncBN = true
			cfg.Optim.BaseLR = tc.lr
			workersMatchOneProcess(t, cfg, 13, 14)
		})
	}
}
