// Package inference is the one path from images to features that the kNN
// and linear evaluations, the kNN monitor and the exported SavedModel
// share, so that each computes the features alike. It sits above model and
// augment and below eval and export, which both build it.
package inference

import (
	"github.com/simsiam-go/simsiam/augment"
	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Features builds the inference encoder: uint8 NHWC images →
// augment.Eval (resize, normalise) in scope pre → the backbone in
// inference mode (BatchNorm with its moving statistics) in fwd's child
// "encoder" → pooled features [N, FeatureDim]. The scopes name the ops (a
// SavedModel's are "preprocess" and "inference").
func Features(pre, fwd *tfgraph.Scope, bb model.Backbone, images tfgraph.Output, d configs.Data) tfgraph.Output {
	return bb.Apply(fwd.Child(model.EncoderScope), augment.Eval(pre, images, d), tfgraph.Inference)
}
