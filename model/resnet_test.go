package model

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// buildBackbone creates the backbone arch/stem/width/inCh names under
// encoder/ in a graph of its own.
func buildBackbone(t *testing.T, arch, stem string, width, inCh int64) (*tfgraph.Graph, Backbone) {
	t.Helper()
	m := configs.Default().Model
	m.Arch, m.Stem, m.Width = arch, stem, int(width)
	g := tfgraph.NewGraph()
	bb, err := NewBackbone(g.Root().Child(EncoderScope), BackboneConfig{Model: m, InChannels: inCh, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	return g, bb
}

// varSpec is the shape of one variable and whether the optimiser trains it.
type varSpec struct {
	dims      []int64
	trainable bool
}

// torchvisionVars writes out, independently of newResNet, the variables of
// torchvision's ResNet with the given blocks per stage: key → shape. Conv
// kernels are HWIO; every conv is followed by a BN with gamma and beta
// (trained) and moving statistics (not trained); a block gets a projection
// shortcut (downsample) when it changes the resolution or the channel
// count, i.e. its first block in every stage but the first stage of a basic
// ResNet.
func torchvisionVars(blocks [4]int, bottleneck bool, stem string, width, inCh int64) map[string]varSpec {
	vars := map[string]varSpec{}
	conv := func(name string, k, in, out int64) {
		vars["encoder/"+name+"/kernel"] = varSpec{[]int64{k, k, in, out}, true}
	}
	bn := func(name string, c int64) {
		vars["encoder/"+name+"/gamma"] = varSpec{[]int64{c}, true}
		vars["encoder/"+name+"/beta"] = varSpec{[]int64{c}, true}
		vars["encoder/"+name+"/moving_mean"] = varSpec{[]int64{c}, false}
		vars["encoder/"+name+"/moving_variance"] = varSpec{[]int64{c}, false}
	}
	stemK := int64(7)
	if stem == "cifar" {
		stemK = 3
	}
	conv("conv1", stemK, inCh, width)
	bn("bn1", width)
	in := width
	for stage := 1; stage <= 4; stage++ {
		planes := width << (stage - 1)
		for b := range blocks[stage-1] {
			p := fmt.Sprintf("layer%d/%d/", stage, b)
			out := planes
			if bottleneck {
				out = 4 * planes
				conv(p+"conv1", 1, in, planes)
				conv(p+"conv2", 3, planes, planes)
				conv(p+"conv3", 1, planes, out)
				bn(p+"bn1", planes)
				bn(p+"bn2", planes)
				bn(p+"bn3", out)
			} else {
				conv(p+"conv1", 3, in, planes)
				conv(p+"conv2", 3, planes, planes)
				bn(p+"bn1", planes)
				bn(p+"bn2", planes)
			}
			if b == 0 && (stage > 1 || in != out) {
				conv(p+"downsample/conv", 1, in, out)
				bn(p+"downsample/bn", out)
			}
			in = out
		}
	}
	return vars
}

// trainableParams sums the elements of the trainable variables.
func trainableParams(vars map[string]varSpec) int64 {
	var n int64
	for _, v := range vars {
		if v.trainable {
			p := int64(1)
			for _, d := range v.dims {
				p *= d
			}
			n += p
		}
	}
	return n
}

// builtVars are the variables of g under prefix, as varSpecs.
func builtVars(g *tfgraph.Graph, prefix string) map[string]varSpec {
	vars := map[string]varSpec{}
	for _, v := range g.Variables() {
		if strings.HasPrefix(v.Key, prefix) {
			vars[v.Key] = varSpec{v.Dims, v.Trainable}
		}
	}
	return vars
}

// resNetCase is an architecture's layout as torchvision defines it, with its
// feature dimension at width 64.
type resNetCase struct {
	arch       string
	blocks     [4]int
	bottleneck bool
	features   int64
}

// resNets are the architectures of this file's tests.
var resNets = []resNetCase{
	{"resnet10", [4]int{1, 1, 1, 1}, false, 512},
	{"resnet18", [4]int{2, 2, 2, 2}, false, 512},
	{"resnet34", [4]int{3, 4, 6, 3}, false, 512},
	{"resnet50", [4]int{3, 4, 6, 3}, true, 2048},
}

// TestResNetVariables compares the variables every architecture builds
// (keys, shapes, trainable or not) with torchvisionVars, for both stems,
// grey and RGB input and two widths.
func TestResNetVariables(t *testing.T) {
	for _, r := range resNets {
		for _, stem := range []string{"cifar", "imagenet"} {
			for _, c := range []struct{ width, inCh int64 }{{8, 1}, {16, 3}} {
				t.Run(fmt.Sprintf("%s/%s/w%d/c%d", r.arch, stem, c.width, c.inCh), func(t *testing.T) {
					g, bb := buildBackbone(t, r.arch, stem, c.width, c.inCh)
					checkVars(t, builtVars(g, ""), torchvisionVars(r.blocks, r.bottleneck, stem, c.width, c.inCh))
					if got, want := bb.FeatureDim(), r.features*c.width/64; got != want {
						t.Errorf("FeatureDim = %d, want %d", got, want)
					}
					if bb.VarPrefix() != "encoder/" {
						t.Errorf("VarPrefix = %q, want encoder/", bb.VarPrefix())
					}
				})
			}
		}
	}
}

// checkVars reports every difference between the built and the expected
// variables.
func checkVars(t *testing.T, got, want map[string]varSpec) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	bad := 0
	for _, k := range keys {
		g, inGot := got[k]
		w, inWant := want[k]
		switch {
		case !inGot:
			t.Errorf("%s %v is missing", k, w.dims)
		case !inWant:
			t.Errorf("%s %v is built but not expected", k, g.dims)
		case !slices.Equal(g.dims, w.dims) || g.trainable != w.trainable:
			t.Errorf("%s: shape %v trainable %v, want %v %v", k, g.dims, g.trainable, w.dims, w.trainable)
		default:
			continue
		}
		if bad++; bad == 20 {
			t.Fatal("too many differences")
		}
	}
}

// TestResNetVariableNames pins a few keys Python users read, and keys that
// must not exist, independently of torchvisionVars.
func TestResNetVariableNames(t *testing.T) {
	for _, tc := range []struct {
		arch    string
		present map[string][]int64
		absent  []string
	}{
		{"resnet18", map[string][]int64{
			"encoder/conv1/kernel":                    {7, 7, 3, 64},
			"encoder/bn1/gamma":                       {64},
			"encoder/layer1/0/conv1/kernel":           {3, 3, 64, 64},
			"encoder/layer2/0/downsample/conv/kernel": {1, 1, 64, 128},
			"encoder/layer2/0/downsample/bn/beta":     {128},
			"encoder/layer4/1/conv2/kernel":           {3, 3, 512, 512},
			"encoder/layer4/1/bn2/moving_variance":    {512},
		}, []string{
			"encoder/layer1/0/downsample/conv/kernel", // identity shortcut
			"encoder/layer1/0/conv3/kernel",           // basic block
			"encoder/layer4/2/conv1/kernel",           // two blocks per stage
			"encoder/fc/kernel",                       // no classifier
		}},
		{"resnet34", map[string][]int64{
			"encoder/layer3/5/conv1/kernel":        {3, 3, 256, 256},
			"encoder/layer4/2/bn2/moving_variance": {512},
		}, []string{"encoder/layer3/6/conv1/kernel", "encoder/layer4/3/conv1/kernel"}},
		{"resnet50", map[string][]int64{
			"encoder/layer1/0/conv1/kernel":           {1, 1, 64, 64},
			"encoder/layer1/0/conv3/kernel":           {1, 1, 64, 256},
			"encoder/layer1/0/downsample/conv/kernel": {1, 1, 64, 256},
			"encoder/layer1/1/conv1/kernel":           {1, 1, 256, 64},
			"encoder/layer2/0/conv2/kernel":           {3, 3, 128, 128},
			"encoder/layer4/2/conv3/kernel":           {1, 1, 512, 2048},
			"encoder/layer4/2/bn3/moving_mean":        {2048},
		}, []string{"encoder/layer1/1/downsample/conv/kernel", "encoder/layer3/6/conv1/kernel"}},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			g, _ := buildBackbone(t, tc.arch, "imagenet", 64, 3)
			for key, dims := range tc.present {
				if v := g.Variable(key); v == nil {
					t.Errorf("%s is missing", key)
				} else if !slices.Equal(v.Dims, dims) {
					t.Errorf("%s has shape %v, want %v", key, v.Dims, dims)
				}
			}
			for _, key := range tc.absent {
				if g.Variable(key) != nil {
					t.Errorf("%s exists", key)
				}
			}
		})
	}
}

