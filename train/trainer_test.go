package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

func readLosses(t *testing.T, path string) map[int]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Step int
			Loss *float64
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Loss != nil {
			out[rec.Step] = *rec.Loss
		}
	}
	return out
}

// TestResumeGivesSameLosses stops a run after 4 of 12 steps and resumes it:
// the losses must equal those of an uninterrupted run with the same seed,
// since the data order, augmentation draws and every variable (momentum
// slots included) come back from the checkpoint and the seed.
func TestResumeGivesSameLosses(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 64, 20, 20) // 4 steps per epoch, 3 epochs
	ctx := context.Background()

	full := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "full"))
	full.Eval.Format, full.Eval.Dir, full.Eval.TrainSplit, full.Eval.TestSplit = "idx", dataDir, "train", "train"
	full.Train.KNNEvery, full.Train.KNNK = 3, 5
	fres, err := Run(ctx, full, wired(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	// The uninterrupted run also wrote TensorBoard events, a kNN record at
	// epoch 3 and the SavedModel.
	if ev, _ := filepath.Glob(filepath.Join(runfolder.Dir(full.OutputDir).Logs(), "events.out.tfevents.*")); len(ev) == 0 {
		t.Error("no TensorBoard event file in logs/")
	}
	if _, err := os.Stat(filepath.Join(fres.SavedModel, "saved_model.pb")); err != nil {
		t.Errorf("no SavedModel after training: %v", err)
	}
	if math.IsNaN(fres.KNNTop1) || fres.KNNTop1 < 0 || fres.KNNTop1 > 1 {
		t.Errorf("kNN top-1 %v", fres.KNNTop1)
	}
	mj, _ := os.ReadFile(runfolder.Dir(full.OutputDir).Metrics())
	if !strings.Contains(string(mj), `"knn_top1"`) {
		t.Error("metrics.jsonl has no knn_top1 record")
	}
	part := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "part"))
	// Stop after 5 steps without shortening the schedule (max_steps would).
	stopAt := 5
	res, err := Run(ctx, part, wired(Options{StopAfter: int64(stopAt)}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != int64(stopAt) {
		t.Fatalf("interrupted run stopped at %d, want %d", res.Steps, stopAt)
	}
	if _, err := Run(ctx, part, wired(Options{})); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("restarting over existing checkpoints without --resume: err = %v", err)
	}
	res, err = Run(ctx, part, wired(Options{Resume: true}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 12 {
		t.Fatalf("resumed run ended at step %d, want 12", res.Steps)
	}
	a := readLosses(t, runfolder.Dir(full.OutputDir).Metrics())
	b := readLosses(t, runfolder.Dir(part.OutputDir).Metrics())
	if len(a) != 12 {
		t.Fatalf("full run logged %d steps", len(a))
	}
	worst := 0.0
	for step, la := range a {
		lb, ok := b[step]
		if !ok {
			t.Fatalf("resumed run did not log step %d", step)
		}
		worst = math.Max(worst, math.Abs(la-lb))
	}
	t.Logf("worst |loss difference| over 12 steps: %g", worst)
	if worst > 1e-6 {
		t.Errorf("resumed losses differ from the uninterrupted run by up to %g", worst)
	}
	// keep_checkpoints = 2: only the newest two remain, and the state file
	// names the newest.
	steps, err := tfgraph.Checkpoints{Dir: runfolder.Dir(part.OutputDir).Checkpoints()}.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[1] != 12 {
		t.Errorf("checkpoints kept: %v, want the last two ending at 12", steps)
	}
	state, _ := os.ReadFile(filepath.Join(runfolder.Dir(part.OutputDir).Checkpoints(), "checkpoint"))
	if !strings.HasPrefix(string(state), `model_checkpoint_path: "ckpt-12"`) {
		t.Errorf("checkpoint state file:\n%s", state)
	}
}

// TestResumeOtherArchitectureNamesVariables resumes a run with a config
// that builds another network. With the run's config.yaml there the
// config comparison refuses it naming the key; without it (a folder of
// copied checkpoints) the model config recorded in the checkpoint does,
// even when every shape fits; the existing checkpoint is left as it was.
func TestResumeOtherArchitectureNamesVariables(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 32, 20, 20)
	cfg := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "run"))
	cfg.Optim.Epochs = 1
	if _, err := Run(context.Background(), cfg, wired(Options{})); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(runfolder.Dir(cfg.OutputDir).Checkpoints(), "ckpt-2.index")
	before, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Model.Width = 8
	cfg.Optim.Epochs = 2
	_, err = Run(context.Background(), cfg, wired(Options{Resume: true}))
	if err == nil || !strings.Contains(err.Error(), "model.width: 4 -> 8") {
		t.Fatalf("resuming with another width: %v", err)
	}
	if err := os.Remove(runfolder.Dir(cfg.OutputDir).Config()); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), cfg, wired(Options{Resume: true}))
	if err == nil || !strings.Contains(err.Error(), "model.width: checkpoint 4, config 8") {
		t.Fatalf("resuming with another width, no config.yaml: %v", err)
	}
	// Shapes that happen to fit are not enough: a resnet34 checkpoint holds
	// every resnet18 tensor with its shape, and a 3-layer projector every
	// 2-layer one's but its last.
	for _, tc := range []struct {
		name string
		set  func(c *configs.Config)
		want string
	}{
		{"shallower backbone", func(c *configs.Config) { c.Model.Arch = "resnet18" }, "model.arch: checkpoint resnet34, config resnet18"},
		{"fewer projector layers", func(c *configs.Config) { c.Model.ProjLayers = 2 }, "model.proj_layers: checkpoint 3, config 2"},
	} {
		c := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "run34"))
		c.Model.Arch, c.Optim.Epochs, c.Train.KNNEvery = "resnet34", 1, 0
		if _, err := Run(context.Background(), c, wired(Options{})); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(runfolder.Dir(c.OutputDir).Config()); err != nil {
			t.Fatal(err)
		}
		tc.set(c)
		c.Optim.Epochs = 2
		if _, err := Run(context.Background(), c, wired(Options{Resume: true})); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: resume gave %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	after, _ := os.ReadFile(ckpt)
	if !bytes.Equal(before, after) {
		t.Error("the checkpoint changed")
	}
}

