package augment

import (
	"math"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// CropTries is the number of area/aspect-ratio draws RandomResizedCropBoxes
// makes per sample before it falls back to a central crop (torchvision's
// RandomResizedCrop also tries 10 times).
const CropTries = 10

// RandomResizedCropBoxes draws one random-resized-crop box per sample for a
// square image, as float32 [N, 4] boxes (y1, x1, y2, x2) in normalised
// coordinates, the layout CropAndResize takes. n is the int32 scalar batch
// size and seed an int64 [2] tensor.
//
// The draws follow torchvision's RandomResizedCrop.get_params: the area
// fraction a ~ U(scale), the log aspect ratio log r ~ U(log ratio) (r is
// width / height), w = sqrt(a*r) and h = sqrt(a/r); a try is valid when the
// box fits in the image (0 < w <= 1 and 0 < h <= 1). CropTries tries are drawn
// at once and the first valid one is kept; when none is valid the box is the
// central crop clipped to the ratio range (for a square image: the whole
// image when ratio contains 1). The top-left corner of a random box is
// uniform over the positions that keep it inside the image. Unlike
// torchvision, sizes and offsets are not rounded to whole pixels.
func RandomResizedCropBoxes(s *tfgraph.Scope, seed, n Output, scale, ratio [2]float64) Output {
	return cropBoxes(s, seed, n, f32(s, 1), scale, ratio)
}

// cropBoxes is RandomResizedCropBoxes for an image whose width / height is
// the float32 scalar aspect. Sizes are measured in units of the image height
// (the image is aspect wide and 1 high) and normalised at the end, so the
// crop's aspect ratio is measured in pixels as in torchvision.
func cropBoxes(s *tfgraph.Scope, seed, n, aspect Output, scale, ratio [2]float64) Output {
	s = s.Child("crop_boxes")
	const k = CropTries
	u := uniform(s, "draws", n, 2*k+2, seed)
	uArea := s.Slice(u, []int32{0, 0}, []int32{-1, k})
	uRatio := s.Slice(u, []int32{0, k}, []int32{-1, k})
	uy, ux := column(s, u, 2*k), column(s, u, 2*k+1)

	area := s.Mul(aspect, between(s, uArea, scale[0], scale[1]))
	r := s.Exp(between(s, uRatio, math.Log(ratio[0]), math.Log(ratio[1])))
	w := s.Sqrt(s.Mul(area, r)) // [N, k], in heights
	h := s.Sqrt(s.Div(area, r)) // [N, k]
	wn := s.Div(w, aspect)      // normalised width
	zero, one := f32(s, 0), f32(s, 1)
	valid := and(s, and(s, s.Less(zero, wn), lessEq(s, wn, one)),
		and(s, s.Less(zero, h), lessEq(s, h, one)))

	// Fallback: the central crop clipped to the ratio range.
	ones := s.Fill(s.Reshape(n, 1), one) // [N]
	hSel := s.Mul(ones, s.Minimum(one, s.Div(aspect, f32(s, ratio[0]))))
	wSel := s.Mul(ones, s.Minimum(one, s.Div(f32(s, ratio[1]), aspect)))
	fy := s.Mul(ones, f32(s, 0.5))
	fx := fy
	// Walk the tries backwards so that the first valid one wins.
	for t := k - 1; t >= 0; t-- {
		ok := column(s, valid, t)
		hSel = s.Select(ok, column(s, h, t), hSel)
		wSel = s.Select(ok, column(s, wn, t), wSel)
		fy = s.Select(ok, uy, fy)
		fx = s.Select(ok, ux, fx)
	}
	y1 := s.Mul(fy, s.Sub(one, hSel))
	x1 := s.Mul(fx, s.Sub(one, wSel))
	return s.Pack(1, y1, x1, s.Add(y1, hSel), s.Add(x1, wSel))
}

func and(s *tfgraph.Scope, a, b Output) Output { return s.LogicalAnd(a, b) }

func lessEq(s *tfgraph.Scope, a, b Output) Output { return s.LessEqual(a, b) }

// CropAndResize crops every image of the float32 NHWC batch with its own box
// (boxes: float32 [N, 4], box i for image i) and resizes the crop to
// size x size with bilinear interpolation, through TensorFlow's CropAndResize
// op. Boxes are (y1, x1, y2, x2) in normalised coordinates with the
// op's align-corners convention: output row i (0 <= i < size) samples input
// row y = y1*(H-1) + i*(y2-y1)*(H-1)/(size-1), and likewise for columns, so
// the box (0, 0, 1, 1) maps the first and last output pixels onto the first
// and last input pixels. Samples falling outside the image are 0.
func CropAndResize(s *tfgraph.Scope, images, boxes Output, size int) Output {
	s = s.Child("crop_and_resize")
	boxInd := s.Range(i32(s, 0), batchSize(s, boxes), i32(s, 1))
	return s.CropAndResize(images, boxes, boxInd, int32(size), int32(size), "bilinear", 0)
}

// Flip mirrors the images of the NHWC batch x left to right where the
// float [N] mask is 1 (more precisely > 0.5) and leaves the others unchanged.
func Flip(s *tfgraph.Scope, x, mask Output) Output {
	s = s.Child("flip")
	mirrored := s.Reverse(x, 2)
	return selectRows(s, s.Less(f32(s, 0.5), mask), mirrored, x)
}

// cropStage draws the view's random-resized-crop boxes, measured in pixels
// of the fed image so that areas and aspect ratios follow torchvision for
// non-square inputs too.
func cropStage(v *viewState, seed Output, _ float64) {
	s := v.s
	scale := checkPair(s, "augment.crop_scale", v.a.CropScale)
	ratio := checkPair(s, "augment.crop_ratio", v.a.CropRatio)
	shape := s.Cast(s.Shape(v.images), tfgraph.Float)
	hw := s.Split(0, 4, shape)
	aspect := s.Reshape(s.Div(hw[2], hw[1]))
	v.boxes = cropBoxes(s, seed, v.n, aspect, scale, ratio)
}

// flipStage is the horizontal flip with probability p, folded into the
// crop: swapping x1 and x2 makes CropAndResize sample the crop mirrored.
// Jitter, grey and blur commute with the flip (the blur kernel is symmetric
// and its padding mirror-symmetric), so this equals flipping last.
func flipStage(v *viewState, seed Output, p float64) {
	s := v.s
	u := uniform(s, "flip_draws", v.n, 1, seed)
	flip := s.Less(s.Reshape(u, -1), f32(s, p))
	cols := s.Split(1, 4, v.boxes)
	mirrored := s.Concat(1, cols[0], cols[3], cols[2], cols[1])
	v.boxes = s.Select(s.Reshape(flip, -1, 1), mirrored, v.boxes)
}

// resizeStage cuts the crops out, resized to d.ImageSize, divides them by
// 255 (on the small crops) and converts them to d.Channels.
//
// The boxes are kept a hair inside the image (see boxMargin): CropAndResize
// extrapolates (writes 0) when rounding puts a sample beyond the first or
// last pixel, which happens for edge-touching boxes with some sizes (for
// example a 500-pixel side resized to 224 loses its last row).
func resizeStage(v *viewState, _ Output, _ float64) {
	s := v.s
	size := v.d.ImageSize
	boxes := s.ClipByValue(v.boxes, f32(s, boxMargin), f32(s, 1-boxMargin))
	x := CropAndResize(s, v.images, boxes, size)
	x = s.Mul(x, f32(s, 1.0/255))
	v.x = matchChannels(s, x, size, v.d.Channels)
}
