package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestMethodSteps runs three training steps of every method on random
// views: the loss is finite and the weights move, the method's metrics
// include z_std, and only SimSiam and BYOL have predictor variables.
func TestMethodSteps(t *testing.T) {
	for _, name := range model.MethodNames() {
		t.Run(name, func(t *testing.T) {
			cfg := tinyConfig()
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

// TestGlobalBatchMethodsRefuseWorkers checks that a method whose loss
// needs the global batch is refused with several workers, naming the
// method and saying why.
func TestGlobalBatchMethodsRefuseWorkers(t *testing.T) {
	var checked int
	for _, name := range model.MethodNames() {
		cfg := tinyConfig()
		cfg.Method.Name = name
		g := tfgraph.NewGraph()
		m, err := model.NewMethod(name, g, cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		_, global := m.(model.GlobalBatchMethod)
		if !global {
			continue
		}
		checked++
		_, err = BuildStep(cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10, Replicas: &Replicas{Tasks: make([]tfgraph.TaskAddr, 2)}})
		if err == nil || !strings.Contains(err.Error(), "method.name "+name+" with 2 workers") {
			t.Errorf("%s with 2 workers: err = %v", name, err)
		}
	}
	if checked == 0 {
		t.Error("no method needs the global batch (simclr does)")
	}
}