// TestResNetParams counts the trainable parameters (conv kernels, BN gamma
// and beta) with torchvision's settings: ImageNet stem, width 64, RGB.
// torchvision's published counts include the 1000-class classifier,
// features·1000 + 1000 parameters, which the backbone does not have.
// Expected: the built graph, the independent torchvisionVars and
// torchvision's figure minus the classifier all agree.
func TestResNetParams(t *testing.T) {
	for _, tc := range []struct {
		arch        string
		torchvision int64 // torchvision.models.<arch>(): sum of p.numel()
		want        int64
	}{
		{"resnet18", 11_689_512, 11_176_512},
		{"resnet34", 21_797_672, 21_284_672},
		{"resnet50", 25_557_032, 23_508_032},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			r := resNets[slices.IndexFunc(resNets, func(r resNetCase) bool { return r.arch == tc.arch })]
			if fc := r.features*1000 + 1000; tc.torchvision-fc != tc.want {
				t.Fatalf("torchvision's %d minus the classifier's %d is not %d", tc.torchvision, fc, tc.want)
			}
			if n := trainableParams(torchvisionVars(r.blocks, r.bottleneck, "imagenet", 64, 3)); n != tc.want {
				t.Errorf("torchvisionVars counts %d trainable parameters, want %d", n, tc.want)
			}
			g, _ := buildBackbone(t, tc.arch, "imagenet", 64, 3)
			var n int64
			for _, v := range g.Trainable() {
				n += v.NumElements()
			}
			if n != tc.want {
				t.Errorf("%d trainable parameters, want %d", n, tc.want)
			}
		})
	}
}

