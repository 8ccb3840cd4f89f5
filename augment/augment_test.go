package augment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// plainAugment switches every random stage off: full-image crop, no jitter,
// no grey, no blur, no flip.
func plainAugment() configs.Augment {
	return configs.Augment{CropScale: []float64{1, 1}, CropRatio: []float64{1, 1}, BlurSigma: []float64{0.1, 2}}
}

// rawData leaves pixel values in [0, 1] (mean 0, std 1).
func rawData(size, c int) configs.Data {
	return configs.Data{ImageSize: size, Channels: c}
}

func TestCropBoxesStatistics(t *testing.T) {
	const n = 2000
	cifar := [2]float64{0.75, 4.0 / 3}
	cases := []struct {
		name         string
		aspect       float64
		scale, ratio [2]float64
		// fallback is the central box used when no try fits.
		fallback [4]float64
		// maxFallback is the largest accepted fraction of fallback boxes.
		maxFallback float64
		// maxArea is the largest area fraction a box of the ratio range can
		// cover (2/3 for a 2:1 image and ratios up to 4/3).
		maxArea float64
	}{
		{"square", 1, [2]float64{0.2, 1}, cifar, [4]float64{0, 0, 1, 1}, 0.01, 1},
		{"wide image", 2, [2]float64{0.2, 1}, cifar, [4]float64{0, 1.0 / 6, 1, 5.0 / 6}, 0.01, 2.0 / 3},
		{"tall image", 0.5, [2]float64{0.08, 1}, cifar, [4]float64{1.0 / 6, 0, 5.0 / 6, 1}, 0.01, 2.0 / 3},
		// No try can fit: every box is the central crop clipped to the ratio.
		{"always fallback", 1, [2]float64{0.9, 1}, [2]float64{0.2, 0.3}, [4]float64{0, 0.35, 1, 0.65}, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tfgraph.NewGraph()
			s := g.Root()
			boxes := cropBoxes(s, s.Const("seed", []int64{3, 4}), s.Const("n", int32(n)),
				s.Const("aspect", float32(tc.aspect)), tc.scale, tc.ratio)
			b := floats(t, runGraph(t, g, nil, boxes)[0])
			var fallbacks, random int
			var offY, offX float64
			var minArea, maxArea = math.Inf(1), math.Inf(-1)
			const eps = 1e-5
			for i := 0; i < n; i++ {
				y1, x1, y2, x2 := float64(b[4*i]), float64(b[4*i+1]), float64(b[4*i+2]), float64(b[4*i+3])
				if y1 < -eps || x1 < -eps || y2 > 1+eps || x2 > 1+eps || y2 <= y1 || x2 <= x1 {
					t.Fatalf("box %d = %v is not inside the image", i, b[4*i:4*i+4])
				}
				fb := true
				for k, v := range []float64{y1, x1, y2, x2} {
					fb = fb && math.Abs(v-tc.fallback[k]) < eps
				}
				if fb {
					fallbacks++
					continue
				}
				hn, wn := y2-y1, x2-x1
				area, ratio := hn*wn, wn*tc.aspect/hn
				if area < tc.scale[0]-eps || area > tc.scale[1]+eps {
					t.Errorf("box %d: area fraction %.4f outside %v", i, area, tc.scale)
				}
				if ratio < tc.ratio[0]*(1-eps) || ratio > tc.ratio[1]*(1+eps) {
					t.Errorf("box %d: aspect ratio %.4f outside %v", i, ratio, tc.ratio)
				}
				minArea, maxArea = min(minArea, area), max(maxArea, area)
				if hn < 0.9 && wn < 0.9 {
					random++
					offY += y1 / (1 - hn)
					offX += x1 / (1 - wn)
				}
			}
			if frac := float64(fallbacks) / n; frac > tc.maxFallback {
				t.Errorf("%.3f of the boxes fell back to the central crop, want <= %g", frac, tc.maxFallback)
			}
			if tc.maxFallback == 1 {
				return
			}
			if minArea > tc.scale[0]+0.02 || maxArea < tc.maxArea-0.1 || maxArea > tc.maxArea+eps {
				t.Errorf("areas span [%.3f, %.3f], want about [%g, %.3f]", minArea, maxArea, tc.scale[0], tc.maxArea)
			}
			// The relative offsets are U[0, 1): mean 0.5.
			if random < n/4 {
				t.Fatalf("only %d boxes with room to move", random)
			}
			for _, m := range []float64{offY / float64(random), offX / float64(random)} {
				if math.Abs(m-0.5) > 0.04 {
					t.Errorf("mean relative offset %.3f, want 0.5", m)
				}
			}
		})
	}
}

