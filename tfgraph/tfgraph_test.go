package tfgraph

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// buildQuadratic builds loss = sum((w - 3)^2) over a variable w = [1, 2],
// one momentum step with weight decay, and returns the pieces.
func TestMomentumStepMatchesHandComputation(t *testing.T) {
	g := NewGraph()
	s := g.Root()
	w := s.Child("model").Var("w", []int64{2}, func(s *Scope, _ []int64, _ Output) Output {
		return s.Const("v", []float32{1, 2})
	}, 0)
	loss := s.Sum(s.Square(s.Sub(w.Read(), s.Const("target", []float32{3, 3}))), false, 0)
	grads, err := g.Gradients("gradients", loss, []*Variable{w})
	if err != nil {
		t.Fatal(err)
	}
	opt := &Momentum{Momentum: 0.9, WeightDecay: 0.1}
	lr := s.Const("lr", float32(0.5))
	step := opt.Apply(s.Child("optimizer"), []*Variable{w}, grads, func(*Variable) Output { return lr })
	init := g.InitOp("init")
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, init); err != nil {
		t.Fatal(err)
	}
	// Reference: PyTorch SGD semantics by hand.
	want := []float64{1, 2}
	buf := []float64{0, 0}
	for it := 0; it < 3; it++ {
		if _, err := sess.Run(nil, nil, step); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			gr := 2*(want[i]-3) + 0.1*want[i]
			buf[i] = 0.9*buf[i] + gr
			want[i] -= 0.5 * buf[i]
		}
	}
	out, err := sess.Run(nil, []Output{w.Read()})
	if err != nil {
		t.Fatal(err)
	}
	got := out[0].Value().([]float32)
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-5 {
			t.Errorf("w[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if _, ok := opt.Slots["model/w"]; !ok {
		t.Errorf("no momentum slot for model/w: %v", opt.Slots)
	}
}

func TestSaverRoundTripAndNames(t *testing.T) {
	build := func(val float32) (*Graph, *Variable, *Saver) {
		g := NewGraph()
		v := g.Root().Child("encoder").Child("conv1").Var("kernel", []int64{2, 3}, Fill(val), 0)
		return g, v, NewSaver(g, "save", g.Variables())
	}
	g1, v1, sv1 := build(7)
	if g1.Operation("encoder/conv1/kernel") == nil {
		t.Fatalf("variable op not named by its key; ops: %v", g1.OpNames())
	}
	s1, err := NewSession(g1, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	if _, err := s1.Run(nil, nil, g1.InitOp("init")); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "ckpt", "model-1")
	if err := sv1.Save(s1, prefix); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{prefix + ".index", prefix + ".data-00000-of-00001"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("missing %s: %v", f, err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(prefix), ".tmp-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	g2, v2, sv2 := build(0)
	s2, err := NewSession(g2, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := sv2.RestoreFrom(s2, prefix); err != nil {
		t.Fatal(err)
	}
	out, err := s2.Run(nil, []Output{v2.Read()})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range out[0].Value().([][]float32) {
		for _, x := range row {
			if x != 7 {
				t.Fatalf("restored %v, want all 7", out[0].Value())
			}
		}
	}
	_ = v1
	if err := sv2.RestoreFrom(s2, filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("restoring a missing checkpoint succeeded")
	}
}

func TestDuplicateVariableIsAnError(t *testing.T) {
	g := NewGraph()
	g.Root().Var("a", []int64{1}, Zeros(), 0)
	g.Root().Var("a", []int64{1}, Zeros(), 0)
	if g.Err() == nil {
		t.Fatal("second variable with the same key accepted")
	}
}

func TestUniqueOpNames(t *testing.T) {
	g := NewGraph()
	s := g.Root().Child("x")
	a := s.Const("c", float32(1))
	b := s.Const("c", float32(2))
	if g.Err() != nil {
		t.Fatal(g.Err())
	}
	if a.Op.Name() != "x/c" || b.Op.Name() != "x/c_1" {
		t.Errorf("names %q %q, want x/c x/c_1", a.Op.Name(), b.Op.Name())
	}
}
