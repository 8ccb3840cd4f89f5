package train

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestDivergenceKeepsOnlyFiniteCheckpoints: with a learning rate that
// diverges, the run stops with an error naming the 1-based step and what
// went non-finite, and every checkpoint it left holds finite values only,
// so the newest is a good one to resume from.
func TestDivergenceKeepsOnlyFiniteCheckpoints(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 64, 20, 20)
	cfg := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "run"))
	cfg.Optim.BaseLR, cfg.Optim.Epochs, cfg.Optim.WarmupEpochs = 1e12, 8, 0
	cfg.Train.CheckpointEvery, cfg.Train.KeepCheckpoints, cfg.Train.KNNEvery = 1, 100, 0
	_, err := Run(context.Background(), cfg, wired(Options{}))
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
	ckpts := tfgraph.Checkpoints{Dir: runfolder.Dir(cfg.OutputDir).Checkpoints()}
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
	sess := newSession(t, p.Step)
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
	testutil.WriteRandomIDX(t, dataDir, 64, 20, 20)
	cfg := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "run"))
	cfg.Optim.BaseLR, cfg.Optim.Epochs, cfg.Optim.WarmupEpochs = 1e12, 8, 0
	cfg.Train.CheckpointEvery, cfg.Train.KeepCheckpoints, cfg.Train.KNNEvery = 1, 100, 0
	cfg.Train.SkipNonfiniteSteps = 2
	var log strings.Builder
	_, err := Run(context.Background(), cfg, wired(Options{Log: &log}))
	if err == nil || !strings.Contains(err.Error(), "skip_nonfinite_steps allows 2 and 2 were skipped") {
		t.Fatalf("run with 2 skips allowed: err = %v", err)
	}
	if n := strings.Count(log.String(), ": skipped, the "); n != 2 {
		t.Errorf("%d skips printed, want 2:\n%s", n, log.String())
	}
	t.Logf("first run: %v", err)
	skips, err := countSkips(runfolder.Dir(cfg.OutputDir).Metrics())
	if err != nil || skips != 2 {
		t.Fatalf("metrics.jsonl holds %d skip records (%v), want 2", skips, err)
	}
	cfg.Train.SkipNonfiniteSteps = 3
	log.Reset()
	_, err = Run(context.Background(), cfg, wired(Options{Log: &log, Resume: true}))
	if err == nil || !strings.Contains(err.Error(), "allows 3 and 3 were skipped") {
		t.Fatalf("resumed run with 3 allowed: err = %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "2 non-finite steps skipped before step") || strings.Count(log.String(), ": skipped, the ") != 1 {
		t.Errorf("resume log:\n%s", log.String())
	}
	t.Logf("resumed run: %v", err)
}

// TestWorkersShareTheChiefsSkipCount: in a 2-worker job only the chief
// reads metrics.jsonl, and the start barrier hands its count of skipped
// non-finite steps to the other worker. A job that used up 2 skips, resumed
// with 3 allowed, skips once more and then stops on every worker with the
// limit's error (before, worker 1 counted from zero, went on skipping and
// stopped only on the lost chief, after runtime.collective_timeout_s).
func TestWorkersShareTheChiefsSkipCount(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 64, 20, 20)
	out := filepath.Join(t.TempDir(), "run")
	job := func(allowed int, resume bool) ([]error, []string) {
		return runJob(t, 2, func(int) *configs.Config {
			cfg := testutil.RunConfig(dataDir, out)
			cfg.Optim.BaseLR, cfg.Optim.Epochs, cfg.Optim.WarmupEpochs = 1e12, 8, 0
			cfg.Train.CheckpointEvery, cfg.Train.KeepCheckpoints, cfg.Train.KNNEvery = 1, 100, 0
			cfg.Train.SkipNonfiniteSteps = allowed
			return cfg
		}, wired(Options{Resume: resume}))
	}

	errs, logs := job(2, false)
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "allows 2 and 2 were skipped") {
			t.Fatalf("worker %d of the first run: err = %v\n%s", i, err, logs[i])
		}
	}
	t0 := time.Now()
	errs, logs = job(3, true)
	took := time.Since(t0)
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "allows 3 and 3 were skipped") {
			t.Errorf("worker %d of the resumed run, after %v: err = %v\n%s", i, took, err, logs[i])
		}
		if n := strings.Count(logs[i], ": skipped, the "); n != 1 {
			t.Errorf("worker %d skipped %d steps after the resume, want 1:\n%s", i, n, logs[i])
		}
	}
	if !strings.Contains(logs[1], "the chief's metrics.jsonl counts 2 non-finite steps skipped") {
		t.Errorf("worker 1's log does not say it took the chief's count:\n%s", logs[1])
	}
	if took > 25*time.Second {
		t.Errorf("the resumed job took %v to stop: a worker waited for a collective timeout", took)
	}
	skips, err := countSkips(runfolder.Dir(out).Metrics())
	if err != nil || skips != 3 {
		t.Errorf("metrics.jsonl holds %d skip records (%v), want 3", skips, err)
	}
}
