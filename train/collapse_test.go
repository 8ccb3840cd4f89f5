package train

import (
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// trainNoisyViews trains a tiny SimSiam for steps steps on generated data:
// views are two independently noised copies of images drawn from a fixed
// pool. It returns the loss and collapse monitor averaged over the last 20
// steps.
func trainNoisyViews(t *testing.T, stopGradient bool, steps int) Stats {
	t.Helper()
	cfg := testutil.TinyConfig()
	cfg.Data.ImageSize = 8
	cfg.Model.Width = 4
	cfg.Model.ProjDim, cfg.Model.ProjHidden, cfg.Model.PredHidden = 64, 64, 16
	cfg.Model.StopGradient = stopGradient
	cfg.Optim.BatchSize = 32
	cfg.Optim.BaseLR = 0.4
	cfg.Optim.WeightDecay = 5e-3
	st, sess := newStep(t, cfg, StepOptions{StepsPerEpoch: int64(steps), TotalSteps: int64(steps)})
	const pool, n, size, ch = 256, 32, 8, 3
	noise := float32(2)
	r := rand.New(rand.NewPCG(11, 12))
	base := make([]float32, pool*size*size*ch)
	for i := range base {
		base[i] = float32(r.NormFloat64())
	}
	view := func(idx []int) *tfgraph.Tensor {
		v := make([]float32, 0, n*size*size*ch)
		for _, i := range idx {
			for _, x := range base[i*size*size*ch : (i+1)*size*size*ch] {
				v = append(v, x+noise*float32(r.NormFloat64()))
			}
		}
		tt, _ := tfgraph.NewTensor(v)
		if err := tt.Reshape([]int64{n, size, size, ch}); err != nil {
			t.Fatal(err)
		}
		return tt
	}
	var last, avg Stats
	for i := 0; i < steps; i++ {
		idx := r.Perm(pool)[:n]
		var err error
		last, err = sess.TrainStep(map[Output]*tfgraph.Tensor{st.X1: view(idx), st.X2: view(idx)})
		if err != nil {
			t.Fatal(err)
		}
		if i >= steps-20 {
			avg.Loss += last.Loss / 20
			avg.ZStd += last.ZStd / 20
		}
		if i%50 == 0 || i == steps-1 {
			t.Logf("stop_gradient=%v step %d: loss %.4f z_std %.4f", stopGradient, i, last.Loss, last.ZStd)
		}
	}
	return avg
}

// TestCollapseWithoutStopGradient reproduces the paper's stop-gradient
// ablation (its Figure 2) on generated data: without stop-gradient the loss
// races to its minimum -1 and the l2-normalised output loses its spread; with
// stop-gradient the loss stays well above -1 and the spread stays near 1
// (1/sqrt(d) per channel, times sqrt(d)). The output BN of the projector
// (no affine) keeps every channel's batch variance at 1 until the pre-BN
// variance falls below eps, so in 300 steps the collapsed spread settles near
// 0.35-0.5 rather than 0; the test asserts the gap, not the end point.
func TestCollapseWithoutStopGradient(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two networks for 300 steps")
	}
	const steps = 300
	with := trainNoisyViews(t, true, steps)
	without := trainNoisyViews(t, false, steps)
	t.Logf("last 20 steps: with stop-gradient loss %.3f z_std %.3f; without loss %.3f z_std %.3f",
		with.Loss, with.ZStd, without.Loss, without.ZStd)
	if with.ZStd < 0.7 {
		t.Errorf("with stop-gradient z_std = %.3f, want it near 1", with.ZStd)
	}
	if with.Loss < -0.8 {
		t.Errorf("with stop-gradient loss = %.3f: noisy views should not be matched perfectly", with.Loss)
	}
	if without.Loss > -0.85 {
		t.Errorf("without stop-gradient loss = %.3f, want it near -1", without.Loss)
	}
	if without.ZStd > 0.65*with.ZStd {
		t.Errorf("without stop-gradient z_std = %.3f, want well below the %.3f with it", without.ZStd, with.ZStd)
	}
}
