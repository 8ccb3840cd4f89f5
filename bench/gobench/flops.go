package main

import (
	"github.com/simsiam-go/simsiam/model"
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

func mlpFLOPs(m *model.MLP) int64 {
	var n int64
	if m == nil { // a method without this head (SimCLR has no predictor)
		return 0
	}
	for _, fc := range m.FCs {
		n += 2 * fc.Kernel.NumElements()
	}
	return n
}

// countFLOPs counts the network that was built (not the config), so the
// count follows whatever the model package builds: the backbone's own
// multiply-accumulate count, and the MLP kernels.
func countFLOPs(net *model.SimSiam, imageSize int64) flopCount {
	return flopCount{
		Backbone:  2 * net.Backbone.MACs(imageSize),
		Projector: mlpFLOPs(net.Projector),
		Predictor: mlpFLOPs(net.Predictor),
	}
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
