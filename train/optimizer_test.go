package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestLARSStep: with optim.name lars, the first training step moves a
// convolution kernel by lr * eta*||w||/||g + wd*w|| * (g + wd*w) and a
// BatchNorm gamma and the predictor's bias by lr * g (excluded: no ratio,
// no weight decay), computed here from the step's own gradients and the
// weights before it; sgd builds no trust ratio.
func TestLARSStep(t *testing.T) {
	cfg := testutil.TinyConfig()
	cfg.Optim.Name, cfg.Optim.WeightDecay, cfg.Optim.LARSEta = "lars", 1e-3, 0.001
	st, sess := newStep(t, cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10})
	r := rand.New(rand.NewPCG(1, 2))
	a, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
	b, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
	feeds := map[Output]*tfgraph.Tensor{st.X1: a, st.X2: b}
	keys := []string{"encoder/conv1/kernel", "encoder/bn1/gamma", "predictor/fc2/bias"}
	var fetch []Output
	idx := map[string]int{}
	for i, v := range st.Trainable {
		for _, k := range keys {
			if v.Key == k {
				idx[k] = len(fetch)
				fetch = append(fetch, v.Read(), st.Grads[i])
			}
		}
	}
	if len(idx) != len(keys) {
		t.Fatalf("found %d of the variables %v", len(idx), keys)
	}
	fetch = append(fetch, st.LR)
	before, err := sess.Run(feeds, fetch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.TrainStep(feeds); err != nil {
		t.Fatal(err)
	}
	lr, _ := tfgraph.FloatScalar(before[len(before)-1])
	for _, k := range keys {
		w, g := float64s(flatten(before[idx[k]].Value())), float64s(flatten(before[idx[k]+1].Value()))
		out, err := sess.Run(nil, []Output{st.Graph.Variable(k).Read()})
		if err != nil {
			t.Fatal(err)
		}
		after := float64s(flatten(out[0].Value()))
		excluded := larsExcluded(k)
		gd := make([]float64, len(g))
		var wn, gn float64
		for i := range g {
			gd[i] = g[i]
			if !excluded {
				gd[i] += 1e-3 * w[i]
			}
			wn += w[i] * w[i]
			gn += gd[i] * gd[i]
		}
		ratio := 1.0
		if !excluded {
			ratio = 0.001 * math.Sqrt(wn) / math.Sqrt(gn)
		}
		worst := 0.0
		for i := range w {
			want := w[i] - float64(lr)*ratio*gd[i]
			worst = max(worst, math.Abs(after[i]-want)/math.Max(1e-3, math.Abs(w[i]-want)))
		}
		t.Logf("%s: excluded %v, ratio %.3g, worst relative step error %.2g", k, excluded, ratio, worst)
		if worst > 1e-3 {
			t.Errorf("%s: the step differs from LARS's by %.3g of its size", k, worst)
		}
	}
	if st.Graph.Operation("optimizer/encoder/conv1/kernel/lars_lr") == nil || st.Graph.Operation("optimizer/encoder/bn1/gamma/lars_lr") != nil {
		t.Error("the trust ratio is not where it belongs (every weight but biases and BatchNorm parameters)")
	}
	cfg.Optim.Name = "sgd"
	sgd, err := BuildStep(cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10})
	if err != nil {
		t.Fatal(err)
	}
	if sgd.Graph.Operation("optimizer/encoder/conv1/kernel/lars_lr") != nil {
		t.Error("sgd builds a LARS trust ratio")
	}
}

func float64s(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
