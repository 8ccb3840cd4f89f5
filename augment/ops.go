package augment

import (
	"fmt"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// Output is a symbolic tensor of the graph under construction.
type Output = tfgraph.Output

// f32 is a float32 scalar constant.
func f32(s *tfgraph.Scope, v float64) Output { return s.Const("c", float32(v)) }

// i32 is an int32 scalar constant.
func i32(s *tfgraph.Scope, v int) Output { return s.Const("c", int32(v)) }

// clip01 clamps x to [0, 1].
func clip01(s *tfgraph.Scope, x Output) Output {
	return s.ClipByValue(x, f32(s, 0), f32(s, 1))
}

// perSample reshapes a [N] vector to [N, 1, 1, 1] so that it broadcasts
// against an NHWC batch.
func perSample(s *tfgraph.Scope, v Output) Output { return s.Reshape(v, -1, 1, 1, 1) }

// column returns column j of a [N, K] matrix as a [N] vector.
func column(s *tfgraph.Scope, m Output, j int) Output {
	return s.Reshape(s.Slice(m, []int32{0, int32(j)}, []int32{-1, 1}), -1)
}

// uniform draws a [N, k] matrix of U[0, 1) floats from the stateless
// generator; n is the int32 batch size and seed an int64 [2] tensor.
func uniform(s *tfgraph.Scope, name string, n Output, k int, seed Output) Output {
	shape := s.Pack(0, n, i32(s, k))
	return s.StatelessUniform(name, shape, seed)
}

// between maps U[0, 1) draws u to U[lo, hi).
func between(s *tfgraph.Scope, u Output, lo, hi float64) Output {
	return s.Add(s.Mul(u, f32(s, hi-lo)), f32(s, lo))
}

// batchSize is the int32 scalar N of an NHWC (or [N, ...]) tensor.
func batchSize(s *tfgraph.Scope, x Output) Output {
	return s.Reshape(s.Slice(s.Shape(x), []int32{0}, []int32{1}))
}

// staticDim is dimension i of x's static shape, or -1 when unknown.
func staticDim(x Output, i int) int64 {
	if x.Op == nil {
		return -1
	}
	sh := x.Shape()
	if sh.NumDimensions() <= i {
		return -1
	}
	return sh.Size(i)
}

// checkPair returns v as a pair. Unless v holds exactly two entries it
// records an error in the graph (the configs package validates every
// interval, so this only catches callers that bypass it) and returns zeros.
func checkPair(s *tfgraph.Scope, name string, v []float64) [2]float64 {
	if len(v) != 2 {
		s.Fail(fmt.Errorf("augment: %s must hold [min, max], got %v", name, v))
		return [2]float64{}
	}
	return [2]float64{v[0], v[1]}
}
