package augment

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// updateGolden rewrites testdata/golden_views.txt from the current code
// instead of comparing with it: go test ./augment -run Golden -update-golden.
// Only do that when a change of the random draws is intended (it changes
// every run's views, so the demo's figures).
var updateGolden = flag.Bool("update-golden", false, "rewrite augment/testdata/golden_views.txt from the current pipeline")

// goldenPath holds one "name shape sha256" line per output tensor of the
// golden cases below, computed on the CPU.
var goldenPath = filepath.Join("testdata", "golden_views.txt")

// goldenCase is one configuration of the whole pipeline run by TestGolden.
type goldenCase struct {
	name    string
	inC     int // channels of the fed uint8 batch
	h, w    int
	a       configs.Augment
	d       configs.Data
	preview bool // also render a Preview grid
}

// everyStage switches every random stage on, each with probability p, so
// that (for p < 1) some samples take each branch and others do not.
func everyStage(p float64) configs.Augment {
	return configs.Augment{
		CropScale: []float64{0.2, 1}, CropRatio: []float64{0.75, 4.0 / 3},
		JitterProb: p, Brightness: 0.4, Contrast: 0.4, Saturation: 0.4, Hue: 0.1,
		GrayscaleProb: p, BlurProb: p, BlurSigma: []float64{0.1, 2},
		SolarizeProb: p, FlipProb: p, EraseProb: p, EraseScale: []float64{0.02, 0.33},
		LocalCrops: 2, LocalScale: []float64{0.05, 0.4},
	}
}

func goldenCases() []goldenCase {
	rgb := configs.Data{ImageSize: 16, Channels: 3, Mean: []float64{0.5, 0.4, 0.3}, Std: []float64{0.2, 0.25, 0.3}}
	grey := configs.Data{ImageSize: 16, Channels: 1, Mean: []float64{0.286}, Std: []float64{0.353}}
	always := everyStage(1)
	always.LocalCrops, always.LocalSize = 1, 6
	// The demo's own augmentation (fashion_mnist_demo: 28x28 grey, crop,
	// brightness and contrast jitter, flip) and the default ImageNet
	// recipe (blur included) at a small size.
	demo, err := configs.Load(configs.LoadOptions{Preset: "fashion_mnist_demo"})
	if err != nil {
		panic(err)
	}
	imagenet := configs.Default()
	imagenet.Data.ImageSize = 32
	return []goldenCase{
		{name: "demo", inC: 1, h: 28, w: 28, a: demo.Augment, d: demo.Data, preview: true},
		{name: "imagenet_recipe", inC: 3, h: 40, w: 36, a: imagenet.Augment, d: imagenet.Data},
		{name: "rgb_half", inC: 3, h: 20, w: 24, a: everyStage(0.5), d: rgb, preview: true},
		{name: "rgb_always", inC: 3, h: 18, w: 18, a: always, d: rgb},
		{name: "grey_half", inC: 1, h: 20, w: 17, a: everyStage(0.5), d: grey, preview: true},
		{name: "grey_to_rgb", inC: 1, h: 16, w: 16, a: everyStage(0.7), d: rgb},
	}
}

// goldenBatch is a fixed pseudo-random uint8 batch of 6 images.
func goldenBatch(h, w, c int) []uint8 {
	r := rand.New(rand.NewPCG(29, 7))
	pix := make([]uint8, 6*h*w*c)
	for i := range pix {
		pix[i] = uint8(r.IntN(256))
	}
	return pix
}

// tensorBytes is the raw little-endian contents of x.
func tensorBytes(t testing.TB, x *tfgraph.Tensor) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := x.WriteContentsTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// goldenDigests runs every golden case (Views, LocalViews and, where set,
// Preview) and returns "shape sha256" per output name.
func goldenDigests(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	digest := func(b []byte) string {
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:])
	}
	for _, tc := range goldenCases() {
		g := tfgraph.NewGraph()
		s := g.Root()
		images := s.Placeholder("images", tfgraph.Uint8, []int64{-1, -1, -1, int64(tc.inC)})
		seed := s.Placeholder("seed", tfgraph.Int64, []int64{2})
		v1, v2 := Views(s.Child("augment"), images, seed, tc.a, tc.d)
		local := LocalViews(s.Child("local"), images, seed, tc.a, tc.d)
		if err := g.Err(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		pix := goldenBatch(tc.h, tc.w, tc.inC)
		fetches, names := []tfgraph.Output{v1, v2}, []string{"view1", "view2"}
		if tc.a.LocalCrops > 0 {
			fetches, names = append(fetches, local), append(names, "local")
		}
		res := runGraph(t, g, map[tfgraph.Output]*tfgraph.Tensor{
			images: tensor(t, pix, 6, int64(tc.h), int64(tc.w), int64(tc.inC)),
			seed:   tensor(t, StepSeed(3, 41), 2),
		}, fetches...)
		for i, name := range names {
			out[tc.name+"/"+name] = fmt.Sprintf("%v %s", res[i].Shape(), digest(tensorBytes(t, res[i])))
		}
		if tc.preview && tc.inC == tc.d.Channels {
			imgs := &data.Images{N: 6, H: tc.h, W: tc.w, C: tc.inC, Pix: pix, Source: tc.name}
			grid, err := Preview(imgs, []int{4, 0, 2}, tc.a, tc.d, StepSeed(3, 42))
			if err != nil {
				t.Fatalf("%s: preview: %v", tc.name, err)
			}
			out[tc.name+"/preview"] = fmt.Sprintf("%dx%d %s", grid.Bounds().Dx(), grid.Bounds().Dy(), digest(grid.Pix))
		}
	}
	return out
}

// TestGolden checks that the augmentation pipeline still draws exactly what
// it drew when testdata/golden_views.txt was written: every stage on,
// Views, LocalViews and Preview, byte for byte. A resumed or repeated run
// depends on it, and so do the demo's published figures.
func TestGolden(t *testing.T) {
	got := goldenDigests(t)
	if *updateGolden {
		names := make([]string, 0, len(got))
		for k := range got {
			names = append(names, k)
		}
		sort.Strings(names)
		var b strings.Builder
		b.WriteString("# name shape sha256 of the raw little-endian output (TestGolden; -update-golden rewrites it)\n")
		for _, k := range names {
			fmt.Fprintf(&b, "%s %s\n", k, got[k])
		}
		if err := os.WriteFile(goldenPath, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d digests to %s", len(got), goldenPath)
		return
	}
	want := readGolden(t)
	if len(want) != len(got) {
		t.Errorf("%s holds %d outputs, the test makes %d", goldenPath, len(want), len(got))
	}
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: in %s but no longer made", k, goldenPath)
		case g != w:
			t.Errorf("%s: got %s, want %s", k, g, w)
		}
	}
}

// readGolden parses goldenPath into name -> "shape sha256".
func readGolden(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("%s: bad line %q", goldenPath, line)
		}
		want[name] = rest
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return want
}