// patternImage is an asymmetric, colourful h x w RGB image: red grows to the
// right, green downwards, blue to the left.
func patternImage(h, w int) []uint8 {
	img := make([]uint8, h*w*3)
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			p := img[3*(i*w+j):]
			p[0] = uint8(20 + 200*j/(w-1))
			p[1] = uint8(30 + 150*i/(h-1))
			p[2] = uint8(230 - 200*j/(w-1))
		}
	}
	return img
}

// TestRandomStageRates runs View on 2000 copies of one image with a single
// random stage switched on and checks how often it fires.
func TestRandomStageRates(t *testing.T) {
	const n, size = 2000, 8
	pattern := patternImage(size, size)
	batch := make([]uint8, 0, n*len(pattern))
	for i := 0; i < n; i++ {
		batch = append(batch, pattern...)
	}
	orig := make([]float32, len(pattern))
	mirror := make([]float32, len(pattern))
	for i := 0; i < size; i++ {
		for j := 0; j < size; j++ {
			for c := 0; c < 3; c++ {
				orig[(i*size+j)*3+c] = float32(pattern[(i*size+j)*3+c]) / 255
				mirror[(i*size+j)*3+c] = float32(pattern[(i*size+size-1-j)*3+c]) / 255
			}
		}
	}
	// View keeps its crop boxes 2^-21 inside the image, which moves values
	// by up to ~1e-5: compare with 1e-4.
	const tol = 1e-4
	changed := func(x []float32) bool { return maxAbsDiff(x, orig) > tol }
	cases := []struct {
		name  string
		set   func(*configs.Augment)
		p     float64
		fired func(t *testing.T, x []float32) bool
	}{
		{"flip", func(a *configs.Augment) { a.FlipProb = 0.5 }, 0.5, func(t *testing.T, x []float32) bool {
			isMirror := maxAbsDiff(x, mirror) < tol
			if !isMirror && changed(x) {
				t.Fatalf("a flipped view is neither the image nor its mirror")
			}
			return isMirror
		}},
		{"grayscale", func(a *configs.Augment) { a.GrayscaleProb = 0.2 }, 0.2, func(t *testing.T, x []float32) bool {
			grey := true
			for i := 0; i < len(x); i += 3 {
				grey = grey && x[i] == x[i+1] && x[i+1] == x[i+2] // Grayscale copies one value
			}
			if !grey && changed(x) {
				t.Fatalf("a view is neither grey nor the image")
			}
			return grey
		}},
		{"jitter", func(a *configs.Augment) { a.JitterProb, a.Brightness, a.Hue = 0.8, 0.4, 0.1 }, 0.8,
			func(t *testing.T, x []float32) bool { return changed(x) }},
		{"blur", func(a *configs.Augment) { a.BlurProb, a.BlurSigma = 0.3, []float64{1, 2} }, 0.3,
			func(t *testing.T, x []float32) bool { return changed(x) }},
		{"erase", func(a *configs.Augment) { a.EraseProb, a.EraseScale = 0.3, []float64{0.1, 0.3} }, 0.3, func(t *testing.T, x []float32) bool {
			// An erased view is the image with some pixels (all their
			// channels) set to 0; scale >= 0.1 covers a pixel centre.
			erased := 0
			for i := 0; i < len(x); i += 3 {
				if maxAbsDiff(x[i:i+3], orig[i:i+3]) > tol {
					if x[i] != 0 || x[i+1] != 0 || x[i+2] != 0 {
						t.Fatalf("a view changed pixel %d to %v, not to 0", i/3, x[i:i+3])
					}
					erased++
				}
			}
			return erased > 0
		}},
		{"solarize", func(a *configs.Augment) { a.SolarizeProb = 0.2 }, 0.2, func(t *testing.T, x []float32) bool {
			inverted := true
			for i, v := range orig {
				want := v
				if v >= 0.5 {
					want = 1 - v
				}
				inverted = inverted && math.Abs(float64(x[i]-want)) < tol
			}
			if !inverted && changed(x) {
				t.Fatalf("a view is neither solarized nor the image")
			}
			return inverted
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := plainAugment()
			tc.set(&a)
			g := tfgraph.NewGraph()
			s := g.Root()
			images := s.Const("images", tensor(t, batch, n, size, size, 3))
			v := View(s, images, s.Const("seed", StepSeed(1, 2)), a, rawData(size, 3))
			out := floats(t, runGraph(t, g, nil, v)[0])
			k := 0
			per := len(pattern)
			for i := 0; i < n; i++ {
				if tc.fired(t, out[i*per:(i+1)*per]) {
					k++
				}
			}
			rate := float64(k) / n
			t.Logf("%s fired on %.3f of the views (p = %g)", tc.name, rate, tc.p)
			if math.Abs(rate-tc.p) > 0.05 {
				t.Errorf("%s fired on %.3f of the views, want %g ± 0.05", tc.name, rate, tc.p)
			}
		})
	}
}

