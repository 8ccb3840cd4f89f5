package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// negCos is D(p, z) for one pair of rows, in float64.
func negCos(p, z []float32) float64 {
	var pz, pp, zz float64
	for i := range p {
		pz += float64(p[i]) * float64(z[i])
		pp += float64(p[i]) * float64(p[i])
		zz += float64(z[i]) * float64(z[i])
	}
	return -pz / math.Sqrt(pp*zz)
}

func randRows(r *rand.Rand, n, d int) [][]float32 {
	m := make([][]float32, n)
	for i := range m {
		m[i] = make([]float32, d)
		for j := range m[i] {
			m[i][j] = float32(r.NormFloat64())
		}
	}
	return m
}

// TestMultiCropLoss checks MultiCropLoss against the mean over the 2(1+k)
// pairs computed row by row here, the gradient's stop at the targets, and
// that k 0 is SymmetricLoss.
func TestMultiCropLoss(t *testing.T) {
	const n, d = 5, 7
	for _, k := range []int{0, 1, 3} {
		r := rand.New(rand.NewPCG(uint64(k), 9))
		p1, p2, z1, z2 := randRows(r, n, d), randRows(r, n, d), randRows(r, n, d), randRows(r, n, d)
		local := randRows(r, k*n, d)

		var want float64
		for i := 0; i < n; i++ {
			want += negCos(p1[i], z2[i]) + negCos(p2[i], z1[i])
			for j := 0; j < k; j++ {
				want += negCos(local[j*n+i], z1[i]) + negCos(local[j*n+i], z2[i])
			}
		}
		want /= float64(n * 2 * (1 + k))

		g := tfgraph.NewGraph()
		s := g.Root()
		var vars []*tfgraph.Variable
		c := func(name string, v [][]float32) tfgraph.Output {
			if len(v) == 0 {
				return tfgraph.Output{}
			}
			init := func(s *tfgraph.Scope, _ []int64, _ tfgraph.Output) tfgraph.Output { return s.Const("value", v) }
			vr := s.Var(name, []int64{int64(len(v)), d}, init, 0)
			vars = append(vars, vr)
			return vr.Read()
		}
		tp1, tp2, tz1, tz2, tl := c("p1", p1), c("p2", p2), c("z1", z1), c("z2", z2), c("local", local)
		loss := MultiCropLoss(s.Child("multi"), tp1, tp2, tz1, tz2, tl, k, true)
		sym := SymmetricLoss(s.Child("sym"), tp1, tp2, tz1, tz2, true)
		// The zero terms keep z1 and z2 connected to what is
		// differentiated, so their gradients exist and are exactly 0 when
		// the loss detaches them.
		zero := s.Const("zero", float32(0))
		keep := s.Mul(zero, s.Add(s.Sum(tz1, false, 0, 1), s.Sum(tz2, false, 0, 1)))
		grads, err := g.Gradients("grads", s.Add(loss, keep), vars)
		if err != nil {
			t.Fatal(err)
		}
		init := g.InitOp("init")
		if err := g.Err(); err != nil {
			t.Fatal(err)
		}
		sess := testutil.Session(t, g, init)
		fetch := append([]tfgraph.Output{loss, sym}, grads...)
		res, err := sess.Run(nil, fetch)
		if err != nil {
			t.Fatal(err)
		}
		got := float64(res[0].Value().(float32))
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("k=%d: loss %.7f, want the mean over the pairs %.7f", k, got, want)
		}
		if s := float64(res[1].Value().(float32)); k == 0 && s != got {
			t.Errorf("k=0: loss %v, SymmetricLoss %v", got, s)
		} else if k > 0 && math.Abs(s-got) < 1e-4 {
			t.Errorf("k=%d: loss %v equals SymmetricLoss %v: the local views do not count", k, got, s)
		}
		// Gradients reach p1, p2 and the local predictions, none the
		// detached targets z1 and z2 (vars: p1 p2 z1 z2 [local]).
		for i, gr := range res[2:] {
			var norm float64
			for _, row := range gr.Value().([][]float32) {
				for _, v := range row {
					norm += float64(v) * float64(v)
				}
			}
			if target := i == 2 || i == 3; target != (norm == 0) {
				t.Errorf("k=%d: the gradient for %s has squared norm %g", k, vars[i].Key, norm)
			}
		}
	}
}