// TestResNetMACs checks the multiply-accumulate count at 224×224 against
// torchvision's GFLOPS figures (its "GFLOPS" are multiply-accumulates of
// convolutions and the classifier, rounded to 2 decimals) and, exactly,
// against a count made by hand, plus the CIFAR-stem ResNet-18 figure the
// benchmark recorded (bench/results.json: fwd_flops_backbone / 2). resnet10
// has no published figure; its counts were made by hand with the same
// formula.
func TestResNetMACs(t *testing.T) {
	for _, tc := range []struct {
		arch, stem  string
		size        int64
		want        int64
		torchvision float64 // 0: no published figure
	}{
		{"resnet18", "imagenet", 224, 1_813_561_344, 1.81},
		{"resnet34", "imagenet", 224, 3_663_249_408, 3.66},
		{"resnet50", "imagenet", 224, 4_087_136_256, 4.09},
		{"resnet18", "cifar", 32, 555_417_600, 0},
		{"resnet10", "cifar", 32, 253_427_712, 0},
		{"resnet10", "imagenet", 224, 888_717_312, 0},
	} {
		t.Run(tc.arch+"/"+tc.stem, func(t *testing.T) {
			_, bb := buildBackbone(t, tc.arch, tc.stem, 64, 3)
			got := bb.MACs(tc.size)
			if got != tc.want {
				t.Errorf("MACs(%d) = %d, want %d", tc.size, got, tc.want)
			}
			if tc.torchvision > 0 {
				withFC := float64(got+bb.FeatureDim()*1000) / 1e9
				if math.Abs(withFC-tc.torchvision) > 0.005 {
					t.Errorf("%.3f GMACs with the classifier, torchvision says %.2f", withFC, tc.torchvision)
				}
			}
		})
	}
}