func TestJitterDraws(t *testing.T) {
	const n = 2400
	g := tfgraph.NewGraph()
	s := g.Root()
	j := jitterDraws(s, s.Const("seed", []int64{9, 9}), s.Const("n", int32(n)),
		jitterStrength{p: 0.8, brightness: 0.4, contrast: 1.5, saturation: 0.4, hue: 0.1})
	res := runGraph(t, g, nil, j.Apply, j.Brightness, j.Contrast, j.Saturation, j.Hue, j.Order)
	apply := floats(t, res[0])
	order := res[5].Value().([][]int32)
	ranges := []struct {
		name   string
		v      []float32
		lo, hi float64
	}{
		{"brightness", floats(t, res[1]), 0.6, 1.4},
		{"contrast", floats(t, res[2]), 0, 2.5}, // max(0, 1-1.5)
		{"saturation", floats(t, res[3]), 0.6, 1.4},
		{"hue", floats(t, res[4]), -0.1, 0.1},
	}
	for _, r := range ranges {
		lo, hi := slices.Min(r.v), slices.Max(r.v)
		if float64(lo) < r.lo || float64(hi) > r.hi || float64(lo) > r.lo+0.01 || float64(hi) < r.hi-0.01 {
			t.Errorf("%s draws span [%.3f, %.3f], want [%g, %g]", r.name, lo, hi, r.lo, r.hi)
		}
	}
	applied := 0
	var first [4]int
	for i := 0; i < n; i++ {
		if apply[i] == 1 {
			applied++
		}
		seen := [4]bool{}
		for _, o := range order[i] {
			seen[o] = true
		}
		if seen != [4]bool{true, true, true, true} {
			t.Fatalf("order %v is not a permutation", order[i])
		}
		first[order[i][0]]++
	}
	if rate := float64(applied) / n; math.Abs(rate-0.8) > 0.05 {
		t.Errorf("jitter applied on %.3f of the samples, want 0.8", rate)
	}
	for op, c := range first {
		if rate := float64(c) / n; math.Abs(rate-0.25) > 0.04 {
			t.Errorf("op %d comes first in %.3f of the orders, want 0.25", op, rate)
		}
	}
}

// buildViews builds Views over a uint8 placeholder of unknown N, H, W.
func buildViews(a configs.Augment, d configs.Data, c int64) (g *tfgraph.Graph, images, seed, v1, v2 tfgraph.Output) {
	g = tfgraph.NewGraph()
	s := g.Root()
	images = s.Placeholder("images", tfgraph.Uint8, []int64{-1, -1, -1, c})
	seed = s.Placeholder("seed", tfgraph.Int64, []int64{2})
	v1, v2 = Views(s.Child("augment"), images, seed, a, d)
	return
}

