package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/eval"
	"github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// The tests wire eval's kNN monitor and export's SavedModel into a run as
// the commands do (cmd/simsiam's withEvalAndExport); train itself imports
// neither.

// testMonitor is eval's kNN monitor over the live weights.
func testMonitor() *KNNMonitor {
	return &KNNMonitor{
		OpenData: eval.OpenEvalDataContext,
		Build: func(g *tfgraph.Graph, bb model.Backbone, d configs.Data) Monitor {
			return eval.NewEncoderOn(g, bb, d)
		},
	}
}

// wired is o with the kNN monitor and the final export.
func wired(o Options) Options {
	o.Monitor, o.Export = testMonitor(), export.RunExporter{}
	return o
}

// TestRunWithoutTheWiring: a run asked for a kNN monitor it was not given
// fails before it trains; a run given no exporter trains and checkpoints
// but writes no SavedModel.
func TestRunWithoutTheWiring(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 32, 20, 20)
	cfg := testutil.RunConfig(dataDir, t.TempDir())
	cfg.Optim.Epochs, cfg.Train.KNNEvery = 1, 1
	if _, err := Run(context.Background(), cfg, Options{Export: export.RunExporter{}}); err == nil || !strings.Contains(err.Error(), "no kNN monitor") {
		t.Errorf("knn_every 1 without a monitor: err = %v", err)
	}
	if ckpts, _ := filepath.Glob(filepath.Join(cfg.OutputDir, "checkpoints", "*.index")); len(ckpts) > 0 {
		t.Errorf("checkpoints written by a run that could not start: %v", ckpts)
	}
	cfg.Train.KNNEvery = 0
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 2 || res.Checkpoint == "" || res.SavedModel != "" {
		t.Errorf("result %+v: want 2 steps, a checkpoint and no SavedModel", res)
	}
	if _, err := os.Stat(filepath.Join(cfg.OutputDir, "saved_model")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("saved_model/ without an exporter: %v", err)
	}
}
