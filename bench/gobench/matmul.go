package main

import (
	"math/rand/v2"
	"time"

	"github.com/simsiam-go/simsiam/bench/internal/harness"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// matmulRate times an n x n MatMul (both operands fed, so constant folding
// cannot precompute it) in its own graph and session with the same options
// as the step: the reference FLOP rate of this TensorFlow on this machine.
// The MatMul is float32, or bfloat16 when the session runs in bf16 (the fed
// float32 operands cast in the graph, O(n²) against the product's O(n³)):
// the ceiling of a bf16 step.
func matmulRate(n, runs, blocks int, opts tfgraph.SessionOptions) (map[string]any, error) {
	g := tfgraph.NewGraph()
	s := g.Root().Child("matmul_probe")
	a := s.Placeholder("a", tfgraph.Float, []int64{int64(n), int64(n)})
	b := s.Placeholder("b", tfgraph.Float, []int64{int64(n), int64(n)})
	dtype := "float32"
	x, y := a, b
	if opts.Precision == tfgraph.PrecisionBF16 {
		dtype = "bfloat16"
		x, y = s.Cast(a, tfgraph.BFloat16), s.Cast(b, tfgraph.BFloat16)
	}
	c := s.MatMul(x, y, false, false)
	if err := g.Err(); err != nil {
		return nil, err
	}
	sess, err := tfgraph.NewSession(g, opts)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	r := rand.New(rand.NewPCG(3, 4))
	operand := func() (*tfgraph.Tensor, error) {
		v := make([]float32, n*n)
		for i := range v {
			v[i] = r.Float32()*2 - 1
		}
		t, err := tfgraph.NewTensor(v)
		if err != nil {
			return nil, err
		}
		return t, t.Reshape([]int64{int64(n), int64(n)})
	}
	ta, err := operand()
	if err != nil {
		return nil, err
	}
	tb, err := operand()
	if err != nil {
		return nil, err
	}
	feeds := map[tfgraph.Output]*tfgraph.Tensor{a: ta, b: tb}
	// The product is a target, not a fetch: nothing is copied out.
	run := func() error { _, err := sess.Run(feeds, nil, c.Op); return err }
	for range 2 {
		if err := run(); err != nil {
			return nil, err
		}
	}
	flops := 2 * float64(n) * float64(n) * float64(n)
	rates := make([]float64, 0, blocks)
	for range max(blocks, 1) {
		t := time.Now()
		for range runs {
			if err := run(); err != nil {
				return nil, err
			}
		}
		rates = append(rates, flops*float64(runs)/time.Since(t).Seconds()/1e9)
	}
	return map[string]any{"n": n, "dtype": dtype, "runs_per_block": runs, "gflops": harness.Summarize(rates)}, nil
}