func TestDeterminism(t *testing.T) {
	a := configs.Default().Augment // ImageNet recipe: every stage on, blur included
	d := configs.Data{ImageSize: 32, Channels: 3, Mean: []float64{0.5, 0.4, 0.3}, Std: []float64{0.2, 0.25, 0.3}}
	r := rand.New(rand.NewPCG(5, 6))
	pix := make([]uint8, 4*40*36*3)
	for i := range pix {
		pix[i] = uint8(r.IntN(256))
	}
	img := tensor(t, pix, 4, 40, 36, 3)
	run := func(step int64) (v1, v2 []float32) {
		g, images, seed, o1, o2 := buildViews(a, d, 3)
		res := runGraph(t, g, map[tfgraph.Output]*tfgraph.Tensor{
			images: img, seed: tensor(t, StepSeed(11, step), 2),
		}, o1, o2)
		return floats(t, res[0]), floats(t, res[1])
	}
	a1, a2 := run(7)
	b1, b2 := run(7) // a fresh graph and session, as after a restart
	c1, c2 := run(8)
	if !slices.Equal(a1, b1) || !slices.Equal(a2, b2) {
		t.Errorf("the same seed gave different views (max diff %g, %g)", maxAbsDiff(a1, b1), maxAbsDiff(a2, b2))
	}
	if d := maxAbsDiff(a1, c1); d < 1e-3 {
		t.Errorf("steps 7 and 8 gave the same first view (max diff %g)", d)
	}
	if d := maxAbsDiff(a2, c2); d < 1e-3 {
		t.Errorf("steps 7 and 8 gave the same second view (max diff %g)", d)
	}
	per := len(a1) / 4
	for i := 0; i < 4; i++ {
		if d := maxAbsDiff(a1[i*per:(i+1)*per], a2[i*per:(i+1)*per]); d < 1e-3 {
			t.Errorf("sample %d: the two views are equal (max diff %g)", i, d)
		}
	}
	for i, v := range a1 {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("view value %d is %v", i, v)
		}
	}
}

func TestStepSeed(t *testing.T) {
	seen := map[[2]int64]bool{}
	for run := int64(0); run < 4; run++ {
		for step := int64(0); step < 64; step++ {
			s := StepSeed(run, step)
			if len(s) != 2 {
				t.Fatalf("StepSeed(%d, %d) = %v, want two values", run, step, s)
			}
			if !slices.Equal(s, StepSeed(run, step)) {
				t.Fatalf("StepSeed(%d, %d) is not a function", run, step)
			}
			k := [2]int64{s[0], s[1]}
			if seen[k] {
				t.Fatalf("StepSeed(%d, %d) = %v repeats an earlier pair", run, step, s)
			}
			seen[k] = true
		}
	}
}

// quadrants is an h x w RGB image with a red top-left, green top-right and
// blue bottom-left quadrant and a black bottom-right one.
func quadrants(h, w int) []uint8 {
	img := make([]uint8, h*w*3)
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			switch top, left := i < h/2, j < w/2; {
			case top && left:
				img[3*(i*w+j)] = 255
			case top:
				img[3*(i*w+j)+1] = 255
			case left:
				img[3*(i*w+j)+2] = 255
			}
		}
	}
	return img
}

