// Package model is the SimSiam network: a ResNet backbone (torchvision
// layout), the projection and prediction MLPs, the symmetric negative-cosine
// loss and the collapse monitor. Variables carry stable, readable names
// ("encoder/layer1/0/conv1/kernel") because Python users read them from
// checkpoints. Train and eval build the same network from this package.
package model

import (
	"fmt"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// Output is a symbolic tensor.
type Output = tfgraph.Output

// ResNet is a torchvision-style ResNet without its classifier: the output is
// the globally average-pooled feature vector.
type ResNet struct {
	Stem       string // "cifar" or "imagenet"
	Conv1      *tfgraph.Conv2D
	BN1        *tfgraph.BatchNorm
	Layers     [4][]*Block
	FeatureDim int64
}

// Block is a basic (two 3×3 convs) or bottleneck (1×1, 3×3, 1×1) residual
// block. Down is the projection shortcut, nil for identity shortcuts.
type Block struct {
	Convs    []*tfgraph.Conv2D
	BNs      []*tfgraph.BatchNorm
	DownConv *tfgraph.Conv2D
	DownBN   *tfgraph.BatchNorm
}

// Arch describes a ResNet depth.
type Arch struct {
	Blocks     [4]int
	Bottleneck bool
}

// Archs are the supported backbones.
var Archs = map[string]Arch{
	"resnet18": {Blocks: [4]int{2, 2, 2, 2}},
	"resnet34": {Blocks: [4]int{3, 4, 6, 3}},
	"resnet50": {Blocks: [4]int{3, 4, 6, 3}, Bottleneck: true},
}

// BNOpts are the BatchNorm settings shared by every layer.
type BNOpts struct{ Eps, Momentum float32 }

func (o BNOpts) new(s *tfgraph.Scope, c int64, affine bool, gamma tfgraph.Initializer) *tfgraph.BatchNorm {
	return tfgraph.NewBatchNorm(s, c, o.Eps, o.Momentum, affine, gamma)
}

// NewResNet creates the backbone's variables under s (normally "encoder").
// width is the first stage's channel count (64 in torchvision).
func NewResNet(s *tfgraph.Scope, arch, stem string, inCh, width int64, zeroInitResidual bool, bn BNOpts, seed int64) (*ResNet, error) {
	a, ok := Archs[arch]
	if !ok {
		return nil, fmt.Errorf("unknown backbone %q (want resnet18, resnet34 or resnet50)", arch)
	}
	r := &ResNet{Stem: stem}
	switch stem {
	case "cifar":
		r.Conv1 = tfgraph.NewConv2D(s.Child("conv1"), inCh, width, 3, 1, 1, seed)
	case "imagenet":
		r.Conv1 = tfgraph.NewConv2D(s.Child("conv1"), inCh, width, 7, 2, 3, seed)
	default:
		return nil, fmt.Errorf("unknown stem %q (want cifar or imagenet)", stem)
	}
	r.BN1 = bn.new(s.Child("bn1"), width, true, nil)
	expansion := int64(1)
	if a.Bottleneck {
		expansion = 4
	}
	in := width
	for li := 0; li < 4; li++ {
		planes := width << li
		for bi := 0; bi < a.Blocks[li]; bi++ {
			stride := int64(1)
			if li > 0 && bi == 0 {
				stride = 2
			}
			bs := s.Child(fmt.Sprintf("layer%d/%d", li+1, bi))
			b := &Block{}
			var lastGamma tfgraph.Initializer
			if zeroInitResidual {
				lastGamma = tfgraph.Zeros()
			}
			if a.Bottleneck {
				b.Convs = []*tfgraph.Conv2D{
					tfgraph.NewConv2D(bs.Child("conv1"), in, planes, 1, 1, 0, seed),
					tfgraph.NewConv2D(bs.Child("conv2"), planes, planes, 3, stride, 1, seed),
					tfgraph.NewConv2D(bs.Child("conv3"), planes, planes*expansion, 1, 1, 0, seed),
				}
				b.BNs = []*tfgraph.BatchNorm{
					bn.new(bs.Child("bn1"), planes, true, nil),
					bn.new(bs.Child("bn2"), planes, true, nil),
					bn.new(bs.Child("bn3"), planes*expansion, true, lastGamma),
				}
			} else {
				b.Convs = []*tfgraph.Conv2D{
					tfgraph.NewConv2D(bs.Child("conv1"), in, planes, 3, stride, 1, seed),
					tfgraph.NewConv2D(bs.Child("conv2"), planes, planes, 3, 1, 1, seed),
				}
				b.BNs = []*tfgraph.BatchNorm{
					bn.new(bs.Child("bn1"), planes, true, nil),
					bn.new(bs.Child("bn2"), planes, true, lastGamma),
				}
			}
			out := planes * expansion
			if stride != 1 || in != out {
				b.DownConv = tfgraph.NewConv2D(bs.Child("downsample/conv"), in, out, 1, stride, 0, seed)
				b.DownBN = bn.new(bs.Child("downsample/bn"), out, true, nil)
			}
			r.Layers[li] = append(r.Layers[li], b)
			in = out
		}
	}
	r.FeatureDim = in
	return r, nil
}

// Apply maps NHWC images to pooled features [N, FeatureDim].
func (r *ResNet) Apply(s *tfgraph.Scope, x Output, mode tfgraph.Mode) Output {
	x = r.Conv1.Apply(s.Child("conv1"), x)
	x = s.Relu(r.BN1.Apply(s.Child("bn1"), x, mode))
	if r.Stem == "imagenet" {
		// 3×3/2 max pool with one pixel of padding. The input is post-ReLU
		// (≥ 0), so zero padding gives the same result as PyTorch's -inf.
		x = s.MaxPool(s.PadSpatial(x, 1), 3, 2, "VALID")
	}
	for li, layer := range r.Layers {
		for bi, b := range layer {
			x = b.apply(s.Child(fmt.Sprintf("layer%d/%d", li+1, bi)), x, mode)
		}
	}
	return s.Identity("features", s.Mean(x, false, 1, 2))
}

func (b *Block) apply(s *tfgraph.Scope, x Output, mode tfgraph.Mode) Output {
	shortcut := x
	if b.DownConv != nil {
		shortcut = b.DownBN.Apply(s.Child("downsample/bn"), b.DownConv.Apply(s.Child("downsample/conv"), x), mode)
	}
	y := x
	for i := range b.Convs {
		n := fmt.Sprint(i + 1)
		y = b.BNs[i].Apply(s.Child("bn"+n), b.Convs[i].Apply(s.Child("conv"+n), y), mode)
		if i < len(b.Convs)-1 {
			y = s.Relu(y)
		}
	}
	return s.Relu(s.Add(y, shortcut))
}
