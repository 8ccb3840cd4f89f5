package tfgraph

import (
	"fmt"
	"slices"
	"time"
)

// SpeedProbe is what ProbeBF16 measured: the median wall time of one run of
// a small training-like graph in float32 and with the bfloat16 rewrite, and
// their ratio (above 1: bfloat16 is faster).
type SpeedProbe struct {
	FP32, BF16 time.Duration
	// Speedup is FP32 / BF16.
	Speedup float64
	// Runs is the number of timed runs of each precision.
	Runs int
}

// ProbeBF16 times the kernels a training step spends its time in (Conv2D
// and its two gradients, MatMul and its gradients, ReLU, a reduction) in a
// float32 session and in one with PrecisionBF16, alternating the two so that
// a busy machine slows both alike, for about budget in all (at least 3 runs
// of each). opts gives the thread pools; its Precision is ignored. The
// oneDNN kernels must be on (PrecisionBF16 needs them).
func ProbeBF16(opts SessionOptions, budget time.Duration) (SpeedProbe, error) {
	g, fetch, err := probeGraph()
	if err != nil {
		return SpeedProbe{}, err
	}
	run := map[Precision]func() (time.Duration, error){}
	for _, p := range []Precision{PrecisionFP32, PrecisionBF16} {
		o := opts
		o.Precision = p
		o.Target = ""
		sess, err := NewSession(g, o)
		if err != nil {
			return SpeedProbe{}, fmt.Errorf("precision probe (%s): %w", p, err)
		}
		defer sess.Close()
		if _, err := sess.Run(nil, nil, g.InitOp("probe/init")); err != nil {
			return SpeedProbe{}, fmt.Errorf("precision probe (%s): init: %w", p, err)
		}
		run[p] = func() (time.Duration, error) {
			t0 := time.Now()
			_, err := sess.Run(nil, []Output{fetch})
			return time.Since(t0), err
		}
		// Warm up: the first runs optimise the graph and pick kernels.
		for range 2 {
			if _, err := run[p](); err != nil {
				return SpeedProbe{}, fmt.Errorf("precision probe (%s): %w", p, err)
			}
		}
	}
	var fp32, bf16 []time.Duration
	start := time.Now()
	for len(fp32) < 3 || (time.Since(start) < budget && len(fp32) < 50) {
		for _, p := range []Precision{PrecisionFP32, PrecisionBF16} {
			d, err := run[p]()
			if err != nil {
				return SpeedProbe{}, fmt.Errorf("precision probe (%s): %w", p, err)
			}
			if p == PrecisionFP32 {
				fp32 = append(fp32, d)
			} else {
				bf16 = append(bf16, d)
			}
		}
	}
	r := SpeedProbe{FP32: median(fp32), BF16: median(bf16), Runs: len(fp32)}
	if r.BF16 > 0 {
		r.Speedup = float64(r.FP32) / float64(r.BF16)
	}
	return r, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// probeGraph builds two 3×3 convolutions over a [32, 32, 32, 32] batch and a
// [256, 512] × [512, 512] dense layer, a squared-sum loss over both, and the
// gradients of every weight: the mix of a small ResNet's step.
func probeGraph() (*Graph, Output, error) {
	g := NewGraph()
	g.SetDevice("/device:CPU:0") // the bf16 rewrite is of CPU kernels, on a GPU machine too
	s := g.Root().Child("probe")
	seed := s.Const("seed", []int64{7, 11})
	x := s.StatelessNormal("x", []int64{32, 32, 32, 32}, seed)
	k1 := s.Var("conv1", []int64{3, 3, 32, 32}, Normal(0.05), 1)
	k2 := s.Var("conv2", []int64{3, 3, 32, 32}, Normal(0.05), 2)
	h := s.Relu(s.Conv2D(x, k1.Read(), 1, "SAME"))
	h = s.Relu(s.Conv2D(h, k2.Read(), 1, "SAME"))
	a := s.StatelessNormal("a", []int64{256, 512}, seed)
	w := s.Var("dense", []int64{512, 512}, Normal(0.05), 3)
	d := s.Relu(s.MatMul(a, w.Read(), false, false))
	loss := s.Add(s.Mean(s.Square(h), false, 0, 1, 2, 3), s.Mean(s.Square(d), false, 0, 1))
	grads, err := g.Gradients("probe_grad", loss, []*Variable{k1, k2, w})
	if err != nil {
		return nil, Output{}, err
	}
	// One scalar of every gradient, fetched: a NoOp target alone would let
	// the runtime prune the work.
	total := s.Mean(s.Square(grads[0]), false, 0, 1, 2, 3)
	total = s.Add(total, s.Mean(s.Square(grads[1]), false, 0, 1, 2, 3))
	total = s.Add(total, s.Mean(s.Square(grads[2]), false, 0, 1))
	fetch := s.Identity("step", total)
	if err := g.Err(); err != nil {
		return nil, Output{}, fmt.Errorf("precision probe graph: %w", err)
	}
	return g, fetch, nil
}
