package augment

import (
	"math"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// EraseRatio bounds the aspect ratio (height / width) of the erased
// rectangles, log-uniformly: torchvision's RandomErasing default.
var EraseRatio = [2]float64{0.3, 3.3}

// EraseMask is a float [N, size, size, 1] mask that is 1 inside one
// rectangle per sample whose apply [N] is 1 (> 0.5) and 0 elsewhere. u
// [N, 4] are U[0, 1) draws: the area fraction (mapped to scale), the log
// aspect ratio (mapped to EraseRatio) and the top and left position. Sides
// are capped at the image's; a pixel belongs to the rectangle when its
// centre does.
func EraseMask(s *tfgraph.Scope, u, apply Output, size int, scale [2]float64) Output {
	s = s.Child("erase_mask")
	area := between(s, column(s, u, 0), scale[0], scale[1])
	ratio := s.Exp(between(s, column(s, u, 1), math.Log(EraseRatio[0]), math.Log(EraseRatio[1])))
	one := f32(s, 1)
	h := s.Minimum(s.Sqrt(s.Mul(area, ratio)), one)
	w := s.Minimum(s.Sqrt(s.Div(area, ratio)), one)
	top := s.Mul(column(s, u, 2), s.Sub(one, h))
	left := s.Mul(column(s, u, 3), s.Sub(one, w))
	centres := make([]float32, size)
	for i := range centres {
		centres[i] = (float32(i) + 0.5) / float32(size)
	}
	c := s.Const("centres", centres)
	// inside [N, size]: lo <= centre < lo + side.
	inside := func(lo, side Output) Output {
		lo, hi := s.Reshape(lo, -1, 1), s.Reshape(s.Add(lo, side), -1, 1)
		return s.Cast(s.LogicalAnd(s.LessEqual(lo, c), s.Less(c, hi)), tfgraph.Float)
	}
	rows := s.Reshape(inside(top, h), -1, int32(size), 1, 1)
	cols := s.Reshape(inside(left, w), -1, 1, int32(size), 1)
	on := s.Reshape(s.Cast(s.Less(f32(s, 0.5), apply), tfgraph.Float), -1, 1, 1, 1)
	return s.Mul(s.Mul(rows, cols), on)
}

// Erase sets the pixels of the float NHWC batch x where mask [N, H, W, 1]
// is 1 to 0, in every channel. On a normalised batch 0 is the data set's
// mean, as torchvision's RandomErasing with value 0 after Normalize.
func Erase(s *tfgraph.Scope, x, mask Output) Output {
	s = s.Child("erase")
	return s.Mul(x, s.Sub(f32(s, 1), mask))
}

// eraseStage erases one rectangle of each sample with probability p, its
// area fraction uniform in augment.erase_scale. It runs after "normalize",
// so the erased pixels become the data set's mean.
func eraseStage(v *viewState, seed Output, p float64) {
	s := v.s
	u := uniform(s, "erase_draws", v.n, 5, seed)
	scale := checkPair(s, "augment.erase_scale", v.a.EraseScale)
	mask := EraseMask(s, u, bernoulli(s, column(s, u, 4), p), v.d.ImageSize, scale)
	v.x = Erase(s, v.x, mask)
}
