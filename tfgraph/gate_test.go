package tfgraph

import "testing"

// TestGateSkipsAndJoins: ops built in a gate's scope run only when the
// predicate is true; an op after Join runs either way (after the gated
// ops when they run).
func TestGateSkipsAndJoins(t *testing.T) {
	g := NewGraph()
	s := g.Root()
	pred := s.Placeholder("ok", Bool, []int64{})
	v := s.Var("v", []int64{2}, Fill(1), 0)
	n := s.Var("n", nil, Zeros(), 0, WithDType(Int64))
	gate := s.Child("gate").NewGate(pred)
	gs := gate.Scope(s.Child("update"))
	set := v.AssignOp(gs, "set", gs.Add(v.Read(), gs.Const("two", []float32{2, 2})))
	joined := gate.Join("joined", set)
	inc := n.AssignAddOp(s.WithControl(joined), "inc", s.Const("one", int64(1)))
	init := g.InitOp("init")
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, init); err != nil {
		t.Fatal(err)
	}
	want := float32(1)
	for i, ok := range []bool{false, true, false, true, true} {
		pt, _ := NewTensor(ok)
		if _, err := sess.Run(map[Output]*Tensor{pred: pt}, nil, inc); err != nil {
			t.Fatalf("run %d (ok=%v): %v", i, ok, err)
		}
		if ok {
			want += 2
		}
		out, err := sess.Run(nil, []Output{v.Read(), n.Read()})
		if err != nil {
			t.Fatal(err)
		}
		vals, _ := Value[[]float32](out[0])
		count, _ := Int64Scalar(out[1])
		if vals[0] != want || vals[1] != want || count != int64(i+1) {
			t.Errorf("after run %d (ok=%v): v = %v, n = %d; want %v, %d", i, ok, vals, count, want, i+1)
		}
	}
}
