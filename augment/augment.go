// Package augment builds SimSiam's data augmentation (Chen & He, "Exploring
// Simple Siamese Representation Learning", 2020; the MoCo v2 / SimCLR recipe)
// as TensorFlow graph ops over a whole uint8 NHWC batch, so that it runs next
// to the model on any device.
//
// Each view is, in torchvision's order: RandomResizedCrop -> ColorJitter
// (with probability jitter_prob, the four adjustments in a random order per
// sample) -> RandomGrayscale -> GaussianBlur (with probability blur_prob) ->
// RandomSolarize (solarize_prob) -> RandomHorizontalFlip -> Normalize ->
// RandomErasing (with probability erase_prob; off in SimSiam's recipe). All
// randomness comes from TensorFlow's stateless random ops keyed by an int64
// [2] seed tensor, so a batch is a pure function of (images, seed): the
// trainer feeds StepSeed(run seed, step) and a resumed run reproduces the
// views bit for bit.
//
// The building blocks (CropAndResize, Flip, the colour adjustments,
// GaussianBlur, ColorJitter) take their random draws as inputs; View and
// Views draw them.
//
// # Stages
//
// A view is the table of stages in stages.go, run in order: each entry has
// a name, the configuration key of its probability and an accessor reading
// it (none for the stages that always run), its seed id and its function,
// which reads and updates the view's state (the crop boxes until "resize",
// then the pixels). A stage with probability 0 adds no ops. Every seed is
// derived one way (see seedID): a view's from the batch seed, a stage's
// from its view's, so that a stage's draws depend only on (batch seed,
// view, stage seed id), never on which other stages are on.
//
// To add a stage:
//
//  1. Write its file, say augment/posterize.go: the tensor function
//     (exported, taking its random draws as inputs, with its test) and a
//     posterizeStage(v *viewState, seed Output, p float64) that draws from
//     seed with uniform and bernoulli and sets v.x.
//  2. Add one line to stages(), at its place in the order, with the next
//     free seed row (seedID{row: 6} after solarize's 5; never reuse or
//     renumber a row, that changes every run's draws) and its key, e.g.
//     augment.posterize_prob.
//  3. Add the key with its default (0: off, so existing configurations draw
//     what they drew) to configs.Augment in configs/config.go, with its
//     range check in configs/validate.go; presets inherit the default.
//
// TestGolden (testdata/golden_views.txt) then proves that the existing
// stages still draw exactly what they drew, and TestStageTable that the
// key reaches the accessor.
package augment

