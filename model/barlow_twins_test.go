package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// barlow64 is the Barlow Twins loss in float64, entry by entry: each
// column normalised over the batch (biased variance plus barlowEps),
// C_ij = sum_b a_bi b_bj / N, sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2.
func barlow64(lambda float64) func(z1, z2 [][]float64) float64 {
	norm := func(z [][]float64) [][]float64 {
		n, d := len(z), len(z[0])
		out := make([][]float64, n)
		for i := range out {
			out[i] = make([]float64, d)
		}
		for j := 0; j < d; j++ {
			var mean, v float64
			for i := 0; i < n; i++ {
				mean += z[i][j]
			}
			mean /= float64(n)
			for i := 0; i < n; i++ {
				v += (z[i][j] - mean) * (z[i][j] - mean)
			}
			v /= float64(n)
			for i := 0; i < n; i++ {
				out[i][j] = (z[i][j] - mean) / math.Sqrt(v+barlowEps)
			}
		}
		return out
	}
	return func(z1, z2 [][]float64) float64 {
		a, b := norm(z1), norm(z2)
		n, d := len(a), len(a[0])
		var loss float64
		for i := 0; i < d; i++ {
			for j := 0; j < d; j++ {
				var c float64
				for k := 0; k < n; k++ {
					c += a[k][i] * b[k][j]
				}
				c /= float64(n)
				if i == j {
					loss += (1 - c) * (1 - c)
				} else {
					loss += lambda * c * c
				}
			}
		}
		return loss
	}
}

// TestBarlowTwinsLoss checks BarlowTwinsLoss against the float64 reference
// on random inputs for several shapes and lambdas, its gradients against
// the reference's central differences and their direction, and that two
// identical views of decorrelated dimensions have a loss near 0.
func TestBarlowTwinsLoss(t *testing.T) {
	for _, tc := range []struct {
		n, d   int
		lambda float64
	}{{8, 5, 5e-3}, {16, 4, 0.1}, {5, 9, 1}, {12, 6, 0}} {
		r := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.d)))
		z1, z2 := randRows(r, tc.n, tc.d), randRows(r, tc.n, tc.d)
		build := func(s *tfgraph.Scope, a, b tfgraph.Output) tfgraph.Output { return BarlowTwinsLoss(s, a, b, tc.lambda) }
		checkPairLoss(t, "barlow twins", build, barlow64(tc.lambda), z1, z2, 1e-5)
	}
	// Two identical views whose columns are +-1 patterns of orthogonal
	// sign vectors: C is the identity up to the eps, so the loss is ~0.
	z := [][]float32{{1, 1, 1}, {1, -1, 1}, {-1, 1, -1}, {-1, -1, -1}}
	for i := range z {
		z[i][2] *= float32(1 - 2*(i%2)) // third column: +1 -1 -1 +1 (orthogonal to both)
	}
	got, _, _ := runPairLoss(t, func(s *tfgraph.Scope, a, b tfgraph.Output) tfgraph.Output { return BarlowTwinsLoss(s, a, b, 1) }, z, z)
	if want := barlow64(1)(f64Rows(z), f64Rows(z)); math.Abs(got) > 1e-4 || math.Abs(got-want) > 1e-6 {
		t.Errorf("identical decorrelated views: loss %v (reference %v), want ~0", got, want)
	}
}

// TestBarlowTwinsNetwork checks that Barlow Twins has no predictor and
// refuses local views naming augment.local_crops.
func TestBarlowTwinsNetwork(t *testing.T) {
	cfg := tinyMethodConfig()
	cfg.Method.Name = "barlow_twins"
	g := tfgraph.NewGraph()
	m, err := NewMethod("barlow_twins", g, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Net().Predictor != nil || g.Variable("predictor/fc1/kernel") != nil {
		t.Error("Barlow Twins has a predictor")
	}
	s := g.Root()
	x := s.Placeholder("x", tfgraph.Float, []int64{-1, 8, 8, 1})
	m.Tower(s.Child("tower0"), Views{X1: x, X2: x, Local: x, LocalCrops: 1}, tfgraph.Training(tfgraph.NewUpdates()))
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), "augment.local_crops") {
		t.Errorf("local views: err = %v, want one naming augment.local_crops", err)
	}
}
