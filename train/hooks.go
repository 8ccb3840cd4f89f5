package train

// What a run needs from the packages beside train (eval's kNN monitor,
// export's SavedModel) comes in through Options, wired by the commands, so
// train imports neither.

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Monitor is a run's kNN monitor: an inference path over the live backbone
// in the training graph (eval.NewEncoderOn builds one), run in the
// training session.
type Monitor interface {
	// Attach gives the monitor the session that runs the training graph.
	Attach(sess *tfgraph.Session)
	// KNN scores test against the memory bank with k neighbours and
	// temperature t on the live weights; it stops between batches once
	// ctx is done.
	KNN(ctx context.Context, bank, test *data.Images, k int, t float64) (top1, top5 float64, err error)
}

// KNNMonitor builds the kNN monitor of a run with train.knn_every > 0.
type KNNMonitor struct {
	// OpenData reads the labelled memory bank and test split
	// (eval.OpenEvalDataContext).
	OpenData func(ctx context.Context, cfg *configs.Config) (bank, test *data.Images, err error)
	// Build adds the monitor to the training graph g over its backbone bb
	// (eval.NewEncoderOn); it adds no variables.
	Build func(g *tfgraph.Graph, bb model.Backbone, d configs.Data) Monitor
}

// Exporter writes a run's SavedModel once its schedule is complete
// (package export's RunExporter).
type Exporter interface {
	// Export writes the SavedModel of the checkpoint to dir, replacing
	// one there.
	Export(cfg *configs.Config, checkpoint, dir string) error
	// ExportedFrom is the checkpoint prefix the SavedModel in dir was
	// exported from, or "" when that is unreadable.
	ExportedFrom(dir string) string
}

// openMonitorData reads the kNN monitor's data with o.Monitor.
func (o Options) openMonitorData(ctx context.Context, cfg *configs.Config) (bank, test *data.Images, err error) {
	if o.Monitor == nil || o.Monitor.OpenData == nil || o.Monitor.Build == nil {
		return nil, nil, fmt.Errorf("train.knn_every is %d but the run has no kNN monitor (train.Options.Monitor)", cfg.Train.KNNEvery)
	}
	return o.Monitor.OpenData(ctx, cfg)
}

// exportedFrom returns the base name of the checkpoint the SavedModel dir
// was exported from, or "" if that is unreadable.
func exportedFrom(e Exporter, dir string) string {
	ckpt := e.ExportedFrom(dir)
	if ckpt == "" {
		return ""
	}
	return filepath.Base(ckpt)
}
