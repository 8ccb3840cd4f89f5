package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/results"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

func TestIntList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"1,20,200", "1,20,200", true},
		{" 5 ", "5", true},
		{"1,0", "", false},
		{"a", "", false},
		{"1,,2", "", false},
	} {
		var l intList
		err := l.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && l.String() != tc.want) {
			t.Errorf("Set(%q) = %v, %q; want ok=%v %q", tc.in, err, l.String(), tc.ok, tc.want)
		}
	}
}

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
		file := runfolder.Dir(t.TempDir()).Config()
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

// A tiny real run measured end to end: the JSON has the three entries at
// every k and linear length, the run's kNN curve and the machine, and
// render puts the table between the README markers and writes the plot.
func TestResultsMeasureAndRender(t *testing.T) {
	needFashionMNIST(t)
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	// In-process runs keep this process's oneDNN state (no restart).
	on, _ := tfgraph.OneDNNEnabled()
	small := []string{"--set", "eval.limit_train=600", "--set", "eval.limit_test=200", "--set", fmt.Sprintf("runtime.onednn=%v", on)}
	train := tinyTrain(runDir, append([]string{"--set", "optim.epochs=2", "--set", "train.knn_every=1", "--set", "train.log_every=4"}, small...)...)
	var out bytes.Buffer
	if err := run(context.Background(), train, &out, &out); err != nil {
		t.Fatalf("train: %v\n%s", err, out.String())
	}
	js := filepath.Join(dir, "toy.json")
	args := append([]string{"results", "measure", "--config", runfolder.Dir(runDir).Config(), "--run", runDir,
		"--out", js, "--dataset", "toy", "--k", "1,20,200", "--linear-epochs", "2,3"}, small...)
	out.Reset()
	if err := run(context.Background(), args, &out, &out); err != nil {
		t.Fatalf("results measure: %v\n%s", err, out.String())
	}
	f, err := results.Read(js)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 3 || f.Entry(results.Encoder) == nil || f.Entry(results.RandomInit) == nil || f.Entry(results.RawPixels) == nil {
		t.Fatalf("entries %+v", f.Entries)
	}
	if p := f.Entry(results.RawPixels); p.Dim != 28*28 || p.Checkpoint != "" {
		t.Errorf("raw pixels entry %+v", p)
	}
	if e := f.Entry(results.Encoder); e.Dim != 32 || !strings.Contains(e.Checkpoint, "ckpt-16") {
		t.Errorf("encoder entry: dim %d checkpoint %q, want 32 (width 4 × 8) and ckpt-16", e.Dim, e.Checkpoint)
	}
	// The tiny run is no preset, so its row is named by its folder.
	if e := f.Entry(results.Encoder); e.Label != "SimSiam encoder (`run`, 2 epochs)" {
		t.Errorf("encoder label %q", e.Label)
	}
	if len(f.Train.Curve) != 2 || f.Train.Curve[1].Epoch != 2 || f.Train.Steps != 16 || f.Train.Seconds <= 0 {
		t.Errorf("train %+v", f.Train)
	}
	// Every logged step (log_every 4 of 16) and the run's own precision.
	if l := f.Train.Loss; len(l) != 4 || l[0].Step != 4 || l[3].Step != 16 || l[3].Epoch != 2 || f.Train.Precision != "auto" {
		t.Errorf("loss curve %+v, precision %q (want steps 4..16 and the config's auto)", l, f.Train.Precision)
	}
	if f.Protocol.TrainImages != 600 || f.Protocol.TestImages != 200 || len(f.ConfigSHA256) != 64 ||
		f.Machine.TensorFlow == "" || f.Machine.Cores < 1 {
		t.Errorf("protocol %+v machine %+v sha %q", f.Protocol, f.Machine, f.ConfigSHA256)
	}
	// The curve's last point is the run's final kNN monitor (k=200 on the
	// live weights): the checkpoint measured again at k=200 agrees, to one
	// test image of rounding.
	e := f.Entry(results.Encoder)
	if d := e.KNN[2].Top1 - f.Train.Curve[1].Top1; e.KNN[2].K != 200 || d > 1.0/200 || d < -1.0/200 {
		t.Errorf("encoder kNN k=200 %v, the run's last monitor %v", e.KNN[2].Top1, f.Train.Curve[1].Top1)
	}
	if len(e.Linear) != 2 || e.Linear[0].Epochs != 2 || e.Linear[1].Epochs != 3 {
		t.Errorf("linear results %+v", e.Linear)
	}

	readme := filepath.Join(dir, "README.md")
	if err := os.WriteFile(readme, []byte("# x\n<!-- results:toy:begin -->\nstale\n<!-- results:toy:end -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plot := filepath.Join(dir, "knn.svg")
	out.Reset()
	if err := run(context.Background(), []string{"results", "render", "--in", js, "--readme", readme, "--plot", plot}, &out, &out); err != nil {
		t.Fatalf("results render: %v\n%s", err, out.String())
	}
	doc, _ := os.ReadFile(readme)
	if sec, err := results.Section(string(doc), "toy"); err != nil || sec != results.Table(f) {
		t.Errorf("README section %q (%v), want the table", sec, err)
	}
	if svg, err := os.ReadFile(plot); err != nil || !bytes.HasPrefix(svg, []byte("<svg")) {
		t.Errorf("plot: %v %.40q", err, svg)
	}
	// compare: the same measurement as a second run (relabelled) gives a
	// table with zero differences and a plot with both runs.
	g := *f
	g.Train.Precision = "bf16"
	js2 := filepath.Join(dir, "toy2.json")
	if err := g.Write(js2); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(readme, []byte("# x\n<!-- results:cmp:begin -->\n<!-- results:cmp:end -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cplot := filepath.Join(dir, "cmp.svg")
	out.Reset()
	// Given out of order: compare takes path order, toy.json first.
	if err := run(context.Background(), []string{"results", "compare", "--in", js2 + "," + js, "--name", "cmp", "--readme", readme, "--plot", cplot}, &out, &out); err != nil {
		t.Fatalf("results compare: %v\n%s", err, out.String())
	}
	want, err := results.CompareTable([]*results.File{f, &g}, []string{js, js2})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ = os.ReadFile(readme)
	if sec, err := results.Section(string(doc), "cmp"); err != nil || sec != want || !strings.Contains(sec, "| bf16 | 16 |") || !strings.Contains(sec, "(+0.00)") {
		t.Errorf("compare section %q (%v), want\n%s", sec, err, want)
	}
	if svg, err := os.ReadFile(cplot); err != nil || bytes.Count(svg, []byte("<polyline")) != 4 {
		t.Errorf("compare plot: %v, %d polylines, want 4", err, bytes.Count(svg, []byte("<polyline")))
	}
	if err := run(context.Background(), []string{"results", "compare", "--in", js, "--name", "cmp"}, &out, &out); err == nil {
		t.Error("compare of one file: no error")
	}

	// A README without the markers is an error naming them.
	if err := os.WriteFile(readme, []byte("# none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"results", "render", "--in", js, "--readme", readme, "--plot", ""}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "results:toy:begin") {
		t.Errorf("README without markers: %v", err)
	}
}

func TestResultsMeasureNamesMissingRun(t *testing.T) {
	needFashionMNIST(t)
	dir := t.TempDir()
	var out bytes.Buffer
	on, _ := tfgraph.OneDNNEnabled()
	err := run(context.Background(), []string{"results", "measure", "--set", fmt.Sprintf("runtime.onednn=%v", on),
		"--run", filepath.Join(dir, "nope"), "--out", filepath.Join(dir, "x.json")}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("error %v, want one naming the missing run", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.json")); err == nil {
		t.Error("a results file was written for a missing run")
	}
}
