package train

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/runfolder"
)

func TestAgreedConfigRoundTrip(t *testing.T) {
	c := configs.Default()
	text := agreedConfig(&c)
	for _, k := range []string{"optim.batch_size: ", "optim.base_lr: ", "seed: ", "model.width: ", "train.checkpoint_every: "} {
		if !strings.Contains(text, "\n"+k) && !strings.HasPrefix(text, k) {
			t.Errorf("agreed config lacks %q", k)
		}
	}
	for _, k := range []string{"output_dir: ", "data.dir: ", "runtime.devices: "} {
		if strings.Contains(text, k) {
			t.Errorf("agreed config has the local key %q", k)
		}
	}
	if diff, err := agreeWithChief(text, encodeAgreed(text)); err != nil || diff != "" {
		t.Errorf("own config against itself: %q, %v", diff, err)
	}
	other := c
	other.Optim.BatchSize, other.Seed, other.OutputDir = 64, 7, "elsewhere"
	diff, err := agreeWithChief(agreedConfig(&other), encodeAgreed(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"optim.batch_size (here 64, the chief 512)", "seed (here 7, the chief 0)"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff %q lacks %q", diff, want)
		}
	}
	if strings.Contains(diff, "output_dir") {
		t.Errorf("diff names a local key: %q", diff)
	}
	long := strings.Repeat("x: y\n", configCheckLen)
	if diff, err := agreeWithChief(text, encodeAgreed(long)); err != nil || !strings.Contains(diff, "too long to list") {
		t.Errorf("a chief's text too long for the vector: %q, %v", diff, err)
	}
	bad := encodeAgreed(text)
	bad[40] = 300 // two contributions summed: not a byte
	if _, err := agreeWithChief(text, bad); err == nil {
		t.Error("a corrupt check vector was accepted")
	}
}

// TestWorkersRefuseADifferentConfig: two workers on loopback whose configs
// differ in the global batch and the seed (and, in a second job, in
// model.width, which makes every variable's shape differ) both stop at the
// start barrier within seconds, worker 1 naming the keys and both values,
// the chief saying a worker differs; no checkpoint is written.
func TestWorkersRefuseADifferentConfig(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 64, 20, 20)
	for _, tc := range []struct {
		name string
		edit func(c *configs.Config)
		want string
	}{
		{"batch and seed", func(c *configs.Config) { c.Optim.BatchSize *= 2; c.Seed = 7 }, "optim.batch_size (here "},
		{"width", func(c *configs.Config) { c.Model.Width *= 2 }, "model.width (here "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			start := time.Now()
			errs, logs := runJob(t, 2, func(rank int) *configs.Config {
				cfg := testutil.RunConfig(dataDir, out)
				cfg.Train.KNNEvery = 0
				if rank == 1 {
					tc.edit(cfg)
				}
				return cfg
			}, Options{})
			took := time.Since(start)
			if errs[1] == nil || !strings.Contains(errs[1].Error(), "the config differs from the chief's in ") || !strings.Contains(errs[1].Error(), tc.want) {
				t.Errorf("worker 1: %v\n%s", errs[1], logs[1])
			}
			if errs[0] == nil || !strings.Contains(errs[0].Error(), "1 of the other workers run a config that differs") {
				t.Errorf("the chief: %v\n%s", errs[0], logs[0])
			}
			if took > 30*time.Second {
				t.Errorf("the job took %v to stop", took)
			}
			ck, _ := filepath.Glob(filepath.Join(runfolder.Dir(out).Checkpoints(), "ckpt-*"))
			if len(ck) > 0 {
				t.Errorf("a refused job wrote checkpoints: %v", ck)
			}
		})
	}
}

// TestJobLogsItsAllReduceShare: a 2-worker job logging every step writes,
// in the chief's metrics.jsonl, the time one gradient all-reduce took and
// its share of the step, both positive and the share at most 1; a process
// alone writes neither.
func TestJobLogsItsAllReduceShare(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 64, 20, 20)
	out := filepath.Join(t.TempDir(), "run")
	errs, _ := runJob(t, 2, func(int) *configs.Config {
		cfg := testutil.RunConfig(dataDir, out)
		cfg.Train.KNNEvery, cfg.Train.LogEvery, cfg.Optim.Epochs = 0, 1, 1
		return cfg
	}, Options{})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	recs := readStepRecords(t, runfolder.Dir(out).Metrics())
	if len(recs) < 2 {
		t.Fatalf("%d step records", len(recs))
	}
	for _, r := range recs {
		if r.AllReduceMillis <= 0 || r.AllReduceShare <= 0 || r.AllReduceShare > 1 {
			t.Errorf("step %d: all-reduce %v ms, share %v; want both positive, the share at most 1", r.Step, r.AllReduceMillis, r.AllReduceShare)
		}
	}
	t.Logf("step %d: all-reduce %.2f ms, %.1f %% of the step, %.0f images/s", recs[0].Step, recs[0].AllReduceMillis, 100*recs[0].AllReduceShare, recs[0].ImagesPerSec)

	alone := filepath.Join(t.TempDir(), "alone")
	cfg := testutil.RunConfig(dataDir, alone)
	cfg.Train.KNNEvery, cfg.Train.LogEvery, cfg.Optim.Epochs = 0, 1, 1
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range readStepRecords(t, runfolder.Dir(alone).Metrics()) {
		if r.AllReduceMillis != 0 || r.AllReduceShare != 0 {
			t.Errorf("alone, step %d: all-reduce %v ms, share %v", r.Step, r.AllReduceMillis, r.AllReduceShare)
		}
	}
}

func readStepRecords(t *testing.T, path string) []runfolder.StepRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []runfolder.StepRecord
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.Contains(line, `"loss"`) {
			continue
		}
		var r runfolder.StepRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}
