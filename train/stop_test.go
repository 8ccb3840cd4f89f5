package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/runfolder"
)

// cancelAt is a log writer that cancels a context once a line containing
// mark has been written: an interrupt at a known point of the loop.
type cancelAt struct {
	mu     sync.Mutex
	mark   string
	cancel context.CancelFunc
	log    strings.Builder
}

func (c *cancelAt) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log.Write(p)
	if strings.Contains(c.log.String(), c.mark) {
		c.cancel()
	}
	return len(p), nil
}

// TestInterruptCheckpointsAndResumes cancels the context after a step (a
// signal during training) and at an epoch's end, just before the kNN monitor
// (a signal during the monitor): Run returns a *Stopped naming the step and
// a checkpoint of it on disk, and a resume continues from that step.
func TestInterruptCheckpointsAndResumes(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 64, 20, 20) // 4 steps per epoch, 12 in all
	for _, tc := range []struct {
		name string
		at   int64 // the step whose progress line cancels
	}{
		{"after a step", 3},   // no checkpoint of step 3 yet: the interrupt writes it
		{"in the monitor", 4}, // ckpt-4 written by checkpoint_every, then the kNN monitor
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "run"))
			cfg.Eval.Format, cfg.Eval.Dir, cfg.Eval.TrainSplit, cfg.Eval.TestSplit = "idx", dataDir, "train", "train"
			cfg.Train.KNNEvery, cfg.Train.KNNK = 1, 5
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := &cancelAt{mark: "step " + itoa(tc.at) + "/", cancel: cancel}
			res, err := Run(ctx, cfg, wired(Options{Log: w}))
			var st *Stopped
			if !errors.As(err, &st) || !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: err = %v, want a *Stopped wrapping context.Canceled; log:\n%s", err, w.log.String())
			}
			want := filepath.Join(runfolder.Dir(cfg.OutputDir).Checkpoints(), "ckpt-"+itoa(tc.at))
			if st.Step != tc.at || st.Checkpoint != want || res.Steps != tc.at {
				t.Fatalf("stopped at step %d (result %d), checkpoint %s; want step %d, %s", st.Step, res.Steps, st.Checkpoint, tc.at, want)
			}
			for _, suf := range []string{".index", ".data-00000-of-00001"} {
				if _, err := os.Stat(want + suf); err != nil {
					t.Errorf("checkpoint file missing: %v", err)
				}
			}
			if strings.Contains(w.log.String(), "kNN top-1") {
				t.Errorf("the kNN monitor ran to the end after the interrupt:\n%s", w.log.String())
			}
			var log strings.Builder
			res, err = Run(context.Background(), cfg, wired(Options{Resume: true, Log: &log}))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log.String(), "at step "+itoa(tc.at)+"\n") || res.Steps != 12 {
				t.Errorf("resume ended at step %d; log:\n%s", res.Steps, log.String())
			}
		})
	}
}

// TestInterruptAfterTheLastStepFinishes: an interrupt in the final kNN
// monitor finishes the run (checkpoint and SavedModel) instead of leaving a
// resume with nothing to train and no export.
func TestInterruptAfterTheLastStepFinishes(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 64, 20, 20) // 4 steps per epoch, 12 in all
	cfg := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "run"))
	cfg.Eval.Format, cfg.Eval.Dir, cfg.Eval.TrainSplit, cfg.Eval.TestSplit = "idx", dataDir, "train", "train"
	cfg.Train.KNNEvery, cfg.Train.KNNK = 3, 5 // only at the end
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelAt{mark: "step 12/", cancel: cancel}
	res, err := Run(ctx, cfg, wired(Options{Log: w}))
	if err != nil {
		t.Fatalf("interrupt after the last step: %v", err)
	}
	if res.Steps != 12 || res.SavedModel == "" {
		t.Fatalf("result %+v: want step 12 and a SavedModel", res)
	}
	if _, err := os.Stat(filepath.Join(res.SavedModel, "saved_model.pb")); err != nil {
		t.Error(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
