package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// ntXent64 is NT-Xent in float64, view by view: the mean over the 2N views
// of -log(exp(s_ij/t) / sum_{k != i} exp(s_ik/t)), s the cosine
// similarity, j the other view of the same image.
func ntXent64(t float64) func(z1, z2 [][]float64) float64 {
	return func(z1, z2 [][]float64) float64 {
		n := len(z1)
		var u [][]float64
		for _, z := range append(append([][]float64{}, z1...), z2...) {
			var norm float64
			for _, v := range z {
				norm += v * v
			}
			norm = math.Sqrt(norm)
			row := make([]float64, len(z))
			for k, v := range z {
				row[k] = v / norm
			}
			u = append(u, row)
		}
		dot := func(a, b []float64) float64 {
			var s float64
			for k := range a {
				s += a[k] * b[k]
			}
			return s
		}
		var total float64
		for i := range u {
			j := (i + n) % (2 * n)
			var den float64
			for k := range u {
				if k != i {
					den += math.Exp(dot(u[i], u[k]) / t)
				}
			}
			total += -(dot(u[i], u[j]) / t) + math.Log(den)
		}
		return total / float64(2*n)
	}
}

// TestNTXentLoss checks NTXentLoss against the float64 reference on random
// inputs for several batch sizes and temperatures, its gradients against
// the reference's central differences and their direction, and two
// properties: one image (two views, no negatives) has loss 0, and a tiny
// temperature stays finite.
func TestNTXentLoss(t *testing.T) {
	for _, tc := range []struct {
		n, d int
		temp float64
	}{{4, 5, 0.5}, {7, 3, 0.1}, {3, 8, 1}, {6, 4, 0.2}} {
		r := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.d)))
		z1, z2 := randRows(r, tc.n, tc.d), randRows(r, tc.n, tc.d)
		build := func(s *tfgraph.Scope, a, b tfgraph.Output) tfgraph.Output { return NTXentLoss(s, a, b, tc.temp) }
		checkPairLoss(t, "nt-xent", build, ntXent64(tc.temp), z1, z2, 1e-5)
	}
	r := rand.New(rand.NewPCG(5, 6))
	z1, z2 := randRows(r, 1, 4), randRows(r, 1, 4)
	if got, _, _ := runPairLoss(t, func(s *tfgraph.Scope, a, b tfgraph.Output) tfgraph.Output { return NTXentLoss(s, a, b, 0.5) }, z1, z2); math.Abs(got) > 1e-6 {
		t.Errorf("one image: loss %v, want 0 (its views have no negatives)", got)
	}
	// T = 0.005: logits up to 200, exp(200) overflows float32 without the
	// max subtraction.
	z1, z2 = randRows(r, 5, 4), randRows(r, 5, 4)
	got, _, _ := runPairLoss(t, func(s *tfgraph.Scope, a, b tfgraph.Output) tfgraph.Output { return NTXentLoss(s, a, b, 0.005) }, z1, z2)
	want := ntXent64(0.005)(f64Rows(z1), f64Rows(z2))
	if math.IsNaN(got) || math.IsInf(got, 0) || math.Abs(got-want) > 1e-4*math.Abs(want) {
		t.Errorf("T 0.005: loss %v, reference %v", got, want)
	}
}

func f64Rows(x [][]float32) [][]float64 {
	out := make([][]float64, len(x))
	for i, row := range x {
		for _, v := range row {
			out[i] = append(out[i], float64(v))
		}
	}
	return out
}

// TestSimCLRNetwork checks SimCLR's network: SimSiam's encoder and
// projector variables under the same names, no predictor, and local views
// refused with an error naming augment.local_crops.
func TestSimCLRNetwork(t *testing.T) {
	cfg := tinyMethodConfig()
	cfg.Method.Name = "simclr"
	g := tfgraph.NewGraph()
	m, err := NewMethod("simclr", g, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Net().Predictor != nil {
		t.Error("SimCLR has a predictor")
	}
	ref := tfgraph.NewGraph()
	if _, err := New(ref, cfg.Model, 1, cfg.Seed); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, v := range ref.Variables() {
		if !IsPredictor(v.Key) {
			want = append(want, v.Key)
		}
	}
	var got []string
	for _, v := range g.Variables() {
		got = append(got, v.Key)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("variables %v, want SimSiam's without the predictor %v", got, want)
	}
	s := g.Root()
	x := s.Placeholder("x", tfgraph.Float, []int64{-1, 8, 8, 1})
	m.Tower(s.Child("tower0"), Views{X1: x, X2: x, Local: x, LocalCrops: 2}, tfgraph.Training(tfgraph.NewUpdates()))
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), "augment.local_crops") {
		t.Errorf("local views: err = %v, want one naming augment.local_crops", err)
	}
}
