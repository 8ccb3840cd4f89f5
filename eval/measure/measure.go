// Package measure is the measuring protocol of "simsiam results measure":
// a trained encoder and both baselines (the same network at random
// initialisation, raw pixels) evaluated alike, kNN top-1/top-5 at several
// k from one similarity pass and a linear classifier at several lengths,
// on features extracted once per encoder, together with what the
// pretraining run's folder says about the run. The result is an
// internal/results File (which stays free of TensorFlow).
package measure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/eval"
	"github.com/simsiam-go/simsiam/internal/results"
	"github.com/simsiam-go/simsiam/internal/sysinfo"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Options describe one measurement.
type Options struct {
	// Run is the pretraining run's output_dir (metrics.jsonl, config.yaml,
	// checkpoints).
	Run string
	// Checkpoint is the encoder's checkpoint (see eval.ResolveCheckpoint);
	// "" is the newest in Run/checkpoints.
	Checkpoint string
	// Dataset names the data set (the README markers' name).
	Dataset string
	// Label is the encoder row's label; "" names it by Run's preset (or
	// folder) and epochs.
	Label string
	// KNNKs are the kNN neighbour counts; LinearEpochs the linear
	// classifier lengths (none: linear.epochs).
	KNNKs, LinearEpochs []int
	// Log receives progress (which entry is measured, feature bars), Out
	// one summary line per entry; nil discards.
	Log, Out io.Writer
}