func TestOrientationAndChannelOrder(t *testing.T) {
	cases := []struct {
		name       string
		h, w, size int
		view       bool // View without randomness instead of Eval
	}{
		{"eval identity", 32, 32, 32, false},
		{"eval upsample", 28, 28, 32, false},
		{"eval resize and crop", 64, 64, 32, false},
		{"eval wide", 48, 64, 24, false},
		{"eval tall", 64, 40, 32, false},
		{"view plain", 32, 32, 32, true},
		{"view resize", 20, 20, 32, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tfgraph.NewGraph()
			s := g.Root()
			images := s.Placeholder("images", tfgraph.Uint8, []int64{-1, -1, -1, 3})
			var out tfgraph.Output
			if tc.view {
				out = View(s, images, s.Const("seed", []int64{1, 1}), plainAugment(), rawData(tc.size, 3))
			} else {
				out = Eval(s, images, rawData(tc.size, 3))
			}
			res := runGraph(t, g, map[tfgraph.Output]*tfgraph.Tensor{
				images: tensor(t, quadrants(tc.h, tc.w), 1, int64(tc.h), int64(tc.w), 3),
			}, out)
			if got := res[0].Shape(); !slices.Equal(got, []int64{1, int64(tc.size), int64(tc.size), 3}) {
				t.Fatalf("shape %v", got)
			}
			x := floats(t, res[0])
			n := tc.size
			at := func(i, j int) []float32 { return x[3*(i*n+j) : 3*(i*n+j)+3] }
			corners := []struct {
				name string
				i, j int
				want []float32
			}{
				{"top-left", 0, 0, []float32{1, 0, 0}},
				{"top-right", 0, n - 1, []float32{0, 1, 0}},
				{"bottom-left", n - 1, 0, []float32{0, 0, 1}},
				{"bottom-right", n - 1, n - 1, []float32{0, 0, 0}},
			}
			for _, c := range corners {
				if got := at(c.i, c.j); maxAbsDiff(got, c.want) > 1e-4 {
					t.Errorf("%s pixel = %v, want %v", c.name, got, c.want)
				}
			}
			if tc.h == tc.size && tc.w == tc.size {
				// Same size: Eval is the identity, View (every stage off)
				// nearly so (its boxes keep a 2^-21 margin).
				tol := 0.0
				if tc.view {
					tol = 1e-4
				}
				want := quadrants(n, n)
				for i, v := range x {
					if math.Abs(float64(v)-float64(want[i])/255) > tol {
						t.Fatalf("value %d = %v, want the input %v/255 unchanged", i, v, want[i])
					}
				}
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	cases := []struct {
		name      string
		c         int
		mean, std []float64
		want      []float32
	}{
		{"per channel", 3, []float64{0.5, 0.25, 0}, []float64{0.5, 0.25, 2}, []float32{0, 1, 0.5}},
		{"one value", 3, []float64{0.5}, []float64{0.5}, []float32{0, 0, 1}},
		{"grey", 1, []float64{0.25}, []float64{0.5}, []float32{0.5}},
		{"empty", 3, nil, nil, []float32{0.5, 0.5, 1}},
	}
	in := map[int][]float32{3: {0.5, 0.5, 1}, 1: {0.5}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tfgraph.NewGraph()
			s := g.Root()
			x := s.Const("x", tensor(t, in[tc.c], 1, 1, 1, int64(tc.c)))
			got := floats(t, runGraph(t, g, nil, Normalize(s, x, tc.mean, tc.std))[0])
			if maxAbsDiff(got, tc.want) > 1e-6 {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestShapes(t *testing.T) {
	cases := []struct {
		h, w, c  int64 // input
		channels int   // data.channels
		size     int
		blur     bool
		unknownC bool // the placeholder does not say C
	}{
		{28, 28, 1, 3, 32, false, false},
		{28, 28, 1, 1, 32, false, false},
		{28, 28, 1, 3, 32, false, true},
		{32, 32, 3, 3, 32, false, false},
		{32, 32, 3, 1, 32, false, false},
		{96, 96, 3, 3, 96, true, false},
		{96, 96, 1, 3, 96, true, false},
		{96, 96, 3, 3, 64, true, true},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%dx%dx%d_to_%dx%d", tc.h, tc.w, tc.c, tc.size, tc.channels)
		if tc.unknownC {
			name += "_unknownC"
		}
		t.Run(name, func(t *testing.T) {
			a := configs.Default().Augment
			if !tc.blur {
				a.BlurProb = 0
			}
			d := configs.Data{ImageSize: tc.size, Channels: tc.channels}
			phC := tc.c
			if tc.unknownC {
				phC = -1
			}
			g, images, seed, v1, v2 := buildViews(a, d, phC)
			ev := Eval(g.Root(), images, d)
			want := []int64{3, int64(tc.size), int64(tc.size), int64(tc.channels)}
			for _, o := range []tfgraph.Output{v1, v2, ev} {
				if o.Op == nil {
					t.Fatalf("graph error: %v", g.Err())
				}
				if got, _ := o.Shape().ToSlice(); !slices.Equal(got[1:], want[1:]) {
					t.Errorf("static shape %v, want [?, %d, %d, %d]", o.Shape(), tc.size, tc.size, tc.channels)
				}
			}
			pix := make([]uint8, 3*tc.h*tc.w*tc.c)
			for i := range pix {
				pix[i] = uint8(i * 7)
			}
			res := runGraph(t, g, map[tfgraph.Output]*tfgraph.Tensor{
				images: tensor(t, pix, 3, tc.h, tc.w, tc.c), seed: tensor(t, StepSeed(0, 1), 2),
			}, v1, v2, ev)
			for i, r := range res {
				if !slices.Equal(r.Shape(), want) {
					t.Errorf("output %d has shape %v, want %v", i, r.Shape(), want)
				}
				for _, v := range floats(t, r) {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("output %d holds %v", i, v)
					}
				}
			}
		})
	}
}

// TestNoBlackEdges guards View's box margin: CropAndResize writes 0 where
// float rounding puts a sample beyond the image, which for a full-image box
// over a 500-pixel side blackens the last row and column.
func TestNoBlackEdges(t *testing.T) {
	cases := []struct{ side, size int64 }{{500, 224}, {500, 32}, {32, 32}}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d_to_%d", tc.side, tc.size), func(t *testing.T) {
			const n = 4
			pix := make([]uint8, n*tc.side*tc.side*3)
			for i := range pix {
				pix[i] = 255
			}
			a := plainAugment()
			a.FlipProb = 0.5
			g := tfgraph.NewGraph()
			s := g.Root()
			images := s.Placeholder("images", tfgraph.Uint8, []int64{-1, -1, -1, 3})
			v := View(s, images, s.Const("seed", []int64{2, 3}), a, rawData(int(tc.size), 3))
			out := floats(t, runGraph(t, g, map[tfgraph.Output]*tfgraph.Tensor{
				images: tensor(t, pix, n, tc.side, tc.side, 3)}, v)[0])
			if m := slices.Min(out); m < 0.999 {
				t.Errorf("a white image came out with a value of %v", m)
			}
		})
	}
}

// TestBadArgumentsFailTheGraph checks that arguments the builders cannot
// use become the graph's error (never a panic) naming the problem.
func TestBadArgumentsFailTheGraph(t *testing.T) {
	d := configs.Data{ImageSize: 32, Channels: 3}
	cases := map[string]struct {
		build func(s *tfgraph.Scope) tfgraph.Output
		want  string
	}{
		"crop scale": {func(s *tfgraph.Scope) tfgraph.Output {
			a := configs.Default().Augment
			a.CropScale = []float64{0.2}
			return View(s, s.Placeholder("x", tfgraph.Uint8, []int64{-1, 32, 32, 3}), s.Const("seed", []int64{1, 2}), a, d)
		}, "augment.crop_scale must hold [min, max]"},
		"mean entries": {func(s *tfgraph.Scope) tfgraph.Output {
			return Normalize(s, s.Placeholder("x", tfgraph.Float, []int64{-1, 4, 4, 3}), []float64{0.1, 0.2}, nil)
		}, "data.mean has 2 entries for 3 channels"},
		"unknown channels": {func(s *tfgraph.Scope) tfgraph.Output {
			return Grayscale(s, s.Placeholder("x", tfgraph.Float, []int64{-1, 4, 4, -1}))
		}, "1 or 3 static channels"},
		"empty batch": {func(s *tfgraph.Scope) tfgraph.Output {
			return AdjustHue(s, tfgraph.Output{}, s.Const("d", []float32{0}))
		}, "got an empty tensor"},
		"blur of a dynamic shape": {func(s *tfgraph.Scope) tfgraph.Output {
			return GaussianBlur(s, s.Placeholder("x", tfgraph.Float, []int64{-1, -1, -1, 3}), s.Const("sigma", []float32{1}), 3)
		}, "GaussianBlur needs static H, W, C"},
		"even blur kernel": {func(s *tfgraph.Scope) tfgraph.Output {
			return GaussianBlur(s, s.Placeholder("x", tfgraph.Float, []int64{-1, 8, 8, 3}), s.Const("sigma", []float32{1}), 4)
		}, "kernel 4"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := tfgraph.NewGraph()
			out := tc.build(g.Root())
			if out.Op != nil {
				t.Errorf("got an output despite the error")
			}
			if err := g.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("graph error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
