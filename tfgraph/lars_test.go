package tfgraph

import (
	"math"
	"testing"
)

// TestLARS checks three steps of LARS against a float64 reference of
// SimCLR's update, for a variable that gets the trust ratio and weight
// decay, an excluded one (plain momentum SGD on lr*g), and one whose weights
// are all zero (ratio 1), with the learning rate changing between steps.
func TestLARS(t *testing.T) {
	g := NewGraph()
	s := g.Root()
	w := s.Var("layer/kernel", []int64{2, 2}, Fill(0.5), 0)
	b := s.Var("layer/bias", []int64{2}, Fill(0.25), 0)
	z := s.Var("layer2/kernel", []int64{2}, Zeros(), 0)
	lr := s.Placeholder("lr", Float, []int64{})
	// Gradients fed as constants: g_w = [[1, 2], [3, 4]], g_b = [1, -1], g_z = [2, 2].
	gw := s.Const("gw", [][]float32{{1, 2}, {3, 4}})
	gb := s.Const("gb", []float32{1, -1})
	gz := s.Const("gz", []float32{2, 2})
	opt := &LARS{Momentum: 0.9, WeightDecay: 0.1, Eta: 0.001, Exclude: func(k string) bool { return k == "layer/bias" }}
	apply := opt.Apply(s.Child("optimizer"), []*Variable{w, b, z}, []Output{gw, gb, gz}, func(*Variable) Output { return lr })
	init := g.InitOp("init")
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, init); err != nil {
		t.Fatal(err)
	}
	// The reference, in float64.
	rw := []float64{0.5, 0.5, 0.5, 0.5}
	rb := []float64{0.25, 0.25}
	rz := []float64{0, 0}
	vw, vb, vz := make([]float64, 4), make([]float64, 2), make([]float64, 2)
	step := func(v, x, grad []float64, rate float64, lars bool) {
		gr := append([]float64(nil), grad...)
		ratio := 1.0
		if lars {
			var wn, gn float64
			for i := range gr {
				gr[i] += 0.1 * x[i]
			}
			for i := range x {
				wn += x[i] * x[i]
				gn += gr[i] * gr[i]
			}
			wn, gn = math.Sqrt(wn), math.Sqrt(gn)
			if wn > 0 && gn > 0 {
				ratio = 0.001 * wn / gn
			}
		}
		for i := range x {
			v[i] = 0.9*v[i] + rate*ratio*gr[i]
			x[i] -= v[i]
		}
	}
	for i, rate := range []float64{0.5, 0.3, 0.1} {
		lt, _ := NewTensor(float32(rate))
		if _, err := sess.Run(map[Output]*Tensor{lr: lt}, nil, apply); err != nil {
			t.Fatal(err)
		}
		step(vw, rw, []float64{1, 2, 3, 4}, rate, true)
		step(vb, rb, []float64{1, -1}, rate, false)
		step(vz, rz, []float64{2, 2}, rate, true)
		out, err := sess.Run(nil, []Output{w.Read(), b.Read(), z.Read()})
		if err != nil {
			t.Fatal(err)
		}
		gotW, _ := Value[[][]float32](out[0])
		gotB, _ := Value[[]float32](out[1])
		gotZ, _ := Value[[]float32](out[2])
		flat := []float32{gotW[0][0], gotW[0][1], gotW[1][0], gotW[1][1]}
		for _, c := range []struct {
			name string
			got  []float32
			want []float64
		}{{"kernel (LARS)", flat, rw}, {"bias (excluded)", gotB, rb}, {"zero kernel (ratio 1)", gotZ, rz}} {
			for j := range c.got {
				if d := math.Abs(float64(c.got[j]) - c.want[j]); d > 1e-6*math.Max(1, math.Abs(c.want[j])) {
					t.Errorf("step %d, %s[%d] = %v, want %v", i+1, c.name, j, c.got[j], c.want[j])
				}
			}
		}
	}
	if rw[0] == 0.5 || math.Abs(rw[0]-0.5) > 0.01 {
		t.Errorf("the reference kernel moved %v: the trust ratio should make a small step", rw[0]-0.5)
	}
}
