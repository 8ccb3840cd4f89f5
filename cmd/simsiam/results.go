package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// intList is a flag holding comma-separated positive integers.
type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

const resultsUsage = `Usage: simsiam results measure|render|compare [flags]

measure evaluates a trained encoder and both baselines (the same network at
random initialisation, raw pixels) with one protocol: kNN top-1/top-5 at
every --k (temperature train.knn_temperature, one similarity pass), and a
linear classifier on cached, standardised features for every
--linear-epochs, features extracted once per encoder. It writes one JSON
file with the machine (CPU model, vector extensions, oneDNN, TensorFlow
version), the sha256 of the effective config YAML, wall times and the run's
kNN monitor curve (from RUN/metrics.jsonl).

render writes the Markdown table of such a file between the
<!-- results:DATASET:begin/end --> markers of the README and an SVG plot of
the kNN monitor over epochs.

compare puts several measure files of runs that differ in one setting (fp32
against bf16 training) into one table, the first file the reference, between
the <!-- results:NAME:begin/end --> markers, and plots their loss and kNN
monitor curves side by side; files are taken in path order.

Examples:
  simsiam results measure --config runs/fashion_mnist_demo/config.yaml --run runs/fashion_mnist_demo --out results/fashion_mnist.json
  simsiam results render --in results/fashion_mnist.json --readme README.md --plot docs/knn_curve.svg
  simsiam results compare --in results/precision/0-fp32.json,results/precision/1-bf16.json --name precision --readme docs/precision.md --plot docs/precision_curves.svg

Flags:
`

func cmdResults(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "measure" && args[0] != "render" && args[0] != "compare") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, resultsUsage)
			return flag.ErrHelp
		}
		return usageError{errors.New("usage: simsiam results measure|render|compare [flags]")}
	}
	switch args[0] {
	case "render":
		return cmdResultsRender(args[1:], stdout, stderr)
	case "compare":
		return cmdResultsCompare(args[1:], stdout, stderr)
	}
	return cmdResultsMeasure(ctx, args[1:], stdout, stderr)
}

func cmdResultsCompare(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("results compare", resultsUsage, stderr)
	in := fs.String("in", "", "measure files, comma-separated (two or more; taken in path order, the first is the reference)")
	name := fs.String("name", "", "the README markers' name")
	readme := fs.String("readme", "README.md", "Markdown file with the markers (\"\" for none)")
	plot := fs.String("plot", "", "SVG plot to write (\"\" for none)")
	title := fs.String("title", "", "the plot's title (default: NAME: training loss and kNN monitor)")
	if err := parse(fs, args); err != nil {
		return err
	}
	sources := strings.Split(*in, ",")
	if *in == "" || len(sources) < 2 || *name == "" {
		return usageError{errors.New("results compare: --in needs two or more files and --name a marker name")}
	}
	slices.Sort(sources)
	files := make([]*results.File, len(sources))
	for i, src := range sources {
		f, err := results.Read(src)
		if err != nil {
			return err
		}
		files[i] = f
	}
	table, err := results.CompareTable(files, sources)
	if err != nil {
		return err
	}
	if *readme != "" {
		if err := writeSection(*readme, *name, table, stdout); err != nil {
			return err
		}
	}
	if *plot != "" {
		t := *title
		if t == "" {
			t = *name + ": training loss and kNN monitor"
		}
		if err := tfgraph.WriteFileAtomic(*plot, results.CompareSVG(files, t)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *plot)
	}
	return nil
}

