package train

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// flipDataByte flips the middle byte of a checkpoint's data shard (a
// byte of some tensor), as a bad disk or a stray write would.
func flipDataByte(t *testing.T, prefix string) {
	t.Helper()
	shard := prefix + ".data-00000-of-00001"
	b, err := os.ReadFile(shard)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(shard, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestResumeSkipsCorruptCheckpoint: a flipped byte in the newest
// checkpoint makes a resume use the one before, saying which it skipped
// and why; the corrupt one stays until the run writes a checkpoint, which
// supersedes it; with every checkpoint corrupt the resume is refused
// naming each, and leaves no TensorBoard event file.
func TestResumeSkipsCorruptCheckpoint(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 32, 20, 20) // 2 steps per epoch
	ctx := context.Background()
	cfg := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "run"))
	cfg.Optim.Epochs = 3 // checkpoints 4 and 6 kept
	if _, err := Run(ctx, cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	ck := tfgraph.Checkpoints{Dir: filepath.Join(cfg.OutputDir, "checkpoints")}
	flipDataByte(t, ck.Prefix(6))
	corrupt, _ := os.ReadFile(ck.Prefix(6) + ".data-00000-of-00001")
	// A resume refused after the fallback (another seed) leaves it as it is.
	refused := *cfg
	refused.Optim.Epochs, refused.Seed = 4, 5
	var log bytes.Buffer
	if _, err := Run(ctx, &refused, Options{Resume: true, Log: &log}); err == nil || !strings.Contains(err.Error(), "seed: 0 -> 5") {
		t.Fatalf("resume with another seed: %v", err)
	}
	if now, _ := os.ReadFile(ck.Prefix(6) + ".data-00000-of-00001"); !bytes.Equal(now, corrupt) {
		t.Error("a refused resume changed or deleted the corrupt checkpoint")
	}
	cfg.Optim.Epochs = 4
	log.Reset()
	res, err := Run(ctx, cfg, Options{Resume: true, Log: &log, StopAfter: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"resume: skipping checkpoints/ckpt-6: tensor ",
		": crc32c mismatch at bytes [",
		"of ckpt-6.data-00000-of-00001; using ckpt-4\n",
		"resuming from " + ck.Prefix(4) + " at step 4\n",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	if res.Steps != 5 {
		t.Errorf("stopped at step %d, want 5", res.Steps)
	}
	// ckpt-5 supersedes the corrupt ckpt-6.
	if steps, _ := ck.List(); len(steps) != 2 || steps[0] != 4 || steps[1] != 5 {
		t.Errorf("checkpoints after writing ckpt-5: %v, want [4 5]", steps)
	}
	log.Reset()
	if res, err = Run(ctx, cfg, Options{Resume: true, Log: &log}); err != nil || res.Steps != 8 {
		t.Fatalf("second resume: step %v, %v\n%s", res, err, log.String())
	}
	if strings.Contains(log.String(), "skipping") || !strings.Contains(log.String(), "resuming from "+ck.Prefix(5)+" at step 5") {
		t.Errorf("the second resume did not start from ckpt-5 without skipping:\n%s", log.String())
	}
	steps, _ := ck.List()
	if len(steps) != 2 || steps[0] != 6 || steps[1] != 8 {
		t.Errorf("checkpoints kept: %v, want [6 8]", steps)
	}
	for _, s := range steps {
		if err := tfgraph.VerifyCheckpoint(ck.Prefix(s)); err != nil {
			t.Errorf("kept a corrupt checkpoint: %v", err)
		}
	}

	// Every checkpoint corrupt: refused, naming each, nothing written.
	for _, s := range steps {
		flipDataByte(t, ck.Prefix(s))
	}
	events, _ := filepath.Glob(filepath.Join(cfg.OutputDir, "logs", "events.out.tfevents.*"))
	cfg.Optim.Epochs = 5
	_, err = Run(ctx, cfg, Options{Resume: true})
	if err == nil {
		t.Fatal("resumed with every checkpoint corrupt")
	}
	for _, want := range []string{"cannot resume: none of the 2 checkpoints in " + ck.Dir + " is intact", "ckpt-8: tensor ", "crc32c mismatch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if after, _ := filepath.Glob(filepath.Join(cfg.OutputDir, "logs", "events.out.tfevents.*")); len(after) != len(events) {
		t.Errorf("the refused resume left an event file: %d, then %d", len(events), len(after))
	}
}

// TestResumeChecksTheCheckpointsRecord: without config.yaml the resume
// rules hold against the run config record in the checkpoint; with a
// config.yaml that disagrees with the checkpoint, the checkpoint wins and
// the disagreement is printed.
func TestResumeChecksTheCheckpointsRecord(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 32, 20, 20)
	ctx := context.Background()
	cfg := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "run"))
	cfg.Optim.Epochs = 1
	if _, err := Run(ctx, cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(cfg.OutputDir, "checkpoints", "ckpt-2")
	rec, found, err := model.ReadRunRecord(prefix)
	if err != nil || !found {
		t.Fatalf("run record: %v %v", found, err)
	}
	for k, want := range map[string]string{"seed": "0", "optim.batch_size": "16", "data.limit": "0", "optim.epochs": "1", "data.dir": dataDir} {
		if rec[k] != want {
			t.Errorf("record %s = %q, want %q", k, rec[k], want)
		}
	}
	for _, k := range []string{"optim.base_lr", "output_dir", "runtime.precision"} {
		if _, ok := rec[k]; ok {
			t.Errorf("the record holds %s, which a resume may change", k)
		}
	}
	paths, _ := filepath.Glob(filepath.Join(cfg.OutputDir, "config*.yaml"))
	for _, p := range paths {
		os.Remove(p)
	}
	for _, tc := range []struct {
		name string
		set  func(c *configs.Config)
		want []string
	}{
		{"seed, batch size and limit", func(c *configs.Config) { c.Seed, c.Optim.BatchSize, c.Data.Limit = 7, 8, 16 },
			[]string{"changes 3 keys", "seed: 0 (checkpoint ckpt-2) -> 7", "optim.batch_size: 16 (checkpoint ckpt-2) -> 8", "data.limit: 0 (checkpoint ckpt-2) -> 16"}},
		{"shorter schedule", func(c *configs.Config) { c.Optim.Epochs, c.Train.MaxSteps = 2, 1 }, []string{"the last step would be 1 instead of 2"}},
	} {
		c := *cfg
		c.Optim.Epochs = 2
		tc.set(&c)
		_, err := Run(ctx, &c, Options{Resume: true})
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want an error with %q", tc.name, err, w)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.OutputDir, "config.yaml")); err == nil {
		t.Error("a refused resume wrote config.yaml")
	}
	// Allowed: a longer schedule and another learning rate. The config.yaml
	// it writes then disagrees, by hand, with the checkpoint on the seed:
	// a resume with the checkpoint's seed goes on, saying so.
	c := *cfg
	c.Optim.Epochs, c.Optim.BaseLR = 2, 0.25
	if _, err := Run(ctx, &c, Options{Resume: true, StopAfter: 3}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.OutputDir, "config.yaml")
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(b, []byte("\nseed: 0\n")) {
		t.Fatalf("config.yaml: %v\n%s", err, b)
	}
	writeFile(t, path, strings.Replace(string(b), "\nseed: 0\n", "\nseed: 9\n", 1))
	var log bytes.Buffer
	if _, err := Run(ctx, &c, Options{Resume: true, Log: &log}); err != nil {
		t.Fatal(err)
	}
	if want := "--resume: seed: the run's config says 9 but checkpoint ckpt-3 was trained with 0; following the checkpoint"; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
}

