package tfgraph

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpdatesChainAndAssignOnce: two training applications of one
// BatchNorm in a step read the moving statistics the first produced, and
// Assign writes each variable once, with the last value.
func TestUpdatesChainAndAssignOnce(t *testing.T) {
	g := NewGraph()
	s := g.Root()
	bn := NewBatchNorm(s.Child("bn"), 2, 1e-5, 0.5, true, nil)
	x := s.Const("x", [][]float32{{1, 2}, {3, 6}})
	u := NewUpdates()
	bn.Apply(s.Child("a"), x, Training(u))
	bn.Apply(s.Child("b"), x, Training(u))
	y := bn.Apply(s.Child("c"), x, Inference)
	if u.Len() != 2 {
		t.Fatalf("%d updated variables, want moving_mean and moving_variance", u.Len())
	}
	ops := u.Assign(s.Child("assign"))
	init := g.InitOp("init")
	if g.Err() != nil {
		t.Fatal(g.Err())
	}
	if len(ops) != 2 {
		t.Fatalf("%d assignments", len(ops))
	}
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, init); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Run(nil, nil, ops...); err != nil {
		t.Fatal(err)
	}
	out, err := sess.Run(nil, []Output{bn.MovingMean.Read(), y})
	if err != nil {
		t.Fatal(err)
	}
	// Batch mean (2, 4); momentum 0.5 twice from 0: 0.5*m, then 0.75*m.
	mean := out[0].Value().([]float32)
	if mean[0] != 1.5 || mean[1] != 3 {
		t.Errorf("moving mean %v, want [1.5 3] (two chained updates)", mean)
	}
	// Inference mode did not record anything.
	if u.Len() != 2 {
		t.Errorf("inference changed the updates")
	}
}

// TestSaverRefusesNonFinite: a variable holding NaN or Inf is never written
// to a checkpoint; the error names it and no file appears.
func TestSaverRefusesNonFinite(t *testing.T) {
	g := NewGraph()
	s := g.Root()
	good := s.Var("good", []int64{2}, Ones(), 0)
	bad := s.Child("bn").Var("moving_variance", []int64{2}, Ones(), 0)
	step := s.Var("step", nil, Zeros(), 0, WithDType(Int64))
	in := s.Placeholder("in", Float, []int64{2})
	set := bad.AssignOp(s, "set", in)
	sv := NewSaver(g, "save", []*Variable{good, bad, step})
	init := g.InitOp("init")
	if g.Err() != nil {
		t.Fatal(g.Err())
	}
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, init); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := sv.Save(sess, filepath.Join(dir, "ckpt-1")); err != nil {
		t.Fatalf("finite values: %v", err)
	}
	v, _ := NewTensor([]float32{1, float32(math.Inf(1))})
	if _, err := sess.Run(map[Output]*Tensor{in: v}, nil, set); err != nil {
		t.Fatal(err)
	}
	err = sv.Save(sess, filepath.Join(dir, "ckpt-2"))
	if err == nil || !strings.Contains(err.Error(), "bn/moving_variance hold NaN or infinite values") {
		t.Fatalf("an infinite variable: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "ckpt-2*")); len(m) > 0 {
		t.Errorf("files written for the refused checkpoint: %v", m)
	}
}
