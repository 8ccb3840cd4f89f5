package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestBYOLNetwork checks BYOL's variables: the online network is SimSiam's
// (the same keys, trainable), and every encoder and projector variable,
// and no predictor one, has a non-trainable copy under target/.
func TestBYOLNetwork(t *testing.T) {
	cfg := tinyMethodConfig()
	cfg.Method.Name = "byol"
	g := tfgraph.NewGraph()
	m, err := NewMethod("byol", g, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := tfgraph.NewGraph()
	if _, err := New(ref, cfg.Model, 1, cfg.Seed); err != nil {
		t.Fatal(err)
	}
	keys := func(vs []*tfgraph.Variable) string {
		var k []string
		for _, v := range vs {
			k = append(k, v.Key)
		}
		return strings.Join(k, ",")
	}
	if got, want := keys(g.Trainable()), keys(ref.Trainable()); got != want {
		t.Errorf("trainable %s, want SimSiam's %s", got, want)
	}
	var targets int
	for _, v := range ref.Variables() {
		tv := g.Variable(TargetScope + "/" + v.Key)
		switch {
		case IsPredictor(v.Key) && tv != nil:
			t.Errorf("target has the predictor variable %s", tv.Key)
		case !IsPredictor(v.Key) && tv == nil:
			t.Errorf("no target variable for %s", v.Key)
		case tv != nil:
			targets++
			if tv.Trainable {
				t.Errorf("%s is trainable", tv.Key)
			}
		}
	}
	if len(g.Variables()) != len(ref.Variables())+targets {
		t.Errorf("%d variables, want %d online and %d target", len(g.Variables()), len(ref.Variables()), targets)
	}
	if m.Net().Predictor == nil {
		t.Error("no online predictor")
	}
}

// TestTau checks the moving-average schedule: tau_base at the first step,
// 1 at the last, (1 + tau_base) / 2 half-way, rising in between.
func TestTau(t *testing.T) {
	const base, total = 0.996, 1000
	if got := Tau(base, 0, total); math.Abs(got-base) > 1e-15 {
		t.Errorf("tau(0) = %v, want %v", got, base)
	}
	if got := Tau(base, total, total); math.Abs(got-1) > 1e-15 {
		t.Errorf("tau(K) = %v, want 1", got)
	}
	if got := Tau(base, total/2, total); math.Abs(got-(1+base)/2) > 1e-12 {
		t.Errorf("tau(K/2) = %v, want %v", got, (1+base)/2)
	}
	for k := int64(1); k <= total; k++ {
		if Tau(base, k, total) < Tau(base, k-1, total) {
			t.Fatalf("tau falls at step %d", k)
		}
	}
}

// TestBYOLLoss checks BYOLLoss against the float64 sum over both
// directions of 2 - 2 cos, averaged over the batch, its gradients with
// respect to the predictions, and the stop-gradient at the targets.
func TestBYOLLoss(t *testing.T) {
	const n, d = 6, 5
	r := rand.New(rand.NewPCG(8, 9))
	p1, p2, t1, t2 := randRows(r, n, d), randRows(r, n, d), randRows(r, n, d), randRows(r, n, d)
	build := func(s *tfgraph.Scope, a, b tfgraph.Output) tfgraph.Output {
		return BYOLLoss(s, a, b, s.Const("t1", t1), s.Const("t2", t2))
	}
	ref := func(a, b [][]float64) float64 {
		ta, tb := f64Rows(t1), f64Rows(t2)
		var sum float64
		for i := 0; i < n; i++ {
			sum += 2 - 2*cos64(a[i], tb[i]) + 2 - 2*cos64(b[i], ta[i])
		}
		return sum / n
	}
	checkPairLoss(t, "byol", build, ref, p1, p2, 1e-5)
	// No gradient reaches the targets.
	_, g1, g2 := runPairLoss(t, func(s *tfgraph.Scope, a, b tfgraph.Output) tfgraph.Output {
		zero := s.Const("zero", float32(0))
		keep := s.Mul(zero, s.Add(s.Sum(a, false, 0, 1), s.Sum(b, false, 0, 1)))
		return s.Add(BYOLLoss(s, s.Const("p1", p1), s.Const("p2", p2), a, b), keep)
	}, t1, t2)
	for _, g := range [][][]float32{g1, g2} {
		for _, row := range g {
			for _, v := range row {
				if v != 0 {
					t.Fatalf("a gradient reaches the target projections: %v", v)
				}
			}
		}
	}
}

func cos64(a, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	return ab / math.Sqrt(aa*bb)
}