func TestCheckResume(t *testing.T) {
	base := configs.Default()
	vals, _, err := configValues(&base)
	if err != nil {
		t.Fatal(err)
	}
	rec := &runRecord{Name: "ckpt-9", Values: map[string]string{}}
	for k, v := range vals {
		if ruleFor(k) != ruleAllow {
			rec.Values[k] = v
		}
	}
	seed7 := base
	seed7.Seed = 7
	for _, tc := range []struct {
		name    string
		prev    *configs.Config
		rec     *runRecord
		set     func(c *configs.Config)
		refused []string // in the error; nil: accepted
		notes   int
	}{
		{"nothing to compare with", nil, nil, func(c *configs.Config) { c.Seed = 3 }, nil, 0},
		{"old checkpoint, config.yaml", &base, nil, func(c *configs.Config) { c.Seed = 3 }, []string{"seed: 0 -> 3"}, 0},
		{"record only", nil, rec, func(c *configs.Config) { c.Seed = 3 }, []string{"seed: 0 (checkpoint ckpt-9) -> 3"}, 0},
		{"both agree", &base, rec, func(c *configs.Config) { c.Seed = 3 }, []string{"seed: 0 -> 3", "changes 1 keys"}, 0},
		{"allowed change", &base, rec, func(c *configs.Config) { c.Optim.BaseLR = 1 }, nil, 0},
		{"config.yaml edited, config follows the checkpoint", &seed7, rec, func(c *configs.Config) {}, nil, 1},
		{"config.yaml edited, config follows it", &seed7, rec, func(c *configs.Config) { c.Seed = 7 }, []string{"seed: 0 (checkpoint ckpt-9) -> 7", "changes 1 keys"}, 1},
		{"model keys are CheckRecord's", nil, rec, func(c *configs.Config) { c.Model.Width = 3 }, nil, 0},
		{"schedule extended", nil, rec, func(c *configs.Config) { c.Optim.Epochs++ }, nil, 0},
		{"schedule cut", nil, rec, func(c *configs.Config) { c.Optim.Epochs-- }, []string{"the last step would be"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.set(&c)
			_, notes, err := checkResume(tc.prev, tc.rec, &c, 10)
			if len(notes) != tc.notes {
				t.Errorf("notes %q, want %d", notes, tc.notes)
			}
			if tc.refused == nil {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			for _, w := range tc.refused {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("got %v, want an error with %q", err, w)
				}
			}
		})
	}
}

