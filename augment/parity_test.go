package augment

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// parityTolerance is the largest |Go - Python| accepted per operation. Both
// sides evaluate the same formulas in float32, so 1e-5 leaves room for
// rounding only (hue, which goes through two colour-space conversions, TF's
// fused AdjustHue kernel on the Python side and RGBToHSV/HSVToRGB here,
// differs by about 6e-7).
const parityTolerance = 1e-5

// array is one named input or output handed to the Python reference.
type array struct {
	data  any
	shape []int64
}

func randImage(r *rand.Rand, shape ...int64) ([]float32, []int64) {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32()
	}
	return x, shape
}

// TestParityWithTensorFlow runs every building block on fixed inputs and
// draws, writes inputs and outputs as .npy files and lets
// testdata/augment_ref.py recompute them with tf.image (and NumPy where
// tf.image has no equivalent), reporting the largest difference per op.
func TestParityWithTensorFlow(t *testing.T) {
	py := os.Getenv("SIMSIAM_PYTHON")
	if py == "" {
		if os.Getenv("SIMSIAM_NO_PYTHON") == "1" {
			t.Skip("SIMSIAM_NO_PYTHON=1: skipping the Python TensorFlow parity test")
		}
		t.Fatal("SIMSIAM_PYTHON is not set: run the tests via `make test` (or eval \"$(third_party/libtensorflow/setup.sh --env)\"), or set SIMSIAM_NO_PYTHON=1 to skip the parity test")
	}
	r := rand.New(rand.NewPCG(1, 2))
	img, imgShape := randImage(r, 4, 9, 11, 3)
	grey, greyShape := randImage(r, 4, 9, 11, 1)
	blurImg, blurShape := randImage(r, 4, 12, 10, 3)
	blurSmall, blurSmallShape := randImage(r, 2, 8, 8, 1)
	inputs := map[string]array{
		"img":        {img, imgShape},
		"grey":       {grey, greyShape},
		"blur_img":   {blurImg, blurShape},
		"blur_small": {blurSmall, blurSmallShape},
		"boxes": {[]float32{
			0, 0, 1, 1,
			0.1, 0.2, 0.7, 0.9,
			0.8, 0.1, 0.2, 0.6, // y1 > y2: flipped upside down
			-0.1, 0.3, 0.9, 1.2, // partly outside: extrapolated with 0
		}, []int64{4, 4}},
		"flip_mask":       {[]float32{1, 0, 1, 0}, []int64{4}},
		"gray_mask":       {[]float32{0, 1, 1, 0}, []int64{4}},
		"brightness":      {[]float32{0.6, 1, 1.4, 0}, []int64{4}},
		"contrast":        {[]float32{0.6, 1.4, 1, 0.2}, []int64{4}},
		"saturation":      {[]float32{0, 0.5, 1.4, 1}, []int64{4}},
		"hue":             {[]float32{-0.1, 0.05, 0.5, -0.45}, []int64{4}},
		"blur_sigma":      {[]float32{0.5, 1, 2, 0}, []int64{4}},
		"blur_small_sigm": {[]float32{3, 0.8}, []int64{2}},
		"jitter_apply":    {[]float32{1, 1, 1, 0}, []int64{4}},
		"jitter_order":    {[]int32{0, 1, 2, 3, 3, 2, 1, 0, 1, 3, 0, 2, 2, 0, 3, 1}, []int64{4, 4}},
	}
	eval1, eval1Shape := randImage(r, 2, 40, 50, 3)
	eval2, eval2Shape := randImage(r, 2, 20, 30, 3)
	for _, e := range [][]float32{eval1, eval2} {
		for i := range e {
			e[i] = float32(int(e[i] * 256))
		}
	}
	inputs["eval_big"] = array{eval1, eval1Shape}
	inputs["eval_small"] = array{eval2, eval2Shape}

	g := tfgraph.NewGraph()
	s := g.Root()
	c := func(name string) tfgraph.Output {
		return s.Const(name, tensor(t, inputs[name].data, inputs[name].shape...))
	}
	u8 := func(name string) tfgraph.Output { return s.Cast(c(name), tfgraph.Uint8) }
	x := c("img")
	const blurKernel, blurSmallKernel = 5, 9
	outs := map[string]tfgraph.Output{
		"crop_and_resize":      CropAndResize(s, x, c("boxes"), 7),
		"flip":                 Flip(s, x, c("flip_mask")),
		"adjust_brightness":    AdjustBrightness(s, x, c("brightness")),
		"adjust_contrast":      AdjustContrast(s, x, c("contrast")),
		"adjust_contrast_grey": AdjustContrast(s, c("grey"), c("contrast")),
		"adjust_saturation":    AdjustSaturation(s, x, c("saturation")),
		"adjust_hue":           AdjustHue(s, x, c("hue")),
		"grayscale":            Grayscale(s, x),
		"random_grayscale":     RandomGrayscale(s, x, c("gray_mask")),
		"gaussian_blur":        GaussianBlur(s, c("blur_img"), c("blur_sigma"), blurKernel),
		"gaussian_blur_small":  GaussianBlur(s, c("blur_small"), c("blur_small_sigm"), blurSmallKernel),
		"color_jitter": ColorJitter(s, x, JitterDraws{
			Apply: c("jitter_apply"), Brightness: c("brightness"), Contrast: c("contrast"),
			Saturation: c("saturation"), Hue: c("hue"), Order: c("jitter_order"),
		}),
		"color_jitter_grey": ColorJitter(s, c("grey"), JitterDraws{
			Apply: c("jitter_apply"), Brightness: c("brightness"), Contrast: c("contrast"),
			Saturation: c("saturation"), Hue: c("hue"), Order: c("jitter_order"),
		}),
		"eval_big":   Eval(s, u8("eval_big"), configs.Data{ImageSize: 32, Channels: 3}),
		"eval_small": Eval(s, u8("eval_small"), configs.Data{ImageSize: 24, Channels: 3}),
	}
	names := make([]string, 0, len(outs))
	fetches := make([]tfgraph.Output, 0, len(outs))
	for name, o := range outs {
		names = append(names, name)
		fetches = append(fetches, o)
	}
	res := runGraph(t, g, nil, fetches...)

	dir := t.TempDir()
	for name, a := range inputs {
		if err := writeNPY(filepath.Join(dir, name+".npy"), a.data, a.shape); err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range names {
		if err := writeNPY(filepath.Join(dir, name+"_out.npy"), floats(t, res[i]), res[i].Shape()); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "params.json"),
		[]byte(`{"blur_kernel": 5, "blur_small_kernel": 9}`), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(py, filepath.Join("testdata", "augment_ref.py"), dir)
	cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=3", "CUDA_VISIBLE_DEVICES=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s testdata/augment_ref.py: %v\n%s", py, err, stderr.String())
	}
	var diffs map[string]float64
	if err := json.Unmarshal(stdout, &diffs); err != nil {
		t.Fatalf("reading the reference's JSON: %v\n%s", err, stdout)
	}
	sort.Strings(names)
	for _, name := range names {
		d, ok := diffs[name]
		if !ok {
			t.Errorf("%s: the reference did not check it", name)
			continue
		}
		const tol = parityTolerance
		t.Logf("%-22s max |Go - Python| = %.3g (tolerance %g)", name, d, tol)
		if !(d < tol) {
			t.Errorf("%s: max abs difference %g, want < %g", name, d, tol)
		}
	}
	for name := range diffs {
		if _, ok := outs[name]; !ok {
			t.Errorf("the reference reports %q, which the test did not compute", name)
		}
	}
}
