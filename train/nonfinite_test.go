package train

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestDivergenceKeepsOnlyFiniteCheckpoints: with a learning rate that
// diverges, the run stops with an error naming the 1-based step and what
// went non-finite, and every checkpoint it left holds finite values only,
// so the newest is a good one to resume from.
func TestDivergenceKeepsOnlyFiniteCheckpoints(t *testing.T) {
	dataDir := t.TempDir()
	writeIDX(t, dataDir, 64, 20, 20)
	cfg := loopConfig(t, dataDir, filepath.Join(t.TempDir(), "run"))
	cfg.Optim.BaseLR, cfg.Optim.Epochs, cfg.Optim.WarmupEpochs = 1e12, 8, 0
	cfg.Train.CheckpointEvery, cfg.Train.KeepCheckpoints, cfg.Train.KNNEvery = 1, 100, 0
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil {
		t.Fatal("training at base_lr 1e6 did not stop")
	}
	if !strings.Contains(err.Error(), "not finite") && !strings.Contains(err.Error(), "loss is") {
		t.Fatalf("error %v names neither non-finite state nor the loss", err)
	}
	if !strings.Contains(err.Error(), "step ") || strings.Contains(err.Error(), "step 0:") {
		t.Errorf("error %v: want a 1-based step", err)
	}
	t.Logf("stopped with: %v", err)
	ckpts := tfgraph.Checkpoints{Dir: filepath.Join(cfg.OutputDir, "checkpoints")}
	steps, err := ckpts.List()
	if err != nil {
		t.Fatal(err)
	}
	// Restore each into a fresh graph and check every float variable.
	p, err := BuildPipeline(cfg, 4, 16)
	if err != nil {
		t.Fatal(err)
	}
	var reads []tfgraph.Output
	for _, v := range p.Graph.Variables() {
		if v.DType == tfgraph.Float {
			reads = append(reads, v.Read())
		}
	}
	finite := p.Graph.Root().Child("test_finite").Finite(reads...)
	sess, err := NewSession(p.Step, tfgraph.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	for _, step := range steps {
		if err := p.Saver.RestoreFrom(sess.Session, ckpts.Prefix(step)); err != nil {
			t.Fatal(err)
		}
		out, err := sess.Run(nil, []tfgraph.Output{finite})
		if err != nil {
			t.Fatal(err)
		}
		flags, _ := tfgraph.Value[[]bool](out[0])
		for i, ok := range flags {
			if !ok {
				t.Errorf("checkpoint %d: variable %d holds NaN or Inf", step, i)
			}
		}
	}
	t.Logf("%d checkpoints, all finite", len(steps))
}

// TestSkipNonfiniteStepsBudget: with train.skip_nonfinite_steps 2 a
// diverging run skips two non-finite steps (each printed and written to
// metrics.jsonl) and stops at the third; a resume with a budget of 3 counts
// the two from metrics.jsonl and stops at its first non-finite step after
// one more skip.
func TestSkipNonfiniteStepsBudget(t *testing.T) {
	dataDir := t.TempDir()
	writeIDX(t, dataDir, 64, 20, 20)
	cfg := loopConfig(t, dataDir, filepath.Join(t.TempDir(), "run"))
	cfg.Optim.BaseLR, cfg.Optim.Epochs, cfg.Optim.WarmupEpochs = 1e12, 8, 0
	cfg.Train.CheckpointEvery, cfg.Train.KeepCheckpoints, cfg.Train.KNNEvery = 1, 100, 0
	cfg.Train.SkipNonfiniteSteps = 2
	var log strings.Builder
	_, err := Run(context.Background(), cfg, Options{Log: &log})
	if err == nil || !strings.Contains(err.Error(), "skip_nonfinite_steps allows 2 and 2 were skipped") {
		t.Fatalf("run with 2 skips allowed: err = %v", err)
	}
	if n := strings.Count(log.String(), ": skipped, the "); n != 2 {
		t.Errorf("%d skips printed, want 2:\n%s", n, log.String())
	}
	t.Logf("first run: %v", err)
	skips, err := countSkips(filepath.Join(cfg.OutputDir, "metrics.jsonl"))
	if err != nil || skips != 2 {
		t.Fatalf("metrics.jsonl holds %d skip records (%v), want 2", skips, err)
	}
	cfg.Train.SkipNonfiniteSteps = 3
	log.Reset()
	_, err = Run(context.Background(), cfg, Options{Log: &log, Resume: true})
	if err == nil || !strings.Contains(err.Error(), "allows 3 and 3 were skipped") {
		t.Fatalf("resumed run with 3 allowed: err = %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "2 non-finite steps skipped before step") || strings.Count(log.String(), ": skipped, the ") != 1 {
		t.Errorf("resume log:\n%s", log.String())
	}
	t.Logf("resumed run: %v", err)
}
