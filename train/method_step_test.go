package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
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
			workersMatchOneProcess(t, cfg)
		})
	}
}

func workersMatchOneProcess(t *testing.T, cfg *configs.Config) {
	const steps = 5
	r := rand.New(rand.NewPCG(13, 14))
	h := [2][][][][]float32{randomBatch(r, 4, 16, 3), randomBatch(r, 4, 16, 3)}
	g := [2][][][][]float32{randomBatch(r, 4, 16, 3), randomBatch(r, 4, 16, 3)}
	all1, _ := tfgraph.NewTensor(append(append([][][][]float32{}, h[0]...), h[1]...))
	all2, _ := tfgraph.NewTensor(append(append([][][][]float32{}, g[0]...), g[1]...))

	one, err := BuildStep(cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := NewSession(one, tfgraph.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	var want []float32
	for range steps {
		st, err := s1.TrainStep(map[Output]*tfgraph.Tensor{one.X1: all1, one.X2: all2})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, st.Loss)
	}
	wantVars := floats(t, s1, one)

	rs := newReplicaSet(t, 2, func(r *Replicas) (*Step, error) {
		return BuildStep(cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10, Replicas: r})
	}, 60)
	rs.each(t, func(i int) error { _, err := rs.sess[i].Run(nil, nil, rs.steps[i].Sync); return err })
	got := make([][]float32, 2)
	for range steps {
		rs.each(t, func(i int) error {
			a, _ := tfgraph.NewTensor(h[i])
			b, _ := tfgraph.NewTensor(g[i])
			st, err := rs.sess[i].TrainStep(map[Output]*tfgraph.Tensor{rs.steps[i].X1: a, rs.steps[i].X2: b})
			got[i] = append(got[i], st.Loss)
			return err
		})
	}
	for s := range steps {
		for w := range 2 {
			if d := math.Abs(float64(got[w][s] - want[s])); d > 1e-4*math.Abs(float64(want[s])) {
				t.Errorf("step %d worker %d: loss %v, one process %v", s+1, w, got[w][s], want[s])
			}
		}
	}
	v0, v1 := floats(t, rs.sess[0], rs.steps[0]), floats(t, rs.sess[1], rs.steps[1])
	worst, worstKey := 0.0, ""
	for k, w := range wantVars {
		if !bitsEqual(v0[k], v1[k]) {
			t.Errorf("after %d steps %s differs between the workers", steps, k)
		}
		d := relDiff(v0[k], w)
		if d > 1e-4 {
			t.Errorf("%s after %d steps: rel diff %.2g to one process", k, steps, d)
		}
		if d > worst {
			worst, worstKey = d, k
		}
	}
	t.Logf("losses: one process %v, workers %v; largest rel diff %.2g (%s) over %d variables", want, got[0], worst, worstKey, len(wantVars))
}
