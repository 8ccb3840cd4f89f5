package tfgraph

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// run evaluates outs in a new session on g.
func run(t *testing.T, g *Graph, outs ...Output) []any {
	t.Helper()
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	res, err := sess.Run(nil, outs)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]any, len(res))
	for i, r := range res {
		vals[i] = r.Value()
	}
	return vals
}

func TestTypedOps(t *testing.T) {
	g := NewGraph()
	s := g.Root().Child("ops")
	a := s.Const("a", []int32{7, -7, 4})
	b := s.Const("b", []int32{2, 2, 4})
	f := s.Const("f", []float32{-1, 0.5, 2})
	lo, hi := s.Const("lo", float32(0)), s.Const("hi", float32(1))
	m := s.Const("m", [][]float32{{1, 2}, {3, 4}})
	parts := s.Unpack(s.Const("v", []int32{5, 6, 7}), 3, 0)
	cases := []struct {
		name string
		out  Output
		want any
	}{
		{"ops/FloorDiv", s.FloorDiv(a, b), []int32{3, -4, 1}},
		{"ops/Equal", s.Equal(a, b), []bool{false, false, true}},
		{"ops/LessEqual", s.LessEqual(a, b), []bool{false, true, true}},
		{"ops/LogicalAnd", s.LogicalAnd(s.Const("p", []bool{true, true}), s.Const("q", []bool{true, false})), []bool{true, false}},
		{"ops/ClipByValue", s.ClipByValue(f, lo, hi), []float32{0, 0.5, 1}},
		{"ops/Log", s.Log(s.Const("one", []float32{1})), []float32{0}},
		{"ops/probs", s.Softmax("probs", s.Const("z", []float32{0, 0})), []float32{0.5, 0.5}},
		{"ops/OnesLike", s.OnesLike(f), []float32{1, 1, 1}},
		{"ops/Select", s.SelectRows(s.Const("rows", []bool{false, true}), m, s.Neg(m)), [][]float32{{-1, -2}, {3, 4}}},
		{"ops/Slice", s.SliceAt(m, s.Const("begin", []int32{1, 0}), s.Const("size", []int32{1, -1})), [][]float32{{3, 4}}},
		{"ops/Fill", s.Fill(s.Const("dims", []int32{2}), lo), []float32{0, 0}},
		{"ops/Range", s.Range(s.Const("r0", int32(0)), s.Const("r1", int32(3)), s.Const("r2", int32(1))), []int32{0, 1, 2}},
		{"ops/ReverseV2", s.Reverse(m, 1), [][]float32{{2, 1}, {4, 3}}},
		{"ops/Tile", s.Tile(s.Const("t", []int32{1, 2}), 2), []int32{1, 2, 1, 2}},
		{"ops/Pack", s.Pack(0, parts...), []int32{5, 6, 7}},
		{"ops/Pack_1", s.Pack(1, s.Const("col", []int32{1, 2}), s.Const("col", []int32{3, 4})), [][]int32{{1, 3}, {2, 4}}},
		{"ops/BatchMatMulV2", s.BatchMatMul(m, m), [][]float32{{7, 10}, {15, 22}}},
		{"ops/RGBToHSV", s.RGBToHSV(s.Const("red", []float32{1, 0, 0})), []float32{0, 1, 1}},
		{"ops/HSVToRGB", s.HSVToRGB(s.Const("hsv", []float32{0.5, 1, 1})), []float32{0, 1, 1}},
	}
	if parts[0].Op == nil || parts[0].Op.Name() != "ops/Unpack" {
		t.Fatalf("Unpack: %v", g.Err())
	}
	outs := make([]Output, len(cases))
	for i, c := range cases {
		outs[i] = c.out
	}
	if g.Err() != nil {
		t.Fatal(g.Err())
	}
	got := run(t, g, outs...)
	for i, c := range cases {
		if c.out.Op.Name() != c.name {
			t.Errorf("op named %q, want %q", c.out.Op.Name(), c.name)
		}
		if !reflect.DeepEqual(got[i], c.want) {
			t.Errorf("%s = %v, want %v", c.name, got[i], c.want)
		}
	}
}

