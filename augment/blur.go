package augment

import (
	"fmt"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// BlurKernelSize is the Gaussian-blur kernel size used for images of side
// size: a tenth of the side, made odd, at least 3 (23 for 224 as in the
// SimSiam/MoCo v2 recipe, 9 for 96, 3 for 32).
func BlurKernelSize(size int) int {
	k := size / 10
	if k%2 == 0 {
		k++
	}
	return max(k, 3)
}

// GaussianBlur blurs every image of the float NHWC batch x with its own
// Gaussian, sigma float [N] in pixels, over a kernelSize x kernelSize window
// (kernelSize odd), as torchvision's gaussian_blur does: 1-D weights
// exp(-t²/(2σ²)) for t = -(k-1)/2 .. (k-1)/2, normalised to sum 1, applied
// along H and then W, with reflect padding (the edge pixel is not repeated).
// Samples with sigma <= 0 are left unchanged.
//
// The per-sample separable blur is two batched matrix products: the blur
// along an axis of length L is an [L, L] matrix per sample (reflect padding
// folded in), built as the [N, K] weights times a constant [K, L*L] tap
// layout. H, W and C must be known statically.
func GaussianBlur(s *tfgraph.Scope, x, sigma Output, kernelSize int) Output {
	h, w, c := staticDim(x, 1), staticDim(x, 2), staticDim(x, 3)
	if h <= 0 || w <= 0 || c <= 0 || kernelSize < 1 || kernelSize%2 == 0 {
		shape := "an empty tensor"
		if x.Op != nil {
			shape = fmt.Sprintf("shape %v", x.Shape())
		}
		s.Fail(fmt.Errorf("augment: GaussianBlur needs static H, W, C and an odd kernel size, got %s and kernel %d", shape, kernelSize))
		return Output{}
	}
	s = s.Child("gaussian_blur")
	k := kernelSize
	half := k / 2
	taps := make([]float32, k)
	delta := make([]float32, k)
	for i := range taps {
		taps[i] = float32(i - half)
	}
	delta[half] = 1

	sig := s.Reshape(sigma, -1, 1)
	safe := s.Maximum(sig, f32(s, 1e-3))
	z := s.Div(s.Const("taps", [][]float32{taps}), safe) // [N, K]
	g := s.Exp(s.Mul(f32(s, -0.5), s.Square(z)))         // [N, K]
	g = s.Div(g, s.Sum(g, true, 1))                      // normalised
	weights := s.Select(s.Less(f32(s, 0), sig), g, s.Const("delta", [][]float32{delta}))

	// Blur along H: out[n,i,w,c] = sum_j M_H[n,i,j] x[n,j,w,c].
	mh := blurMatrix(s, weights, int(h), k)
	y := s.BatchMatMul(mh, s.Reshape(x, -1, int32(h), int32(w*c)))
	y = s.Reshape(y, -1, int32(h), int32(w), int32(c))
	// Blur along W: out[n,h,i,c] = sum_j M_W[n,i,j] y[n,h,j,c], M_W
	// broadcast over the rows.
	mw := mh
	if w != h {
		mw = blurMatrix(s, weights, int(w), k)
	}
	mw = s.Reshape(mw, -1, 1, int32(w), int32(w))
	return s.BatchMatMul(mw, y)
}

// blurMatrix turns per-sample 1-D weights [N, k] into per-sample [N, L, L]
// matrices M with (M x)_i = sum_t weights[t] * x[reflect(i + t - k/2)].
func blurMatrix(s *tfgraph.Scope, weights Output, l, k int) Output {
	layout := make([][]float32, k)
	for t := range layout {
		layout[t] = make([]float32, l*l)
		for i := 0; i < l; i++ {
			layout[t][i*l+reflect(i+t-k/2, l)]++
		}
	}
	m := s.MatMul(weights, s.Const(fmt.Sprintf("taps%d", l), layout), false, false)
	return s.Reshape(m, -1, int32(l), int32(l))
}

// reflect maps an index outside [0, l) back inside by mirroring about the
// edge pixels (numpy's and PyTorch's "reflect" padding).
func reflect(p, l int) int {
	if l == 1 {
		return 0
	}
	period := 2 * (l - 1)
	p %= period
	if p < 0 {
		p += period
	}
	if p >= l {
		p = period - p
	}
	return p
}

// blurStage blurs each sample with probability p, its sigma uniform in
// augment.blur_sigma, with a BlurKernelSize(d.ImageSize) kernel.
func blurStage(v *viewState, seed Output, p float64) {
	s := v.s
	sig := checkPair(s, "augment.blur_sigma", v.a.BlurSigma)
	u := uniform(s, "blur_draws", v.n, 2, seed)
	sigma := between(s, column(s, u, 1), sig[0], sig[1])
	sigma = s.Mul(sigma, bernoulli(s, column(s, u, 0), p)) // 0 = no blur
	v.x = GaussianBlur(s, v.x, sigma, BlurKernelSize(v.d.ImageSize))
}