// TestConfigValuesMatchDiff: the record's values are written as
// configs.Diff writes them, so the two compare and read alike.
func TestConfigValuesMatchDiff(t *testing.T) {
	a := configs.Default()
	b := a
	b.Seed, b.Data.Dir, b.Optim.BaseLR, b.Data.Mean, b.Augment.FlipProb, b.Data.DropLast = 3, "", 1e-5, []float64{0.25}, 0, !a.Data.DropLast
	va, order, err := configValues(&a)
	if err != nil {
		t.Fatal(err)
	}
	vb, _, err := configValues(&b)
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string]bool{}
	for _, c := range configs.Diff(&a, &b) {
		changed[c.Key] = true
		if va[c.Key] != c.From || vb[c.Key] != c.To {
			t.Errorf("%s: values %q -> %q, Diff %q -> %q", c.Key, va[c.Key], vb[c.Key], c.From, c.To)
		}
	}
	if len(changed) != 6 {
		t.Errorf("Diff found %d changes, want 6", len(changed))
	}
	for _, k := range order {
		if !changed[k] && va[k] != vb[k] {
			t.Errorf("%s: %q and %q differ, Diff says equal", k, va[k], vb[k])
		}
	}
	if len(order) != len(va) || len(order) < 50 {
		t.Errorf("%d keys in order, %d values", len(order), len(va))
	}
}

