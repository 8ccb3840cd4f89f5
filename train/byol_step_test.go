package train

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestBYOLTargetMovingAverage checks BYOL's target network in the step:
// after init it equals the online network; after a step it is
// tau target + (1 - tau) online-after-the-step with tau = tau_base at step
// 0 and Tau at step 1 (every target variable, BatchNorm moving statistics
// included); a non-finite step, which the update gate skips, leaves it as
// it was.
func TestBYOLTargetMovingAverage(t *testing.T) {
	cfg := testutil.TinyConfig()
	cfg.Method.Name = "byol"
	cfg.Method.BYOL.TauBase = 0.9 // far from 1, so one step moves the target visibly
	const total = 10
	st, err := BuildStep(cfg, StepOptions{StepsPerEpoch: total, TotalSteps: total})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := NewSession(st, tfgraph.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	keys := []string{"projector/fc1/kernel", "encoder/conv1/kernel", "encoder/bn1/moving_mean", "projector/bn1/moving_variance"}
	read := func() (online, target [][]float32) {
		var fetch []Output
		for _, k := range keys {
			o, tv := st.Graph.Variable(k), st.Graph.Variable(model.TargetScope+"/"+k)
			if o == nil || tv == nil {
				t.Fatalf("no variable %s or its target", k)
			}
			fetch = append(fetch, o.Read(), tv.Read())
		}
		res, err := sess.Run(nil, fetch)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(res); i += 2 {
			online = append(online, flat(t, res[i]))
			target = append(target, flat(t, res[i+1]))
		}
		return online, target
	}
	on0, tg0 := read()
	for i := range keys {
		if d := maxAbsDiff(on0[i], tg0[i]); d != 0 {
			t.Errorf("after init, %s: target differs from online by %g", keys[i], d)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	feed := func(nan bool) map[Output]*tfgraph.Tensor {
		a, b := randomBatch(r, 8, 16, 3), randomBatch(r, 8, 16, 3)
		if nan {
			a[0][0][0][0] = float32(math.NaN())
		}
		ta, _ := tfgraph.NewTensor(a)
		tb, _ := tfgraph.NewTensor(b)
		return map[Output]*tfgraph.Tensor{st.X1: ta, st.X2: tb}
	}
	prev := tg0
	for step := int64(0); step < 2; step++ {
		if _, err := sess.TrainStep(feed(false)); err != nil {
			t.Fatal(err)
		}
		on, tg := read()
		tau := model.Tau(0.9, step, total)
		for i, k := range keys {
			want := make([]float32, len(prev[i]))
			for j := range want {
				want[j] = float32(tau*float64(prev[i][j]) + (1-tau)*float64(on[i][j]))
			}
			if d := maxAbsDiff(tg[i], want); d > 1e-6*(1+maxAbs(want)) {
				t.Errorf("step %d, %s: target off the moving average by %g", step, k, d)
			}
			if maxAbsDiff(tg[i], prev[i]) == 0 && maxAbsDiff(on[i], prev[i]) != 0 {
				t.Errorf("step %d, %s: the target did not move", step, k)
			}
		}
		prev = tg
	}
	var nf *NonFiniteError
	if _, err := sess.TrainStep(feed(true)); !errors.As(err, &nf) {
		t.Fatalf("NaN batch: err = %v, want a NonFiniteError", err)
	}
	_, tg := read()
	for i, k := range keys {
		if d := maxAbsDiff(tg[i], prev[i]); d != 0 {
			t.Errorf("skipped step moved the target %s by %g", k, d)
		}
	}
}

// flat is a float32 tensor's values in one slice.
func flat(t *testing.T, x *tfgraph.Tensor) []float32 {
	t.Helper()
	var out []float32
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case float32:
			out = append(out, v)
		case []float32:
			out = append(out, v...)
		case [][]float32:
			for _, r := range v {
				walk(r)
			}
		case [][][]float32:
			for _, r := range v {
				walk(r)
			}
		case [][][][]float32:
			for _, r := range v {
				walk(r)
			}
		default:
			t.Fatalf("unexpected %T", v)
		}
	}
	walk(x.Value())
	return out
}

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func maxAbs(a []float32) float64 {
	var m float64
	for _, v := range a {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}