// Measure evaluates the encoder of o.Checkpoint and both baselines with
// cfg's evaluation settings and returns the results File: the machine (CPU
// model, vector extensions, oneDNN, TensorFlow version), the sha256 of the
// effective config YAML, the protocol, wall times and the run's kNN monitor
// and loss curves.
func Measure(ctx context.Context, cfg *configs.Config, o Options) (*results.File, error) {
	log, out := orDiscard(o.Log), orDiscard(o.Out)
	epochs := o.LinearEpochs
	if len(epochs) == 0 {
		epochs = []int{cfg.Linear.Epochs}
	}
	path := o.Checkpoint
	if path == "" {
		path = runfolder.Dir(o.Run).Checkpoints()
	}
	path, err := eval.ResolveCheckpoint(path)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	yml, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(yml)
	trainInfo, err := readTrain(o.Run, cfg)
	if err != nil {
		return nil, err
	}
	bank, test, err := eval.OpenEvalDataContext(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cpu := sysinfo.ReadCPU()
	dnn, _ := tfgraph.OneDNNEnabled()
	f := &results.File{
		Dataset: o.Dataset, Machine: results.Machine{CPU: cpu.Model, Cores: cpu.Cores, Vector: cpu.Vector, OneDNN: dnn, TensorFlow: tfgraph.Version()},
		ConfigSHA256: hex.EncodeToString(sum[:]),
		Protocol: results.Protocol{KNNKs: o.KNNKs, KNNTemperature: cfg.Train.KNNTemperature, LinearEpochs: epochs,
			LinearLR: cfg.LinearLR(), LinearBatch: cfg.Linear.BatchSize, TrainImages: bank.N, TestImages: test.N},
		Train: *trainInfo,
	}
	label := o.Label
	if label == "" {
		name := "`" + filepath.Base(o.Run) + "`"
		if p := presetOf(cfg); p != "" {
			name = "`" + p + "` preset"
		}
		label = fmt.Sprintf("SimSiam encoder (%s, %d epochs)", name, trainInfo.Epochs)
	}
	m := measurer{ctx: ctx, cfg: cfg, bank: bank, test: test, ks: o.KNNKs, epochs: epochs, log: log}
	rows := []struct {
		name, label string
		src         eval.Source
	}{
		{results.Encoder, label, eval.Source{Checkpoint: path}},
		{results.RandomInit, fmt.Sprintf("the same network at random initialisation (seed %d)", cfg.Seed), eval.Source{}},
		{results.RawPixels, "raw pixels (values in [0, 1])", eval.Source{Pixels: true}},
	}
	for _, r := range rows {
		fmt.Fprintf(log, "results: measuring %s\n", r.name)
		e, err := m.entry(r.name, r.src)
		if err != nil {
			return nil, fmt.Errorf("results: %s: %w", r.name, err)
		}
		e.Label = r.label
		f.Entries = append(f.Entries, *e)
		fmt.Fprintf(out, "%s: %s\n", r.name, Summary(e))
	}
	f.Seconds = time.Since(start).Seconds()
	f.Measured = time.Now().UTC().Format(time.RFC3339)
	return f, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// presetOf names the preset cfg is, apart from output_dir (a preset run
// into another folder), or returns "" when it is none of them.
func presetOf(cfg *configs.Config) string {
	for _, name := range configs.Presets() {
		p, err := configs.Load(configs.LoadOptions{Preset: name})
		if err != nil {
			continue
		}
		if d := configs.Diff(p, cfg); len(d) == 0 || len(d) == 1 && d[0].Key == "output_dir" {
			return name
		}
	}
	return ""
}

// Summary is one entry's scores on a line: every kNN k, then every linear
// length, top-1.
func Summary(e *results.Entry) string {
	var parts []string
	for _, s := range e.KNN {
		parts = append(parts, fmt.Sprintf("kNN k=%d %s", s.K, pct(s.Top1)))
	}
	for _, l := range e.Linear {
		parts = append(parts, fmt.Sprintf("linear %d ep %s", l.Epochs, pct(l.Top1)))
	}
	return strings.Join(parts, ", ")
}

func pct(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100*x)
}

// readTrain describes the pretraining run in dir: its kNN monitor curve and
// last step from metrics.jsonl, its wall time from config.yaml (written at
// the start) to metrics.jsonl's last write.
func readTrain(dir string, cfg *configs.Config) (*results.Train, error) {
	mpath := runfolder.Dir(dir).Metrics()
	curve, loss, err := results.ReadMetrics(mpath)
	if err != nil {
		return nil, fmt.Errorf("the run's curves: %w", err)
	}
	ms, err := os.Stat(mpath)
	if err != nil {
		return nil, err
	}
	cs, err := os.Stat(runfolder.Dir(dir).Config())
	if err != nil {
		return nil, fmt.Errorf("the run's start: %w", err)
	}
	t := &results.Train{Run: dir, Epochs: cfg.Optim.Epochs, KNNK: cfg.Train.KNNK, Curve: curve, Loss: loss,
		Seconds: ms.ModTime().Sub(cs.ModTime()).Seconds()}
	// The run's own precision: the evaluation may be asked for another
	// (--set runtime.precision=fp32 measures a bf16 run's weights in fp32).
	own, err := configs.Load(configs.LoadOptions{File: runfolder.Dir(dir).Config()})
	if err != nil {
		return nil, fmt.Errorf("the run's config: %w", err)
	}
	t.Precision = own.Runtime.Precision
	if len(curve) > 0 {
		t.Steps = curve[len(curve)-1].Step
	}
	return t, nil
}

// measurer evaluates one entry with the shared protocol.
type measurer struct {
	ctx        context.Context
	cfg        *configs.Config
	bank, test *data.Images
	ks, epochs []int
	log        io.Writer
}

// entry measures src's features (eval.ExtractFeatures): kNN at every k,
// then a linear classifier of every length on the same features.
func (m *measurer) entry(name string, src eval.Source) (*results.Entry, error) {
	t0 := time.Now()
	f, err := eval.ExtractFeatures(m.ctx, m.cfg, src, m.bank, m.test, m.log)
	if err != nil {
		return nil, err
	}
	scores, err := f.KNN(m.ctx, m.bank, m.test, m.ks, m.cfg.Train.KNNTemperature)
	if err != nil {
		return nil, err
	}
	e := &results.Entry{Name: name, Dim: f.Dim, Checkpoint: src.Checkpoint}
	for _, s := range scores {
		e.KNN = append(e.KNN, results.Score{K: s.K, Top1: s.Top1, Top5: results.Finite(s.Top5)})
	}
	for _, ep := range m.epochs {
		c := *m.cfg
		c.Linear.Epochs = ep
		res, err := eval.LinearEvalFeatures(m.ctx, &c, name, m.bank, f.Bank, m.test, f.Test, f.Dim, io.Discard)
		if err != nil {
			return nil, err
		}
		e.Linear = append(e.Linear, results.Linear{Epochs: ep, Top1: res.Top1, Top5: results.Finite(res.Top5)})
	}
	e.Seconds = time.Since(t0).Seconds()
	return e, nil
}