// writeSection puts body between the <!-- results:NAME:begin/end -->
// markers of the Markdown file at path.
func writeSection(path, name, body string, stdout io.Writer) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := results.Replace(string(doc), name, body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tfgraph.WriteFileAtomic(path, []byte(out)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote the %s table into %s\n", name, path)
	return nil
}

func cmdResultsRender(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("results render", resultsUsage, stderr)
	in := fs.String("in", "results/fashion_mnist.json", "results JSON file")
	readme := fs.String("readme", "README.md", "Markdown file with the results markers (\"\" for none)")
	plot := fs.String("plot", "docs/knn_curve.svg", "SVG plot to write (\"\" for none)")
	if err := parse(fs, args); err != nil {
		return err
	}
	f, err := results.Read(*in)
	if err != nil {
		return err
	}
	if *readme != "" {
		if err := writeSection(*readme, f.Dataset, results.Table(f), stdout); err != nil {
			return err
		}
	}
	if *plot != "" {
		if err := tfgraph.WriteFileAtomic(*plot, results.SVG(f)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *plot)
	}
	return nil
}

func cmdResultsMeasure(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("results measure", resultsUsage, stderr)
	var cf configFlags
	cf.register(fs)
	runDir := fs.String("run", "runs/fashion_mnist_demo", "the pretraining run's output_dir (metrics.jsonl, config.yaml, checkpoints)")
	ckpt := fs.String("checkpoint", "", "encoder checkpoint (default: the newest in RUN/checkpoints)")
	out := fs.String("out", "results/fashion_mnist.json", "JSON file to write")
	dataset := fs.String("dataset", "fashion_mnist", "dataset name (the README markers' name)")
	label := fs.String("label", "", "the encoder row's label (default: SimSiam, RUN's preset and epochs)")
	ks := intList{1, 20, 200}
	fs.Var(&ks, "k", "kNN neighbour counts, comma-separated")
	var epochs intList
	fs.Var(&epochs, "linear-epochs", "linear classifier lengths, comma-separated (default: linear.epochs)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := cf.loadForTF(true, stderr)
	if err != nil {
		return err
	}
	if len(epochs) == 0 {
		epochs = intList{cfg.Linear.Epochs}
	}
	path := *ckpt
	if path == "" {
		path = runfolder.Dir(*runDir).Checkpoints()
	}
	if path, err = eval.ResolveCheckpoint(path); err != nil {
		return err
	}
	start := time.Now()
	yml, err := cfg.YAML()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(yml)
	trainInfo, err := readTrain(*runDir, cfg)
	if err != nil {
		return err
	}
	bank, test, err := eval.OpenEvalDataContext(ctx, cfg)
	if err != nil {
		return err
	}
	cpu := sysinfo.ReadCPU()
	dnn, _ := tfgraph.OneDNNEnabled()
	f := &results.File{
		Dataset: *dataset, Machine: results.Machine{CPU: cpu.Model, Cores: cpu.Cores, Vector: cpu.Vector, OneDNN: dnn, TensorFlow: tfgraph.Version()},
		ConfigSHA256: hex.EncodeToString(sum[:]),
		Protocol: results.Protocol{KNNKs: ks, KNNTemperature: cfg.Train.KNNTemperature, LinearEpochs: epochs,
			LinearLR: cfg.LinearLR(), LinearBatch: cfg.Linear.BatchSize, TrainImages: bank.N, TestImages: test.N},
		Train: *trainInfo,
	}
	if *label == "" {
		name := "`" + filepath.Base(*runDir) + "`"
		if p := presetOf(cfg); p != "" {
			name = "`" + p + "` preset"
		}
		*label = fmt.Sprintf("SimSiam encoder (%s, %d epochs)", name, trainInfo.Epochs)
	}
	m := measurer{ctx: ctx, cfg: cfg, bank: bank, test: test, ks: ks, epochs: epochs, log: stderr}
	rows := []struct {
		name, label, ckpt string
	}{
		{results.Encoder, *label, path},
		{results.RandomInit, fmt.Sprintf("the same network at random initialisation (seed %d)", cfg.Seed), ""},
		{results.RawPixels, "raw pixels (values in [0, 1])", ""},
	}
	for _, r := range rows {
		fmt.Fprintf(stderr, "results: measuring %s\n", r.name)
		e, err := m.entry(r.name, r.ckpt)
		if err != nil {
			return fmt.Errorf("results: %s: %w", r.name, err)
		}
		e.Label = r.label
		f.Entries = append(f.Entries, *e)
		fmt.Fprintf(stdout, "%s: %s\n", r.name, summary(e))
	}
	f.Seconds = time.Since(start).Seconds()
	f.Measured = time.Now().UTC().Format(time.RFC3339)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := f.Write(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s)\n", *out, results.Duration(f.Seconds))
	measuredOn(stdout)
	return nil
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

func summary(e *results.Entry) string {
	var parts []string
	for _, s := range e.KNN {
		parts = append(parts, fmt.Sprintf("kNN k=%d %s", s.K, pct(s.Top1)))
	}
	for _, l := range e.Linear {
		parts = append(parts, fmt.Sprintf("linear %d ep %s", l.Epochs, pct(l.Top1)))
	}
	return strings.Join(parts, ", ")
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

// entry measures the encoder of checkpoint (name RandomInit: random init;
// name RawPixels: the pixels).
func (m *measurer) entry(name, checkpoint string) (*results.Entry, error) {
	t0 := time.Now()
	var bf, tf []float32
	var d int
	if name == results.RawPixels {
		bf, tf, d = eval.PixelFeatures(m.bank), eval.PixelFeatures(m.test), m.bank.ImageSize()
	} else {
		enc, err := eval.NewEncoder(m.cfg, checkpoint)
		if err != nil {
			return nil, err
		}
		defer enc.Close()
		enc.Log = m.log
		if bf, err = enc.FeaturesContext(m.ctx, m.bank, eval.FeatureBatch); err != nil {
			return nil, err
		}
		if tf, err = enc.FeaturesContext(m.ctx, m.test, eval.FeatureBatch); err != nil {
			return nil, err
		}
		d = enc.Dim
	}
	nc := max(m.bank.NumClasses, m.test.NumClasses)
	scores, err := eval.KNNMulti(m.ctx, bf, m.bank.Labels, d, tf, m.test.Labels, nc, m.ks, m.cfg.Train.KNNTemperature)
	if err != nil {
		return nil, err
	}
	e := &results.Entry{Name: name, Dim: d, Checkpoint: checkpoint}
	for _, s := range scores {
		e.KNN = append(e.KNN, results.Score{K: s.K, Top1: s.Top1, Top5: results.Finite(s.Top5)})
	}
	for _, ep := range m.epochs {
		c := *m.cfg
		c.Linear.Epochs = ep
		res, err := eval.LinearEvalFeatures(m.ctx, &c, name, m.bank, bf, m.test, tf, d, io.Discard)
		if err != nil {
			return nil, err
		}
		e.Linear = append(e.Linear, results.Linear{Epochs: ep, Top1: res.Top1, Top5: results.Finite(res.Top5)})
	}
	e.Seconds = time.Since(t0).Seconds()
	return e, nil
}
