package main

import (
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

// flopCount is the analytic forward cost of one image through the network:
// convolutions and matrix products only, 2 FLOPs per multiply-add. Batch
// norms, ReLUs, residual additions, pooling and the loss are left out (they
// are a few per cent at most and memory-bound).
type flopCount struct {
	Backbone, Projector, Predictor int64
}

func (f flopCount) total() int64 { return f.Backbone + f.Projector + f.Predictor }

// convOut is the output side of a padded, strided convolution.
func convOut(side int64, c *tfgraph.Conv2D) int64 {
	return (side+2*c.Pad-c.K)/c.Stride + 1
}

func convFLOPs(side int64, c *tfgraph.Conv2D) (int64, int64) {
	o := convOut(side, c)
	return 2 * c.K * c.K * c.InCh * c.OutCh * o * o, o
}

func mlpFLOPs(m *model.MLP) int64 {
	var n int64
	for _, fc := range m.FCs {
		n += 2 * fc.Kernel.NumElements()
	}
	return n
}

// countFLOPs walks the network that was built (not the config), so the
// count follows whatever the model package builds.
func countFLOPs(net *model.SimSiam, imageSize int64) flopCount {
	var f flopCount
	r := net.Backbone
	n, side := convFLOPs(imageSize, r.Conv1)
	f.Backbone += n
	if r.Stem == "imagenet" {
		side = (side+2-3)/2 + 1 // 3x3/2 max pool, padding 1
	}
	for _, layer := range r.Layers {
		for _, b := range layer {
			in := side
			s := side
			for _, c := range b.Convs {
				n, s = convFLOPs(s, c)
				f.Backbone += n
			}
			if b.DownConv != nil {
				n, _ = convFLOPs(in, b.DownConv)
				f.Backbone += n
			}
			side = s
		}
	}
	f.Projector = mlpFLOPs(net.Projector)
	f.Predictor = mlpFLOPs(net.Predictor)
	return f
}

// describeNetwork records parameters and FLOPs of the built step.
func describeNetwork(st *train.Step, o options, res map[string]any) {
	var params int64
	for _, v := range st.Trainable {
		params += v.NumElements()
	}
	f := countFLOPs(st.Net, int64(o.ImageSize))
	perImage := f.total()
	// Forward + backward ~ 3x forward, for both views of every image.
	perStep := 3 * 2 * perImage * int64(o.Batch)
	res["network"] = map[string]any{
		"trainable_params":         params,
		"fwd_flops_per_image":      perImage,
		"fwd_flops_backbone":       f.Backbone,
		"fwd_flops_projector":      f.Projector,
		"fwd_flops_predictor":      f.Predictor,
		"train_flops_per_step":     perStep,
		"train_flops_per_image":    3 * 2 * perImage,
		"flop_convention":          "2 per multiply-add; convs + matmuls only; train = 3 x forward x 2 views",
		"trainable_variable_count": len(st.Trainable),
	}
}

// addFLOPRate sets dst["achieved_gflops"] from an images/s figure and the
// count describeNetwork put in res.
func addFLOPRate(dst, res map[string]any, imagesPerSec float64) {
	nw, ok := res["network"].(map[string]any)
	if !ok {
		return
	}
	perImage, ok := nw["train_flops_per_image"].(int64)
	if !ok {
		return
	}
	dst["achieved_gflops"] = imagesPerSec * float64(perImage) / 1e9
}
