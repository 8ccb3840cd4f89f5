package measure

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/results"
)

// TestPresetOf names a preset run into another folder, and nothing once a
// training key differs.
func TestPresetOf(t *testing.T) {
	for _, tc := range []struct {
		name, preset string
		sets         []string
		want         string
	}{
		{"demo as shipped", "fashion_mnist_demo", nil, "fashion_mnist_demo"},
		{"demo in another folder", "fashion_mnist_demo", []string{"output_dir=/tmp/elsewhere"}, "fashion_mnist_demo"},
		{"long preset", "fashion_mnist_long", []string{"output_dir=x"}, "fashion_mnist_long"},
		{"demo with one more epoch", "fashion_mnist_demo", []string{"optim.epochs=4"}, ""},
		{"demo with a smaller bank", "fashion_mnist_demo", []string{"eval.limit_train=1000"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := configs.Load(configs.LoadOptions{Preset: tc.preset, Sets: tc.sets})
			if err != nil {
				t.Fatal(err)
			}
			if got := presetOf(c); got != tc.want {
				t.Errorf("presetOf = %q, want %q", got, tc.want)
			}
		})
	}
	// As results measure reads it: the config.yaml a training run wrote.
	t.Run("a run's config.yaml", func(t *testing.T) {
		c, err := configs.Load(configs.LoadOptions{Preset: "fashion_mnist_demo", Sets: []string{"output_dir=/tmp/sweep"}})
		if err != nil {
			t.Fatal(err)
		}
		yml, err := c.YAML()
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(file, yml, 0o644); err != nil {
			t.Fatal(err)
		}
		if c, err = configs.Load(configs.LoadOptions{File: file}); err != nil {
			t.Fatal(err)
		}
		if got := presetOf(c); got != "fashion_mnist_demo" {
			t.Errorf("presetOf = %q, want fashion_mnist_demo", got)
		}
	})
}

// TestReadTrain reads a run folder: the kNN and loss curves and the last
// step from metrics.jsonl, the wall time from config.yaml's to
// metrics.jsonl's modification, and the run's own precision from its
// config.yaml (not the evaluation's).
func TestReadTrain(t *testing.T) {
	dir := t.TempDir()
	own, err := configs.Load(configs.LoadOptions{Preset: "fashion_mnist_demo", Sets: []string{"runtime.precision=bf16"}})
	if err != nil {
		t.Fatal(err)
	}
	yml, err := own.YAML()
	if err != nil {
		t.Fatal(err)
	}
	cpath, mpath := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "metrics.jsonl")
	metrics := `{"step":4,"epoch":0.5,"loss":-0.5,"z_std":0.1,"lr":0.1}` + "\n" +
		`{"step":8,"epoch":1,"loss":-0.7,"z_std":0.1,"lr":0.1}` + "\n" +
		`{"step":8,"epoch":1,"knn_top1":0.61}` + "\n" +
		`{"step":16,"epoch":2,"loss":-0.8,"z_std":0.1,"lr":0.05}` + "\n" +
		`{"step":16,"epoch":2,"knn_top1":0.67,"knn_top5":0.9}` + "\n"
	for _, f := range []struct{ path, body string }{{cpath, string(yml)}, {mpath, metrics}} {
		if err := os.WriteFile(f.path, []byte(f.body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	if err := os.Chtimes(cpath, t0, t0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(mpath, t0, t0.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	evalCfg := *own
	evalCfg.Runtime.Precision = "fp32"
	tr, err := readTrain(dir, &evalCfg)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Run != dir || tr.Epochs != own.Optim.Epochs || tr.KNNK != own.Train.KNNK || tr.Steps != 16 || tr.Seconds != 90 || tr.Precision != "bf16" {
		t.Errorf("train %+v: want run %s, %d epochs, k %d, 16 steps, 90 s, precision bf16", tr, dir, own.Optim.Epochs, own.Train.KNNK)
	}
	if len(tr.Curve) != 2 || tr.Curve[0].Top1 != 0.61 || tr.Curve[1].Epoch != 2 || len(tr.Loss) != 3 || tr.Loss[2].Step != 16 {
		t.Errorf("curves %+v %+v", tr.Curve, tr.Loss)
	}
	for _, missing := range []string{"metrics.jsonl", "config.yaml"} {
		t.Run("without "+missing, func(t *testing.T) {
			bad := t.TempDir()
			for _, f := range []string{"metrics.jsonl", "config.yaml"} {
				if f == missing {
					continue
				}
				src, _ := os.ReadFile(filepath.Join(dir, f))
				if err := os.WriteFile(filepath.Join(bad, f), src, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := readTrain(bad, &evalCfg); err == nil || !strings.Contains(err.Error(), missing) {
				t.Errorf("error %v, want one naming %s", err, missing)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	e := &results.Entry{
		KNN:    []results.Score{{K: 1, Top1: 0.5}, {K: 200, Top1: math.NaN()}},
		Linear: []results.Linear{{Epochs: 10, Top1: 0.8123}},
	}
	if got, want := Summary(e), "kNN k=1 50.00%, kNN k=200 n/a, linear 10 ep 81.23%"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}