import (
	"fmt"
	"math"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// boxMargin keeps View's crop boxes inside [boxMargin, 1-boxMargin]: 2^-21,
// a shift of under 1e-3 pixel for sides up to 2000 pixels, yet 4 times the
// smallest margin that kept every sample inside the image in an exhaustive
// check of sides 2..1300 against output sizes 28..384.
const boxMargin = 1.0 / (1 << 21)

// EvalResizeRatio is the ratio between the resized shorter side and the crop
// in Eval for large inputs: 256/224, the ImageNet convention.
const EvalResizeRatio = 256.0 / 224.0

// Views builds two independently augmented views of a uint8 NHWC batch
// (any N, any input H W, C = 1 or 3) -> float32 [N, size, size, outC]
// normalised, where size = d.ImageSize and outC = d.Channels. seed is an
// int64 [2] tensor (see StepSeed); the two views use seeds derived from it.
func Views(s *tfgraph.Scope, images, seed tfgraph.Output, a configs.Augment, d configs.Data) (v1, v2 tfgraph.Output) {
	sd := newSeeder(s, seed, 2)
	// One cast for both views: the crop then runs on float32, which has
	// kernels on every device (CropAndResize has no GPU kernel for uint8),
	// so only the uint8 batch crosses from the host.
	x := toFloat(s, images)
	v1 = View(s.Child("view1"), x, sd.seed(viewSeedID(false, 0)), a, d)
	v2 = View(s.Child("view2"), x, sd.seed(viewSeedID(false, 1)), a, d)
	return v1, v2
}

// LocalViews builds a.LocalCrops small views of a uint8 NHWC batch for
// multi-crop training, concatenated along the batch: float32
// [a.LocalCrops*N, side, side, outC] with side = a.LocalSide(d.ImageSize),
// view j in rows j*N..(j+1)*N-1. Each is a View whose crop keeps a
// fraction a.LocalScale of the area. Their seeds are drawn from seed
// shifted by a constant, so the two full-size views of Views are the same
// with and without local views. It returns a zero Output when
// a.LocalCrops is 0.
func LocalViews(s *tfgraph.Scope, images, seed tfgraph.Output, a configs.Augment, d configs.Data) tfgraph.Output {
	if a.LocalCrops <= 0 {
		return tfgraph.Output{}
	}
	sd := newSeeder(s, seed, a.LocalCrops)
	x := toFloat(s, images)
	la, ld := a, d
	la.CropScale = a.LocalScale
	ld.ImageSize = a.LocalSide(d.ImageSize)
	views := make([]tfgraph.Output, a.LocalCrops)
	for i := range views {
		views[i] = View(s.Child(fmt.Sprintf("local%d", i+1)), x, sd.seed(viewSeedID(true, i)), la, ld)
	}
	if len(views) == 1 {
		return s.Identity("local", views[0])
	}
	return s.Identity("local", s.Concat(0, views...))
}

// toFloat casts the pixel batch to float32 (values still 0..255), unless it
// already is float32.
func toFloat(s *tfgraph.Scope, images tfgraph.Output) tfgraph.Output {
	if images.Op != nil && images.DataType() == tfgraph.Float {
		return images
	}
	return s.Cast(images, tfgraph.Float)
}

// View builds one augmented view with the given seed (int64 [2]): a uint8
// (or float32 with values 0..255) NHWC batch -> float32 [N, d.ImageSize, d.ImageSize, d.Channels],
// normalised with d.Mean and d.Std. Every random stage gets its own seed,
// derived from seed by a stateless draw, and every sample its own draws.
// Stages with probability 0 (or strength 0) add no ops.
//
// The crop boxes are RandomResizedCropBoxes measured in pixels of the fed
// image, so areas and aspect ratios follow torchvision for non-square
// inputs too; they are kept 2^-21 inside the image (see boxMargin). The
// horizontal flip is folded into the crop (a mirrored box), which equals
// flipping at the end because jitter, grey and blur commute with it.
//
// Grey input becomes RGB when d.Channels is 3 (the colour operations then
// act on equal channels); RGB input becomes grey (GreyWeights) when
// d.Channels is 1, and then only brightness and contrast jitter apply. The
// input's channel count should be static; when it is not it is taken to be
// 1 or 3 for d.Channels 3 and 1 for d.Channels 1.
func View(s *tfgraph.Scope, images, seed tfgraph.Output, a configs.Augment, d configs.Data) tfgraph.Output {
	v := &viewState{s: s, a: a, d: d, n: batchSize(s, images), images: toFloat(s, images)}
	return runStages(stages(), v, seed)
}

// normalizeStage is Normalize with d.Mean and d.Std.
func normalizeStage(v *viewState, _ Output, _ float64) {
	v.x = Normalize(v.s, v.x, v.d.Mean, v.d.Std)
}

// Eval is the evaluation transform: resize (bilinear) to size and normalise
// (no randomness). A uint8 NHWC batch (any N, H, W; C = 1 or 3) becomes
// float32 [N, d.ImageSize, d.ImageSize, d.Channels].
//
// As torchvision's Resize(R) + CenterCrop(size): the shorter side is resized
// to R and the longer one to floor(R*long/short) (bilinear with half-pixel
// centres, no antialiasing: TensorFlow's ResizeBilinear, i.e.
// tf.image.resize), then the central size x size window is cut out (offset
// round((side-size)/2), halves to even). R = round(size*256/224) when the
// shorter input side exceeds 1.1*size, otherwise R = size, which for square
// inputs is a plain resize (and the identity when the input is already
// size x size). The decision is made at run time from the fed shape.
func Eval(s *tfgraph.Scope, images tfgraph.Output, d configs.Data) tfgraph.Output {
	s = s.Child("eval")
	size := d.ImageSize
	big := int32(math.Round(float64(size) * EvalResizeRatio))
	dims := unpack4(s, s.Shape(images))
	h, w := dims[1], dims[2]
	short := s.Minimum(h, w)
	isBig := s.Less(i32(s, size*11), s.Mul(short, i32(s, 10)))
	r := s.Select(isBig, s.Const("c", big), i32(s, size))
	newH := s.FloorDiv(s.Mul(r, h), short)
	newW := s.FloorDiv(s.Mul(r, w), short)
	// Resize float32 (the same values ResizeBilinear computes from uint8,
	// which has no GPU kernel).
	x := s.ResizeBilinear(toFloat(s, images), pack(s, newH, newW), false, true)
	offset := func(side Output) Output {
		d := s.Cast(s.Sub(side, i32(s, size)), tfgraph.Float)
		return s.Cast(s.Round(s.Mul(d, f32(s, 0.5))), tfgraph.Int32)
	}
	x = s.SliceAt(x, pack(s, i32(s, 0), offset(newH), offset(newW), i32(s, 0)),
		s.Const("size", []int32{-1, int32(size), int32(size), -1}))
	x = s.Mul(x, f32(s, 1.0/255))
	x = matchChannels(s, x, size, d.Channels)
	return Normalize(s, x, d.Mean, d.Std)
}

// Normalize returns (x - mean[c]) / std[c] per channel of the float NHWC
// batch x. mean and std hold one entry per channel of x, or one entry used
// for every channel; empty means 0 and 1.
func Normalize(s *tfgraph.Scope, x tfgraph.Output, mean, std []float64) tfgraph.Output {
	s = s.Child("normalize")
	c := channels(s, x)
	m, sd, err := configs.Data{Mean: mean, Std: std}.Normalization(c)
	if err != nil {
		s.Fail(fmt.Errorf("augment: %w", err))
		return Output{}
	}
	mc, sc := s.Const("mean", m), s.Const("std", sd)
	return s.Div(s.Sub(x, mc), sc)
}

// bernoulli is a float 0/1 mask with P(1) = p from U[0, 1) draws u.
func bernoulli(s *tfgraph.Scope, u Output, p float64) Output {
	return s.Cast(s.Less(u, f32(s, p)), tfgraph.Float)
}

// pack stacks int32 scalars into a vector.
func pack(s *tfgraph.Scope, xs ...Output) Output {
	return s.Pack(0, xs...)
}

// unpack4 splits an int32 [4] vector (a shape) into its four scalars
// (Unpack has a kernel for int32 on every device; Split has none on GPUs).
func unpack4(s *tfgraph.Scope, v Output) []Output {
	return s.Unpack(v, 4, 0)
}

// matchChannels converts a float [N, size, size, C] batch to want channels:
// grey is repeated to RGB, RGB is converted to grey. It also pins the static
// shape to [?, size, size, want].
func matchChannels(s *tfgraph.Scope, x Output, size, want int) Output {
	have := staticDim(x, 3)
	switch {
	case have == int64(want):
	case want == 3 && have == 1:
		x = s.Concat(3, x, x, x)
	case want == 3: // unknown: 1 or 3 both broadcast to 3
		x = s.Mul(x, s.Const("rgb", []float32{1, 1, 1}))
	case want == 1 && have == 3:
		x = grey(s, x)
	}
	return s.Reshape(x, -1, int32(size), int32(size), int32(want))
}
