// Package augment builds SimSiam's data augmentation (Chen & He, "Exploring
// Simple Siamese Representation Learning", 2020; the MoCo v2 / SimCLR recipe)
// as TensorFlow graph ops over a whole uint8 NHWC batch, so that it runs next
// to the model on any device.
//
// Each view is, in torchvision's order: RandomResizedCrop -> ColorJitter
// (with probability jitter_prob, the four adjustments in a random order per
// sample) -> RandomGrayscale -> GaussianBlur (with probability blur_prob) ->
// RandomHorizontalFlip -> Normalize -> RandomErasing (with probability
// erase_prob; off in SimSiam's recipe). All randomness comes from TensorFlow's
// stateless random ops keyed by an int64 [2] seed tensor, so a batch is a
// pure function of (images, seed): the trainer feeds StepSeed(run seed,
// step) and a resumed run reproduces the views bit for bit.
//
// The building blocks (CropAndResize, Flip, the colour adjustments,
// GaussianBlur, ColorJitter) take their random draws as inputs; View and
// Views draw them.
package augment

import (
	"fmt"
	"math"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// The random stages of one view, each with its own seed.
const (
	stageCrop = iota
	stageJitter
	stageGrey
	stageBlur
	stageFlip
	stageSolarize
	numStages
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
	seeds := splitSeed(s.Child("seeds"), seed, 2)
	// One cast for both views: the crop then runs on float32, which has
	// kernels on every device (CropAndResize has no GPU kernel for uint8),
	// so only the uint8 batch crosses from the host.
	x := toFloat(s, images)
	return View(s.Child("view1"), x, seeds[0], a, d), View(s.Child("view2"), x, seeds[1], a, d)
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
	shifted := s.Add(seed, s.Const("seed_shift", []int64{0, localSeedShift}))
	seeds := splitSeed(s.Child("seeds"), shifted, a.LocalCrops)
	x := toFloat(s, images)
	la, ld := a, d
	la.CropScale = a.LocalScale
	ld.ImageSize = a.LocalSide(d.ImageSize)
	views := make([]tfgraph.Output, a.LocalCrops)
	for i := range views {
		views[i] = View(s.Child(fmt.Sprintf("local%d", i+1)), x, seeds[i], la, ld)
	}
	if len(views) == 1 {
		return s.Identity("local", views[0])
	}
	return s.Identity("local", s.Concat(0, views...))
}

// localSeedShift separates the local views' seeds from the two full-size
// views' (an arbitrary constant).
const localSeedShift = 0x10ca1

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
// act on equal channels); RGB input becomes grey (data.GreyWeights) when
// d.Channels is 1, and then only brightness and contrast jitter apply. The
// input's channel count should be static; when it is not it is taken to be
// 1 or 3 for d.Channels 3 and 1 for d.Channels 1.
func View(s *tfgraph.Scope, images, seed tfgraph.Output, a configs.Augment, d configs.Data) tfgraph.Output {
	scale := checkPair(s, "augment.crop_scale", a.CropScale)
	ratio := checkPair(s, "augment.crop_ratio", a.CropRatio)
	size := d.ImageSize
	seeds := splitSeed(s.Child("seeds"), seed, numStages)
	n := batchSize(s, images)

	// Random resized crop, then the division by 255 on the (small) crops.
	images = toFloat(s, images)
	shape := s.Cast(s.Shape(images), tfgraph.Float)
	hw := s.Split(0, 4, shape)
	aspect := s.Reshape(s.Div(hw[2], hw[1]))
	boxes := cropBoxes(s, seeds[stageCrop], n, aspect, scale, ratio)
	if a.FlipProb > 0 {
		// The horizontal flip is folded into the crop: swapping x1 and x2
		// makes CropAndResize sample the crop mirrored. Jitter, grey and blur
		// commute with the flip (the blur kernel is symmetric and its padding
		// mirror-symmetric), so this equals flipping last.
		u := uniform(s, "flip_draws", n, 1, seeds[stageFlip])
		flip := s.Less(s.Reshape(u, -1), f32(s, a.FlipProb))
		cols := s.Split(1, 4, boxes)
		mirrored := s.Concat(1, cols[0], cols[3], cols[2], cols[1])
		boxes = s.Select(s.Reshape(flip, -1, 1), mirrored, boxes)
	}
	// Keep the boxes a hair inside the image: CropAndResize extrapolates
	// (writes 0) when rounding puts a sample beyond the first or last pixel,
	// which happens for edge-touching boxes with some sizes (for example a
	// 500-pixel side resized to 224 loses its last row).
	boxes = s.ClipByValue(boxes, f32(s, boxMargin), f32(s, 1-boxMargin))
	x := CropAndResize(s, images, boxes, size)
	x = s.Mul(x, f32(s, 1.0/255))
	x = matchChannels(s, x, size, d.Channels)

	if a.JitterProb > 0 {
		j := jitterDraws(s.Child("jitter_draws"), seeds[stageJitter], n, jitterStrength{
			p: a.JitterProb, brightness: a.Brightness, contrast: a.Contrast,
			saturation: a.Saturation, hue: a.Hue,
		})
		x = ColorJitter(s, x, j)
	}
	if a.GrayscaleProb > 0 && d.Channels == 3 {
		u := uniform(s, "grey_draws", n, 1, seeds[stageGrey])
		x = RandomGrayscale(s, x, bernoulli(s, s.Reshape(u, -1), a.GrayscaleProb))
	}
	if a.BlurProb > 0 {
		sig := checkPair(s, "augment.blur_sigma", a.BlurSigma)
		u := uniform(s, "blur_draws", n, 2, seeds[stageBlur])
		sigma := between(s, column(s, u, 1), sig[0], sig[1])
		sigma = s.Mul(sigma, bernoulli(s, column(s, u, 0), a.BlurProb)) // 0 = no blur
		x = GaussianBlur(s, x, sigma, BlurKernelSize(size))
	}
	if a.SolarizeProb > 0 {
		u := uniform(s, "solarize_draws", n, 1, seeds[stageSolarize])
		x = RandomSolarize(s, x, bernoulli(s, s.Reshape(u, -1), a.SolarizeProb))
	}
	x = Normalize(s, x, d.Mean, d.Std)
	if a.EraseProb > 0 {
		// Its own seed, shifted off the view's, so that the other stages
		// draw what they draw without erasing.
		es := s.Add(seed, s.Const("erase_seed_shift", []int64{0, eraseSeedShift}))
		u := uniform(s, "erase_draws", n, 5, es)
		scale := checkPair(s, "augment.erase_scale", a.EraseScale)
		mask := EraseMask(s, u, bernoulli(s, column(s, u, 4), a.EraseProb), size, scale)
		x = Erase(s, x, mask)
	}
	return x
}

// eraseSeedShift separates the erasing draws from a view's other stages
// (an arbitrary constant).
const eraseSeedShift = 0xe2a5e

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
	vec := func(name string, v []float64, def float32) Output {
		out := make([]float32, c)
		for i := range out {
			switch len(v) {
			case 0:
				out[i] = def
			case 1:
				out[i] = float32(v[0])
			case c:
				out[i] = float32(v[i])
			default:
				s.Fail(fmt.Errorf("augment: data.%s has %d entries for %d channels", name, len(v), c))
				return Output{}
			}
		}
		return s.Const(name, out)
	}
	m, sd := vec("mean", mean, 0), vec("std", std, 1)
	return s.Div(s.Sub(x, m), sd)
}

// StepSeed is the seed pair for (run seed, global step): a [2]int64 Go value
// the trainer feeds. Both entries are SplitMix64 hashes, so nearby run seeds
// and steps give unrelated streams, and distinct steps of one run always give
// distinct pairs.
func StepSeed(runSeed, step int64) []int64 {
	a := splitMix64(uint64(runSeed))
	b := splitMix64(a ^ splitMix64(uint64(step)))
	return []int64{int64(a), int64(b)}
}

// splitMix64 is the finaliser of the SplitMix64 generator (a bijection).
func splitMix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// splitSeed derives k int64 [2] seeds from seed with one stateless draw of
// k pairs of random int64s.
func splitSeed(s *tfgraph.Scope, seed Output, k int) []Output {
	all := s.StatelessUniformFullInt("", tfgraph.Int64, s.Const("shape", []int32{int32(k), 2}), seed)
	out := make([]Output, k)
	for i := range out {
		out[i] = s.Reshape(s.Slice(all, []int32{int32(i), 0}, []int32{1, 2}), 2)
	}
	return out
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
		x = toLuma(s, x)
	}
	return s.Reshape(x, -1, int32(size), int32(size), int32(want))
}