func TestResumeOutputDir(t *testing.T) {
	root := t.TempDir()
	moved := filepath.Join(root, "y")          // a run folder moved from root/x
	plain := filepath.Join(root, "configs")    // a folder of configs
	same := filepath.Join(root, "same")        // a run folder in place
	histOnly := filepath.Join(root, "history") // a run folder with only its history
	for _, d := range []string{filepath.Join(moved, "checkpoints"), plain, filepath.Join(same, "checkpoints"), histOnly} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	x := filepath.Join(root, "x")
	writeFile(t, filepath.Join(moved, "config.yaml"), "output_dir: "+x+"\n")
	writeFile(t, filepath.Join(moved, "config.resume-2.yaml"), "output_dir: "+x+"\n")
	writeFile(t, filepath.Join(moved, "my.yaml"), "output_dir: "+x+"\n")
	writeFile(t, filepath.Join(plain, "config.yaml"), "output_dir: "+x+"\n")
	writeFile(t, filepath.Join(same, "config.yaml"), "output_dir: "+same+"\n")
	writeFile(t, filepath.Join(histOnly, "config.yaml"), "output_dir: "+x+"\n")
	writeFile(t, filepath.Join(histOnly, runfolder.HistoryName), "{}\n")
	for _, tc := range []struct {
		name, file, outputDir string
		want, note, err       string
	}{
		{"moved run", filepath.Join(moved, "config.yaml"), x, moved, "resume: using the run folder " + moved + ", where --config " + filepath.Join(moved, "config.yaml") + " is (it records output_dir " + x, ""},
		{"moved run, a resume's config", filepath.Join(moved, "config.resume-2.yaml"), x, moved, "using the run folder " + moved, ""},
		{"run folder with only its history", filepath.Join(histOnly, "config.yaml"), x, histOnly, "using the run folder " + histOnly, ""},
		{"output_dir set to a third folder", filepath.Join(moved, "config.yaml"), filepath.Join(root, "z"), "", "",
			"--config " + filepath.Join(moved, "config.yaml") + " is the config of the run in " + moved + ", but output_dir is " + filepath.Join(root, "z")},
		{"in place", filepath.Join(same, "config.yaml"), same, same, "", ""},
		{"not a run's config name", filepath.Join(moved, "my.yaml"), x, x, "", ""},
		{"not in a run folder", filepath.Join(plain, "config.yaml"), x, x, "", ""},
		{"no config file", "", x, x, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := configs.Default()
			cfg.OutputDir = tc.outputDir
			dir, note, err := ResumeOutputDir(tc.file, &cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error with %q", dir, err, tc.err)
				}
				return
			}
			if err != nil || dir != tc.want || !strings.Contains(note, tc.note) || (tc.note == "") != (note == "") {
				t.Errorf("got %q note %q err %v, want %q note %q", dir, note, err, tc.want, tc.note)
			}
		})
	}
}

// TestMovedRunResumesWhereItIs: a run folder moved elsewhere resumes there
// (where its config.yaml is), not in the folder it records, which is not
// created.
func TestMovedRunResumesWhereItIs(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 32, 20, 20)
	ctx := context.Background()
	root := t.TempDir()
	cfg := testutil.RunConfig(dataDir, filepath.Join(root, "x"))
	if _, err := Run(ctx, cfg, Options{StopAfter: 3}); err != nil {
		t.Fatal(err)
	}
	y := filepath.Join(root, "y")
	if err := os.Rename(cfg.OutputDir, y); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(y, "config.yaml")
	loaded, err := configs.Load(configs.LoadOptions{File: file})
	if err != nil {
		t.Fatal(err)
	}
	dir, note, err := ResumeOutputDir(file, loaded)
	if err != nil || dir != y || note == "" {
		t.Fatalf("ResumeOutputDir: %q %q %v", dir, note, err)
	}
	loaded.OutputDir = dir
	var log bytes.Buffer
	res, err := Run(ctx, loaded, Options{Resume: true, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if want := "resuming from " + filepath.Join(y, "checkpoints", "ckpt-3") + " at step 3"; !strings.Contains(log.String(), want) || res.Steps != 6 {
		t.Errorf("step %d, log lacks %q:\n%s", res.Steps, want, log.String())
	}
	if _, err := os.Stat(filepath.Join(root, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the folder the config records was written to: %v", err)
	}
}

// TestRefusedResumeLeavesNoEventFile: a resume refused when the
// checkpoint is checked (another model than its record, no config.yaml)
// creates no TensorBoard event file.
func TestRefusedResumeLeavesNoEventFile(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 32, 20, 20)
	cfg := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "run"))
	cfg.Optim.Epochs = 1
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cfg.OutputDir, "config.yaml")); err != nil {
		t.Fatal(err)
	}
	glob := filepath.Join(cfg.OutputDir, "logs", "events.out.tfevents.*")
	before, _ := filepath.Glob(glob)
	c := *cfg
	c.Model.Width, c.Optim.Epochs = 8, 2
	for i := 0; i < 2; i++ {
		if _, err := Run(context.Background(), &c, Options{Resume: true}); err == nil || !strings.Contains(err.Error(), "model.width: checkpoint 4, config 8") {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if after, _ := filepath.Glob(glob); len(before) != 1 || len(after) != len(before) {
		t.Errorf("event files: %d before, %d after two refused resumes", len(before), len(after))
	}
}