// TestResNetShapes checks the static shapes the graph infers: the output of
// the last convolution of every stage (the resolution halves at each stage
// after the first, the ImageNet stem divides by 4) and the pooled features,
// in both modes.
func TestResNetShapes(t *testing.T) {
	for _, r := range resNets {
		for _, tc := range []struct {
			stem   string
			size   int64
			stages [4]int64 // side after each stage
		}{
			{"cifar", 32, [4]int64{32, 16, 8, 4}},
			{"imagenet", 64, [4]int64{16, 8, 4, 2}},
			{"imagenet", 224, [4]int64{56, 28, 14, 7}},
		} {
			for _, mode := range []tfgraph.Mode{tfgraph.Inference, tfgraph.Training(tfgraph.NewUpdates())} {
				t.Run(fmt.Sprintf("%s/%s/%d/training=%v", r.arch, tc.stem, tc.size, mode.IsTraining()), func(t *testing.T) {
					const width = 4
					g, bb := buildBackbone(t, r.arch, tc.stem, width, 3)
					x := g.Root().Placeholder("x", tfgraph.Float, []int64{2, tc.size, tc.size, 3})
					out := bb.Apply(g.Root().Child("fwd"), x, mode)
					if err := g.Err(); err != nil {
						t.Fatal(err)
					}
					sh := out.Shape()
					if sh.NumDimensions() != 2 || sh.Size(0) != 2 || sh.Size(1) != r.features*width/64 {
						t.Errorf("features have shape %v, want [2 %d]", sh, r.features*width/64)
					}
					if g.Operation("fwd/features") == nil {
						t.Error("no op fwd/features")
					}
					lastConv := "conv2"
					if r.bottleneck {
						lastConv = "conv3"
					}
					for stage, side := range tc.stages {
						scope := fmt.Sprintf("fwd/layer%d/%d/%s/", stage+1, r.blocks[stage]-1, lastConv)
						op := convOp(g, scope)
						if op == nil {
							t.Fatalf("no Conv2D op under %s", scope)
						}
						s := op.Output(0).Shape()
						planes := int64(width << stage)
						if r.bottleneck {
							planes *= 4
						}
						if s.NumDimensions() != 4 || s.Size(1) != side || s.Size(2) != side || s.Size(3) != planes {
							t.Errorf("%s: shape %v, want [2 %d %d %d]", op.Name(), s, side, side, planes)
						}
					}
				})
			}
		}
	}
}

// convOp is the one Conv2D op whose name starts with scope, or nil.
func convOp(g *tfgraph.Graph, scope string) *tfgraph.Operation {
	var found *tfgraph.Operation
	for _, name := range g.OpNames() {
		op := g.Operation(name)
		if op.Type() == "Conv2D" && strings.HasPrefix(name, scope) {
			if found != nil {
				return nil
			}
			found = op
		}
	}
	return found
}

// TestResNetRuns runs a tiny ResNet-18 and ResNet-50 on three images: the
// features have the built shape and are finite, Training mode normalises
// with batch statistics (so its features differ from Inference mode's with
// the initial moving statistics), and different images give different
// features.
func TestResNetRuns(t *testing.T) {
	for _, name := range []string{"resnet18", "resnet50"} {
		t.Run(name, func(t *testing.T) {
			g, bb := buildBackbone(t, name, "cifar", 4, 3)
			x := g.Root().Placeholder("x", tfgraph.Float, []int64{-1, 8, 8, 3})
			inf := bb.Apply(g.Root().Child("inference"), x, tfgraph.Inference)
			train := bb.Apply(g.Root().Child("training"), x, tfgraph.Training(tfgraph.NewUpdates()))
			init := g.InitOp("init")
			if err := g.Err(); err != nil {
				t.Fatal(err)
			}
			sess := testutil.Session(t, g, init)
			imgs := make([][][][]float32, 3)
			for i := range imgs {
				imgs[i] = make([][][]float32, 8)
				for y := range imgs[i] {
					imgs[i][y] = make([][]float32, 8)
					for x := range imgs[i][y] {
						imgs[i][y][x] = []float32{float32(i*y) / 8, float32(x-i) / 8, float32((x*y+i)%5) / 5}
					}
				}
			}
			in, err := tfgraph.NewTensor(imgs)
			if err != nil {
				t.Fatal(err)
			}
			res, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{x: in}, []tfgraph.Output{inf, train})
			if err != nil {
				t.Fatal(err)
			}
			var got [2][][]float32
			for i, r := range res {
				if s := r.Shape(); !slices.Equal(s, []int64{3, bb.FeatureDim()}) {
					t.Fatalf("output %d has shape %v, want [3 %d]", i, s, bb.FeatureDim())
				}
				got[i] = r.Value().([][]float32)
			}
			var modes, images float64
			for i := range got[0] {
				for j, v := range got[0][i] {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.IsNaN(float64(got[1][i][j])) {
						t.Fatalf("image %d feature %d: %v / %v", i, j, v, got[1][i][j])
					}
					modes = math.Max(modes, math.Abs(float64(v-got[1][i][j])))
					images = math.Max(images, math.Abs(float64(v-got[0][0][j])))
				}
			}
			if modes < 1e-3 {
				t.Errorf("Training and Inference features differ by at most %g", modes)
			}
			if images < 1e-4 {
				t.Errorf("the three images give the same features (max diff %g)", images)
			}
		})
	}
}