func TestImageOps(t *testing.T) {
	g := NewGraph()
	s := g.Root()
	// One 2x2 grey image with pixels 0, 1, 2, 3.
	img := s.Const("img", [][][][]float32{{{{0}, {1}}, {{2}, {3}}}})
	whole := s.CropAndResize(img, s.Const("boxes", [][]float32{{0, 0, 1, 1}}), s.Const("ind", []int32{0}), 3, 3, "bilinear", 0)
	up := s.ResizeBilinear(img, s.Const("size", []int32{1, 1}), false, true)
	draws := s.StatelessUniformFullInt("draws", Int64, s.Const("shape", []int32{2}), s.Const("seed", []int64{1, 2}))
	if g.Err() != nil {
		t.Fatal(g.Err())
	}
	if draws.Op.Name() != "draws" || draws.DataType() != Int64 {
		t.Errorf("draws: %s %v", draws.Op.Name(), draws.DataType())
	}
	got := run(t, g, whole, up)
	want := [][][][]float32{{{{0}, {0.5}, {1}}, {{1}, {1.5}, {2}}, {{2}, {2.5}, {3}}}}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("CropAndResize = %v, want %v", got[0], want)
	}
	if !reflect.DeepEqual(got[1], [][][][]float32{{{{1.5}}}}) {
		t.Errorf("ResizeBilinear = %v", got[1])
	}
}

func TestBadArgumentsFailTheGraph(t *testing.T) {
	for name, build := range map[string]func(s *Scope){
		"Fail":                   func(s *Scope) { s.Fail(errors.New("boom")) },
		"empty input":            func(s *Scope) { s.Neg(Output{}) },
		"empty list element":     func(s *Scope) { s.Pack(0, s.Scalar(1), Output{}) },
		"nil tensor":             func(s *Scope) { s.Const("c", (*Tensor)(nil)) },
		"empty default":          func(s *Scope) { s.PlaceholderWithDefault("p", Output{}, nil) },
		"Split into no parts":    func(s *Scope) { s.Split(0, 0, s.Scalar(1)) },
		"Unpack into no parts":   func(s *Scope) { s.Unpack(s.Scalar(1), 0, 0) },
		"Unpack of empty tensor": func(s *Scope) { s.Unpack(Output{}, 2, 0) },
	} {
		g := NewGraph()
		build(g.Root())
		if g.Err() == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := NewSession(g, SessionOptions{}); err == nil {
			t.Errorf("%s: NewSession accepted a failed graph", name)
		}
	}
	// The first error is kept; nil is ignored.
	g := NewGraph()
	s := g.Root()
	s.Fail(nil)
	if g.Err() != nil {
		t.Fatalf("Fail(nil) recorded %v", g.Err())
	}
	s.Fail(errors.New("first"))
	s.Fail(errors.New("second"))
	if out := s.Neg(s.Scalar(1)); out.Op != nil {
		t.Error("an op was added after a failure")
	}
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), "first") {
		t.Errorf("Err = %v, want the first error", err)
	}
}

func TestCheckedValues(t *testing.T) {
	i64, _ := NewTensor(int64(7))
	f32, _ := NewTensor(float32(0.5))
	m, _ := NewTensor([][]float32{{1, 2}})
	if v, err := Int64Scalar(i64); err != nil || v != 7 {
		t.Errorf("Int64Scalar = %v, %v", v, err)
	}
	if v, err := FloatScalar(f32); err != nil || v != 0.5 {
		t.Errorf("FloatScalar = %v, %v", v, err)
	}
	if v, err := Value[[][]float32](m); err != nil || v[0][1] != 2 {
		t.Errorf("Value = %v, %v", v, err)
	}
	for name, err := range map[string]error{
		"float as int64":  func() error { _, err := Int64Scalar(f32); return err }(),
		"matrix as float": func() error { _, err := FloatScalar(m); return err }(),
		"nil tensor":      func() error { _, err := Value[[]int32](nil); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), "want a tensor of Go type") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
