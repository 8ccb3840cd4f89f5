package augment

import (
	"errors"
	"fmt"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// GreyWeights are the luma weights of R, G and B used by Grayscale,
// AdjustContrast and AdjustSaturation: ITU-R 601-2 as TensorFlow's
// tf.image.rgb_to_grayscale and torchvision's rgb_to_grayscale write them
// (0.2989 rather than 0.299 for red). Read only.
var GreyWeights = [3]float32{0.2989, 0.587, 0.114}

// channels is the static channel count of the NHWC batch x. The colour ops
// need it to tell grey from RGB images. When the shape does not say (every
// tensor this package builds has static channels) it records an error in
// the graph and returns 0; the ops built after that are skipped.
func channels(s *tfgraph.Scope, x Output) int {
	if x.Op == nil {
		s.Fail(errors.New("augment: want an NHWC batch with 1 or 3 static channels, got an empty tensor"))
		return 0
	}
	c := staticDim(x, 3)
	if c != 1 && c != 3 {
		s.Fail(fmt.Errorf("augment: want an NHWC batch with 1 or 3 static channels, got shape %v", x.Shape()))
		return 0
	}
	return int(c)
}

// grey is the [N, H, W, 1] luma of an RGB batch (the batch itself when
// grey), computed as one [N*H*W, 3] x [3, 1] matrix product like
// tf.image.rgb_to_grayscale (a broadcast multiply and channel sum is about
// three times slower on CPU).
func grey(s *tfgraph.Scope, x Output) Output {
	if channels(s, x) == 1 {
		return x
	}
	w := s.Const("grey_weights", [][]float32{{GreyWeights[0]}, {GreyWeights[1]}, {GreyWeights[2]}})
	g := s.MatMul(s.Reshape(x, -1, 3), w, false, false)
	return reshapeChannels(s, g, x, 1)
}

// reshapeChannels gives the [N*H*W, c] matrix m the shape of the NHWC batch
// like with c channels, statically where like's H and W are static.
func reshapeChannels(s *tfgraph.Scope, m, like Output, c int) Output {
	h, w := staticDim(like, 1), staticDim(like, 2)
	if h > 0 && w > 0 {
		return s.Reshape(m, -1, int32(h), int32(w), int32(c))
	}
	nhw := s.Slice(s.Shape(like), []int32{0}, []int32{3})
	return s.ReshapeTo(m, s.Concat(0, nhw, s.Const("c", []int32{int32(c)})))
}

// selectRows picks a[n] where the bool [N] cond is true and b[n] elsewhere.
// The original Select op with a vector condition copies whole samples, an
// order of magnitude faster on CPU than SelectV2 broadcasting a [N,1,1,1]
// condition.
func selectRows(s *tfgraph.Scope, cond, a, b Output) Output {
	return s.SelectRows(cond, a, b)
}

// blend is clip(f*x + (1-f)*y, 0, 1) with a per-sample factor f [N]; y
// broadcasts against x.
func blend(s *tfgraph.Scope, x, y, factor Output) Output {
	f := perSample(s, factor)
	return clip01(s, s.Add(s.Mul(f, x), s.Mul(s.Sub(f32(s, 1), f), y)))
}

// Grayscale converts the float RGB batch x to grey, out = 0.2989 R + 0.587 G
// + 0.114 B (GreyWeights), replicated to 3 channels so that the shape is
// kept. A grey (1-channel) batch is returned unchanged.
func Grayscale(s *tfgraph.Scope, x Output) Output {
	if channels(s, x) == 1 {
		return x
	}
	s = s.Child("grayscale")
	return s.Tile(grey(s, x), 1, 1, 1, 3)
}

// RandomGrayscale converts the samples of x whose float [N] mask is 1
// (> 0.5) to grey with Grayscale and leaves the others unchanged.
func RandomGrayscale(s *tfgraph.Scope, x, mask Output) Output {
	if channels(s, x) == 1 {
		return x
	}
	s = s.Child("random_grayscale")
	return selectRows(s, s.Less(f32(s, 0.5), mask), Grayscale(s, x), x)
}

// AdjustBrightness scales the float batch x (values in [0, 1]) by a
// per-sample factor [N], torchvision's multiplicative convention:
// out = clip(factor*x, 0, 1). (tf.image.adjust_brightness adds a delta
// instead.)
func AdjustBrightness(s *tfgraph.Scope, x, factor Output) Output {
	s = s.Child("brightness")
	return clip01(s, s.Mul(x, perSample(s, factor)))
}

// AdjustContrast blends the float batch x (values in [0, 1]) with the mean
// of its grey image, torchvision's convention:
// out = clip(factor*x + (1-factor)*m, 0, 1), where m is the mean over the
// whole image of 0.2989 R + 0.587 G + 0.114 B (of the single channel for a
// grey batch); factor is per sample [N]. TensorFlow's
// tf.image.adjust_contrast differs: it uses a per-channel mean and no clip.
func AdjustContrast(s *tfgraph.Scope, x, factor Output) Output {
	s = s.Child("contrast")
	m := s.Mean(grey(s, x), true, 1, 2, 3)
	return blend(s, x, m, factor)
}

// AdjustSaturation blends the float RGB batch x with its grey image,
// torchvision's convention: out = clip(factor*x + (1-factor)*grey(x), 0, 1)
// with factor per sample [N]. (tf.image.adjust_saturation scales S in HSV
// space instead, which gives different values.) A grey batch is returned
// unchanged.
func AdjustSaturation(s *tfgraph.Scope, x, factor Output) Output {
	if channels(s, x) == 1 {
		return x
	}
	s = s.Child("saturation")
	return blend(s, x, grey(s, x), factor)
}

// AdjustHue rotates the hue of the float RGB batch x (values in [0, 1]) by a
// per-sample delta [N] in turns: RGB -> HSV (TensorFlow's RGBToHSV),
// h = (h + delta) mod 1, HSV -> RGB, clipped to [0, 1]. This is what both
// tf.image.adjust_hue and torchvision's adjust_hue compute. A grey batch is
// returned unchanged.
func AdjustHue(s *tfgraph.Scope, x, delta Output) Output {
	if channels(s, x) == 1 {
		return x
	}
	s = s.Child("hue")
	hsv := s.RGBToHSV(x)
	parts := s.Split(3, 3, hsv)
	h := s.Add(parts[0], perSample(s, delta))
	h = s.Sub(h, s.Floor(h))
	return clip01(s, s.HSVToRGB(s.Concat(3, h, parts[1], parts[2])))
}

// The colour-jitter operations, numbered as in JitterDraws.Order.
const (
	JitterBrightness = iota
	JitterContrast
	JitterSaturation
	JitterHue
	jitterOps
)

// JitterDraws are the per-sample random draws of ColorJitter. Factor fields
// left empty (zero Output) switch that operation off.
type JitterDraws struct {
	// Apply is float [N]: 1 (> 0.5) jitters the sample, 0 leaves it unchanged.
	Apply Output
	// Brightness, Contrast and Saturation are float [N] factors for
	// AdjustBrightness, AdjustContrast and AdjustSaturation.
	Brightness, Contrast, Saturation Output
	// Hue is the float [N] shift for AdjustHue, in turns.
	Hue Output
	// Order is int32 [N, 4]: Order[n][r] is the r-th operation
	// (JitterBrightness, JitterContrast, JitterSaturation or JitterHue)
	// sample n undergoes; every row is a permutation of 0..3.
	Order Output
}

// ColorJitter applies torchvision's ColorJitter to the float batch x (values
// in [0, 1]) with the given draws: each sample selected by Apply undergoes
// brightness, contrast, saturation and hue adjustments in its own order,
// each one exactly as AdjustBrightness, AdjustContrast, AdjustSaturation and
// AdjustHue compute it. Saturation and hue are off for grey batches.
//
// Brightness, contrast and saturation share one form, clip(f*x + (1-f)*y,
// 0, 1) with y = 0, the grey mean or the grey image, so a "blend round"
// evaluates that form once for the whole batch with each sample's own f and
// y (f = 1, the identity, for samples that skip the round). Hue, the costly
// operation, is computed once for the whole batch: every sample's order is
// split at hue into the blends before it and the blends after it, giving up
// to 3 blend rounds, the hue step, and up to 3 more blend rounds (3 blend
// rounds in all when hue is off). Shapes stay static, so the graph suits XLA
// and GPUs.
func ColorJitter(s *tfgraph.Scope, x Output, j JitterDraws) Output {
	s = s.Child("color_jitter")
	rgb := channels(s, x) == 3
	var blends []blendOp
	if j.Brightness.Op != nil {
		blends = append(blends, blendOp{JitterBrightness, j.Brightness})
	}
	if j.Contrast.Op != nil {
		blends = append(blends, blendOp{JitterContrast, j.Contrast})
	}
	if rgb && j.Saturation.Op != nil {
		blends = append(blends, blendOp{JitterSaturation, j.Saturation})
	}
	hue := rgb && j.Hue.Op != nil
	if len(blends) == 0 && !hue {
		return x
	}
	apply := s.Less(f32(s, 0.5), j.Apply)

	// ops[k] is each sample's k-th operation other than hue; huePos is the
	// position of hue in its order, i.e. how many of those come before it.
	// (ArgMax over float32: GPUs have no int32 ArgMax kernel.)
	isHue := s.Cast(s.Equal(j.Order, i32(s, JitterHue)), tfgraph.Float)
	huePos := s.ArgMax(isHue, 1)
	positions := s.Const("positions", [][]int32{{0, 1, 2, 3}})
	ops := make([]Output, jitterOps-1)
	for k := range ops {
		// Skip the hue slot: the k-th other operation sits at k or k+1.
		at := s.Add(i32(s, k), s.Cast(lessEq(s, huePos, i32(s, k)), tfgraph.Int32))
		pick := s.Cast(s.Equal(positions, s.Reshape(at, -1, 1)), tfgraph.Int32)
		ops[k] = s.Sum(s.Mul(j.Order, pick), false, 1)
	}

	y := x
	if !hue {
		for k := range ops {
			y = blendRound(s.Child(fmt.Sprintf("round%d", k)), y, ops[k], apply, blends)
		}
		return y
	}
	for k := range ops { // the blends before hue
		before := and(s, apply, s.Less(i32(s, k), huePos))
		y = blendRound(s.Child(fmt.Sprintf("before%d", k)), y, ops[k], before, blends)
	}
	y = selectRows(s, apply, AdjustHue(s, y, j.Hue), y)
	for k := range ops { // the blends after hue
		after := and(s, apply, lessEq(s, huePos, i32(s, k)))
		y = blendRound(s.Child(fmt.Sprintf("after%d", k)), y, ops[k], after, blends)
	}
	return y
}

// blendOp is one of the blend-type jitter operations with its factors.
type blendOp struct {
	id     int
	factor Output
}

// blendRound applies, to every sample where active is true, the blend
// operation named by which (int32 [N]); other samples get factor 1, which
// leaves them unchanged.
func blendRound(s *tfgraph.Scope, x, which, active Output, blends []blendOp) Output {
	if len(blends) == 0 {
		return x
	}
	f := s.OnesLike(blends[0].factor)
	var target Output = f32(s, 0) // brightness blends with black
	var g Output
	for _, b := range blends {
		is := and(s, active, s.Equal(which, i32(s, b.id)))
		f = s.Select(is, b.factor, f)
		if b.id == JitterBrightness {
			continue
		}
		if g.Op == nil {
			g = grey(s, x)
		}
		weight := perSample(s, s.Cast(is, tfgraph.Float))
		if b.id == JitterContrast {
			target = s.Add(target, s.Mul(weight, s.Mean(g, true, 1, 2, 3)))
		} else {
			target = s.Add(target, s.Mul(weight, g))
		}
	}
	return blend(s, x, target, f)
}

// jitterDraws draws ColorJitter's random inputs for a batch of n samples:
// Apply with probability p, brightness, contrast and saturation factors
// ~ U[max(0, 1-b), 1+b], the hue shift ~ U[-h, h] and a uniformly random
// order (the ranks of 4 uniform draws). Operations with strength 0 are left
// off.
func jitterDraws(s *tfgraph.Scope, seed, n Output, a jitterStrength) JitterDraws {
	u := uniform(s, "draws", n, 5+jitterOps, seed)
	var j JitterDraws
	j.Apply = s.Cast(s.Less(column(s, u, 0), f32(s, a.p)), tfgraph.Float)
	factor := func(col int, b float64) Output {
		if b <= 0 {
			return Output{}
		}
		return between(s, column(s, u, col), max(0, 1-b), 1+b)
	}
	j.Brightness = factor(1, a.brightness)
	j.Contrast = factor(2, a.contrast)
	j.Saturation = factor(3, a.saturation)
	if a.hue > 0 {
		j.Hue = between(s, column(s, u, 4), -a.hue, a.hue)
	}
	keys := s.Slice(u, []int32{0, 5}, []int32{-1, jitterOps})
	_, j.Order = s.TopK(keys, jitterOps)
	return j
}

// jitterStrength is the part of configs.Augment ColorJitter needs.
type jitterStrength struct {
	p, brightness, contrast, saturation, hue float64
}

// jitterStage applies ColorJitter to each sample with probability p, with
// the strengths of augment.brightness, contrast, saturation and hue.
func jitterStage(v *viewState, seed Output, p float64) {
	a := v.a
	j := jitterDraws(v.s.Child("jitter_draws"), seed, v.n, jitterStrength{
		p: p, brightness: a.Brightness, contrast: a.Contrast,
		saturation: a.Saturation, hue: a.Hue,
	})
	v.x = ColorJitter(v.s, v.x, j)
}

// greyStage converts each sample to grey with probability p; it adds no
// ops unless d.Channels is 3.
func greyStage(v *viewState, seed Output, p float64) {
	if v.d.Channels != 3 {
		return
	}
	s := v.s
	u := uniform(s, "grey_draws", v.n, 1, seed)
	v.x = RandomGrayscale(s, v.x, bernoulli(s, s.Reshape(u, -1), p))
}
