package main

import (
	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/eval"
	"github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

// withEvalAndExport gives a training run what it takes from the packages
// beside train: eval's kNN monitor over the live weights and export's
// SavedModel at the end.
func withEvalAndExport(o train.Options) train.Options {
	o.Monitor = &train.KNNMonitor{
		OpenData: eval.OpenEvalDataContext,
		Build: func(g *tfgraph.Graph, bb model.Backbone, d configs.Data) train.Monitor {
			return eval.NewEncoderOn(g, bb, d)
		},
	}
	o.Export = export.RunExporter{}
	return o
}