// TestResumeConfigRules resumes with allowed changes (a longer schedule, a
// logging interval, the learning rate), which are printed and recorded
// while config.yaml stays as it was, then with refused ones.
func TestResumeConfigRules(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 32, 20, 20)
	cfg := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "run"))
	cfg.Optim.Epochs = 1
	if _, err := Run(context.Background(), cfg, wired(Options{})); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(runfolder.Dir(cfg.OutputDir).Config())
	if err != nil {
		t.Fatal(err)
	}
	c2 := *cfg
	c2.Optim.Epochs, c2.Train.LogEvery, c2.Optim.BaseLR = 2, 2, 0.25
	var log bytes.Buffer
	if _, err := Run(context.Background(), &c2, wired(Options{Resume: true, Log: &log})); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--resume: optim.epochs changed: 1 (config.yaml) -> 2", "--resume: train.log_every changed: 1 (config.yaml) -> 2",
		"--resume: optim.base_lr changed: 0.5 (config.yaml) -> 0.25", "config.resume-1.yaml"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	if now, _ := os.ReadFile(runfolder.Dir(cfg.OutputDir).Config()); !bytes.Equal(now, orig) {
		t.Error("config.yaml was rewritten")
	}
	if got, want := runfolder.Dir(cfg.OutputDir).EffectiveConfig(), filepath.Join(cfg.OutputDir, "config.resume-1.yaml"); got != want {
		t.Errorf("EffectiveConfig = %s, want %s", got, want)
	}
	saved, err := configs.Load(configs.LoadOptions{File: runfolder.Dir(cfg.OutputDir).EffectiveConfig()})
	if err != nil || saved.Optim.Epochs != 2 || saved.Optim.BaseLR != 0.25 {
		t.Errorf("config.resume-1.yaml: %+v, %v", saved.Optim, err)
	}
	hist, err := os.ReadFile(filepath.Join(cfg.OutputDir, runfolder.HistoryName))
	if err != nil {
		t.Fatal(err)
	}
	var rec historyRecord
	if lines := strings.Split(strings.TrimSpace(string(hist)), "\n"); len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rec) != nil {
		t.Fatalf("%s: %q", runfolder.HistoryName, hist)
	}
	if rec.Step != 2 || rec.Config != "config.resume-1.yaml" || len(rec.Changes) != 3 {
		t.Errorf("history record %+v", rec)
	}
	// Refused: the seed (another data order and augmentation), the data,
	// a schedule cut below what the run has reached in its config.
	for _, tc := range []struct {
		name string
		set  func(c *configs.Config)
		want string
	}{
		{"seed", func(c *configs.Config) { c.Seed = 7 }, "seed: 0 -> 7"},
		{"data and augmentation", func(c *configs.Config) { c.Data.Limit, c.Augment.FlipProb = 16, 0 },
			"changes 2 keys"},
		{"shorter schedule", func(c *configs.Config) { c.Optim.Epochs = 1 }, "the last step would be 2 instead of 4"},
		{"batch size", func(c *configs.Config) { c.Optim.BatchSize = 8 }, "optim.batch_size: 16 -> 8"},
	} {
		c3 := c2
		tc.set(&c3)
		if _, err := Run(context.Background(), &c3, wired(Options{Resume: true})); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
