// Package model is the SimSiam network: a backbone from the registry
// (NewBackbone; ResNets in torchvision's layout), the projection and
// prediction MLPs, the symmetric negative-cosine loss and the collapse
// monitor. Variables carry stable, readable names
// ("encoder/layer1/0/conv1/kernel") because Python users read them from
// checkpoints. Train and eval build the same network from this package.
package model

import (
	"fmt"
	"strings"

	"github.com/simsiam-go/simsiam/model/arch"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Output is a symbolic tensor.
type Output = tfgraph.Output

// ResNet is a torchvision-style ResNet without its classifier: the output is
// the globally average-pooled feature vector. It is the Backbone of every
// resnet* architecture; their files give the depth (resNetLayout).
type ResNet struct {
	Stem   string // arch.Cifar or arch.ImageNet
	Conv1  *tfgraph.Conv2D
	BN1    *tfgraph.BatchNorm
	Layers [4][]*Block

	featureDim int64
	prefix     string
}

// Block is a basic (two 3×3 convs) or bottleneck (1×1, 3×3, 1×1) residual
// block. DownConv and DownBN are the projection shortcut, nil for identity
// shortcuts.
type Block struct {
	Convs    []*tfgraph.Conv2D
	BNs      []*tfgraph.BatchNorm
	DownConv *tfgraph.Conv2D
	DownBN   *tfgraph.BatchNorm
}

// resNetLayout is a ResNet depth: residual blocks per stage and their kind.
type resNetLayout struct {
	blocks     [4]int
	bottleneck bool
}

// BNOpts are the BatchNorm settings shared by every layer.
type BNOpts struct{ Eps, Momentum float32 }

func (o BNOpts) new(s *tfgraph.Scope, c int64, affine bool, gamma tfgraph.Initializer) *tfgraph.BatchNorm {
	return tfgraph.NewBatchNorm(s, c, o.Eps, o.Momentum, affine, gamma)
}

// newResNet creates the variables of a ResNet of layout l under s: the stem
// c.Model.Stem names, then four stages of l.blocks residual blocks whose
// first stage has c.Model.Width channels (64 in torchvision), doubled at
// every later stage.
func newResNet(s *tfgraph.Scope, c BackboneConfig, l resNetLayout) (Backbone, error) {
	inCh, width, seed, bn := c.InChannels, int64(c.Model.Width), c.Seed, c.bn()
	if inCh < 1 || width < 1 {
		return nil, fmt.Errorf("%d input channels and width %d, want both >= 1", inCh, width)
	}
	r := &ResNet{Stem: c.Model.Stem}
	if s.Name() != "" {
		r.prefix = s.Name() + "/"
	}
	switch r.Stem {
	case arch.Cifar:
		r.Conv1 = tfgraph.NewConv2D(s.Child("conv1"), inCh, width, 3, 1, 1, seed)
	case arch.ImageNet:
		r.Conv1 = tfgraph.NewConv2D(s.Child("conv1"), inCh, width, 7, 2, 3, seed)
	default:
		return nil, fmt.Errorf("unknown stem %q (want one of %s)", r.Stem, strings.Join(arch.Stems(), ", "))
	}
	r.BN1 = bn.new(s.Child("bn1"), width, true, nil)
	expansion := int64(1)
	if l.bottleneck {
		expansion = 4
	}
	in := width
	for li := 0; li < 4; li++ {
		planes := width << li
		for bi := 0; bi < l.blocks[li]; bi++ {
			stride := int64(1)
			if li > 0 && bi == 0 {
				stride = 2
			}
			bs := s.Child(fmt.Sprintf("layer%d/%d", li+1, bi))
			b := &Block{}
			var lastGamma tfgraph.Initializer
			if c.Model.ZeroInitResidual {
				lastGamma = tfgraph.Zeros()
			}
			if l.bottleneck {
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
	r.featureDim = in
	return r, nil
}

// FeatureDim is the channel count of the last stage.
func (r *ResNet) FeatureDim() int64 { return r.featureDim }

// VarPrefix is the scope the ResNet was created in, with a trailing "/".
func (r *ResNet) VarPrefix() string { return r.prefix }

// Apply maps NHWC images to pooled features [N, FeatureDim].
func (r *ResNet) Apply(s *tfgraph.Scope, x Output, mode tfgraph.Mode) Output {
	x = r.Conv1.Apply(s.Child("conv1"), x)
	x = s.Relu(r.BN1.Apply(s.Child("bn1"), x, mode))
	if r.Stem == arch.ImageNet {
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

// MACs follows the image through the convolutions: each costs
// k·k·in·out multiply-accumulates per output pixel.
func (r *ResNet) MACs(imageSize int64) int64 {
	n, side := convMACs(imageSize, r.Conv1)
	if r.Stem == arch.ImageNet {
		side = (side+2-3)/2 + 1 // the 3×3/2 max pool, padding 1
	}
	for _, layer := range r.Layers {
		for _, b := range layer {
			in := side
			for _, c := range b.Convs {
				var m int64
				m, side = convMACs(side, c)
				n += m
			}
			if b.DownConv != nil {
				m, _ := convMACs(in, b.DownConv)
				n += m
			}
		}
	}
	return n
}

// convMACs is the cost of convolution c on a side × side input, and the side
// of its output.
func convMACs(side int64, c *tfgraph.Conv2D) (macs, out int64) {
	out = (side+2*c.Pad-c.K)/c.Stride + 1
	return c.K * c.K * c.InCh * c.OutCh * out * out, out
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
